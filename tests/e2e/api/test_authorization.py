"""The authorization matrix: every endpoint × every role × own tenant / other LA / other
school, with the exact status expected, and nothing of the case leaking to an outsider in
a list, a count or an error body.

Tenants: LA 951 (schools 951001, 951002) and LA 952 (school 952001). The case under test
belongs to LA 951 and school 951001."""

from __future__ import annotations

import jwt
import pytest
import requests

from services.gateway.auth import issue_token
from services.gateway.openapi import OPERATIONS
from tests.e2e.api.cases import case_in, step, submit
from tests.support.api import SECRET, Api, referral_body, token
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

LA, OTHER_LA = "951", "952"
SCHOOL, SAME_LA_SCHOOL, OTHER_LA_SCHOOL = "951001", "951002", "952001"


@pytest.fixture(scope="module", autouse=True)
def register(system):
    """The schools this module's requests name, in the register."""
    system.register_schools(LA, SCHOOL, SAME_LA_SCHOOL)
    system.register_schools(OTHER_LA, OTHER_LA_SCHOOL)

ACTORS = {
    "school": dict(role="school", school_urn=SCHOOL),
    "school:other_school": dict(role="school", school_urn=SAME_LA_SCHOOL),
    "school:other_la": dict(role="school", school_urn=OTHER_LA_SCHOOL),
    "la_caseworker": dict(role="la_caseworker", la_code=LA),
    "la_caseworker:other_la": dict(role="la_caseworker", la_code=OTHER_LA),
    "la_manager": dict(role="la_manager", la_code=LA),
    "la_manager:other_la": dict(role="la_manager", la_code=OTHER_LA),
    "region_admin": dict(role="region_admin"),
    "ops": dict(role="ops"),
}
OWN = {"school", "la_caseworker", "la_manager"}
CASE_ROLES = OWN | {"school:other_school", "school:other_la", "la_caseworker:other_la",
                    "la_manager:other_la"}


def expect(default: int, **per_actor: int) -> dict[str, int]:
    out = {actor: default for actor in ACTORS}
    out.update({k.replace("__", ":"): v for k, v in per_actor.items()})
    return out


def own(ok: int, outsider: int, staff: int | None = None) -> dict[str, int]:
    """`ok` for the case's own school and LA, `outsider` for other case roles, `staff`
    (default: outsider) for region_admin and ops."""
    out = {a: (ok if a in OWN else outsider) for a in ACTORS}
    out["region_admin"] = out["ops"] = outsider if staff is None else staff
    return out


@pytest.fixture(scope="module")
def world(system):
    apis = {name: Api(system.url, token(sub=f"matrix-{name}", **claims))
            for name, claims in ACTORS.items()}
    caseworker = apis["la_caseworker"]
    case = case_in(caseworker, "assessing", LA, SCHOOL)
    requested = step(caseworker, case["id"], "advice_requested", "2026-02-11",
                     adviser="school")
    # a case of LA 951 for a pupil of a school in LA 952
    cross = submit(apis["school:other_la"], LA, OTHER_LA_SCHOOL)
    # the school's alert for the case, once the notifications service has it
    alert = wait_for(lambda: [a for a in apis["school"].get("/v1/alerts").json()["alerts"]
                              if a["case_id"] == case["id"]])[0]
    # a school closure of the LA for the matrix to remove (dates before any case of LA 951)
    closure = call(apis["la_manager"], "POST", f"/v1/las/{LA}/closures", FAR_CLOSURE).json()
    return {"apis": apis, "case": case, "cross": cross, "alert": alert,
            "step": requested["step"]["id"], "closure": closure}


# An LA's settings and closures: rows the matrix may write without moving a deadline.
FAR_CLOSURE = {"school_urn": SCHOOL, "starts_on": "2015-07-22", "ends_on": "2015-09-01"}
LA_READ = dict(la_caseworker=200, la_manager=200, region_admin=200)  # others: 404


def la_write(ok: int) -> dict[str, int]:
    """Only the LA's managers write; its caseworkers and region admins (who may read) get
    403; everyone else 404. The manager comes last: a DELETE done once cannot be redone."""
    out = expect(404, la_caseworker=403, region_admin=403)
    del out["la_manager"]
    out["la_manager"] = ok
    return out


def requests_of(world) -> list[tuple[str, str, dict | None, dict[str, int]]]:
    """(method, path, body, expected status per actor): one row per endpoint."""
    cid, alert = world["case"]["id"], world["alert"]["id"]
    lodge = referral_body(LA, SCHOOL, "2026-06-01")
    la_step = {"type": "exception_started", "on": "2026-03-01", "limb": "c", "note": "matrix"}
    return [
        ("POST", "/v1/referrals", lodge, expect(403, school=201, la_caseworker=201,
                                                la_manager=201)),
        ("GET", "/v1/referrals", None, expect(200, region_admin=403, ops=403)),
        ("GET", f"/v1/referrals/{cid}", None, own(200, 404)),
        ("POST", f"/v1/referrals/{cid}/events", la_step,
         expect(404, school=403, la_caseworker=201, la_manager=201)),
        ("POST", f"/v1/referrals/{cid}/corrections", {"received_on": "2026-01-05"},
         expect(404, school=403, la_caseworker=201, la_manager=201)),
        ("POST", f"/v1/referrals/{cid}/events/{world['step']}/corrections",
         {"on": "2026-02-11"}, expect(404, school=403, la_caseworker=201, la_manager=201)),
        ("PUT", f"/v1/referrals/{cid}/assignment", {"caseworker": None},
         expect(404, school=403, la_caseworker=200, la_manager=200)),
        ("GET", f"/v1/referrals/{cid}/events", None, own(200, 404)),
        ("GET", f"/v1/referrals/{cid}/deadlines", None, own(200, 404)),
        ("GET", f"/v1/referrals/{cid}/audit", None,
         expect(404, school=403, la_caseworker=403, la_manager=200)),
        ("GET", "/v1/deadlines", None, expect(200, region_admin=403, ops=403)),
        ("GET", "/v1/alerts", None, expect(200, region_admin=403, ops=403)),
        ("POST", f"/v1/alerts/{alert}/read", None,
         expect(404, school=200, region_admin=403, ops=403)),
        ("GET", f"/v1/reports/timeliness?la_code={LA}&year=2026", None,
         expect(403, la_manager=200)),
        ("PUT", f"/v1/referrals/{cid}/sen2", {"sex": "F"},
         expect(404, school=403, la_caseworker=200, la_manager=200)),
        ("GET", f"/v1/reports/sen2?la_code={LA}&year=2027", None,
         expect(403, la_manager=200)),
        ("GET", "/v1/las", None, expect(200)),
        ("POST", "/v1/las", {"la_code": LA, "name": "Matrix County"},
         expect(403, region_admin=201)),
        ("GET", f"/v1/las/{LA}/settings", None, expect(404, **LA_READ)),
        ("PUT", f"/v1/las/{LA}/settings", {}, la_write(200)),
        ("GET", f"/v1/las/{LA}/closures", None, expect(404, **LA_READ)),
        ("POST", f"/v1/las/{LA}/closures", FAR_CLOSURE, la_write(201)),
        ("DELETE", f"/v1/las/{LA}/closures/{world['closure']['id']}", None, la_write(200)),
        ("GET", "/v1/schools", None, expect(200)),
        ("POST", "/v1/schools", {"urn": SCHOOL, "name": "Matrix School", "la_code": LA},
         expect(403, region_admin=201)),
        ("GET", "/v1/users", None, expect(403, region_admin=200)),
        ("POST", "/v1/users", {"sub": "matrix-new-user", "role": "ops"},
         expect(403, region_admin=201)),
        ("POST", "/v1/users/matrix-new-user/disable", None, expect(403, region_admin=200)),
        ("POST", "/v1/users/matrix-new-user/enable", None, expect(403, region_admin=200)),
        ("POST", "/v1/users/matrix-new-user/token", None, expect(403, region_admin=201)),
        # notification settings: managers and region admins (the notifications service's
        # own tests cover each recipient's LA; here, who gets through the door)
        ("GET", "/v1/recipients", None, expect(403, la_manager=200, la_manager__other_la=200,
                                               region_admin=200)),
        ("GET", "/v1/deliveries", None, expect(403, la_manager=200, la_manager__other_la=200,
                                               region_admin=200)),
        ("GET", "/v1/metrics", None, expect(403, ops=200)),
        # dead-letter queues: region admins and ops (the purge names an event no queue has)
        ("GET", "/v1/dead-letters", None, expect(403, region_admin=200, ops=200)),
        ("POST", "/v1/dead-letters/deadlines/replay", None, expect(403, region_admin=200,
                                                                    ops=200)),
        ("POST", "/v1/dead-letters/deadlines/purge",
         {"event_ids": ["00000000-0000-4000-8000-000000000000"]},
         expect(403, region_admin=200, ops=200)),
        ("GET", "/v1/dead-letters/actions", None, expect(403, region_admin=200, ops=200)),
        ("GET", "/healthz", None, expect(200)),
        ("GET", "/readyz", None, expect(200)),
    ]


def call(api: Api, method: str, path: str, body):
    return requests.request(method, api.base_url + path, json=body, headers=api._headers(),
                            timeout=15)


def secrets_of(world) -> list[str]:
    # (every test child has the same synthetic name, so the name proves nothing here; the
    # outsiders' answers are checked for the case's id and reference)
    case = world["case"]
    return [case["id"], case["reference"]]


def test_every_endpoint_is_in_the_matrix(world):
    # notification settings beyond their lists are the notifications service's to test
    # (with recipients it creates); the calendar feed takes no token at all
    documented = {(op.method.upper(), op.path) for op in OPERATIONS
                  if op.path not in ("/v1/openapi.json", "/v1/docs")
                  and not (op.tag == "notifications" and (op.method != "get" or "{" in op.path))}
    covered = set()
    for method, path, _, _ in requests_of(world):
        template = path.split("?")[0]
        for segment in (world["case"]["id"], world["alert"]["id"], "matrix-new-user",
                        world["closure"]["id"]):
            template = template.replace(segment, "{id}")
        template = template.replace(f"/v1/las/{LA}/", "/v1/las/{la_code}/")
        template = template.replace(world["step"], "{step_id}")
        template = template.replace("/v1/dead-letters/deadlines/", "/v1/dead-letters/{consumer}/")
        covered.add((method, template))
    assert documented <= covered, documented - covered


def test_matrix(world):
    failures, checked = [], 0
    secrets = secrets_of(world)
    for method, path, body, expected in requests_of(world):
        for actor, status in expected.items():
            response = call(world["apis"][actor], method, path, body)
            checked += 1
            if response.status_code != status:
                failures.append(f"{method} {path} as {actor}: {response.status_code} != "
                                f"{status} {response.text[:200]}")
                continue
            if response.status_code >= 400:
                assert response.headers["Content-Type"] == "application/problem+json"
            if actor not in OWN or response.status_code >= 400:
                # the URL names the case id; an answer must not echo it back
                leaked = [s for s in secrets if s in response.text]
                if leaked:
                    failures.append(f"{method} {path} as {actor} leaks {leaked}")
    assert not failures, "\n".join(failures)
    print(f"authorization matrix: {checked} requests, "
          f"{len(requests_of(world))} endpoints x {len(ACTORS)} actors")


def test_lists_and_counts_hold_only_own_cases(world):
    apis, case, cross = world["apis"], world["case"], world["cross"]
    sees = {name: {i["id"] for i in apis[name].get("/v1/referrals", params={"limit": 200})
                   .json()["items"]} for name in CASE_ROLES}
    for name in CASE_ROLES:
        body = apis[name].get("/v1/referrals", params={"limit": 200}).json()
        assert body["count"] == len(sees[name])  # no hidden cases counted
        assert (case["id"] in sees[name]) == (name in OWN), name
    # a school sees its pupil's case even when the home LA is another; that LA's staff
    # see it, the school's own LA does not
    assert cross["id"] in sees["school:other_la"]
    assert cross["id"] in sees["la_caseworker"] and cross["id"] not in sees[
        "la_caseworker:other_la"]
    assert cross["id"] not in sees["school"]
    for name in CASE_ROLES - OWN:
        api = apis[name]
        for path in ("/v1/referrals", "/v1/deadlines", "/v1/alerts",
                     f"/v1/referrals?reference={case['reference']}"):
            text = api.get(path).text
            assert case["id"] not in text and case["reference"] not in text, (name, path)
        filtered = api.get("/v1/referrals", params={"la_code": LA, "school_urn": SCHOOL})
        assert case["id"] not in filtered.text


def test_own_deadlines_and_alerts_listed(world):
    apis, case = world["apis"], world["case"]
    for name in OWN:
        deadlines = apis[name].get("/v1/deadlines", params={"limit": 200}).json()["items"]
        assert any(d["case_id"] == case["id"] for d in deadlines), name


def test_a_region_admin_with_an_la_role_sees_that_las_cases(system, world):
    both = Api(system.url, token("la_manager", la_code=LA, extra_roles=["region_admin"]))
    assert both.get(f"/v1/referrals/{world['case']['id']}").status_code == 200
    assert both.get("/v1/users").status_code == 200
    admin = world["apis"]["region_admin"]
    assert admin.get(f"/v1/referrals/{world['case']['id']}").status_code == 404


def bad_tokens() -> dict[str, str | None]:
    good = dict(role="la_caseworker", la_code=LA)
    return {
        "none": None,
        "expired": issue_token(SECRET, ttl=-3600, **good),
        "wrong signature": issue_token("another-secret-of-at-least-32-bytes!!", **good),
        "wrong audience": issue_token(SECRET, audience="someone-else", **good),
        "wrong issuer": issue_token(SECRET, issuer="someone-else", **good),
        "malformed": "not.a.token",
        "no role": jwt.encode({"sub": "x", "iss": "ehcp-tracker", "aud": "ehcp-tracker",
                               "exp": 4102444800}, SECRET, algorithm="HS256"),
        "LA role without LA code": jwt.encode(
            {"sub": "x", "role": "la_caseworker", "iss": "ehcp-tracker",
             "aud": "ehcp-tracker", "exp": 4102444800}, SECRET, algorithm="HS256"),
        "alg none": jwt.encode({"sub": "x", "role": "ops", "iss": "ehcp-tracker",
                                "aud": "ehcp-tracker", "exp": 4102444800}, None,
                               algorithm="none"),
    }


def test_bad_tokens_get_401_everywhere_and_change_nothing(system, world):
    lodge = referral_body(LA, "951999", "2026-06-01")
    for label, bad in bad_tokens().items():
        api = Api(system.url, bad)
        for method, path, body, _ in requests_of(world):
            if path in ("/healthz", "/readyz"):
                continue
            if path == "/v1/referrals" and method == "POST":
                body = lodge
            response = call(api, method, path, body)
            assert response.status_code == 401, (label, method, path, response.text)
            assert response.headers["Content-Type"] == "application/problem+json"
    mine = world["apis"]["la_caseworker"].get("/v1/referrals",
                                              params={"school_urn": "951999"}).json()
    assert mine["count"] == 0


def test_a_disabled_user_is_refused_at_once(system, world):
    admin = world["apis"]["region_admin"]
    user = Api(system.url, token("la_caseworker", la_code=LA, sub="matrix-leaver"))
    assert user.get("/v1/referrals").status_code == 200
    assert admin.post("/v1/users", {"sub": "matrix-leaver", "role": "la_caseworker",
                                    "la_code": LA}).status_code == 201
    assert admin.post("/v1/users/matrix-leaver/disable").json()["active"] is False
    assert user.get("/v1/referrals").status_code == 401
    assert admin.post("/v1/users/matrix-leaver/token").status_code == 409
    assert admin.post("/v1/users/matrix-leaver/enable").status_code == 200
    assert user.get("/v1/referrals").status_code == 200
    # a region admin never issues a token of a role that reads cases (issue 9)
    refused = admin.post("/v1/users/matrix-leaver/token")
    assert refused.status_code == 403 and "la_caseworker" in refused.json()["detail"]


def test_a_user_disabled_outside_this_gateway_is_refused_at_the_next_request(system, world,
                                                                             monkeypatch):
    """The gateway keeps an active caller's users row for a few seconds; a change made by
    another process (here the `ehcp` CLI, as another gateway instance would) reaches it
    through the users table's NOTIFY, not after the cache's TTL."""
    from services.gateway.cli import main

    monkeypatch.setenv("DATABASE_URL", system.env["DATABASE_URL"])
    user = Api(system.url, token("la_caseworker", la_code=LA, sub="matrix-cli-leaver"))
    for _ in range(3):  # cached by now
        assert user.get("/v1/referrals").status_code == 200
    main(["user", "disable", "matrix-cli-leaver"])
    refused = user.get("/v1/referrals")
    assert refused.status_code == 401, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    main(["user", "enable", "matrix-cli-leaver"])
    wait_for(lambda: user.get("/v1/referrals").status_code == 200, timeout=5)

"""An LA's statutory-clock settings and school closures through HTTP, on the real
processes: a manager's change recomputes the LA's open cases (the next-working-day
receipt rule moves a bank-holiday request's deadlines; a closure puts a school advice
request under exception limb (a)); nobody else can change them, and what is not theirs
answers 404; bad input is 422 naming the field.

The package's clock is pinned at 2027-06-30 (conftest.py). LA 971 is this module's own."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.api.cases import step, submit
from tests.support.api import Api, token
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

LA, OTHER_LA = "971", "972"
SCHOOL, OTHER_SCHOOL = "971001", "972001"


@pytest.fixture(scope="module", autouse=True)
def register(system):
    """The schools this module's requests name, in the register."""
    system.register_schools(LA, SCHOOL, "971003")
    system.register_schools(OTHER_LA, OTHER_SCHOOL)
SETTINGS, CLOSURES = f"/v1/las/{LA}/settings", f"/v1/las/{LA}/closures"


def send(api: Api, method: str, path: str, body: object = None) -> requests.Response:
    return requests.request(method, api.base_url + path, json=body, headers=api._headers(),
                            timeout=15)


@pytest.fixture(scope="module")
def apis(system) -> dict[str, Api]:
    claims = {
        "manager": dict(role="la_manager", la_code=LA),
        "caseworker": dict(role="la_caseworker", la_code=LA),
        "other_manager": dict(role="la_manager", la_code=OTHER_LA),
        "other_caseworker": dict(role="la_caseworker", la_code=OTHER_LA),
        "school": dict(role="school", school_urn=SCHOOL),
        "region_admin": dict(role="region_admin"),
        "ops": dict(role="ops"),
    }
    return {name: Api(system.url, token(sub=f"la-settings-{name}", **c))
            for name, c in claims.items()}


def milestone(api: Api, case_id: str, name: str, **expected) -> dict | None:
    """The case's milestone once its deadlines are up to date and match `expected`."""
    body = api.get(f"/v1/referrals/{case_id}/deadlines").json()
    if not body.get("deadlines_up_to_date"):
        return None
    found = [m for m in body["deadlines"] if m["milestone"] == name]
    if found and all(found[0].get(k) == v for k, v in expected.items()):
        return found[0]
    return None


def problem_fields(response: requests.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    return {e["field"] for e in response.json()["errors"]}


def test_next_working_day_receipt_moves_a_bank_holiday_request(apis):
    manager, caseworker = apis["manager"], apis["caseworker"]
    assert manager.get(SETTINGS).json() == {"la_code": LA, "settings": {}}  # defaults
    case = submit(caseworker, LA, SCHOOL, received_on="2026-12-25")
    # Default (off): the clock runs from the date given. A1 = 25 Dec 2026 + 42 days:
    # +6 = 31 Dec, +31 = 31 Jan (37), +5 = 5 Feb 2027.
    wait_for(lambda: milestone(caseworker, case["id"], "decision_to_assess",
                               due_on="2027-02-05"))

    changed = send(manager, "PUT", SETTINGS, {"next_working_day_receipt": True})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["settings"] == {"next_working_day_receipt": True}
    assert body["recompute_queued"] >= 1  # at least this case, which has open milestones
    assert caseworker.get(SETTINGS).json()["settings"] == {"next_working_day_receipt": True}

    # On: Fri 25 Dec is Christmas Day, Sat 26 and Sun 27 the weekend, Mon 28 Dec the
    # substitute Boxing Day holiday: the clock starts Tue 29 Dec 2026.
    # A1 = 29 Dec + 42 days: +2 = 31 Dec, +31 = 31 Jan (33), +9 = 9 Feb 2027.
    # A6 = 29 Dec + 140 days: 9 Feb (42), 28 Feb (61), 31 Mar (92), 30 Apr (122),
    # +18 = 18 May 2027.
    wait_for(lambda: milestone(caseworker, case["id"], "decision_to_assess",
                               due_on="2027-02-09"), timeout=30)  # the sweep recomputes
    assert milestone(caseworker, case["id"], "final_plan", due_on="2027-05-18")
    # a request recorded after the change is counted the same way at once
    later = submit(caseworker, LA, SCHOOL, received_on="2026-12-25")
    wait_for(lambda: milestone(caseworker, later["id"], "decision_to_assess",
                               due_on="2027-02-09"))


def test_a_summer_closure_puts_school_advice_under_exception_limb_a(apis):
    manager, caseworker = apis["manager"], apis["caseworker"]
    case = submit(caseworker, LA, SCHOOL, received_on="2027-03-01")
    step(caseworker, case["id"], "decision_to_assess", "2027-04-01", outcome="assess")
    step(caseworker, case["id"], "advice_requested", "2027-06-30", adviser="school",
         school_urn=SCHOOL)
    # No closure yet: A6 = Mon 1 Mar 2027 + 140 days: 31 Mar (30), 30 Apr (60),
    # 31 May (91), 30 Jun (121), +19 = 19 Jul 2027.
    wait_for(lambda: milestone(caseworker, case["id"], "final_plan", due_on="2027-07-19",
                               status="pending", adjusted_due_on=None))

    # The school's summer holiday: closed Wed 7 Jul to Tue 31 Aug 2027, 25 + 31 = 56 days
    # (>= 4 weeks). Window: 7 Jul - 7 = 30 Jun to (re-opens 1 Sep) - 7 = 25 Aug; advice was
    # asked 30 Jun, inside it.
    created = send(manager, "POST", CLOSURES,
                   {"school_urn": SCHOOL, "starts_on": "2027-07-07", "ends_on": "2027-08-31"})
    assert created.status_code == 201, created.text
    closure = created.json()
    assert closure["recompute_queued"] >= 1
    assert created.headers["Location"] == f"{CLOSURES}/{closure['id']}"
    listed = caseworker.get(CLOSURES).json()["items"]
    assert [(c["id"], c["school_urn"], c["starts_on"], c["ends_on"]) for c in listed] == [
        (closure["id"], SCHOOL, "2027-07-07", "2027-08-31")]

    # The statutory date stays 19 Jul; adjusted = 19 Jul + 56 days: 31 Jul (12),
    # 31 Aug (43), +13 = 13 Sep 2027 (after today, so `exception`, not breached).
    final = wait_for(lambda: milestone(caseworker, case["id"], "final_plan",
                                       status="exception"), timeout=30)
    assert (final["due_on"], final["adjusted_due_on"]) == ("2027-07-19", "2027-09-13")

    removed = send(manager, "DELETE", f"{CLOSURES}/{closure['id']}")
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed"] is True and removed.json()["recompute_queued"] >= 1
    wait_for(lambda: milestone(caseworker, case["id"], "final_plan", status="pending",
                               adjusted_due_on=None), timeout=30)
    assert caseworker.get(CLOSURES).json()["items"] == []
    assert send(manager, "DELETE", f"{CLOSURES}/{closure['id']}").status_code == 404


def test_outsiders_get_404_and_change_nothing(apis):
    manager = apis["manager"]
    kept = send(manager, "POST", CLOSURES,
                {"school_urn": None, "starts_on": "2015-07-22", "ends_on": "2015-09-01"})
    assert kept.status_code == 201, kept.text
    kept_id = kept.json()["id"]
    before = (manager.get(SETTINGS).json(), manager.get(CLOSURES).json())

    writes = [("PUT", SETTINGS, {"next_working_day_receipt": False}),
              ("POST", CLOSURES, {"starts_on": "2027-07-07", "ends_on": "2027-08-31"}),
              ("DELETE", f"{CLOSURES}/{kept_id}", None)]
    reads = [("GET", SETTINGS, None), ("GET", CLOSURES, None)]
    for name in ("other_manager", "other_caseworker", "school", "ops"):
        for method, path, body in reads + writes:
            answer = send(apis[name], method, path, body)
            assert answer.status_code == 404, (name, method, path, answer.text)
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert kept_id not in answer.text
    # those who may read, but not change: 403
    for name in ("caseworker", "region_admin"):
        for method, path, body in reads:
            assert send(apis[name], method, path, body).status_code == 200, name
        for method, path, body in writes:
            assert send(apis[name], method, path, body).status_code == 403, (name, method)
    assert (manager.get(SETTINGS).json(), manager.get(CLOSURES).json()) == before
    # the other LA's manager manages their own LA's settings, not this one's
    own = send(apis["other_manager"], "PUT", f"/v1/las/{OTHER_LA}/settings",
               {"receipt_cutoff": "16:30"})
    assert own.status_code == 200 and own.json()["settings"] == {"receipt_cutoff": "16:30"}
    assert manager.get(SETTINGS).json() == before[0]
    # a path that is no LA code, or no closure id, is nothing at all
    assert manager.get("/v1/las/97x/settings").status_code == 404
    assert send(manager, "DELETE", f"{CLOSURES}/not-an-id").status_code == 404
    assert send(manager, "DELETE", f"{CLOSURES}/{kept_id}").status_code == 200


def test_bad_input_is_422_naming_the_field_and_changes_nothing(apis):
    manager = apis["manager"]
    before = (manager.get(SETTINGS).json(), manager.get(CLOSURES).json())
    cases = [
        ({"starts_on": "2027-02-30", "ends_on": "2027-03-10"}, {"starts_on"}),
        ({"starts_on": "2027-07-07"}, {"ends_on"}),
        ({"starts_on": "07/07/2027", "ends_on": "2027-08-31"}, {"starts_on"}),
        # checked by the deadlines service; its problem passes through unchanged
        ({"starts_on": "2027-08-31", "ends_on": "2027-07-07"}, {"ends_on"}),
        ({"starts_on": "1999-12-31", "ends_on": "2027-07-07"}, {"starts_on"}),
        ({"school_urn": "12345", "starts_on": "2027-07-07", "ends_on": "2027-08-31"},
         {"school_urn"}),
        ({"start_on": "2027-07-07", "ends_on": "2027-08-31"}, {"start_on", "starts_on"}),
    ]
    for body, fields in cases:
        assert problem_fields(send(manager, "POST", CLOSURES, body)) == fields, body
    settings_cases = [
        ({"receipt_cutoff": "25:00"}, {"receipt_cutoff"}),
        ({"next_working_day_receipt": "sometimes"}, {"next_working_day_receipt"}),
        ({"alert_offsets": [{"kind": "soon", "offset": -5}]}, {"alert_offsets.0.kind"}),
        ({"milestone_alert_offsets": {"final_plan": [{"kind": "due", "offset": 500}]}},
         {"milestone_alert_offsets.final_plan.value.0.offset"}),
        ({"alerts": []}, {"alerts"}),
    ]
    for body, fields in settings_cases:
        assert problem_fields(send(manager, "PUT", SETTINGS, body)) == fields, body
    assert send(manager, "PUT", SETTINGS, [1, 2]).status_code == 422
    not_json = requests.put(manager.base_url + SETTINGS, data="x",
                            headers={**manager._headers(), "Content-Type": "text/plain"},
                            timeout=15)
    assert not_json.status_code == 415
    assert (manager.get(SETTINGS).json(), manager.get(CLOSURES).json()) == before


def test_alert_offsets_per_milestone_are_kept(apis):
    manager = apis["manager"]
    wanted = {"next_working_day_receipt": True, "receipt_cutoff": "16:00",
              "alert_offsets": [{"kind": "approaching", "offset": -15, "unit": "working_days"},
                                {"kind": "due", "offset": 0, "unit": "working_days"}],
              "milestone_alert_offsets": {"final_plan": [
                  {"kind": "approaching", "offset": -20, "unit": "days"}]}}
    answer = send(manager, "PUT", SETTINGS, wanted)
    assert answer.status_code == 200, answer.text
    assert answer.json()["settings"] == wanted
    assert apis["region_admin"].get(SETTINGS).json() == {"la_code": LA, "settings": wanted}


def test_console_records_closures_through_the_api(system, apis, capsys, monkeypatch):
    from services.gateway.cli import main

    # as an operator runs it: with the deployment's database, where it lists its user
    monkeypatch.setenv("DATABASE_URL", system.env["DATABASE_URL"])

    main(["closures", "add", LA, "--from", "2016-07-20", "--to", "2016-08-31",
          "--url", system.url])
    added = capsys.readouterr().out
    closure_id = added.split()[1]
    assert "open cases to recompute" in added
    assert [c["id"] for c in apis["caseworker"].get(CLOSURES).json()["items"]
            if c["starts_on"] == "2016-07-20"] == [closure_id]
    main(["closures", "list", LA, "--url", system.url])
    assert f"{closure_id}  all schools  2016-07-20 to 2016-08-31" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="ends_on"):
        main(["closures", "add", LA, "--from", "2016-08-31", "--to", "2016-07-20",
              "--url", system.url])
    main(["closures", "remove", LA, closure_id, "--url", system.url])
    assert closure_id not in {c["id"] for c in apis["caseworker"].get(CLOSURES).json()["items"]}


def test_console_manages_who_gets_alerts_through_the_api(system, capsys, monkeypatch):
    from services.gateway.cli import main

    monkeypatch.setenv("DATABASE_URL", system.env["DATABASE_URL"])

    main(["recipients", "add", "--kind", "school", "--la-code", LA, "--school-urn", "971003",
          "--name", "Console SENCo office", "--email", "senco@console.example",
          "--channels", "inbox,email", "--url", system.url])
    recipient_id = capsys.readouterr().out.split()[1]
    main(["recipients", "list", "--la-code", LA, "--url", system.url])
    listed = capsys.readouterr().out
    assert recipient_id in listed and "Console SENCo office" in listed
    assert "[email, inbox]" in listed  # channels come back sorted
    with pytest.raises(SystemExit, match="emails"):  # email channel without an address
        main(["recipients", "add", "--kind", "la_team", "--la-code", LA, "--name", "No mail",
              "--channels", "email", "--url", system.url])
    main(["recipients", "remove", recipient_id, "--url", system.url])
    capsys.readouterr()
    main(["recipients", "list", "--la-code", LA, "--url", system.url])
    assert recipient_id not in capsys.readouterr().out

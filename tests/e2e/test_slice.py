"""The foundation slice end to end: four real processes, driven through HTTP."""

from __future__ import annotations

import random
import time

import pytest

from tests.support.api import Api, referral_body, token
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

# Other modules share the run's database: schools of our own keep these tests independent.
_BASE = random.randrange(300000, 900000, 10)


def urn(n: int) -> str:
    return str(_BASE + n)


@pytest.fixture(scope="module", autouse=True)
def register(system):
    """The schools these requests name, in the register."""
    system.register_schools("881", *(urn(n) for n in range(1, 6)))


def school_alerts(api: Api) -> list[dict]:
    response = api.get("/v1/alerts")
    assert response.status_code == 200, response.text
    return response.json()["alerts"]


def test_request_reaches_the_school_as_an_alert(system):
    school = Api(system.url, token("school", school_urn=urn(1)))
    started = time.perf_counter()
    created = school.post("/v1/referrals", referral_body(school_urn=urn(1),
                                                         received_on="2026-01-05"))
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["reference"].startswith("881-2026-")
    assert case["status"] == "request_received"
    assert created.headers["Location"] == f"/v1/referrals/{case['id']}"

    alerts = wait_for(lambda: [a for a in school_alerts(school) if a["case_id"] == case["id"]])
    elapsed = time.perf_counter() - started
    print(f"slice latency (POST to alert readable): {elapsed * 1000:.0f} ms")
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["reference"] == case["reference"]
    assert alert["milestone"] == "final_plan"
    assert alert["due_on"] == "2026-05-25"  # 5 Jan 2026 + 20 weeks (140 days), Reg 13(2)
    assert alert["read"] is False
    assert "Child-Synthetic" not in str(alert)

    deadlines = school.get(f"/v1/referrals/{case['id']}/deadlines").json()["deadlines"]
    due = {d["milestone"]: (d["rule"], d["due_on"]) for d in deadlines}
    assert due["decision_to_assess"] == ("A1", "2026-02-16")  # + 6 weeks, Reg 5(1)
    assert due["final_plan"] == ("A6", "2026-05-25")

    read = school.post(f"/v1/alerts/{alert['id']}/read")
    assert read.status_code == 200
    assert school.get("/v1/alerts", params={"unread": "true"}).json()["alerts"] == [
        a for a in school_alerts(school) if not a["read"]]


def test_other_school_and_other_la_see_nothing(system):
    school = Api(system.url, token("school", school_urn=urn(2)))
    case = school.post("/v1/referrals", referral_body(school_urn=urn(2))).json()
    wait_for(lambda: school_alerts(school))
    for outsider in (token("school", school_urn=urn(9)),
                     token("la_caseworker", la_code="882")):
        api = Api(system.url, outsider)
        assert api.get(f"/v1/referrals/{case['id']}").status_code == 404
        assert all(a["case_id"] != case["id"] for a in school_alerts(api))
    own_la = Api(system.url, token("la_caseworker", la_code="881"))
    assert own_la.get(f"/v1/referrals/{case['id']}").status_code == 200


def test_bad_input_gets_problem_json_and_changes_nothing(system):
    school = Api(system.url, token("school", school_urn=urn(3)))
    before = school_alerts(school)
    body = referral_body(school_urn=urn(3))
    body["la_code"] = "88"
    del body["child"]["date_of_birth"]
    response = school.post("/v1/referrals", body)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"la_code", "child.date_of_birth"}
    future = school.post("/v1/referrals", referral_body(school_urn=urn(3),
                                                         received_on="2099-01-01"))
    assert future.status_code == 422
    assert future.json()["errors"][0]["field"] == "received_on"
    assert school.post("/v1/referrals", referral_body(school_urn=urn(4))).status_code == 403
    assert Api(system.url).post("/v1/referrals", body).status_code == 401
    assert Api(system.url, "not-a-token").get("/v1/alerts").status_code == 401
    time.sleep(0.5)
    assert school_alerts(school) == before  # no case was created, so no alert either


def test_idempotency_key_creates_one_case(system):
    school = Api(system.url, token("school", school_urn=urn(5), sub="senco-5"))
    headers = {"Idempotency-Key": "form-submit-1"}
    first = school.post("/v1/referrals", referral_body(school_urn=urn(5)), headers=headers)
    second = school.post("/v1/referrals", referral_body(school_urn=urn(5)), headers=headers)
    assert first.status_code == 201 and second.status_code == 201
    assert first.json()["id"] == second.json()["id"]


def metric_value(text: str, name: str, **labels) -> float | None:
    """The value of one sample in a Prometheus text exposition, or None."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_are_served_per_service(system):
    gateway = system.metrics("gateway")
    assert metric_value(gateway, "ehcp_http_requests_total", route="/v1/referrals",
                        method="POST", status="201") >= 1
    for service, queue in (("deadlines", "deadlines"), ("notifications", "notifications")):
        text = system.metrics(service)
        assert metric_value(text, "ehcp_messages_processed_total", queue=queue) >= 1
        assert metric_value(text, "ehcp_handler_seconds_count", queue=queue) >= 1
    for service in ("referrals", "deadlines"):  # the gauge is refreshed about every second
        wait_for(lambda s=service: metric_value(system.metrics(s), "ehcp_outbox_backlog") == 0,
                 timeout=10)
    # Business figures: cases per LA and state (refreshed on the sweep interval).
    wait_for(lambda: (metric_value(system.metrics("referrals"), "ehcp_cases", la_code="881",
                                   status="request_received") or 0) >= 1, timeout=20)
    # Queue depths are read every few seconds on a connection of their own.
    depth = wait_for(lambda: metric_value(system.metrics("deadlines"), "ehcp_queue_depth",
                                          queue="deadlines.events") is not None, timeout=15)
    assert depth

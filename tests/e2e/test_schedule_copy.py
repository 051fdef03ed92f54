"""A case's deadlines are read from the referrals service's copy of its schedule (kept from
deadline.scheduled): one RPC instead of two. The copy must show exactly what the deadlines
service shows, on the day of the recompute and on any later day (statuses age: breached,
lapsed), answer while the deadlines service is down, fall back to that service where no
copy exists, and audit every read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.events import new_event
from tests.e2e.api.cases import step, submit
from tests.integration.deadlines.helpers import rpc
from tests.support.api import Api, token
from tests.support.bus import publish
from tests.support.processes import running_system, wait_for

pytestmark = pytest.mark.e2e

LA, SCHOOL = "974", "974001"


@pytest.fixture(scope="module")
def spring(infra, tmp_path_factory):
    with running_system(infra, tmp_path_factory.mktemp("copy"),
                        {"NOW": "2026-04-02T09:00:00"}, (LA, SCHOOL)) as system:
        yield system


def ordered(deadlines: list[dict]) -> list[dict]:
    return sorted(deadlines, key=lambda d: (d["due_on"], d["milestone"], d["rule"]))


def shown(api: Api, case_id: str) -> list[dict]:
    body = api.get(f"/v1/referrals/{case_id}/deadlines").json()
    assert body["deadlines_up_to_date"], body
    return ordered(body["deadlines"])


def own(infra, case_ids: list[str]) -> dict[str, list[dict]]:
    """The deadlines service's own answer (its tables, its SQL status)."""
    with rpc(infra.amqp_uri) as deadlines:
        return {c: ordered(ms) for c, ms in deadlines.deadlines_of_cases(case_ids).items()}


def reads_audited(infra, case_id: str) -> int:
    with infra.connect("referrals") as db:
        return db.execute("SELECT count(*) AS n FROM audit_log WHERE case_id = %s "
                          "AND action = 'read'", (case_id,)).fetchone()["n"]


def test_the_copy_shows_what_the_deadlines_service_shows_today_and_later(spring, infra):
    caseworker = Api(spring.url, token("la_caseworker", la_code=LA))
    drafted = submit(caseworker, LA, SCHOOL, "2026-01-05")["id"]
    for type_, on, fields in [
            ("decision_to_assess", "2026-02-10", {"outcome": "assess"}),
            ("exception_started", "2026-03-12", {"limb": "c", "note": "family abroad"}),
            ("exception_ended", "2026-03-20", {"exception_id": "exc-1"}),
            ("draft_plan_issued", "2026-04-01", {})]:
        step(caseworker, drafted, type_, on, **fields)
    waiting = submit(caseworker, LA, SCHOOL, "2026-01-05")["id"]  # no decision: breached
    ids = [drafted, waiting]
    wait_for(lambda: all(caseworker.get(f"/v1/referrals/{c}").json()["deadlines_up_to_date"]
                         for c in ids), timeout=30)

    on_the_day = {c: shown(caseworker, c) for c in ids}
    assert on_the_day == own(infra, ids)
    statuses = {d["status"] for ms in on_the_day.values() for d in ms}
    assert {"breached", "exception", "pending", "met"} <= statuses
    assert any(d["exception_days"] > 0 for d in on_the_day[drafted])

    # An older schedule arriving late (out of order) leaves the newer copy as it is.
    stale = new_event("deadline.scheduled", {
        "case_id": drafted, "reference": caseworker.get(f"/v1/referrals/{drafted}").json()[
            "reference"], "school_urn": SCHOOL, "as_of_event": uuid.uuid4(), "milestones": []},
        la_code=LA, occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    publish(infra.amqp_uri, stale)
    with infra.connect("referrals") as db:
        wait_for(lambda: db.execute("SELECT 1 FROM inbox WHERE event_id = %s",
                                    (stale["id"],)).fetchone())
    assert shown(caseworker, drafted) == on_the_day[drafted]

    # Two months on, no event in between: the copy still holds the statuses of 2 April,
    # read as of 1 June (the family's window on the draft lapsed, the final plan is late).
    for name in ("referrals", "deadlines"):
        spring.services[name].stop()
        spring.services[name].start(extra_env={"NOW": "2026-06-01T09:00:00"})
    later = {c: shown(caseworker, c) for c in ids}
    assert later == own(infra, ids)
    assert later != on_the_day
    assert "not_applicable" in {d["status"] for d in later[drafted]}

    # The copy answers alone: with the deadlines service stopped, the same deadlines.
    spring.services["deadlines"].stop()
    assert {c: shown(caseworker, c) for c in ids} == later
    spring.services["deadlines"].start(extra_env={"NOW": "2026-06-01T09:00:00"})

    # No copy (a case from before the copy existed): the deadlines service answers.
    with infra.connect("referrals") as db:
        db.execute("DELETE FROM case_schedules WHERE case_id = %s", (drafted,))
    before = reads_audited(infra, drafted)
    assert shown(caseworker, drafted) == later[drafted]
    assert reads_audited(infra, drafted) == before + 1  # one read, one audit row

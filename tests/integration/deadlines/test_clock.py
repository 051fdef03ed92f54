"""The statutory clock on real processes: steps in, milestones and alerts out, exactly once
(clock moved forward, kill -9, two instances at once)."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import date, timedelta

import pytest

from services.deadlines import working_days as wd
from tests.integration.deadlines.helpers import AlertTap, Case, emitted, milestones, rpc
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, wait_for

pytestmark = pytest.mark.integration

D0 = date(2027, 3, 1)  # a Monday; every case of this module is "received" on or after it
FAST = {"SWEEP_SECONDS": "0.3"}
ONE_EACH = {"alert_offsets": [
    {"kind": "approaching", "offset": -5, "unit": "working_days"},
    {"kind": "due", "offset": 0, "unit": "days"},
    {"kind": "breached", "offset": 1, "unit": "days"}]}


@pytest.fixture(scope="module")
def clock(deadlines_system):
    """Restart the deadlines service with its clock set to a day; restore it afterwards."""
    deadlines = deadlines_system.services["deadlines"]

    def set_to(day: date, kill: bool = False) -> None:
        deadlines.kill() if kill else deadlines.stop()
        deadlines.start(extra_env={**FAST, "NOW": day.isoformat()})

    set_to(D0)
    yield set_to
    deadlines.stop()
    deadlines.start()


@pytest.fixture(scope="module")
def tap(deadlines_system, infra):
    tap = AlertTap(infra.amqp_uri)
    yield tap
    tap.delete()


def outbox_alerts(db, la_code: str) -> list[dict]:
    return db.execute(
        "SELECT event_id, event_type, body->'payload'->>'case_id' AS case_id, "
        "body->'payload'->>'milestone' AS milestone FROM outbox "
        "WHERE event_type <> 'deadline.scheduled' AND body->>'la_code' = %s",
        (la_code,)).fetchall()


def test_steps_recorded_update_milestones(deadlines_system, infra, clock):
    case = Case(infra.amqp_uri, "901")
    case.received(D0)
    with infra.connect("deadlines") as db:
        wait_for(lambda: milestones(db, case.id).get("A6"))
        case.step("decision_to_assess", D0 + timedelta(days=20))
        got = wait_for(lambda: (lambda m: m if m["A1"]["met_on"] else None)(
            milestones(db, case.id)))
    assert got["A1"]["status"] == "met" and got["A1"]["met_on"] == D0 + timedelta(days=20)
    assert got["A3"]["due_on"] == D0 + timedelta(weeks=16)  # opened by the decision
    assert got["A6"]["due_on"] == D0 + timedelta(weeks=20) and got["A6"]["status"] == "pending"
    with rpc(infra.amqp_uri) as deadlines:
        by_case = deadlines.deadlines_of_cases([case.id])
        listed = deadlines.list_deadlines({"case_ids": [case.id], "open_only": True})
    assert {d["rule"]: d["status"] for d in by_case[case.id]} == {
        "A1": "met", "A3": "pending", "A6": "pending"}
    assert [d["rule"] for d in listed] == ["A3", "A6"]  # ordered by target date


def test_moving_the_clock_sends_each_alert_once_also_after_kill(
        deadlines_system, infra, clock, tap):
    with rpc(infra.amqp_uri) as deadlines:
        deadlines.set_la_settings("902", ONE_EACH)
    case = Case(infra.amqp_uri, "902")
    case.received(D0)
    a1_due = D0 + timedelta(weeks=6)
    with infra.connect("deadlines") as db:
        wait_for(lambda: milestones(db, case.id).get("A1"))
        assert emitted(db, case.id) == []

        clock(wd.add_working_days(a1_due, -5))
        wait_for(lambda: emitted(db, case.id))
        assert [(r["rule"], r["kind"]) for r in emitted(db, case.id)] == [("A1", "approaching")]

        clock(a1_due + timedelta(days=1))  # past the due date and the breach at once
        wait_for(lambda: len(emitted(db, case.id)) == 3)

        clock(a1_due + timedelta(days=1), kill=True)  # kill -9, same day
        probe = Case(infra.amqp_uri, "902")  # due today: proves a sweep ran since restart
        probe.received(D0 + timedelta(days=1))
        wait_for(lambda: emitted(db, probe.id))

        # The LA records the late decision: deadline.met once, even if delivered twice.
        step = case.step("decision_to_assess", a1_due + timedelta(days=1))
        from tests.support.bus import publish
        publish(infra.amqp_uri, step)
        wait_for(lambda: len(emitted(db, case.id)) == 4)
        assert milestones(db, case.id)["A1"]["status"] == "late"

        rows = emitted(db, case.id)
        assert [(r["rule"], r["kind"], r["send_on"]) for r in rows] == [
            ("A1", "approaching", wd.add_working_days(a1_due, -5)),
            ("A1", "due", a1_due),
            ("A1", "breached", a1_due + timedelta(days=1)),
            ("A1", "met", a1_due + timedelta(days=1))]
        in_outbox = [r for r in outbox_alerts(db, "902") if r["case_id"] == case.id]
    assert sorted(r["event_type"] for r in in_outbox) == [
        "deadline.approaching", "deadline.breached", "deadline.due", "deadline.met"]
    events = wait_for(lambda: (lambda e: e if len({x["id"] for x in e}) == 4 else None)(
        tap.of_case(case.id)))
    kinds = Counter(e["type"] for e in {x["id"]: x for x in events}.values())
    assert kinds == Counter({"deadline.approaching": 1, "deadline.due": 1,
                             "deadline.breached": 1, "deadline.met": 1})
    assert all(e["payload"]["milestone"] == "decision_to_assess" for e in events)
    assert "ehcp_deadline_breaches_total" in deadlines_system.metrics("deadlines")


def bulk_due_cases(db, la_code: str, n: int, today: date) -> date:
    """n open cases whose final-plan milestone is two days overdue, written straight to
    the service's tables (as a migration from another system would)."""
    due = today - timedelta(days=2)
    db.execute(
        "INSERT INTO cases (case_id, reference, la_code, school_urn, first_seen_on) "
        "SELECT gen_random_uuid(), %s || '-B-' || g, %s, '300905', '2027-01-01' "
        "FROM generate_series(1, %s) g", (la_code, la_code, n))
    db.execute(
        "INSERT INTO milestones (case_id, milestone, rule, regulation, due_on, status, "
        "la_code, school_urn, known_since, next_alert_on) "
        "SELECT case_id, 'final_plan', 'A6', 'Reg 13(2)', %s, 'pending', la_code, school_urn, "
        "'2027-01-01', %s FROM cases WHERE la_code = %s",
        (due, wd.add_working_days(due, -10), la_code))
    return due


def assert_each_alert_once(db, la_code: str, n: int) -> None:
    """Default schedule: approaching x2, due, breached per milestone; once each."""
    rows = db.execute("SELECT kind, count(*) AS c FROM alerts_emitted WHERE la_code = %s "
                      "GROUP BY kind", (la_code,)).fetchall()
    assert {r["kind"]: r["c"] for r in rows} == {"approaching": 2 * n, "due": n, "breached": n}
    per_key = Counter((r["case_id"], r["event_type"]) for r in outbox_alerts(db, la_code))
    assert len(per_key) == 3 * n
    assert Counter(per_key.values()) == Counter({1: 2 * n, 2: n})  # 2 = the two approaching
    left = db.execute("SELECT count(*) AS c FROM milestones WHERE la_code = %s "
                      "AND next_alert_on IS NOT NULL", (la_code,)).fetchone()["c"]
    assert left == 0


def test_kill_9_in_the_middle_of_a_sweep_loses_and_repeats_nothing(
        deadlines_system, infra, clock, tap):
    today = date(2027, 6, 1)
    n = 1200  # three claim batches: the kill lands after the first commit
    with infra.connect("deadlines") as db:
        clock(today)
        bulk_due_cases(db, "904", n, today)
        count = "SELECT count(*) AS c FROM alerts_emitted WHERE la_code = '904'"
        wait_for(lambda: db.execute(count).fetchone()["c"] > 0, interval=0.01)
        deadlines_system.services["deadlines"].kill(signal.SIGKILL)
        # (usually mid-sweep; if the sweep won the race the invariants must hold all the same)
        print(f"alerts recorded at the kill: {db.execute(count).fetchone()['c']} of {4 * n}")
        deadlines_system.services["deadlines"].start(
            extra_env={**FAST, "NOW": today.isoformat()})
        wait_for(lambda: db.execute(count).fetchone()["c"] == 4 * n, timeout=60)
        assert_each_alert_once(db, "904", n)
        wait_for(lambda: db.execute("SELECT count(*) AS c FROM outbox WHERE sent_at IS NULL"
                                    ).fetchone()["c"] == 0, timeout=30)
    published = {e["id"]: e for e in tap.drain() if e["la_code"] == "904"}
    assert len(published) == 4 * n  # every event reached the broker; resends share an id


def test_two_instances_sweep_without_duplicates(deadlines_system, infra, clock, tap):
    today = date(2027, 6, 2)
    n = 1000
    clock(today)
    second = ServiceProcess("services.deadlines", "deadlines-2", {
        **deadlines_system.env, **FAST, "NOW": today.isoformat(),
        "DEADLINES_METRICS_PORT": str(free_port())},
        deadlines_system.services["deadlines"].log_path.parent)
    second.start()
    try:
        with infra.connect("deadlines") as db:
            bulk_due_cases(db, "905", n, today)  # both timers see the work at once
            count = "SELECT count(*) AS c FROM alerts_emitted WHERE la_code = '905'"
            wait_for(lambda: db.execute(count).fetchone()["c"] == 4 * n, timeout=60)
            assert_each_alert_once(db, "905", n)
    finally:
        second.stop()
    first = deadlines_system.services["deadlines"]
    worked = [p.name for p in (first, second) if "sweep done" in p.log()]
    print(f"instances that emitted alerts: {worked}")

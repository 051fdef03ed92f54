"""Property-based tests: the result is a function of the set of events."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.deadlines import working_days as wd
from services.deadlines.domain import (
    CASE_EVENT_TYPES,
    CaseEvent,
    Closure,
    LaSettings,
    alert_schedule,
    compute_milestones,
)
from services.deadlines.rules import ADVISERS

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DATA_CHOICES: dict[str, st.SearchStrategy] = {
    "decision_to_assess": st.fixed_dictionaries({"outcome": st.sampled_from(["assess", "refuse"])}),
    "advice_requested": st.fixed_dictionaries(
        {"adviser": st.sampled_from(ADVISERS), "school_urn": st.sampled_from(["100", "200"])}
    ),
    "advice_received": st.fixed_dictionaries({"adviser": st.sampled_from(ADVISERS)}),
    "school_consulted": st.fixed_dictionaries({"school_urn": st.sampled_from(["100", "200"])}),
    "school_response_received": st.fixed_dictionaries(
        {"school_urn": st.sampled_from(["100", "200"])}
    ),
    "review_decision": st.fixed_dictionaries(
        {"outcome": st.sampled_from(["maintain", "amend", "cease"])}
    ),
    "phase_transfer": st.fixed_dictionaries(
        {
            "transfer_year": st.integers(2025, 2031),
            "to_phase": st.sampled_from(["secondary", "post16"]),
            "year_group": st.sampled_from([None, 7, 10]),
        }
    ),
    "exception_started": st.fixed_dictionaries(
        {
            "limb": st.sampled_from(["a", "b", "c", "d", "appointment", "parent_wait"]),
            "adviser": st.sampled_from([None, "school", "health"]),
            "exception_id": st.sampled_from(["X1", "X2"]),
        }
    ),
    "exception_ended": st.one_of(
        st.just({}), st.fixed_dictionaries({"exception_id": st.sampled_from(["X1", "X2"])})
    ),
    "transferred_in": st.fixed_dictionaries(
        {"la_code": st.just("999"), "stage": st.sampled_from(["assessment", "plan"])}
    ),
    "reassessment_decided": st.fixed_dictionaries(
        {"outcome": st.sampled_from(["reassess", "refuse"])}
    ),
    "tribunal_order": st.fixed_dictionaries(
        {
            "order": st.sampled_from(
                ["assess", "make_plan", "amend", "amend_school", "continue", "continue_plan"]
            ),
            "unopposed": st.booleans(),
        }
    ),
    "review_meeting_scheduled": st.fixed_dictionaries(
        {"meeting_on": st.dates(date(2025, 1, 1), date(2028, 12, 31)).map(date.isoformat)}
    ),
    "move_notified": st.fixed_dictionaries(
        {"moved_on": st.dates(date(2025, 1, 1), date(2028, 12, 31)).map(date.isoformat)}
    ),
}

BASE = date(2025, 1, 1)


@st.composite
def histories(draw: st.DrawFn, n_max: int = 14) -> list[CaseEvent]:
    start = draw(st.dates(date(2024, 1, 1), date(2029, 12, 31)))
    events = [CaseEvent("r0", "request_received", start)]
    n = draw(st.integers(0, n_max))
    for k in range(n):
        etype = draw(st.sampled_from(CASE_EVENT_TYPES))
        on = start + timedelta(days=draw(st.integers(0, 500)))
        data = draw(DATA_CHOICES.get(etype, st.just({})))
        received_at = None
        if etype == "request_received" and draw(st.booleans()):
            received_at = datetime.combine(on, time(draw(st.integers(0, 23)), 0))
        events.append(CaseEvent(f"e{k:02d}", etype, on, data, received_at))
    return events


closures_st = st.lists(
    st.builds(
        lambda urn, s, n: Closure(urn, s, s + timedelta(days=n)),
        st.sampled_from([None, "100", "200"]),
        st.dates(date(2024, 1, 1), date(2030, 12, 31)),
        st.integers(10, 50),
    ),
    max_size=2,
)
settings_st = st.builds(
    LaSettings,
    next_working_day_receipt=st.booleans(),
    phase_transfer_reading=st.sampled_from(["by", "before"]),
    review_period_reading=st.sampled_from(["anniversary", "starting_with"]),
    review_clock_from=st.sampled_from(["meeting", "decision"]),
)
today_st = st.dates(date(2024, 1, 1), date(2032, 12, 31))


@FAST
@given(histories(), st.randoms(use_true_random=False), today_st, settings_st, closures_st)
def test_any_order_gives_the_same_result(events, rnd, today, s, closures) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert compute_milestones(shuffled, today, s, closures) == compute_milestones(
        events, today, s, closures
    )


@FAST
@given(histories(), st.data(), today_st, closures_st)
def test_duplicates_change_nothing(events, data, today, closures) -> None:
    dupes = data.draw(st.lists(st.sampled_from(events), min_size=1, max_size=6))
    assert compute_milestones(events + dupes, today, closures=closures) == compute_milestones(
        events, today, closures=closures
    )


@FAST
@given(histories(), today_st, settings_st)
def test_replaying_twice_changes_nothing(events, today, s) -> None:
    once = compute_milestones(events, today, s)
    assert compute_milestones(events + events, today, s) == once
    assert compute_milestones(events, today, s) == once


@FAST
@given(
    st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    st.integers(0, 400),
    st.booleans(),
)
def test_final_plan_due_is_received_plus_140_days(received, plan_after, issued) -> None:
    events = [CaseEvent("r", "request_received", received)]
    if issued:
        events.append(CaseEvent("p", "final_plan_issued", received + timedelta(days=plan_after)))
    (fp,) = [m for m in compute_milestones(events, received) if m.rule == "A6"]
    assert fp.due_on == received + timedelta(days=140)
    assert fp.adjusted_due_on is None and fp.exception_days == 0
    if issued:
        assert fp.status == ("met" if plan_after <= 140 else "late")


@FAST
@given(st.dates(date(2020, 1, 1), date(2035, 12, 31)), st.integers(0, 23))
def test_next_working_day_receipt_starts_on_a_working_day(received, hour) -> None:
    at = datetime.combine(received, time(hour, 30))
    ev = [CaseEvent("r", "request_received", received, received_at=at)]
    (fp,) = [
        m
        for m in compute_milestones(ev, received, LaSettings(next_working_day_receipt=True))
        if m.rule == "A6"
    ]
    start = fp.due_on - timedelta(days=140)
    assert wd.is_working_day(start)
    assert received <= start <= received + timedelta(days=7)
    if wd.is_working_day(received) and hour < 17:
        assert start == received
    else:
        assert start == wd.next_working_day(received)


@FAST
@given(histories(), st.data(), today_st)
def test_correction_equals_event_recorded_right_first_time(events, data, today) -> None:
    target = data.draw(st.sampled_from(events))
    new_on = target.on + timedelta(days=data.draw(st.integers(-30, 30)))
    fix = CaseEvent("fix", target.type, new_on, {}, corrects=target.id)
    fixed = [
        CaseEvent(e.id, e.type, new_on, e.data, e.received_at) if e is target else e for e in events
    ]
    assert compute_milestones(events + [fix], today) == compute_milestones(fixed, today)


@FAST
@given(histories(), today_st, closures_st)
def test_output_well_formed(events, today, closures) -> None:
    got = compute_milestones(events, today, closures=closures)
    assert [(m.due_on, m.milestone) for m in got] == sorted((m.due_on, m.milestone) for m in got)
    for m in got:
        assert m.status in ("pending", "met", "late", "breached", "exception", "not_applicable")
        assert (m.met_on is not None) == (
            m.status in ("met", "late") or (m.status == "exception" and m.met_on is not None)
        )
        if m.adjusted_due_on is not None:
            assert m.adjusted_due_on == m.due_on + timedelta(days=m.exception_days)
        for kind, send_on in alert_schedule(m, LaSettings()):
            assert kind in ("approaching", "due", "breached")
            assert send_on <= (m.adjusted_due_on or m.due_on) + timedelta(days=1)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(n_max=18), st.lists(today_st, min_size=1, max_size=4), settings_st, closures_st)
def test_met_on_or_before_adjusted_target_is_never_breached(events, todays, s, closures) -> None:
    """Issue 11: a milestone met on or before its (adjusted) target is never `breached`,
    whatever today is, and no alert is left to send for it."""
    for today in todays:
        for m in compute_milestones(events, today, s, closures):
            if m.met_on is None:
                continue
            target = m.adjusted_due_on or m.due_on
            assert m.status != "breached", (today, m)
            assert alert_schedule(m, LaSettings()) == [], (today, m)
            if m.met_on <= m.due_on:
                assert m.status == "met", (today, m)
            elif m.met_on <= target:
                assert m.status == "exception", (today, m)
            else:
                assert m.status == "late", (today, m)


@FAST
@given(
    st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    st.integers(1, 60),
    st.integers(0, 60),
    st.integers(0, 200),
    today_st,
)
def test_plan_met_within_an_exception_is_exception_whatever_today(
    received, exc_start, exc_days, plan_after, today
) -> None:
    """The issue's example, generalised: exception (c) inside the 20 weeks, plan issued
    within statutory date + exception length -> `exception` on every later day."""
    x_on = received + timedelta(days=exc_start)
    events = [
        CaseEvent("r", "request_received", received),
        CaseEvent("x1", "exception_started", x_on, {"limb": "c", "exception_id": "X"}),
        CaseEvent("x2", "exception_ended", x_on + timedelta(days=exc_days), {"exception_id": "X"}),
    ]
    due = received + timedelta(days=140)
    issued = due + timedelta(days=plan_after % (exc_days + 1))
    events.append(CaseEvent("p", "final_plan_issued", issued))
    (fp,) = [m for m in compute_milestones(events, today) if m.rule == "A6"]
    if exc_days and x_on <= due:
        assert fp.exception_days == exc_days
        assert fp.status == ("met" if issued == due else "exception")
    assert fp.status != "breached"

"""SEN2 figures, gauges, list filters, LA settings and school closures on the real service."""

from __future__ import annotations

from datetime import date

import pytest

from shared.problems import Problem
from tests.integration.deadlines.helpers import Case, milestones, rpc, settled
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

NOW = date(2025, 12, 31)  # the gauges show the clock's current year: 2025


@pytest.fixture(scope="module")
def service(deadlines_system):
    deadlines = deadlines_system.services["deadlines"]
    deadlines.stop()
    deadlines.start(extra_env={"SWEEP_SECONDS": "0.3", "NOW": NOW.isoformat()})
    yield deadlines_system
    deadlines.stop()
    deadlines.start()


def d(text: str) -> date:
    return date.fromisoformat(text)


# (received, decided to assess, final plan issued, exception (start, end) or None)
# worked by hand; days = plan - request:
CASES_903 = [
    ("2025-01-06", "2025-02-10", "2025-05-19", None),  # 35 d decision, 133 d plan
    ("2025-01-06", "2025-03-03", "2025-07-14", None),  # 56 d (late), 189 d
    ("2024-03-04", "2024-04-08", "2025-04-07", None),  # decided in 2024; 399 d (> a year)
    ("2025-02-03", "2025-03-10", "2025-07-07", ("2025-03-03", "2025-04-14")),  # 154 d, limb c
    ("2025-06-02", "2025-07-14", "2025-10-20", None),  # 42 d (just in time), 140 d (in time)
]


def record(case: Case, received, decided, issued, exception) -> None:
    case.received(d(received))
    if exception:
        case.step("exception_started", d(exception[0]), {"limb": "c"})
        case.step("exception_ended", d(exception[1]))
    case.step("decision_to_assess", d(decided))
    case.step("final_plan_issued", d(issued))


def test_timeliness_matches_hand_computed_figures(service, infra):
    cases = []
    for row in CASES_903:
        case = Case(infra.amqp_uri, "903")
        record(case, *row)
        cases.append(case)
    with infra.connect("deadlines") as db:
        for case in cases:
            wait_for(lambda c=case: settled(db, c))
        assert milestones(db, cases[3].id)["A6"]["exception_days"] == 42
    with rpc(infra.amqp_uri) as deadlines:
        figures = deadlines.timeliness("903", 2025)
        assert deadlines.timeliness("903", 2024)["including_exceptions"]["plans_issued"] == 0
        with pytest.raises(Problem) as bad:
            deadlines.timeliness("9x3", 2025)
    assert bad.value.status == 422
    assert figures == {
        "la_code": "903", "year": 2025,
        "including_exceptions": {
            "requests_decided": 4, "decided_within_6_weeks": 3,
            "decided_within_6_weeks_pct": 75.0,
            "plans_issued": 5, "within_20_weeks": 2, "over_20_weeks_under_a_year": 2,
            "over_a_year": 1, "within_20_weeks_pct": 40.0},
        "excluding_exceptions": {
            "requests_decided": 3, "decided_within_6_weeks": 2,
            "decided_within_6_weeks_pct": 66.7,
            "plans_issued": 4, "within_20_weeks": 2, "over_20_weeks_under_a_year": 1,
            "over_a_year": 1, "within_20_weeks_pct": 50.0},
        "average_weeks_to_issue": 29.0,  # (133 + 189 + 399 + 154 + 140) / 5 / 7
    }

    def gauges() -> dict[str, float]:
        out = {}
        for line in service.metrics("deadlines").splitlines():
            if 'la_code="903"' in line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    got = wait_for(lambda: (lambda g: g if g.get(
        'ehcp_sen2_plans_issued_including_exceptions{la_code="903"}') == 5 else None)(gauges()))
    assert got['ehcp_sen2_within_20_weeks_excluding_exceptions{la_code="903"}'] == 2
    assert got['ehcp_sen2_average_weeks_to_issue{la_code="903"}'] == 29.0
    # every plan started an annual review, due a year on: open, pending as of NOW
    assert got['ehcp_deadline_open_milestones{la_code="903",rule="R1",status="pending"}'] == 5


def test_list_deadlines_filters(service, infra):
    with rpc(infra.amqp_uri) as deadlines:
        reviews = wait_for(lambda: (lambda r: r if len(r) == 5 else None)(
            deadlines.list_deadlines({"la_code": "903", "rules": ["R1"]})))
        assert [r["target_on"] for r in reviews] == sorted(r["target_on"] for r in reviews)
        assert {r["status"] for r in reviews} == {"pending"}
        assert deadlines.list_deadlines({"la_code": "903", "overdue": True}) == []
        soon = deadlines.list_deadlines({"la_code": "903", "due_within_days": 100})
        assert [(r["rule"], r["due_on"]) for r in soon] == [("R1", "2026-04-07")]
        page = deadlines.list_deadlines({"la_code": "903", "limit": 2, "offset": 1})
        everything = deadlines.list_deadlines({"la_code": "903"})
        assert page == everything[1:3]
        assert deadlines.list_deadlines({"la_code": "903", "school_urns": ["399999"]}) == []
        late = deadlines.list_deadlines({"la_code": "903", "status": "late"})
        assert sorted(r["rule"] for r in late) == ["A1", "A6", "A6"]
        with pytest.raises(Problem) as bad:
            deadlines.list_deadlines({"la_code": "903", "status": "lost", "limit": 0})
    assert bad.value.status == 422
    assert {e["field"] for e in bad.value.errors} == {"filters.status", "filters.limit"}


def test_settings_and_closures_recompute_open_cases(service, infra):
    saturday = Case(infra.amqp_uri, "906")
    saturday.received(d("2025-06-07"))
    advice = Case(infra.amqp_uri, "906", school_urn="300906")
    advice.received(d("2025-06-02"))
    advice.step("decision_to_assess", d("2025-07-01"))
    advice.step("advice_requested", d("2025-07-18"),
                {"adviser": "school", "school_urn": "300906"})
    with infra.connect("deadlines") as db:
        wait_for(lambda: settled(db, advice) and settled(db, saturday))
        assert milestones(db, saturday.id)["A6"]["due_on"] == d("2025-10-25")
        assert milestones(db, advice.id)["A6"]["adjusted_due_on"] is None

        with rpc(infra.amqp_uri) as deadlines:
            with pytest.raises(Problem) as bad:
                deadlines.set_la_settings("906", {"alert_offsets": [{"kind": "soon",
                                                                     "offset": 1}]})
            assert bad.value.status == 422
            saved = deadlines.set_la_settings("906", {"next_working_day_receipt": True})
            assert saved["recompute_queued"] == 2
            # Summer closure of the school (42 days): advice asked of it from one week
            # before is limb (a) of Reg 13(3); the 20 weeks stretch by the closure.
            closure = deadlines.add_closure("906", "300906", "2025-07-23", "2025-09-02")
            assert deadlines.get_la_settings("906")["closures"] == [
                {k: v for k, v in closure.items() if k != "recompute_queued"}]

        # A request received on a Saturday counts from Monday with the setting on.
        wait_for(lambda: milestones(db, saturday.id)["A6"]["due_on"] == d("2025-10-27"))
        a6 = wait_for(lambda: (lambda m: m if m["adjusted_due_on"] else None)(
            milestones(db, advice.id)["A6"]))
        assert a6["due_on"] == d("2025-10-20")
        assert a6["exception_days"] == 42  # 23 Jul to the reopening on 3 Sep
        assert a6["adjusted_due_on"] == d("2025-12-01")

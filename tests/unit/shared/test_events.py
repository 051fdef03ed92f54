"""The envelope and catalogue: what passes, what is refused and why."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from shared.events import CATALOGUE, InvalidEvent, new_event, parse_event


def received(**overrides) -> dict:
    payload = {"case_id": uuid.uuid4(), "reference": "881-2026-00001", "school_urn": "100001",
               "received_on": date(2026, 1, 5), "requested_by": "school", **overrides}
    return new_event("referral.received", payload, la_code="881")


def test_new_event_is_json_ready_and_parses_back():
    event = received()
    assert event["version"] == 1 and event["correlation_id"] == event["id"]
    assert event["payload"]["received_on"] == "2026-01-05"
    parsed = parse_event(event)
    assert parsed["payload"]["received_on"] == date(2026, 1, 5)
    assert isinstance(parsed["payload"]["case_id"], uuid.UUID)


def test_correlation_id_is_carried():
    event = new_event("referral.received", received()["payload"], "881", correlation_id="c-1")
    assert parse_event(event)["correlation_id"] == "c-1"


@pytest.mark.parametrize("mutate, reason", [
    (lambda e: e.pop("id"), "id"),
    (lambda e: e.update(id="not-a-uuid"), "id"),
    (lambda e: e.update(la_code="88"), "la_code"),
    (lambda e: e.update(occurred_at="2026-01-05T10:00:00"), "occurred_at"),  # naive time
    (lambda e: e.update(type="no.such.event"), "unknown event type"),
    (lambda e: e.update(version=2), "version 2"),
    (lambda e: e.update(extra="x"), "extra"),
    (lambda e: e["payload"].update(school_urn="12"), "school_urn"),
    (lambda e: e["payload"].pop("received_on"), "received_on"),
    (lambda e: e["payload"].update(child_name="Synthetic"), "child_name"),
])
def test_invalid_events_are_refused_with_a_reason(mutate, reason):
    event = received()
    mutate(event)
    with pytest.raises(InvalidEvent) as exc:
        parse_event(event)
    assert reason in str(exc.value)


@pytest.mark.parametrize("body", [None, [], "text", 42])
def test_non_objects_are_refused(body):
    with pytest.raises(InvalidEvent, match="JSON object"):
        parse_event(body)


def test_new_event_refuses_a_bad_payload_before_it_reaches_the_outbox():
    from marshmallow import ValidationError

    with pytest.raises(ValidationError):
        new_event("referral.received", {"case_id": uuid.uuid4()}, la_code="881")


def test_every_catalogued_type_is_named_domain_dot_fact():
    for event_type, version in CATALOGUE:
        domain, _, fact = event_type.partition(".")
        assert domain and fact and version >= 1


def test_a_step_event_names_a_step_of_the_contract():
    from marshmallow import ValidationError

    from shared.events import CASE_STEP_TYPES

    base = {"case_id": "00000000-0000-0000-0000-000000000001", "reference": "881-2026-00001",
            "school_urn": "100001", "step_id": "00000000-0000-0000-0000-000000000002",
            "on": "2026-02-10", "data": {}}
    for step_type in ("request_received", *CASE_STEP_TYPES):
        new_event("case.step_recorded", {**base, "step_type": step_type}, la_code="881")
    try:
        new_event("case.step_recorded", {**base, "step_type": "lunch"}, la_code="881")
    except ValidationError as exc:
        assert "step_type" in exc.messages
    else:
        raise AssertionError("an unknown step type was accepted")


def test_an_imported_case_carries_its_steps_each_checked_like_a_step_event():
    steps = [{"step_id": uuid.uuid4(), "step_type": "decision_to_assess",
              "on": date(2026, 2, 10), "data": {"outcome": "assess"}},
             {"step_id": uuid.uuid4(), "step_type": "advice_requested",
              "on": date(2026, 2, 11)}]
    payload = {**received()["payload"], "steps": steps}
    parsed = parse_event(new_event("case.imported", payload, la_code="881"))["payload"]
    assert [(s["step_type"], s["on"], s["data"]) for s in parsed["steps"]] == [
        ("decision_to_assess", date(2026, 2, 10), {"outcome": "assess"}),
        ("advice_requested", date(2026, 2, 11), {})]
    assert parsed["received_on"] == date(2026, 1, 5)
    bad = new_event("case.imported", payload, la_code="881")
    bad["payload"]["steps"][1]["step_type"] = "request_received"  # not a recorded step
    with pytest.raises(InvalidEvent, match="step_type"):
        parse_event(bad)
    del bad["payload"]["steps"]
    with pytest.raises(InvalidEvent, match="steps"):
        parse_event(bad)


def test_json_value_writes_what_json_carries():
    import uuid as _uuid
    from datetime import UTC, date, datetime

    from shared.events import json_value

    case = _uuid.UUID(int=5)
    assert json_value(date(2027, 3, 1)) == "2027-03-01"
    assert json_value(datetime(2027, 3, 1, 9, 30, tzinfo=UTC)) == "2027-03-01T09:30:00+00:00"
    assert json_value(case) == str(case)
    assert [json_value(v) for v in (None, "x", 3, 1.5, True)] == [None, "x", 3, 1.5, True]

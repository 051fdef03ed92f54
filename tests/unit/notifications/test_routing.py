from typing import Any

import pytest

from services.notifications.routing import route

ALL = {"email", "digest", "webhook", "inbox"}


def entry(rid: str, kind: str, la: str | None = None, urn: str | None = None,
          channels: set[str] | None = None, muted: set[str] | None = None) -> dict[str, Any]:
    return {"id": rid, "kind": kind, "la_code": la, "school_urn": urn,
            "channels": ALL if channels is None else channels,
            "muted_kinds": muted or set()}


DIRECTORY = [
    entry("school-a", "school", "881", "100001"),
    entry("school-b", "school", "881", "100002"),
    entry("team-881", "la_team", "881"),
    entry("team-882", "la_team", "882"),
    entry("mgr-881", "la_manager", "881"),
    entry("mgr-882", "la_manager", "882"),
]


def alert(kind: str, milestone: str = "final_plan", la: str | None = "881",
          urn: str | None = "100001") -> dict[str, Any]:
    return {"kind": kind, "milestone": milestone, "la_code": la, "school_urn": urn}


def recipients(deliveries: list[tuple[str, str]]) -> set[str]:
    return {rid for rid, _ in deliveries}


def test_deadline_alert_goes_to_school_and_la_team_only() -> None:
    out = route(alert("approaching"), DIRECTORY)
    assert out == [
        ("school-a", "inbox"), ("school-a", "email"), ("school-a", "webhook"),
        ("school-a", "digest"),
        ("team-881", "inbox"), ("team-881", "email"), ("team-881", "webhook"),
        ("team-881", "digest"),
    ]


def test_breach_escalates_to_la_managers() -> None:
    assert recipients(route(alert("breached"), DIRECTORY)) == {"school-a", "team-881", "mgr-881"}


@pytest.mark.parametrize("kind", ["scheduled", "approaching", "due", "met"])
def test_managers_only_on_breach(kind: str) -> None:
    assert "mgr-881" not in recipients(route(alert(kind), DIRECTORY))


def test_overdue_advice_goes_to_the_la_only() -> None:
    out = route(alert("breached", "advice:educational_psychologist"), DIRECTORY)
    assert recipients(out) == {"team-881", "mgr-881"}


def test_advice_not_yet_overdue_still_reaches_the_school() -> None:
    out = route(alert("approaching", "advice:health"), DIRECTORY)
    assert recipients(out) == {"school-a", "team-881"}


def test_muted_kind_keeps_only_the_inbox() -> None:
    directory = [entry("school-a", "school", "881", "100001", muted={"approaching"})]
    assert route(alert("approaching"), directory) == [("school-a", "inbox")]
    # Other kinds are not muted.
    assert ("school-a", "email") in route(alert("due"), directory)


def test_inbox_always_even_without_channels() -> None:
    directory = [entry("team-881", "la_team", "881", channels=set())]
    assert route(alert("due"), directory) == [("team-881", "inbox")]


def test_channels_follow_preferences() -> None:
    directory = [entry("school-a", "school", "881", "100001", channels={"digest"})]
    assert route(alert("due"), directory) == [("school-a", "inbox"), ("school-a", "digest")]


def test_met_is_not_emailed_and_scheduled_is_inbox_and_webhook_only() -> None:
    assert [c for _, c in route(alert("met"), DIRECTORY[:1])] == ["inbox", "webhook", "digest"]
    assert [c for _, c in route(alert("scheduled"), DIRECTORY[:1])] == ["inbox", "webhook"]


def test_no_school_on_case_goes_to_la_only() -> None:
    assert recipients(route(alert("due", urn=None), DIRECTORY)) == {"team-881"}


def test_school_matched_by_urn_even_in_another_la_area() -> None:
    directory = [entry("school-x", "school", "882", "100001"), *DIRECTORY]
    assert "school-x" in recipients(route(alert("due"), directory))


def test_users_follow_their_organisation() -> None:
    directory = [
        entry("senco", "user", "881", "100001"),
        entry("other-senco", "user", "881", "100002"),
        entry("caseworker", "user", "881"),
        entry("caseworker-882", "user", "882"),
    ]
    assert recipients(route(alert("due"), directory)) == {"senco", "caseworker"}
    assert recipients(route(alert("breached", "advice:health"), directory)) == {"caseworker"}


def test_duplicate_entries_produce_one_delivery_each() -> None:
    out = route(alert("due"), [DIRECTORY[0], DIRECTORY[0]])
    assert len(out) == len(set(out)) == 4


def test_unknown_recipient_kind_is_ignored() -> None:
    assert route(alert("due"), [entry("robot", "parent", "881", "100001")]) == []

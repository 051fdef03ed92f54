import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

import pytest

from services.notifications import render
from services.notifications.render import InvalidAlert

CASE_ID = "3f2b8c1e-5d7a-4c11-9e0f-000000000042"
LINK = f"https://gateway.example/cases/{CASE_ID}"


def alert(**overrides: Any) -> dict[str, Any]:
    base = {
        "reference": "881-2026-00042",
        "case_id": CASE_ID,
        "milestone": "final_plan",
        "kind": "approaching",
        "due_on": date(2026, 5, 25),
        "link": LINK,
    }
    base.update(overrides)
    return base


def test_golden_subject_text_and_html() -> None:
    out = render.render_email(alert())
    assert out.subject == (
        "Due soon: Final EHC plan (20 weeks) for case 881-2026-00042 (due Monday 25 May 2026)"
    )
    assert out.text == (
        "Case reference: 881-2026-00042\n"
        "Milestone: Final EHC plan (20 weeks)\n"
        "Status: Due soon\n"
        "Due date: Monday 25 May 2026\n"
        "\n"
        f"Open the case: {LINK}\n"
        "\n"
        "This message contains no personal details by design. "
        "Sign in to the EHCP Tracker to see the case.\n"
    )
    assert out.html == (
        "<!DOCTYPE html>\n"
        '<html lang="en"><body>\n'
        "<h1>Due soon: Final EHC plan (20 weeks)</h1>\n"
        "<table>\n"
        "<tr><th>Case reference</th><td>881-2026-00042</td></tr>\n"
        "<tr><th>Milestone</th><td>Final EHC plan (20 weeks)</td></tr>\n"
        "<tr><th>Status</th><td>Due soon</td></tr>\n"
        "<tr><th>Due date</th><td>Monday 25 May 2026</td></tr>\n"
        "</table>\n"
        f'<p><a href="{LINK}">Open the case</a></p>\n'
        "<p>This message contains no personal details by design. "
        "Sign in to the EHCP Tracker to see the case.</p>\n"
        "</body></html>\n"
    )


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("scheduled", "Scheduled: Final EHC plan (20 weeks) for case 881-2026-00042 "
                      "(due Monday 25 May 2026)"),
        ("due", "Due today: Final EHC plan (20 weeks) for case 881-2026-00042 "
                "(due Monday 25 May 2026)"),
        ("breached", "Overdue: Final EHC plan (20 weeks) for case 881-2026-00042 "
                     "(was due Monday 25 May 2026)"),
        ("met", "Met: Final EHC plan (20 weeks) for case 881-2026-00042 "
                "(due Monday 25 May 2026)"),
    ],
)
def test_subject_per_kind(kind: str, expected: str) -> None:
    assert render.subject(alert(kind=kind)) == expected


def test_breached_text_says_overdue() -> None:
    assert "Status: Overdue: the statutory deadline has passed\n" in render.text_body(
        alert(kind="breached"))


@pytest.mark.parametrize(
    ("milestone", "label"),
    [
        ("final_plan", "Final EHC plan (20 weeks)"),
        ("decision_to_assess", "Decision whether to assess (6 weeks)"),
        ("advice:educational_psychologist", "Advice from educational psychologist (6 weeks)"),
        ("advice:health", "Advice from health (6 weeks)"),
        ("advice:speech_and_language", "Advice from speech and language (6 weeks)"),
        # Free text after "advice:" could be a person's name: it is never echoed.
        ("advice:Dr. Jane Example", "Advice from adviser (6 weeks)"),
        ("some_new_milestone", "Some new milestone"),
        ("school_consultation:100001",
         "School or college consultation response, school URN 100001 (15 days)"),
        ("school_consultation:unknown", "School or college consultation response (15 days)"),
        ("draft_response", "Response to the draft plan (15 days)"),
        ("appeal", "Tribunal appeal window (2 months)"),
        ("new_rule:key", "New rule"),
    ],
)
def test_milestone_labels(milestone: str, label: str) -> None:
    assert render.milestone_label(milestone) == label


def test_every_milestone_of_the_deadlines_engine_has_a_label() -> None:
    rules = pytest.importorskip("services.deadlines.rules")
    unlabelled = {r.milestone for r in rules.RULES} - set(render.MILESTONE_LABELS) - {"advice"}
    assert unlabelled == set()
    assert set(rules.ADVISERS) <= set(render.ADVISER_LABELS)


def test_dates_are_uk_style_and_locale_independent() -> None:
    assert render.format_date(date(2024, 2, 29)) == "Thursday 29 February 2024"
    assert render.format_date(date(2026, 12, 31)) == "Thursday 31 December 2026"


def test_due_on_accepts_iso_string_and_datetime() -> None:
    expected = render.text_body(alert())
    assert render.text_body(alert(due_on="2026-05-25")) == expected
    assert render.text_body(alert(due_on=datetime(2026, 5, 25, 9, 30))) == expected


def test_html_escapes_values() -> None:
    link = "https://gateway.example/cases/x?a=1&b=<script>\"'"
    out = render.html_body(alert(link=link))
    assert "<script>" not in out
    assert 'href="https://gateway.example/cases/x?a=1&amp;b=&lt;script&gt;&quot;&#x27;"' in out
    # The plain-text part is not HTML: it keeps the link as is.
    assert link in render.text_body(alert(link=link))


@pytest.mark.parametrize(
    "bad",
    [
        {"link": "javascript:alert(1)"},
        {"link": "gateway/cases/1"},
        {"kind": "exploded"},
        {"case_id": "not-a-uuid"},
        {"reference": "Jane Example <jane@example.org>"},
        {"milestone": "Final plan for Jane"},
        {"due_on": "25/05/2026"},
        {"due_on": 20260525},
    ],
)
def test_invalid_alerts_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidAlert):
        render.render_email(alert(**bad))


@pytest.mark.parametrize("missing", render.ALERT_FIELDS)
def test_missing_field_is_refused(missing: str) -> None:
    data = alert()
    del data[missing]
    with pytest.raises(InvalidAlert):
        render.render_email(data)


class SpyMapping(Mapping[str, Any]):
    """Records which keys are read, and fails if anything enumerates the mapping."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the renderer must not enumerate the alert's keys")

    def __len__(self) -> int:
        return len(self._data)


def test_renderers_read_only_whitelisted_keys() -> None:
    spy = SpyMapping(alert(child_name="Zebedee Example", date_of_birth=date(2014, 3, 9)))
    render.render_email(spy)
    render.webhook_body(spy)
    render.digest([spy], on=date(2026, 5, 19))
    assert spy.read <= set(render.ALERT_FIELDS)


def test_webhook_body_golden_and_deterministic() -> None:
    body = render.webhook_body(alert(kind="due"))
    assert body == render.webhook_body(alert(kind="due"))
    assert json.loads(body) == {
        "type": "deadline.due",
        "data": {
            "reference": "881-2026-00042",
            "case_id": CASE_ID,
            "milestone": "final_plan",
            "milestone_label": "Final EHC plan (20 weeks)",
            "kind": "due",
            "due_on": "2026-05-25",
            "link": LINK,
        },
    }


def test_digest_is_none_when_nothing_to_say() -> None:
    assert render.digest([], on=date(2026, 5, 19)) is None


def test_digest_groups_sorts_and_keeps_latest_state() -> None:
    other = "7d1e2c3b-0a4f-4b5c-8d6e-000000000007"
    alerts = [
        alert(kind="approaching", due_on=date(2026, 5, 25)),
        alert(reference="881-2026-00007", case_id=other, link=f"https://gateway.example/cases/{other}",
              milestone="decision_to_assess", kind="due", due_on=date(2026, 5, 19)),
        alert(milestone="advice:health", kind="breached", due_on=date(2026, 4, 1)),
        # Approaching and later met: reported once, as met.
        alert(milestone="advice:school", kind="approaching", due_on=date(2026, 4, 10)),
        alert(milestone="advice:school", kind="met", due_on=date(2026, 4, 10)),
    ]
    out = render.digest(alerts, on=date(2026, 5, 19))
    assert out is not None
    assert out.subject == (
        "EHC deadlines digest for Tuesday 19 May 2026: 2 due soon, 1 overdue, 1 met"
    )
    assert out.text == (
        "EHC deadlines digest for Tuesday 19 May 2026\n"
        "\n"
        "Due in the next 10 working days (2)\n"
        "- 881-2026-00007: Decision whether to assess (6 weeks), due Tuesday 19 May 2026\n"
        f"  https://gateway.example/cases/{other}\n"
        "- 881-2026-00042: Final EHC plan (20 weeks), due Monday 25 May 2026\n"
        f"  {LINK}\n"
        "\n"
        "Overdue (1)\n"
        "- 881-2026-00042: Advice from health (6 weeks), was due Wednesday 1 April 2026\n"
        f"  {LINK}\n"
        "\n"
        "Met since yesterday (1)\n"
        "- 881-2026-00042: Advice from school (6 weeks), due Friday 10 April 2026\n"
        f"  {LINK}\n"
        "\n"
        "This message contains no personal details by design. "
        "Sign in to the EHCP Tracker to see the case.\n"
    )
    assert "<h2>Overdue (1)</h2>" in out.html
    assert out.html.count("<li>") == 4


def test_digest_omits_empty_groups() -> None:
    out = render.digest([alert(kind="breached")], on=date(2026, 5, 26))
    assert out is not None
    assert out.subject.endswith(": 1 overdue")
    assert "Due in the next" not in out.text
    assert "Met since" not in out.text

"""No child's name or date of birth leaves the system through any channel's output,
even when the input carries them under extra keys."""

from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.notifications import calendar_feed, render

CASE_ID = "0b6c9d2e-1f3a-4e5b-8c7d-00000000a11e"

# Synthetic, deliberately unusual so a substring match cannot be a coincidence.
CHILD_FIRST = "Zebedee"
CHILD_LAST = "Quillfeather"
DOB = date(2014, 3, 9)
PII_STRINGS = [
    CHILD_FIRST, CHILD_LAST, f"{CHILD_FIRST} {CHILD_LAST}",
    "2014-03-09", "09/03/2014", "9/3/2014", "9 March 2014", "20140309", "March 2014",
]

PII_KEYS: dict[str, Any] = {
    "child_name": f"{CHILD_FIRST} {CHILD_LAST}",
    "name": f"{CHILD_FIRST} {CHILD_LAST}",
    "first_name": CHILD_FIRST,
    "last_name": CHILD_LAST,
    "dob": DOB,
    "date_of_birth": DOB.isoformat(),
    "birth_date": "09/03/2014",
    "child": {"name": f"{CHILD_FIRST} {CHILD_LAST}", "date_of_birth": DOB},
    "notes": f"{CHILD_FIRST} {CHILD_LAST}, born 9 March 2014",
    "description": f"{CHILD_FIRST} {CHILD_LAST}",
    "summary": f"{CHILD_FIRST} {CHILD_LAST}",
    "title": f"{CHILD_FIRST} {CHILD_LAST}",
    "subject": f"{CHILD_FIRST} {CHILD_LAST}",
    "label": f"{CHILD_FIRST} {CHILD_LAST}",
    "milestone_label": f"{CHILD_FIRST} {CHILD_LAST}",
    "data": {"child_name": f"{CHILD_FIRST} {CHILD_LAST}"},
}

MILESTONES = ["final_plan", "decision_to_assess", "advice:educational_psychologist"]


def polluted(kind: str, milestone: str) -> dict[str, Any]:
    return {
        "reference": "881-2026-00042",
        "case_id": CASE_ID,
        "milestone": milestone,
        "kind": kind,
        "due_on": date(2026, 5, 25),
        "link": f"https://gateway.example/cases/{CASE_ID}",
        **PII_KEYS,
    }


def all_outputs(alerts: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for a in alerts:
        email = render.render_email(a)
        out += [email.subject, email.text, email.html, render.webhook_body(a).decode()]
    digest = render.digest(alerts, on=date(2026, 5, 19))
    assert digest is not None
    out += [digest.subject, digest.text, digest.html]
    ics = calendar_feed.build_ics(alerts, "Synthetic School")
    # Unfold RFC 5545 continuation lines so a value split across lines is still found.
    out.append(ics.decode().replace("\r\n ", ""))
    return out


@pytest.mark.parametrize("milestone", MILESTONES)
def test_no_name_or_date_of_birth_in_any_channel(milestone: str) -> None:
    alerts = [polluted(kind, milestone) for kind in render.KINDS]
    for text in all_outputs(alerts):
        for needle in PII_STRINGS:
            assert needle.lower() not in text.lower(), (needle, text[:200])


@pytest.mark.parametrize("key", sorted(PII_KEYS))
def test_each_extra_key_alone_changes_nothing(key: str) -> None:
    """Adding any extra key must leave every output byte-identical."""
    clean = {k: v for k, v in polluted("breached", "final_plan").items() if k not in PII_KEYS}
    one = {**clean, key: PII_KEYS[key]}
    fixed = datetime(2026, 5, 19, tzinfo=UTC)
    assert render.render_email(one) == render.render_email(clean)
    assert render.webhook_body(one) == render.webhook_body(clean)
    assert render.digest([one], date(2026, 5, 19)) == render.digest([clean], date(2026, 5, 19))
    assert (calendar_feed.build_ics([one], "S", now=fixed)
            == calendar_feed.build_ics([clean], "S", now=fixed))

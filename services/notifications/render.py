"""Text of deadline alerts for every channel (pure: no I/O, no clock).

Privacy rule: an alert carries only the case reference, the milestone, the due date
and a link to the gateway. The renderer reads nothing but the whitelisted keys in
``ALERT_FIELDS`` and validates each value's shape, so a child's name or date of
birth that slipped into the input under any other key can never reach an output.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

# The only keys any renderer (and the calendar feed) ever reads from an alert.
ALERT_FIELDS = ("reference", "case_id", "milestone", "kind", "due_on", "link")

KINDS = ("scheduled", "approaching", "due", "breached", "met")

# Milestone ids of the deadlines service (services/deadlines/rules.py) -> labels people
# recognise (statutory period in brackets, as LAs and SENCos speak of them).
MILESTONE_LABELS: dict[str, str] = {
    "decision_to_assess": "Decision whether to assess (6 weeks)",
    "decision_not_to_issue": "Notice if no plan will be issued (16 weeks)",
    "draft_response": "Response to the draft plan (15 days)",
    "school_consultation": "School or college consultation response (15 days)",
    "final_plan": "Final EHC plan (20 weeks)",
    "annual_review": "Annual review meeting (12 months)",
    "early_years_review": "Early years review (3 to 6 months, guidance)",
    "review_invitations": "Annual review invitations (2 weeks before the meeting)",
    "review_advice": "Annual review advice circulated (2 weeks before the meeting)",
    "review_report": "Annual review report (2 weeks)",
    "review_decision": "Decision after annual review (4 weeks)",
    "amendments_response": "Response to proposed amendments (15 days)",
    "amended_plan": "Final amended plan (8 weeks)",
    "phase_transfer": "Phase transfer: amended plan naming the next school",
    "reassessment_decision": "Decision whether to reassess (15 days)",
    "reassessment_final_plan": "Final plan after reassessment (14 weeks)",
    "plan_transfer_out": "Transfer of the plan to the new LA (15 working days)",
    "transfer_notice": "New LA's notice after transfer (6 weeks)",
    "mediation_contact": "Contact with a mediation adviser (2 months)",
    "mediation_certificate": "Mediation certificate (3 working days)",
    "mediation_meeting": "Mediation arranged by the LA (30 days)",
    "appeal": "Tribunal appeal window (2 months)",
    "tribunal_assess_notice": "Tribunal order: notice of assessment (2 weeks)",
    "tribunal_no_plan_notice": "Tribunal order: notice that no plan will be made (10 weeks)",
    "tribunal_final_plan": "Tribunal order: final plan",
    "tribunal_draft_plan": "Tribunal order: draft plan (5 weeks)",
    "tribunal_amended_plan": "Tribunal order: amended plan",
    "tribunal_continue_plan": "Tribunal order: continue the plan (at once)",
    "tribunal_cease_plan": "Tribunal order: cease the plan (at once)",
}

# Adviser types named in Reg 6(1); an advice milestone names the type, never a person.
ADVISER_LABELS: dict[str, str] = {
    "educational_psychologist": "educational psychologist",
    "health": "health",
    "social_care": "social care",
    "school": "school",
    "early_years": "early years provider",
    "post16": "post-16 institution",
    "sensory": "specialist teacher (hearing or vision)",
    "parent": "parent or young person",
    "other": "other adviser",
}

_KIND_STATUS = {
    "scheduled": "Scheduled",
    "approaching": "Due soon",
    "due": "Due today",
    "breached": "Overdue: the statutory deadline has passed",
    "met": "Met",
}
_KIND_SUBJECT = {
    "scheduled": "Scheduled",
    "approaching": "Due soon",
    "due": "Due today",
    "breached": "Overdue",
    "met": "Met",
}

# Own tables rather than strftime so the output does not depend on the process locale.
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")

# References look like "881-2026-00042"; a strict shape keeps free text out of subjects.
_REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/-]{0,39}$")
_SLUG_RE = re.compile(r"^[a-z0-9_]{1,60}$")
# "advice:<adviser type>" and "school_consultation:<school URN>" carry a key.
_MILESTONE_RE = re.compile(r"^[a-z0-9_]{1,60}(:[A-Za-z0-9_-]{1,40})?$")
_URN_RE = re.compile(r"^[0-9]{6,8}$")

_FOOTER = ("This message contains no personal details by design. "
           "Sign in to the EHCP Tracker to see the case.")

DIGEST_GROUPS = (
    ("due_soon", "Due in the next 10 working days"),
    ("overdue", "Overdue"),
    ("met", "Met since yesterday"),
)
_DIGEST_GROUP_OF_KIND = {
    "scheduled": "due_soon",
    "approaching": "due_soon",
    "due": "due_soon",
    "breached": "overdue",
    "met": "met",
}
# When one milestone arrives in several kinds, the most advanced state wins.
_KIND_RANK = {"scheduled": 0, "approaching": 1, "due": 2, "breached": 3, "met": 4}


class InvalidAlert(ValueError):
    """An alert field is missing or has an unexpected shape (never rendered)."""


@dataclass(frozen=True)
class AlertFields:
    """The validated, whitelisted content of one alert."""

    reference: str
    case_id: str
    milestone: str
    kind: str | None
    due_on: date
    link: str

    @property
    def label(self) -> str:
        return milestone_label(self.milestone)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def milestone_label(milestone: str) -> str:
    """Human label of a milestone id, e.g. ``final_plan`` -> ``Final EHC plan (20 weeks)``."""
    if milestone in MILESTONE_LABELS:
        return MILESTONE_LABELS[milestone]
    if milestone.startswith("advice:"):
        adviser = milestone.split(":", 1)[1]
        if adviser in ADVISER_LABELS:
            name = ADVISER_LABELS[adviser]
        elif _SLUG_RE.match(adviser):
            name = adviser.replace("_", " ")
        else:
            name = "adviser"  # anything free-form could be a person's name: do not echo it
        return f"Advice from {name} (6 weeks)"
    base, _, key = milestone.partition(":")
    if base == "school_consultation" and key:
        # A school's URN is public, and tells the LA which consultation is late.
        urn = f", school URN {key}" if _URN_RE.match(key) else ""
        return f"School or college consultation response{urn} (15 days)"
    if base in MILESTONE_LABELS:
        return MILESTONE_LABELS[base]
    if _SLUG_RE.match(base):
        return base.replace("_", " ").capitalize()
    return "Milestone"


def alert_fields(alert: Mapping[str, Any], *, require_kind: bool = True) -> AlertFields:
    """Read and validate the whitelisted keys of ``alert``; every other key is ignored."""
    try:
        reference = str(alert["reference"])
        case_id = str(uuid.UUID(str(alert["case_id"])))
        milestone = str(alert["milestone"])
        raw_due = alert["due_on"]
        link = str(alert["link"])
    except KeyError as exc:
        raise InvalidAlert(f"alert is missing {exc.args[0]!r}") from None
    except ValueError:
        raise InvalidAlert("case_id is not a UUID") from None
    if not _REFERENCE_RE.match(reference):
        raise InvalidAlert("reference has an unexpected shape")
    if not (milestone.startswith("advice:") or _MILESTONE_RE.match(milestone)):
        raise InvalidAlert("milestone has an unexpected shape")
    kind = alert.get("kind")
    if kind is None:
        if require_kind:
            raise InvalidAlert("alert is missing 'kind'")
    elif kind not in KINDS:
        raise InvalidAlert(f"unknown alert kind {kind!r}")
    due_on = _as_date(raw_due)
    parts = urlsplit(link)
    # Only web links: a javascript: or data: URL would be dangerous inside an HTML href.
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidAlert("link must be an http(s) URL")
    return AlertFields(reference, case_id, milestone, kind, due_on, link)


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        # A datetime is a date too; keep only the day, deadlines are all-day.
        return date(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidAlert("due_on must be a date or an ISO date string")


def format_date(day: date) -> str:
    """UK style, locale independent: ``Monday 25 May 2026``."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def subject(alert: Mapping[str, Any]) -> str:
    f = alert_fields(alert)
    assert f.kind is not None
    when = "was due" if f.kind == "breached" else "due"
    return (f"{_KIND_SUBJECT[f.kind]}: {f.label} for case {f.reference} "
            f"({when} {format_date(f.due_on)})")


def text_body(alert: Mapping[str, Any]) -> str:
    f = alert_fields(alert)
    assert f.kind is not None
    return (
        f"Case reference: {f.reference}\n"
        f"Milestone: {f.label}\n"
        f"Status: {_KIND_STATUS[f.kind]}\n"
        f"Due date: {format_date(f.due_on)}\n"
        "\n"
        f"Open the case: {f.link}\n"
        "\n"
        f"{_FOOTER}\n"
    )


def html_body(alert: Mapping[str, Any]) -> str:
    f = alert_fields(alert)
    assert f.kind is not None
    e = html.escape
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><body>\n'
        f"<h1>{e(_KIND_SUBJECT[f.kind])}: {e(f.label)}</h1>\n"
        "<table>\n"
        f"<tr><th>Case reference</th><td>{e(f.reference)}</td></tr>\n"
        f"<tr><th>Milestone</th><td>{e(f.label)}</td></tr>\n"
        f"<tr><th>Status</th><td>{e(_KIND_STATUS[f.kind])}</td></tr>\n"
        f"<tr><th>Due date</th><td>{e(format_date(f.due_on))}</td></tr>\n"
        "</table>\n"
        f'<p><a href="{e(f.link, quote=True)}">Open the case</a></p>\n'
        f"<p>{e(_FOOTER)}</p>\n"
        "</body></html>\n"
    )


def render_email(alert: Mapping[str, Any]) -> RenderedEmail:
    return RenderedEmail(subject(alert), text_body(alert), html_body(alert))


def webhook_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Standard Webhooks style payload: ``type`` plus a ``data`` object."""
    f = alert_fields(alert)
    return {
        "type": f"deadline.{f.kind}",
        "data": {
            "reference": f.reference,
            "case_id": f.case_id,
            "milestone": f.milestone,
            "milestone_label": f.label,
            "kind": f.kind,
            "due_on": f.due_on.isoformat(),
            "link": f.link,
        },
    }


def webhook_body(alert: Mapping[str, Any]) -> bytes:
    """The exact bytes to sign and POST (compact, key-sorted, so retries sign the same body)."""
    payload = webhook_payload(alert)
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def digest(alerts: Iterable[Mapping[str, Any]], on: date) -> RenderedEmail | None:
    """The daily digest for one recipient, or None when there is nothing to say.

    The caller selects the alerts (what falls due in the next 10 working days, what
    is overdue, what was met since yesterday); this groups them by kind, keeps one
    line per case milestone (the most advanced state) and sorts by due date.
    """
    latest: dict[tuple[str, str], AlertFields] = {}
    for alert in alerts:
        f = alert_fields(alert)
        key = (f.case_id, f.milestone)
        seen = latest.get(key)
        if seen is None or _KIND_RANK[f.kind or "scheduled"] > _KIND_RANK[seen.kind or "scheduled"]:
            latest[key] = f
    if not latest:
        return None
    groups: dict[str, list[AlertFields]] = {name: [] for name, _ in DIGEST_GROUPS}
    for f in latest.values():
        groups[_DIGEST_GROUP_OF_KIND[f.kind or "scheduled"]].append(f)
    for items in groups.values():
        items.sort(key=lambda f: (f.due_on, f.reference, f.milestone))

    counts = ", ".join(f"{len(groups[name])} {_short(name)}" for name, _ in DIGEST_GROUPS
                       if groups[name])
    subj = f"EHC deadlines digest for {format_date(on)}: {counts}"

    text_parts = [f"EHC deadlines digest for {format_date(on)}", ""]
    html_parts = ["<!DOCTYPE html>", '<html lang="en"><body>',
                  f"<h1>EHC deadlines digest for {html.escape(format_date(on))}</h1>"]
    for name, title in DIGEST_GROUPS:
        items = groups[name]
        if not items:
            continue
        text_parts.append(f"{title} ({len(items)})")
        html_parts.append(f"<h2>{html.escape(title)} ({len(items)})</h2>")
        html_parts.append("<ul>")
        for f in items:
            verb = "was due" if name == "overdue" else "due"
            line = f"{f.reference}: {f.label}, {verb} {format_date(f.due_on)}"
            text_parts.append(f"- {line}\n  {f.link}")
            html_parts.append(
                f'<li><a href="{html.escape(f.link, quote=True)}">{html.escape(f.reference)}</a>'
                f": {html.escape(f.label)}, {verb} {html.escape(format_date(f.due_on))}</li>"
            )
        text_parts.append("")
        html_parts.append("</ul>")
    text_parts.append(_FOOTER)
    html_parts.append(f"<p>{html.escape(_FOOTER)}</p>")
    html_parts.append("</body></html>")
    return RenderedEmail(subj, "\n".join(text_parts) + "\n", "\n".join(html_parts) + "\n")


def _short(group: str) -> str:
    return {"due_soon": "due soon", "overdue": "overdue", "met": "met"}[group]

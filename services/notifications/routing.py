"""Who receives an alert, and through which channel (pure: no I/O).

Rules (issue 5):
- a deadline alert goes to the case's school and to the LA's caseworker team;
- a breach also escalates to the LA's managers;
- overdue advice (``advice:*`` breached) goes to the LA only, not the school;
- a recipient who muted the alert's kind gets no email, webhook or digest line, but
  the inbox always keeps the alert, so a statutory deadline never vanishes silently.

Individual users (kind ``user``) follow their organisation: a user with a school URN is
treated as school staff, a user with only an LA code as LA caseworking staff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CHANNELS = ("inbox", "email", "webhook", "digest")

# Which alert kinds each channel carries. Email interrupts people, so it carries only
# what needs action; webhooks feed other systems, which want every state change; the
# digest reports approaching, overdue and met items (see render.digest).
CHANNEL_KINDS: dict[str, frozenset[str]] = {
    "inbox": frozenset({"scheduled", "approaching", "due", "breached", "met"}),
    "email": frozenset({"approaching", "due", "breached"}),
    "webhook": frozenset({"scheduled", "approaching", "due", "breached", "met"}),
    "digest": frozenset({"approaching", "due", "breached", "met"}),
}

Delivery = tuple[str, str]  # (recipient_id, channel)


def _audience(recipient: Mapping[str, Any]) -> str | None:
    kind = recipient.get("kind")
    if kind in ("school", "la_team", "la_manager"):
        return kind
    if kind == "user":
        if recipient.get("school_urn"):
            return "school"
        if recipient.get("la_code"):
            return "la_team"
    return None


def _audiences(kind: str, milestone: str) -> set[str]:
    wanted = {"school", "la_team"}
    if kind == "breached":
        wanted.add("la_manager")
        if milestone.startswith("advice:"):
            # Overdue advice is the LA's to chase with the adviser; the school cannot act.
            wanted.discard("school")
    return wanted


def route(alert: Mapping[str, Any], recipients: Iterable[Mapping[str, Any]]) -> list[Delivery]:
    """Deliveries for ``alert`` (keys kind, milestone, la_code, school_urn).

    Each recipient entry has id, kind (school|la_team|la_manager|user), la_code,
    school_urn, channels (subset of email, digest, webhook, inbox) and muted_kinds.
    The result is deduplicated and ordered by directory order, then channel order.
    """
    kind = str(alert["kind"])
    milestone = str(alert["milestone"])
    la_code = alert.get("la_code")
    school_urn = alert.get("school_urn")
    wanted = _audiences(kind, milestone)

    out: list[Delivery] = []
    seen: set[Delivery] = set()
    for r in recipients:
        audience = _audience(r)
        if audience not in wanted:
            continue
        if audience == "school":
            # A school may sit in another LA's area than the case: match by URN alone.
            if not school_urn or str(r.get("school_urn")) != str(school_urn):
                continue
        elif not la_code or str(r.get("la_code")) != str(la_code):
            continue
        muted = set(r.get("muted_kinds") or r.get("muted") or ())
        channels = set(r.get("channels") or ())
        for channel in CHANNELS:
            if kind not in CHANNEL_KINDS[channel]:
                continue
            if channel != "inbox" and (channel not in channels or kind in muted):
                continue
            delivery = (str(r["id"]), channel)
            if delivery not in seen:
                seen.add(delivery)
                out.append(delivery)
    return out

"""Form posts of the pages turned into the API's bodies, and back: pure functions (no I/O).
The API validates what they build, so a page shows exactly the API's problem messages."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from services.gateway import labels
from shared.events import ADVISERS, effective_due

DATE_PARTS = ("day", "month", "year")
# Where the error summary links for a date field: its first box (govukDateInput ids).
DATE_ANCHORS = {"child.date_of_birth": "child-date_of_birth-day",
                "received_on": "received_on-day", "on": "on-day"}
LIST_PASSTHROUGH = ("status", "school_urn", "adviser", "cursor", "reference")


def split_date(iso: str | None) -> dict:
    if not iso:
        return {"day": "", "month": "", "year": ""}
    d = date.fromisoformat(str(iso)[:10])
    return {"day": str(d.day), "month": str(d.month), "year": str(d.year)}


def date_parts(form, prefix: str) -> dict:
    return {p: (form.get(f"{prefix}-{p}") or "").strip() for p in DATE_PARTS}


def join_date(parts: dict) -> str | None:
    """Day, month and year boxes as an ISO date for the API (None when all are empty; a
    wrong one is passed on as typed, so the API's own message names the field)."""
    day, month, year = (parts.get(p, "").strip() for p in DATE_PARTS)
    if not (day or month or year):
        return None
    if day.isdigit() and month.isdigit() and year.isdigit():
        return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
    return f"{year}-{month}-{day}"


def _drop_empty(body: dict) -> dict:
    return {k: v for k, v in body.items() if v not in (None, "")}


# --- the request for assessment -------------------------------------------------------


def request_defaults(actor: dict, today: date) -> dict:
    return {"la_code": actor.get("la_code") or "", "school_urn": actor.get("school_urn") or "",
            "requested_by": "school", "received_on": split_date(today.isoformat()),
            "date_of_birth": split_date(None)}


def request_values(form) -> dict:
    return {"given_name": form.get("child.given_name", "").strip(),
            "family_name": form.get("child.family_name", "").strip(),
            "date_of_birth": date_parts(form, "child-date_of_birth"),
            "la_code": form.get("la_code", "").strip(),
            "school_urn": form.get("school_urn", "").strip(),
            "requested_by": form.get("requested_by", ""),
            "received_on": date_parts(form, "received_on")}


def request_body(values: dict) -> dict:
    return _drop_empty({
        "child": _drop_empty({"given_name": values["given_name"],
                              "family_name": values["family_name"],
                              "date_of_birth": join_date(values["date_of_birth"])}),
        "la_code": values["la_code"], "school_urn": values["school_urn"],
        "requested_by": values["requested_by"],
        "received_on": join_date(values["received_on"])})


# --- steps ------------------------------------------------------------------------------


def recordable_steps(actor: dict, referral: dict) -> list[str]:
    """The steps this caller may record on the case now (a school: its own advice and its
    own reply to a consultation)."""
    allowed = referral.get("allowed_steps") or []
    if actor["role"] != "school":
        return list(allowed)
    out = []
    if "advice_received" in allowed and "school" in (referral.get("advice_outstanding") or []):
        out.append("advice_received")
    if "school_response_received" in allowed and actor.get("school_urn") in (
            referral.get("consultations_outstanding") or []):
        out.append("school_response_received")
    return out


def step_defaults(actor: dict, step_type: str) -> dict:
    if actor["role"] == "school" and step_type == "advice_received":
        return {"adviser": "school"}
    if actor["role"] == "school" and step_type == "school_response_received":
        return {"school_urn": actor.get("school_urn") or ""}
    return {}


def step_choices(step_type: str, referral: dict) -> dict[str, tuple]:
    choices = dict(labels.CHOICES)
    if step_type in labels.OUTCOMES:
        choices["outcome"] = labels.OUTCOMES[step_type]
    if step_type == "advice_received":
        choices["adviser"] = tuple(referral.get("advice_outstanding") or ()) or ADVISERS
    if step_type == "exception_ended":
        choices["exception_id"] = tuple(referral.get("open_exceptions") or ())
    return choices


def step_values(form, step_type: str) -> dict:
    values = {"on": date_parts(form, "on")}
    for name, _ in labels.step_fields(step_type):
        values[name] = (form.get(name) or "").strip()
    return values


def step_body(step_type: str, values: dict) -> dict:
    body = {"type": step_type, "on": join_date(values["on"])}
    for name, _ in labels.step_fields(step_type):
        value = values.get(name)
        if name == "transfer_year" and value and value.isdigit():
            value = int(value)
        body[name] = value
    return _drop_empty(body)


def deadline_order(m: dict) -> tuple:
    return (str(effective_due(m)), m["milestone"])


# --- the case list ------------------------------------------------------------------------


def list_args(args, actor: dict, limit: int) -> MultiDict:
    """The page's filters as the API's list query (ReferralListQuery)."""
    out = MultiDict({"sort": "next_due", "limit": str(limit)})
    for name in LIST_PASSTHROUGH:
        if args.get(name):
            out[name] = args.get(name)
    view = args.get("view")
    if view == "mine":
        out["assigned_to"] = actor["sub"]
    elif view == "unassigned":
        out["unassigned"] = "true"
    elif view and view.startswith("user:"):
        out["assigned_to"] = view[5:]
    due = args.get("due")
    if due == "week":
        out["due_within"] = "7"
    elif due == "overdue":
        out["overdue"] = "true"
    return out


def next_page_href(args, cursor: str | None) -> str | None:
    if not cursor:
        return None
    kept = [(k, v) for k, v in args.items(multi=True) if k != "cursor" and v]
    return "/cases?" + urlencode([*kept, ("cursor", cursor)])

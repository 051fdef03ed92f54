"""Words of the pages: labels of states, steps and milestones, who must act, the form
fields each step takes and each role's navigation. Pure data and functions (no I/O)."""

from __future__ import annotations

from datetime import date

from services.referrals.lifecycle import (
    ASSESS_OUTCOMES,
    EXCEPTION_LIMBS,
    PHASES,
    REASSESSMENT_OUTCOMES,
    REVIEW_OUTCOMES,
    TRIBUNAL_ORDERS,
)
from shared.events import ADVISERS, ASSIGNMENT_STEP

WORDS = {
    "request_received": "Request received", "assessing": "Assessing",
    "draft_plan_issued": "Draft plan issued", "plan_maintained": "Plan maintained",
    "review_held": "Review held", "amending": "Amending", "refused": "Refused",
    "not_issuing": "Not issuing a plan", "ceased": "Ceased", "withdrawn": "Withdrawn",
    "transferred_out": "Transferred out", "decision_to_assess": "Decision to assess",
    "final_plan": "Final plan (20 weeks)", "educational_psychologist": "Educational psychologist",
    "social_care": "Social care", "early_years": "Early years", "post16": "Post-16",
    "la_caseworker": "LA caseworker", "la_manager": "LA manager", "region_admin": "Region admin",
    "school": "School", "ops": "Operations", ASSIGNMENT_STEP: "Caseworker assigned",
    "pending": "Pending", "met": "Met", "late": "Met late", "breached": "Breached",
    "exception": "Exception", "not_applicable": "Not applicable",
}

FIELD_LABELS = {
    "child.given_name": "Given name", "child.family_name": "Family name",
    "child.date_of_birth": "Date of birth", "la_code": "LA code", "school_urn": "School URN",
    "requested_by": "Requested by", "received_on": "Date received", "on": "Date",
    "outcome": "Outcome", "adviser": "Adviser", "transfer_year": "Transfer year",
    "to_phase": "Moving to phase", "limb": "Exception (Reg 5(4) limb)", "note": "Note",
    "exception_id": "Exception", "order": "Tribunal order", "type": "Step",
    "caseworker": "Caseworker", "sub": "Username", "password": "Password", "name": "Name",
    "urn": "URN", "role": "Role", "starts_on": "First day closed", "ends_on": "Last day closed",
    "next_working_day_receipt": "Count late requests from the next working day",
    "receipt_cutoff": "Receipt cut-off time", "cursor": "Page",
}

# The form fields of each step beyond its date (see StepRequest): "?" marks optional ones.
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "decision_to_assess": ("outcome",), "advice_requested": ("adviser",),
    "advice_received": ("adviser",), "school_consulted": ("school_urn",),
    "school_response_received": ("school_urn",), "final_plan_issued": ("school_urn?",),
    "review_decision": ("outcome",), "amended_plan_issued": ("school_urn?",),
    "phase_transfer": ("transfer_year", "to_phase"), "exception_started": ("limb", "note"),
    "exception_ended": ("exception_id",), "transferred_out": ("la_code",),
    "transferred_in": ("la_code",), "reassessment_decided": ("outcome",),
    "tribunal_order": ("order",),
}
OUTCOMES = {"decision_to_assess": ASSESS_OUTCOMES, "review_decision": REVIEW_OUTCOMES,
            "reassessment_decided": REASSESSMENT_OUTCOMES}
ORDERS = tuple(dict.fromkeys(o for orders in TRIBUNAL_ORDERS.values() for o in orders))
CHOICES = {"adviser": ADVISERS, "to_phase": PHASES, "limb": EXCEPTION_LIMBS, "order": ORDERS}
LIMB_TEXT = {"a": "(a) school or college closed", "b": "(b) early years setting closed",
             "c": "(c) exceptional personal circumstances", "d": "(d) absent from the area"}

ERROR_PAGES = {
    400: ("Something went wrong with the form", "The form could not be used."),
    403: ("You cannot do this", "Your role may not open this page or do this."),
    404: ("Page not found", "If you typed the web address, check it is correct. A case you "
          "may not see is not shown."),
    409: ("This step is not allowed now", "The case has moved on."),
    422: ("There is a problem", "Some details are not right."),
    500: ("Sorry, there is a problem with the service", "Try again later."),
    503: ("Sorry, the service is unavailable", "A part of the service is not answering. "
          "Try again in a few minutes."),
}

NAVIGATION = {
    "school": (("Cases", "/cases"), ("New request", "/cases/new"), ("Alerts", "/alerts"),
               ("Calendar feed", "/calendar")),
    "la_caseworker": (("Work tray", "/cases"), ("New request", "/cases/new"),
                      ("Alerts", "/alerts")),
    "la_manager": (("Work tray", "/cases"), ("Timeliness", "/manage/timeliness"),
                   ("Caseload", "/manage/caseload"), ("LA settings", "/manage/settings"),
                   ("Alerts", "/alerts")),
    "region_admin": (("LAs", "/admin/las"), ("Schools", "/admin/schools"),
                     ("Users", "/admin/users"), ("Recipients", "/admin/recipients")),
    "ops": (),
}
HOME = {"school": "/cases", "la_caseworker": "/cases", "la_manager": "/cases",
        "region_admin": "/admin/users", "ops": "/account"}


def label(value: object) -> str:
    """A code as words: known ones from WORDS, else the code with spaces, capitalised."""
    if value is None or value == "":
        return "None"
    text = str(value)
    if text in WORDS:
        return WORDS[text]
    if text.startswith("advice:"):
        return f"Advice: {label(text[7:])}"
    return text.replace("_", " ").replace(":", ": ").capitalize()


def long_date(value: object) -> str:
    """ISO date as the design system writes dates: 5 January 2026."""
    if not value:
        return ""
    d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return f"{d.day} {d.strftime('%B %Y')}"


def who_must_act(milestone: str | None) -> str:
    """Who the next key date waits on, from the milestone's name."""
    if not milestone:
        return "Nobody"
    if milestone.startswith("advice:"):
        return f"{label(milestone[7:])} adviser"
    if milestone.startswith(("draft_response", "amendments_response")):
        return "Family"
    if milestone.startswith("school_consultation"):
        return "School"
    return "LA"


def field_id(field: str) -> str:
    return field.replace(".", "-")


def step_fields(step_type: str) -> list[tuple[str, bool]]:
    """(field, required) for a step's form."""
    return [(f.rstrip("?"), not f.endswith("?")) for f in STEP_FIELDS.get(step_type, ())]


def navigation(actor: dict | None, path: str) -> list[dict]:
    if actor is None:
        return []
    return [{"text": text, "href": href,
             "active": path == href or (href != "/cases/new" and path.startswith(href + "/")
                                        and not path.startswith("/cases/new"))}
            for text, href in NAVIGATION.get(actor["role"], ())]

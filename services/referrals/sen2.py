"""The SEN2 return (DfE, person level, each January): built from a case's request, its steps
and the SEN2 details recorded on it, checked against the business rules we can derive,
and written as XML in the modules of the specification: Header, Person, Requests,
Assessment, NamedPlan (with its placement), ActivePlans. Pure: no I/O.

Collection year Y covers requests, decisions and plans of calendar year Y-1, and the plans
active at the reference date (the third Thursday of January of Y). The figures agree with
the deadlines service's timeliness figures for Y-1 (tests/e2e/api/test_sen2.py).
The XSD (sen2.xsd beside this file) is the project's reading of the specification.
Personal data is expected in this file (it is the statutory return): it is produced for the
LA's managers only, audited, and never logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

XSD = Path(__file__).with_name("sen2.xsd")
SOFTWARE_CODE = "EHCP-TRACKER"
RELEASE = "1.0"

# Code lists (each declared once: the API schema and the XSD use the same).
SEX = ("M", "F")
ETHNICITY = ("WBRI", "WIRI", "WIRT", "WOTH", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND",
             "APKN", "ABAN", "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT")
UPN_UNKNOWN = tuple(f"UN{n}" for n in range(1, 11))  # why neither UPN nor ULN is known
REQUEST_SOURCE = {"parent": "1", "young_person": "2", "school": "3"}
REQUEST_OUTCOME = {"assess": "A", "refuse": "B", "withdrawn": "W"}
ASSESSMENT_OUTCOME = {"plan_issued": "A", "not_issuing": "B"}
PERSONAL_BUDGET = ("N", "OA", "DP", "OD")  # none, organised arrangements, direct payments, both
SEN_SETTING = ("EHE", "EOTAS", "EYP", "NEET", "OTH")  # a placement that has no URN or UKPRN
CEASE_REASON = ("1", "2", "3", "4", "5", "6", "7", "8")
REVIEW_OUTCOME = {"maintain": "1", "amend": "2", "cease": "3"}
YES_NO = ("Y", "N")

UPN = re.compile(r"^[A-HJ-NP-RT-Z]\d{11}[0-9A-HJ-NP-RT-Z]$")
ULN = re.compile(r"^\d{10}$")
POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$")
CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def reference_date(year: int) -> date:
    """The census day of collection `year`: the third Thursday of January."""
    first = date(year, 1, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(weeks=2)


def upn_check_letter(upn: str) -> str:
    """The DfE check letter of a UPN: characters 2-13 weighted 2..13, modulo 23."""
    total = 0
    for weight, ch in enumerate(upn[1:], start=2):
        total += weight * (int(ch) if ch.isdigit() else CHECK_LETTERS.index(ch))
    return CHECK_LETTERS[total % 23]


@dataclass
class Person:
    """One child's SEN2 record: the elements, in specification order, module by module."""

    reference: str
    person: dict
    request: dict
    assessment: dict | None = None
    plan: dict | None = None
    placement: dict | None = None
    active: dict | None = None
    errors: list[dict] = field(default_factory=list)
    # for the counts
    decided_in_period: bool = False
    decided_in_time: bool = False
    issued_in_period: bool = False
    issued_within_20_weeks: bool = False
    issued_with_exception: bool = False


def _yn(value: bool | None) -> str | None:
    return None if value is None else ("Y" if value else "N")


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def build_person(case: Mapping, steps: Iterable[Mapping], details: Mapping | None,
                 period: tuple[date, date], ref_date: date) -> Person:
    """The SEN2 record of one case. `steps` in recorded order (type, on_date, data);
    `details` the SEN2 fields recorded through the API (None: none yet)."""
    d = dict(details or {})
    steps = list(steps)
    start, end = period

    def first(kind: str, **match) -> Mapping | None:
        return next((s for s in steps if s["type"] == kind and all(
            s["data"].get(k) == v for k, v in match.items())), None)

    def last(kind: str) -> Mapping | None:
        return next((s for s in reversed(steps) if s["type"] == kind), None)

    born = case["child_date_of_birth"]
    received = case["received_on"]
    person = {
        "Surname": case["child_family_name"], "Forename": case["child_given_name"],
        "PersonBirthDate": born, "Sex": d.get("sex"), "Ethnicity": d.get("ethnicity"),
        "PostCode": d.get("postcode"), "UPN": d.get("upn"), "ULN": d.get("uln"),
        "UPNunknown": d.get("upn_unknown"),
    }
    decision, withdrawn = last("decision_to_assess"), last("withdrawn")
    outcome = decision or (withdrawn if withdrawn else None)
    request = {
        "ReceivedDate": received,
        "RequestSource": REQUEST_SOURCE.get(case["requested_by"]),
        "RYA": _yn(_age(born, received) >= 16),
        "RequestOutcomeDate": outcome["on_date"] if outcome else None,
        "RequestOutcome": (REQUEST_OUTCOME[decision["data"]["outcome"]] if decision
                           else REQUEST_OUTCOME["withdrawn"] if withdrawn else None),
        "RequestMediation": _yn(d.get("request_mediation")),
        "RequestTribunal": _yn(d.get("request_tribunal")),
    }
    record = Person(case["reference"], person, request)
    record.decided_in_period = bool(decision) and start <= decision["on_date"] < end
    record.decided_in_time = bool(decision) and decision["on_date"] <= received + timedelta(
        weeks=6)

    issued, not_issuing = first("final_plan_issued"), first("decision_not_to_issue")
    if decision and decision["data"]["outcome"] == "assess":
        done = issued or not_issuing
        exception = any(s["type"] == "exception_started" and (
            not issued or s["on_date"] <= issued["on_date"]) for s in steps)
        record.assessment = {
            "AssessmentOutcome": (ASSESSMENT_OUTCOME["plan_issued"] if issued else
                                  ASSESSMENT_OUTCOME["not_issuing"] if not_issuing else None),
            "AssessmentOutcomeDate": done["on_date"] if done else None,
            "AssessmentMediation": _yn(d.get("assessment_mediation")),
            "AssessmentTribunal": _yn(d.get("assessment_tribunal")),
            "Week20": _yn(issued["on_date"] <= received + timedelta(weeks=20)) if issued
            else None,
            "Week20Exception": _yn(exception) if issued else None,
        }
        if issued:
            record.issued_in_period = start <= issued["on_date"] < end
            record.issued_within_20_weeks = record.assessment["Week20"] == "Y"
            record.issued_with_exception = exception
    if issued:
        cease = next((s for s in steps if s["type"] == "review_decision"
                      and s["data"].get("outcome") == "cease"), None)
        record.plan = {
            "StartDate": issued["on_date"],
            "PlanRes": _yn(d.get("plan_residential")),
            "PlanWBP": _yn(d.get("plan_work_based")),
            "PB": d.get("personal_budget"),
            "CeaseDate": cease["on_date"] if cease else None,
            "CeaseReason": d.get("cease_reason") if cease else None,
        }
        urn = issued["data"].get("school_urn") or case["school_urn"] or None
        record.placement = {
            "URN": None if d.get("sen_setting") or d.get("ukprn") else urn,
            "UKPRN": d.get("ukprn"), "SENsetting": d.get("sen_setting"),
            "PlacementRank": "1", "EntryDate": issued["on_date"],
        }
        if not cease or cease["on_date"] > ref_date:
            review, review_decision = last("review_meeting_held"), last("review_decision")
            phase = last("phase_transfer")
            transfer_due = None
            if phase:
                year = int(phase["data"]["transfer_year"])
                transfer_due = (date(year, 3, 31) if phase["data"].get("to_phase") == "post16"
                                else date(year, 2, 15))
            amended_after = next((s for s in steps if s["type"] == "amended_plan_issued"
                                  and phase and s["on_date"] >= phase["on_date"]), None)
            moved_in = last("transferred_in")
            record.active = {
                "TransferLA": moved_in["data"].get("la_code") if moved_in else None,
                "ReviewMeeting": review["on_date"] if review else None,
                "ReviewOutcome": REVIEW_OUTCOME.get(review_decision["data"].get("outcome"))
                if review_decision else None,
                "LastReview": review["on_date"] if review else None,
                "PhaseTransferDueDate": transfer_due,
                "PhaseTransferFinalDate": amended_after["on_date"] if amended_after else None,
            }
    record.errors = business_rules(record, born, ref_date)
    return record


def in_return(case: Mapping, steps: Iterable[Mapping], period: tuple[date, date],
              ref_date: date) -> bool:
    """A case belongs in the return if its request, decision or plan falls in the period,
    or it has a plan at the reference date."""
    start, end = period
    dates = [case["received_on"]] + [s["on_date"] for s in steps if s["type"] in (
        "decision_to_assess", "final_plan_issued", "decision_not_to_issue", "withdrawn")]
    if any(start <= d < end for d in dates):
        return True
    issued = [s for s in steps if s["type"] == "final_plan_issued" and s["on_date"] <= ref_date]
    ceased = [s for s in steps if s["type"] == "review_decision"
              and s["data"].get("outcome") == "cease" and s["on_date"] <= ref_date]
    return bool(issued) and not ceased


def business_rules(p: Person, born: date, ref_date: date) -> list[dict]:
    """DfE-style validation: missing mandatory fields, codes out of list, dates out of
    order. Each error names the case reference (never the child)."""
    errors: list[dict] = []

    def error(module: str, element: str, message: str) -> None:
        errors.append({"reference": p.reference, "module": module, "field": element,
                       "message": message})

    def required(module: str, values: Mapping, *names: str) -> None:
        for name in names:
            if values.get(name) in (None, ""):
                error(module, name, "missing: mandatory")

    def coded(module: str, values: Mapping, name: str, allowed: Iterable[str]) -> None:
        value = values.get(name)
        if value not in (None, "") and value not in tuple(allowed):
            error(module, name, f"code {value!r} is not in the list")

    def ordered(module: str, earlier: date | None, later: date | None, message: str,
                name: str) -> None:
        if earlier and later and later < earlier:
            error(module, name, message)

    person, request = p.person, p.request
    required("Person", person, "Surname", "Forename", "PersonBirthDate", "Sex", "Ethnicity",
             "PostCode")
    coded("Person", person, "Sex", SEX)
    coded("Person", person, "Ethnicity", ETHNICITY)
    coded("Person", person, "UPNunknown", UPN_UNKNOWN)
    if person.get("PostCode") and not POSTCODE.match(person["PostCode"]):
        error("Person", "PostCode", "not a UK postcode")
    upn, uln = person.get("UPN"), person.get("ULN")
    if not (upn or uln or person.get("UPNunknown")):
        error("Person", "UPN", "missing: give a UPN, a ULN or the reason both are unknown")
    if upn and (not UPN.match(upn) or (upn[-1].isdigit() and upn_check_letter(upn) != upn[0])):
        error("Person", "UPN", "not a valid UPN (format or check letter)")
    if uln and not ULN.match(uln):
        error("Person", "ULN", "not a valid ULN (10 digits)")
    ordered("Person", born, request["ReceivedDate"], "request received before birth",
            "PersonBirthDate")
    if p.active and _age(born, ref_date) > 25:
        error("ActivePlans", "PersonBirthDate", "active plan for a person over 25")

    required("Requests", request, "ReceivedDate", "RequestSource", "RYA")
    ordered("Requests", request["ReceivedDate"], request["RequestOutcomeDate"],
            "outcome date before the request was received", "RequestOutcomeDate")
    if request["RequestOutcome"] == REQUEST_OUTCOME["refuse"]:
        required("Requests", request, "RequestMediation", "RequestTribunal")

    if p.assessment:
        a = p.assessment
        ordered("Assessment", request["RequestOutcomeDate"], a["AssessmentOutcomeDate"],
                "assessment outcome before the decision to assess", "AssessmentOutcomeDate")
        if a["AssessmentOutcome"] == ASSESSMENT_OUTCOME["not_issuing"]:
            required("Assessment", a, "AssessmentMediation", "AssessmentTribunal")
    if p.plan:
        plan = p.plan
        required("NamedPlan", plan, "PlanRes", "PlanWBP", "PB")
        coded("NamedPlan", plan, "PB", PERSONAL_BUDGET)
        ordered("NamedPlan", plan["StartDate"], plan["CeaseDate"],
                "plan ceased before it started", "CeaseDate")
        if plan["CeaseDate"]:
            required("NamedPlan", plan, "CeaseReason")
            coded("NamedPlan", plan, "CeaseReason", CEASE_REASON)
        placement = p.placement or {}
        coded("NamedPlan", placement, "SENsetting", SEN_SETTING)
        if not (placement.get("URN") or placement.get("UKPRN") or placement.get("SENsetting")):
            error("NamedPlan", "URN", "missing: a placement needs a URN, a UKPRN or a setting")
    if p.active and p.plan:
        ordered("ActivePlans", p.plan["StartDate"], p.active["LastReview"],
                "last review before the plan started", "LastReview")
    return errors


def _text(value) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def _add(parent: ET.Element, values: Mapping, names: Iterable[str]) -> None:
    for name in names:
        if values.get(name) not in (None, ""):
            ET.SubElement(parent, name).text = _text(values[name])


PERSON_FIELDS = ("Surname", "Forename", "PersonBirthDate", "Sex", "Ethnicity", "PostCode",
                 "UPN", "ULN", "UPNunknown")
REQUEST_FIELDS = ("ReceivedDate", "RequestSource", "RYA", "RequestOutcomeDate",
                  "RequestOutcome", "RequestMediation", "RequestTribunal")
ASSESSMENT_FIELDS = ("AssessmentOutcome", "AssessmentOutcomeDate", "AssessmentMediation",
                     "AssessmentTribunal", "Week20", "Week20Exception")
PLAN_FIELDS = ("StartDate", "PlanRes", "PlanWBP", "PB", "CeaseDate", "CeaseReason")
PLACEMENT_FIELDS = ("URN", "UKPRN", "SENsetting", "PlacementRank", "EntryDate")
ACTIVE_FIELDS = ("TransferLA", "ReviewMeeting", "ReviewOutcome", "LastReview",
                 "PhaseTransferDueDate", "PhaseTransferFinalDate")


def to_xml(la_code: str, year: int, people: list[Person], generated_at: datetime) -> bytes:
    """The return as XML, elements in the order of sen2.xsd; empty values are left out
    (the XSD and the business rules then say what is missing)."""
    message = ET.Element("Message")
    header = ET.SubElement(message, "Header")
    details = ET.SubElement(header, "CollectionDetails")
    _add(details, {"Collection": "SEN2", "Year": year, "ReferenceDate": reference_date(year)},
         ("Collection", "Year", "ReferenceDate"))
    source = ET.SubElement(header, "Source")
    _add(source, {"SourceLevel": "L", "LEA": la_code, "SoftwareCode": SOFTWARE_CODE,
                  "Release": RELEASE, "SerialNo": 1,
                  "DateTime": generated_at.replace(microsecond=0, tzinfo=None)},
         ("SourceLevel", "LEA", "SoftwareCode", "Release", "SerialNo", "DateTime"))
    for p in people:
        person = ET.SubElement(message, "Person")
        _add(person, p.person, PERSON_FIELDS)
        requests = ET.SubElement(person, "Requests")
        _add(requests, p.request, REQUEST_FIELDS)
        if p.assessment:
            assessment = ET.SubElement(requests, "Assessment")
            _add(assessment, p.assessment, ASSESSMENT_FIELDS)
            if p.plan:
                plan = ET.SubElement(assessment, "NamedPlan")
                _add(plan, p.plan, PLAN_FIELDS)
                placement = ET.SubElement(plan, "PlacementDetail")
                _add(placement, p.placement or {}, PLACEMENT_FIELDS)
        if p.active:
            active = ET.SubElement(requests, "ActivePlans")
            _add(active, p.active, ACTIVE_FIELDS)
    ET.indent(message)
    return ET.tostring(message, encoding="utf-8", xml_declaration=True)


def counts(people: list[Person]) -> dict:
    """The return's own counts, to compare with the deadlines service's figures for the
    same calendar year."""
    plans = [p for p in people if p.issued_in_period]
    return {
        "persons": len(people),
        "requests_decided": sum(p.decided_in_period for p in people),
        "decided_within_6_weeks": sum(p.decided_in_period and p.decided_in_time
                                      for p in people),
        "plans_issued": len(plans),
        "within_20_weeks": sum(p.issued_within_20_weeks for p in plans),
        "plans_issued_excluding_exceptions": sum(not p.issued_with_exception for p in plans),
        "within_20_weeks_excluding_exceptions": sum(
            p.issued_within_20_weeks and not p.issued_with_exception for p in plans),
        "active_plans": sum(p.active is not None for p in people),
        "errors": sum(len(p.errors) for p in people),
    }

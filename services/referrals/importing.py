"""An LA's existing caseload from CSV (`ehcp import`): parsing and validation, no I/O.

One row per case (`record` = case) and one per recorded step (`record` = step), tied by
`case_ref`, the LA's own reference. Every row is checked as the API would check it: the
request by the same schema and lifecycle as POST /v1/referrals, each step by the same
schema and state machine as POST /v1/referrals/{id}/events, in file order. Every error of
the file is collected with its line number and column; the caller writes nothing unless
there is none (cases.import_caseload)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

from marshmallow import ValidationError, fields

from services.referrals import lifecycle
from services.referrals.schemas import ReferralRequest, StepRequest

CASE_COLUMNS = ("given_name", "family_name", "date_of_birth", "school_urn", "requested_by",
                "received_on")
# A step row's data columns are the API's step fields, by the same names.
STEP_DATA_COLUMNS = tuple(k for k in StepRequest().fields if k not in ("type", "on"))
COLUMNS = ("record", "case_ref", *CASE_COLUMNS, "type", "on",
           *(c for c in STEP_DATA_COLUMNS if c not in CASE_COLUMNS))
REQUIRED_COLUMNS = ("record", "case_ref")
MAX_CASE_REF = 50
# The register's school states a request may name (as services.gateway.gias).
ACCEPTS_REQUESTS = ("open", "proposed_to_close")

_REQUEST = ReferralRequest()
_STEP = StepRequest()
_INTEGER_FIELDS = {k for k, f in _STEP.fields.items() if isinstance(f, fields.Integer)}
_BOOLEAN_FIELDS = {k for k, f in _STEP.fields.items() if isinstance(f, fields.Boolean)}


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportedStep:
    line: int
    type: str
    on: date
    data: dict
    status_after: str


@dataclass
class ImportedCase:
    line: int
    case_ref: str
    request: dict
    state: lifecycle.CaseState
    steps: list[ImportedStep] = field(default_factory=list)
    valid: bool = True


@dataclass
class Caseload:
    cases: list[ImportedCase]
    errors: list[LineError]

    @property
    def step_count(self) -> int:
        return sum(len(c.steps) for c in self.cases)


class NotACaseload(ValueError):
    """The file's header lacks a column the import needs, or has one it does not know."""


def read_rows(text: io.TextIOBase) -> Iterator[tuple[int, dict[str, str]]]:
    """The file's records with their line numbers (the header is line 1)."""
    reader = csv.DictReader(text)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise NotACaseload(f"not a caseload file: no column {', '.join(missing)}")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise NotACaseload(f"unknown column {', '.join(unknown)}; the columns are: "
                           f"{', '.join(COLUMNS)}")
    reader.fieldnames = header
    for record in reader:
        yield reader.line_num, record


def _flatten(messages: object, prefix: str = "") -> Iterator[tuple[str, str]]:
    """marshmallow's nested messages as (column, message); a child's field is its column."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = str(key) if key != "child" else ""
            yield from _flatten(value, name or prefix)
    elif isinstance(messages, list):
        for m in messages:
            yield from _flatten(m, prefix)
    else:
        yield prefix or "row", str(messages)


def _cell(record: Mapping[str, str | None], column: str) -> str:
    return (record.get(column) or "").strip()


def _step_body(record: Mapping[str, str | None]) -> dict:
    """The step as the API takes it: empty cells left out, numbers and booleans typed (a
    cell that is not one is passed on as text, for the schema to name)."""
    body: dict[str, object] = {"type": _cell(record, "type"), "on": _cell(record, "on")}
    for column in STEP_DATA_COLUMNS:
        text = _cell(record, column)
        if not text:
            continue
        value: object = text
        if column in _INTEGER_FIELDS and text.lstrip("-").isdigit():
            value = int(text)
        elif column in _BOOLEAN_FIELDS and text.lower() in ("true", "false"):
            value = text.lower() == "true"
        body[column] = value
    return body


def _check_case(line: int, record: Mapping[str, str | None], la_code: str, today: date,
                schools: Mapping[str, str], errors: list[LineError]
                ) -> tuple[dict, lifecycle.CaseState] | None:
    body = {"child": {"given_name": _cell(record, "given_name"),
                      "family_name": _cell(record, "family_name"),
                      "date_of_birth": _cell(record, "date_of_birth")},
            "la_code": la_code, "school_urn": _cell(record, "school_urn"),
            "requested_by": _cell(record, "requested_by"),
            "received_on": _cell(record, "received_on")}
    found: list[LineError] = []
    try:
        request = _REQUEST.load(body)
    except ValidationError as exc:
        found += [LineError(line, f, m) for f, m in _flatten(exc.messages)]
        request = None
    urn = body["school_urn"]
    if len(urn) == 6 and urn.isdigit():  # the register check of the API (gateway)
        status = schools.get(urn)
        if status is None:
            found.append(LineError(line, "school_urn", "no school with this URN in the register"))
        elif status not in ACCEPTS_REQUESTS:
            found.append(LineError(line, "school_urn",
                                   f"this school is {status.replace('_', ' ')}"))
    state = None
    if request is not None:
        try:
            state = lifecycle.new_case(request["received_on"], la_code, request["school_urn"],
                                       today)
        except lifecycle.InvalidStep as exc:
            found.append(LineError(line, exc.field, exc.message))
        if request["child"]["date_of_birth"] > today:
            found.append(LineError(line, "date_of_birth", "cannot be in the future"))
    errors += found
    return None if found or state is None else (request, state)


def _check_step(line: int, record: Mapping[str, str | None], case: ImportedCase, today: date,
                errors: list[LineError]) -> None:
    """Validate one step and apply it to its case, as record_step does; a step the state
    machine refuses is a line error and leaves the case as it was."""
    try:
        data = _STEP.load(_step_body(record))
    except ValidationError as exc:
        errors.extend(LineError(line, f, m) for f, m in _flatten(exc.messages))
        return
    if not case.valid:
        return  # its case line is wrong (reported there): no state to check it against
    step_type, on = data.pop("type"), data.pop("on")
    state = case.state
    try:
        new = lifecycle.apply_step(state, step_type, on, data, today)
        if step_type == "exception_ended":
            data["exception_id"] = lifecycle.ended_exception_id(state, data)
    except lifecycle.StepNotAllowed as exc:
        errors.append(LineError(line, "type", f"{step_type} is not allowed when the case is "
                                f"{exc.current_state}; allowed: {', '.join(exc.allowed)}"))
        return
    except lifecycle.InvalidStep as exc:
        errors.append(LineError(line, exc.field, exc.message))
        return
    if step_type == "exception_started":
        data["exception_id"] = new.last_exception_id
    case.state = new
    case.steps.append(ImportedStep(line, step_type, on, data, new.status))


def check_caseload(rows: Iterable[tuple[int, Mapping[str, str | None]]], la_code: str,
                   today: date, schools: Mapping[str, str]) -> Caseload:
    """Every row checked, in file order (a case's steps after its case row, in the order
    they happened). `schools`: register status by URN of the schools the file names."""
    cases: dict[str, ImportedCase] = {}
    errors: list[LineError] = []
    for line, record in rows:
        kind, ref = _cell(record, "record").lower(), _cell(record, "case_ref")
        if kind not in ("case", "step"):
            errors.append(LineError(line, "record", "must be case or step"))
            continue
        if not ref:
            errors.append(LineError(line, "case_ref", "missing"))
            continue
        if len(ref) > MAX_CASE_REF:
            errors.append(LineError(line, "case_ref", f"longer than {MAX_CASE_REF} characters"))
            continue
        if kind == "case":
            if ref in cases:
                errors.append(LineError(line, "case_ref", f"a second case {ref} (first on "
                                        f"line {cases[ref].line})"))
                continue
            checked = _check_case(line, record, la_code, today, schools, errors)
            request, state = checked if checked else ({}, None)
            cases[ref] = ImportedCase(line, ref, request, state, valid=checked is not None)
        elif ref not in cases:
            errors.append(LineError(line, "case_ref", f"no case {ref} on an earlier line"))
        else:
            _check_step(line, record, cases[ref], today, errors)
    return Caseload(list(cases.values()), sorted(errors, key=lambda e: e.line))


def school_urns(rows: Iterable[tuple[int, Mapping[str, str | None]]]) -> set[str]:
    """The URNs the case rows name (for one register query)."""
    return {_cell(r, "school_urn") for _, r in rows if _cell(r, "record").lower() == "case"}

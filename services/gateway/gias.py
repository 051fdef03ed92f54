"""Reading the DfE's Get Information About Schools (GIAS) extract, `edubasealldataYYYYMMDD.csv`.

The file has 150+ columns, most as "Thing (code)" / "Thing (name)" pairs, and is written in
Windows-1252, with now and then a byte that is not valid in it: it is read as cp1252 and any
such byte is taken as Latin-1, so one bad byte never stops a national load. A file that
starts with a UTF-8 byte order mark is read as UTF-8. Pure parsing: the SQL is in region.py.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import BinaryIO

# The columns the register keeps, by their GIAS headers.
URN_COL = "URN"
NAME_COL = "EstablishmentName"
LA_CODE_COL = "LA (code)"
LA_NAME_COL = "LA (name)"
STATUS_CODE_COL = "EstablishmentStatus (code)"
STATUS_NAME_COL = "EstablishmentStatus (name)"
PHASE_COL = "PhaseOfEducation (name)"
OPEN_COL = "OpenDate"
CLOSE_COL = "CloseDate"
REQUIRED = (URN_COL, NAME_COL, LA_CODE_COL, STATUS_CODE_COL)

# GIAS establishment status codes -> the register's status.
STATUS_BY_CODE = {"1": "open", "2": "closed", "3": "proposed_to_close", "4": "proposed_to_open"}
STATUS_BY_NAME = {"open": "open", "closed": "closed",
                  "open, but proposed to close": "proposed_to_close",
                  "proposed to open": "proposed_to_open"}
# A request may name a school in these states (one proposed to close still teaches).
ACCEPTS_REQUESTS = ("open", "proposed_to_close")

ERRORS = "ehcp-cp1252-fallback"


def _latin1_fallback(exc: UnicodeDecodeError) -> tuple[str, int]:
    """cp1252 leaves five bytes undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D): read them as Latin-1."""
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error(ERRORS, _latin1_fallback)


@dataclass(frozen=True)
class SchoolRow:
    urn: str
    name: str
    la_code: str
    la_name: str
    phase: str | None
    status: str
    opened_on: date | None
    closed_on: date | None


@dataclass
class Skipped:
    """Rows not loaded, counted by reason (the summary prints them)."""

    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.reasons.values())


class NotGias(ValueError):
    """The file lacks a column the register needs: not a GIAS extract."""


def open_text(raw: BinaryIO) -> io.TextIOWrapper:
    """The extract as text: UTF-8 if it says so with a byte order mark, else cp1252."""
    head = raw.peek(3)[:3] if hasattr(raw, "peek") else b""
    encoding = "utf-8-sig" if head == codecs.BOM_UTF8 else "cp1252"
    return io.TextIOWrapper(raw, encoding=encoding, errors=ERRORS, newline="")


def parse_date(text: str) -> date | None:
    """GIAS writes dd-mm-yyyy; ISO and dd/mm/yyyy are accepted too. Empty -> None."""
    text = (text or "").strip()
    if not text:
        return None
    for fmt in ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r}")


def status_of(code: str, name: str) -> str | None:
    return STATUS_BY_CODE.get(code.strip()) or STATUS_BY_NAME.get(name.strip().lower())


def to_school(record: dict[str, str]) -> SchoolRow | str:
    """One CSV record -> a school, or the reason it is skipped."""
    urn = (record.get(URN_COL) or "").strip()
    la_code = (record.get(LA_CODE_COL) or "").strip()
    name = (record.get(NAME_COL) or "").strip()
    if not re.fullmatch(r"\d{6}", urn):
        return "URN not six digits"
    if not re.fullmatch(r"\d{3}", la_code):
        return "LA code not three digits"
    if not name:
        return "no establishment name"
    status = status_of(record.get(STATUS_CODE_COL) or "", record.get(STATUS_NAME_COL) or "")
    if status is None:
        return "unknown establishment status"
    try:
        opened_on = parse_date(record.get(OPEN_COL, ""))
        closed_on = parse_date(record.get(CLOSE_COL, ""))
    except ValueError:
        return "unreadable open or close date"
    phase = (record.get(PHASE_COL) or "").strip() or None
    return SchoolRow(urn, name[:200], la_code, (record.get(LA_NAME_COL) or "").strip(),
                     phase, status, opened_on, closed_on)


def read_extract(text: io.TextIOBase, skipped: Skipped) -> Iterator[SchoolRow]:
    """The schools of an extract, in file order; rows that cannot be loaded are counted."""
    reader = csv.DictReader(text)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise NotGias(f"not a GIAS extract: no column {', '.join(missing)}")
    for record in reader:
        school = to_school(record)
        if isinstance(school, str):
            skipped.add(school)
        else:
            yield school

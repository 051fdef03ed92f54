"""Reading GIAS extracts: the encoding fallback, dates, statuses, rows skipped."""

from __future__ import annotations

import io
from datetime import date

import pytest

from services.gateway import gias
from tests.support.gias import establishment, write_extract


def read(raw: bytes) -> tuple[list[gias.SchoolRow], gias.Skipped]:
    skipped = gias.Skipped()
    rows = list(gias.read_extract(gias.open_text(io.BufferedReader(io.BytesIO(raw))),
                                  skipped))
    return rows, skipped


def test_cp1252_with_latin1_for_undefined_bytes(tmp_path):
    path = write_extract(tmp_path / "x.csv", [
        establishment("100001", "St Anne\u2019s \u00c9cole", "881", "Northshire"),
        establishment("100002", "Odd Byte", "881", "Northshire")])
    rows, skipped = read(path.read_bytes().replace(b"Odd Byte", b"Odd\x81\x9d"))
    assert [r.name for r in rows] == ["St Anne\u2019s \u00c9cole", "Odd\x81\x9d"]
    assert skipped.total == 0


def test_utf8_with_byte_order_mark_is_read_as_utf8(tmp_path):
    path = write_extract(tmp_path / "x.csv", [establishment("100001", "Caf\u00e9", "881", "N")])
    text = path.read_bytes().decode("cp1252")
    rows, _ = read(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert rows[0].name == "Caf\u00e9" and rows[0].urn == "100001"


def test_fields_statuses_and_skips(tmp_path):
    path = write_extract(tmp_path / "x.csv", [
        establishment("100001", "A", "881", "N", status="2", closed="31-08-2024", phase="4"),
        establishment("100002", "B", "881", "N", status="3"),
        establishment("1000", "C", "881", "N"),
        establishment("100004", "D", "88", "N"),
        {**establishment("100005", "E", "881", "N"), "OpenDate": "2024-31-31"},
        {**establishment("100006", "F", "881", "N"), "EstablishmentStatus (code)": "9",
         "EstablishmentStatus (name)": "Gone"},
    ])
    rows, skipped = read(path.read_bytes())
    assert [(r.urn, r.status, r.phase, r.closed_on) for r in rows] == [
        ("100001", "closed", "Secondary", date(2024, 8, 31)),
        ("100002", "proposed_to_close", "Primary", None)]
    assert skipped.reasons == {"URN not six digits": 1, "LA code not three digits": 1,
                               "unreadable open or close date": 1,
                               "unknown establishment status": 1}


def test_a_file_without_the_register_columns_is_refused():
    with pytest.raises(gias.NotGias, match="EstablishmentName"):
        read(b'"URN","LA (code)","EstablishmentStatus (code)"\r\n"100001","881","1"\r\n')


@pytest.mark.parametrize("text,expected", [("01-09-2010", date(2010, 9, 1)),
                                           ("2010-09-01", date(2010, 9, 1)),
                                           ("01/09/2010", date(2010, 9, 1)), ("", None)])
def test_dates(text, expected):
    assert gias.parse_date(text) == expected

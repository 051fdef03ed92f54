"""The school register from a GIAS extract: `ehcp schools import` loads a file written in
the GIAS layout (Windows-1252, with a byte that is not), upserts, marks closed schools, and
the gateway then refuses a request naming a school that is unknown or closed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.api import Api, referral_body, token
from tests.support.gias import HEADERS, establishment, write_extract

pytestmark = pytest.mark.e2e

LA, NEW_LA = "980", "983"


def extract_rows(closed_oakfield: bool = False) -> list[dict]:
    return [
        establishment("980001", "St Mary\u2019s C of E Primary School", LA, "Testshire",
                      status="2" if closed_oakfield else "1",
                      closed="31-12-2026" if closed_oakfield else ""),
        establishment("980002", "\u00c9cole Fran\u00e7aise Bilingue", LA, "Testshire",
                      phase="4"),
        establishment("980003", "Old Mill Academy", LA, "Testshire", status="2",
                      closed="31-08-2024"),
        establishment("980004", "Brook Free School", LA, "Testshire", status="4",
                      opened="01-09-2027"),
        establishment("980005", "Fenside Junior School", LA, "Testshire", status="3"),
        establishment("983001", "\u00d6stergate Special School", NEW_LA,
                      "\u00d6stershire \u2013 North", phase="0"),
        establishment("980006", "Odd Byte School", LA, "Testshire"),
        establishment("98X007", "Typo School", LA, "Testshire"),
    ]


def write(path, rows):
    write_extract(path, rows)
    # cp1252 leaves 0x81 undefined; real extracts carry such bytes now and then
    path.write_bytes(path.read_bytes().replace(b"Odd Byte", b"Odd\x81Byte"))
    return path


def ehcp(system, *args) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "services.gateway.cli", *args],
                          env=system.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def schools(infra) -> dict[str, dict]:
    with infra.connect("gateway") as db:
        rows = db.execute("SELECT urn, name, la_code, phase, status, opened_on, closed_on, "
                          "source FROM schools WHERE la_code IN (%s, %s)",
                          (LA, NEW_LA)).fetchall()
    return {r["urn"]: r for r in rows}


def test_the_extract_is_in_the_gias_layout(tmp_path):
    path = write(tmp_path / "edubasealldata20270104.csv", extract_rows())
    raw = path.read_bytes()
    assert raw.startswith(b'"URN","LA (code)","LA (name)","EstablishmentNumber"')
    assert len(HEADERS) > 130 and b"St Mary\x92s" in raw and b"\xc9cole" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("cp1252")  # strict cp1252 would stop at 0x81


def test_import_loads_upserts_and_marks_closed(system, infra, tmp_path):
    path = write(tmp_path / "edubasealldata20270104.csv", extract_rows())
    done = ehcp(system, "schools", "import", str(path))
    print(done.stdout)
    assert "7 schools loaded" in done.stdout and "7 new" in done.stdout, done.stdout
    assert "1 closed" in done.stdout and "skipped 1: URN not six digits" in done.stdout
    assert "100%" in done.stderr  # the progress bar reached the end
    got = schools(infra)
    assert got["980001"]["name"] == "St Mary\u2019s C of E Primary School"
    assert got["980002"]["name"] == "\u00c9cole Fran\u00e7aise Bilingue"
    assert got["980006"]["name"] == "Odd\u0081Byte School"
    assert got["980003"]["status"] == "closed" and str(got["980003"]["closed_on"]) == "2024-08-31"
    assert got["980004"]["status"] == "proposed_to_open"
    assert got["980005"]["status"] == "proposed_to_close"
    assert got["980002"]["phase"] == "Secondary" and got["980001"]["source"] == "gias"
    assert str(got["980001"]["opened_on"]) == "1995-09-01"
    with infra.connect("gateway") as db:
        la = db.execute("SELECT name FROM local_authorities WHERE la_code = %s",
                        (NEW_LA,)).fetchone()
    assert la["name"] == "\u00d6stershire \u2013 North"

    # the same file again: nothing changes
    again = ehcp(system, "schools", "import", str(path))
    assert "7 unchanged" in again.stdout and "0 new, 0 updated" in again.stdout, again.stdout

    # the next month's extract: one school closed, one renamed
    rows = extract_rows(closed_oakfield=True)
    rows[1]["EstablishmentName"] = "\u00c9cole Fran\u00e7aise"
    later = ehcp(system, "schools", "import",
                 str(write(tmp_path / "edubasealldata20270201.csv", rows)))
    assert "0 new, 2 updated, 5 unchanged; 2 closed" in later.stdout, later.stdout
    got = schools(infra)
    assert got["980001"]["status"] == "closed" and str(got["980001"]["closed_on"]) == "2026-12-31"
    assert got["980002"]["name"] == "\u00c9cole Fran\u00e7aise"

    only = ehcp(system, "schools", "import", str(path), "--la-code", NEW_LA)
    assert "1 schools loaded" in only.stdout and "skipped 6: LA not asked for" in only.stdout


def test_requests_name_an_open_school_of_the_register(system, tmp_path):
    ehcp(system, "schools", "import",
         str(write(tmp_path / "edubasealldata20270104.csv", extract_rows())))
    caseworker = Api(system.url, token("la_caseworker", la_code=LA, sub="cw-980"))
    ok = caseworker.post("/v1/referrals", referral_body(LA, "980002", "2027-06-01"))
    assert ok.status_code == 201, ok.text
    # a school proposed to close still teaches
    assert caseworker.post("/v1/referrals", referral_body(LA, "980005", "2027-06-01")
                           ).status_code == 201
    for urn, says in (("980003", "closed (closed on 2024-08-31)"),
                      ("980004", "proposed to open"),
                      ("989999", "no school with this URN in the register")):
        refused = caseworker.post("/v1/referrals", referral_body(LA, urn, "2027-06-01"))
        assert refused.status_code == 422, refused.text
        assert refused.headers["Content-Type"] == "application/problem+json"
        errors = refused.json()["errors"]
        assert errors[0]["field"] == "school_urn" and says in errors[0]["message"], errors
    # a malformed URN is the schema's to refuse
    bad = caseworker.post("/v1/referrals", referral_body(LA, "12", "2027-06-01"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "school_urn"

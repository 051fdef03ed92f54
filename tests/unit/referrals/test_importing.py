"""Parsing and checking of a caseload CSV (ehcp import): pure, no database."""

from __future__ import annotations

import io
from datetime import date

import pytest

from services.referrals import importing

TODAY = date(2026, 6, 1)
SCHOOLS = {"100001": "open", "100009": "closed"}
HEADER = "record,case_ref,given_name,family_name,date_of_birth,school_urn,requested_by," \
         "received_on,type,on,outcome,adviser\n"


def check(body: str):
    rows = list(importing.read_rows(io.StringIO(HEADER + body)))
    return importing.check_caseload(rows, "881", TODAY, SCHOOLS)


def test_a_case_with_its_steps_is_checked_through_the_lifecycle():
    loaded = check(
        "case,A1,Sam,Synthetic,2016-04-01,100001,school,2026-01-05,,,,\n"
        "step,A1,,,,,,,decision_to_assess,2026-02-10,assess,\n"
        "step,A1,,,,,,,advice_requested,2026-02-11,,educational_psychologist\n")
    assert loaded.errors == []
    [case] = loaded.cases
    assert case.case_ref == "A1" and case.request["received_on"] == date(2026, 1, 5)
    assert [s.type for s in case.steps] == ["decision_to_assess", "advice_requested"]
    assert [s.line for s in case.steps] == [3, 4]
    assert case.state.status == "assessing"
    assert case.state.advice_outstanding == frozenset({"educational_psychologist"})
    assert case.steps[-1].status_after == "assessing"


def test_every_bad_line_is_reported_with_its_number_and_field():
    loaded = check(
        "case,A1,Sam,Synthetic,2016-04-01,100001,school,2026-01-05,,,,\n"   # 2 fine
        "case,A2,,Synthetic,2016-04-01,100001,school,2026-01-05,,,,\n"      # 3 no name
        "case,A3,Ann,Synthetic,2016-04-01,999999,school,2026-01-05,,,,\n"   # 4 unknown school
        "case,A4,Ann,Synthetic,2016-04-01,100009,school,2026-01-05,,,,\n"   # 5 closed school
        "step,A1,,,,,,,draft_plan_issued,2026-02-10,,\n"                   # 6 refused
        "step,A1,,,,,,,decision_to_assess,2027-01-01,assess,\n"            # 7 future
        "step,ZZ,,,,,,,decision_to_assess,2026-02-10,assess,\n"            # 8 no such case
        "other,A1,,,,,,,,,,\n"                                             # 9 record
        "case,A1,Sam,Synthetic,2016-04-01,100001,school,2026-01-05,,,,\n"   # 10 twice
        "case,A5,Sam,Synthetic,2016-04-01,100001,school,2026-13-05,,,,\n")  # 11 bad date
    got = {(e.line, e.field) for e in loaded.errors}
    assert got == {(3, "given_name"), (4, "school_urn"), (5, "school_urn"), (6, "type"),
                   (7, "on"), (8, "case_ref"), (9, "record"), (10, "case_ref"),
                   (11, "received_on")}
    refused = next(e for e in loaded.errors if e.line == 6)
    assert "not allowed" in refused.message and "request_received" in refused.message
    assert str(refused).startswith("line 6: type: ")


def test_a_refused_step_leaves_the_case_as_it_was_for_the_next_one():
    loaded = check(
        "case,A1,Sam,Synthetic,2016-04-01,100001,school,2026-01-05,,,,\n"
        "step,A1,,,,,,,decision_to_assess,2026-02-10,maybe,\n"
        "step,A1,,,,,,,decision_to_assess,2026-02-10,assess,\n")
    assert [(e.line, e.field) for e in loaded.errors] == [(3, "outcome")]
    assert loaded.cases[0].state.status == "assessing"


def test_steps_out_of_order_are_refused():
    loaded = check(
        "case,A1,Sam,Synthetic,2016-04-01,100001,school,2026-01-05,,,,\n"
        "step,A1,,,,,,,decision_to_assess,2026-03-10,assess,\n"
        "step,A1,,,,,,,advice_requested,2026-03-01,,health\n")
    assert [(e.line, e.field) for e in loaded.errors] == [(4, "on")]


def test_steps_of_a_bad_case_get_only_their_own_field_checks():
    loaded = check(
        "case,A1,Sam,Synthetic,2016-04-01,999999,school,2026-01-05,,,,\n"
        "step,A1,,,,,,,decision_to_assess,2026-02-10,assess,\n"
        "step,A1,,,,,,,decision_to_assess,not-a-date,assess,\n")
    assert [(e.line, e.field) for e in loaded.errors] == [(2, "school_urn"), (4, "on")]


def test_numbers_and_booleans_are_typed_for_the_schema():
    body = importing._step_body({"type": "tribunal_order", "on": "2026-02-01",
                                 "unopposed": "TRUE", "year_group": "7", "transfer_year": "x"})
    assert body["unopposed"] is True and body["year_group"] == 7
    assert body["transfer_year"] == "x"  # left for the schema to refuse, naming the field


def test_a_file_without_the_columns_or_with_unknown_ones_is_refused():
    with pytest.raises(importing.NotACaseload, match="case_ref"):
        list(importing.read_rows(io.StringIO("record,name\ncase,x\n")))
    with pytest.raises(importing.NotACaseload, match="favourite_colour"):
        list(importing.read_rows(io.StringIO("record,case_ref,favourite_colour\n")))


def test_school_urns_of_case_rows():
    rows = [(2, {"record": "case", "school_urn": "100001"}),
            (3, {"record": "step", "school_urn": "100002"})]
    assert importing.school_urns(rows) == {"100001"}

"""The gateway's pure parts: the deadline join, keyset paging, query parsing, and the
OpenAPI document against the routes nameko actually serves."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from services.gateway import joins
from services.gateway.http import decode_cursor, encode_cursor, load_query, page
from services.gateway.openapi import OPERATIONS, build_spec, methods_of
from services.gateway.pages import PAGES
from services.gateway.schemas import ReferralListQuery
from services.gateway.service import GatewayService
from shared.problems import Problem

TODAY = date(2026, 6, 1)


def m(name, due, status="pending", adjusted=None):
    return {"milestone": name, "due_on": due, "adjusted_due_on": adjusted, "status": status}


def test_next_deadline_is_the_earliest_open_one_by_its_effective_date():
    ms = [m("final_plan", "2026-05-25", "met"), m("decision_to_assess", "2026-07-01"),
          m("advice:health", "2026-06-20", "exception", adjusted="2026-07-10"),
          m("draft_response", "2026-05-30", "breached")]
    assert joins.next_deadline(ms, TODAY) == {"milestone": "draft_response",
                                              "due_on": "2026-05-30", "status": "breached",
                                              "overdue": True}
    assert joins.next_deadline(ms[:3], TODAY)["milestone"] == "decision_to_assess"
    assert joins.next_deadline([ms[0]], TODAY) is None


@pytest.mark.parametrize("nxt,due_within,overdue,kept", [
    (None, None, None, True),
    (None, 7, None, False),
    (None, None, False, True),
    ({"due_on": "2026-06-08", "overdue": False}, 7, None, True),
    ({"due_on": "2026-06-09", "overdue": False}, 7, None, False),
    ({"due_on": "2026-05-01", "overdue": True}, 7, None, True),   # overdue is "due within"
    ({"due_on": "2026-05-01", "overdue": True}, 7, False, False),
    ({"due_on": "2026-05-01", "overdue": True}, None, True, True),
])
def test_due_filters(nxt, due_within, overdue, kept):
    assert joins.due_filter(nxt, TODAY, due_within, overdue) is kept


def test_status_filter_open_means_not_met_nor_void():
    assert joins.matches_status(m("a", "2026-01-01", "exception"), ["open"])
    assert not joins.matches_status(m("a", "2026-01-01", "late"), ["open"])
    assert joins.matches_status(m("a", "2026-01-01", "late"), ["late", "met"])
    assert joins.matches_status(m("a", "2026-01-01", "late"), [])


@given(st.lists(st.text(min_size=1, max_size=5), unique=True, max_size=30),
       st.integers(min_value=1, max_value=7))
def test_paging_returns_every_item_once_in_order(items, limit):
    items = sorted(items)
    seen, cursor = [], None
    for _ in range(len(items) + 2):
        shown, cursor = page(items, lambda i: [i], cursor, limit)
        seen += shown
        if cursor is None:
            break
    assert seen == items


def test_cursor_round_trip_and_tampering():
    assert decode_cursor(encode_cursor(["2026-05-01", "881-2026-00001"])) == [
        "2026-05-01", "881-2026-00001"]
    for bad in ("!!!", encode_cursor([1, 2]).replace("", ""), "eyJhIjoxfQ"):
        with pytest.raises(Problem) as caught:
            decode_cursor(bad)
        assert caught.value.errors[0]["field"] == "cursor"


def test_query_lists_take_repeats_and_commas():
    q = load_query(ReferralListQuery, MultiDict([("status", "assessing,refused"),
                                                 ("status", "withdrawn"), ("limit", "5"),
                                                 ("utm_source", "mail")]))
    assert q["status"] == ["assessing", "refused", "withdrawn"] and q["limit"] == 5
    with pytest.raises(Problem) as caught:
        load_query(ReferralListQuery, MultiDict([("due_within", "soon")]))
    assert caught.value.status == 422 and caught.value.errors[0]["field"] == "due_within"


def served_routes() -> set[tuple[str, str]]:
    """(METHOD, /path/{id}) of every nameko http entrypoint of the gateway."""
    routes = set()
    for name in dir(GatewayService):
        for entrypoint in getattr(getattr(GatewayService, name), "nameko_entrypoints", ()):
            url = entrypoint.url
            if url == "/<path:path>":
                continue  # the catch-all
            for method in entrypoint.method.split(","):
                # the first *_id (or sub) variable is the documented {id}; any other
                # variable keeps its name ({la_code}, {step_id}, {secret})
                path = re.sub(r"<string:(\w+_id|sub)>", "{id}", url, count=1)
                path = re.sub(r"<string:(\w+)>", r"{\1}", path)
                routes.add((method, path))
    return routes


def test_every_route_is_documented_and_every_documented_route_served():
    documented = {(op.method.upper(), op.path) for op in OPERATIONS}
    pages = {(p.method, re.sub(r"\{(\w+_id|sub)\}", "{id}", p.path, count=1)) for p in PAGES}
    pages.add(("GET", "/assets/<path:path>"))
    assert served_routes() - pages == documented


def test_document_has_the_contract_names():
    spec = build_spec("http://127.0.0.1:8000")
    assert spec["openapi"] == "3.0.3"
    schemas = spec["components"]["schemas"]
    assert set(schemas["ReferralRequest"]["properties"]) == {
        "child", "la_code", "school_urn", "requested_by", "received_on"}
    assert {"id", "reference", "status"} <= set(schemas["Referral"]["properties"])
    assert {"milestone", "rule", "regulation", "due_on", "adjusted_due_on", "status",
            "met_on"} <= set(schemas["Deadline"]["properties"])
    step_types = schemas["StepRequest"]["properties"]["type"]["enum"]
    for name in ("decision_to_assess", "advice_requested", "advice_received",
                 "decision_not_to_issue", "draft_plan_issued", "school_consulted",
                 "school_response_received", "final_plan_issued", "review_meeting_held",
                 "review_decision", "amendments_proposed", "amended_plan_issued",
                 "phase_transfer", "exception_started", "exception_ended", "withdrawn",
                 "transferred_out", "transferred_in"):
        assert name in step_types
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], (method, path)


def test_methods_of_concrete_paths():
    assert methods_of("/v1/referrals") == {"GET", "POST"}
    assert methods_of("/v1/referrals/abc/events") == {"GET", "POST"}
    assert methods_of("/v1/nothing") == set()

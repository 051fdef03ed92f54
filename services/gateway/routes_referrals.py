"""Routes of cases: requests for assessment, their steps, history, deadlines and audit.

Tenancy is checked twice: here by role (a role that never sees cases gets 404 on a case
and 403 on a list), and again by the referrals service's queries, which only ever return
the caller's own cases."""

from __future__ import annotations

import uuid

from services.gateway import gias, joins, region, schemas
from services.gateway.http import (
    endpoint,
    idempotency_key,
    json_response,
    load_query,
    page,
    read_object,
)
from services.gateway.openapi import CASE_ROLES
from services.gateway.wsgi import http
from shared.config import today
from shared.problems import Problem, not_found


def valid_id(case_id: str) -> str:
    try:
        return str(uuid.UUID(case_id))
    except ValueError:
        raise not_found() from None


class ReferralRoutes:
    @http("POST", "/v1/referrals")
    @endpoint("/v1/referrals")
    def submit_referral(self, request):
        actor = self._actor(request, CASE_ROLES)
        body = read_object(request)
        self._check_register(body.get("school_urn"))
        referral = self._call("referrals", "submit_request", actor, body,
                              idempotency_key(request))
        return json_response(referral, 201, {"Location": f"/v1/referrals/{referral['id']}"})

    def _check_register(self, urn: object) -> None:
        """A request names a school in the register (GIAS) that is not closed. A URN that is
        malformed, or empty (a child at no school), is left to the referrals schema."""
        if not (isinstance(urn, str) and len(urn) == 6 and urn.isascii() and urn.isdigit()):
            return
        with self.db.read() as conn:
            school = region.get_school(conn, urn)
        if school is None:
            message = "no school with this URN in the register"
        elif school["status"] not in gias.ACCEPTS_REQUESTS:
            message = (f"this school is {school['status'].replace('_', ' ')}"
                       + (f" (closed on {school['closed_on']})" if school["closed_on"] else ""))
        else:
            return
        raise Problem(422, "Validation failed", f"school_urn: {message}",
                      [{"field": "school_urn", "message": message}])

    @http("GET", "/v1/referrals")
    @endpoint("/v1/referrals")
    def list_referrals(self, request):
        actor = self._actor(request, CASE_ROLES)
        q = load_query(schemas.ReferralListQuery, request.args)
        index = self._call("referrals", "case_index", actor, {
            k: q[k] for k in ("status", "la_code", "school_urn", "adviser", "reference")
            if q.get(k)})
        now = today(self.settings)
        by_deadline = q["sort"] == "next_due" or "due_within" in q or "overdue" in q
        nxt: dict[str, dict | None] = {}
        if by_deadline and index:
            milestones = self._deadlines_of([c["id"] for c in index])
            nxt = {c["id"]: joins.next_deadline(milestones.get(c["id"], []), now)
                   for c in index}
            index = [c for c in index if joins.due_filter(
                nxt[c["id"]], now, q.get("due_within"), q.get("overdue"))]
        sort_keys = {
            "next_due": lambda c: [(nxt.get(c["id"]) or {}).get("due_on", joins.FAR_FUTURE),
                                   c["reference"], c["id"]],
            "received_on": lambda c: [c["received_on"], c["reference"], c["id"]],
            "reference": lambda c: [c["reference"], c["id"]],
        }
        key = sort_keys[q["sort"]]
        index.sort(key=key)
        shown, next_cursor = page(index, key, q.get("cursor"), q["limit"])
        ids = [c["id"] for c in shown]
        if ids and not by_deadline:
            milestones = self._deadlines_of(ids)
            nxt = {i: joins.next_deadline(milestones.get(i, []), now) for i in ids}
        # The referrals service checks tenancy again and audits each case shown.
        items = self._call("referrals", "get_referrals", actor, ids, "list") if ids else []
        for item in items:
            item["next_deadline"] = nxt.get(item["id"])
        return json_response({"items": items, "count": len(index), "next_cursor": next_cursor})

    @http("GET", "/v1/referrals/<string:case_id>")
    @endpoint("/v1/referrals/{id}")
    def get_referral(self, request, case_id):
        actor = self._actor(request, CASE_ROLES, hide=True)
        return json_response(self._call("referrals", "get_referral", actor, valid_id(case_id)))

    @http("POST", "/v1/referrals/<string:case_id>/events")
    @endpoint("/v1/referrals/{id}/events")
    def record_step(self, request, case_id):
        actor = self._actor(request, CASE_ROLES, hide=True)
        case_id = valid_id(case_id)
        body = read_object(request)
        answer = self._call("referrals", "record_step", actor, case_id, body,
                            idempotency_key(request))
        return json_response(answer, 201)

    @http("POST", "/v1/referrals/<string:case_id>/corrections")
    @endpoint("/v1/referrals/{id}/corrections")
    def correct_receipt(self, request, case_id):
        actor = self._actor(request, CASE_ROLES, hide=True)
        body = read_object(request)
        return json_response(self._call("referrals", "correct_receipt", actor,
                                        valid_id(case_id), body), 201)

    @http("POST", "/v1/referrals/<string:case_id>/events/<string:step_id>/corrections")
    @endpoint("/v1/referrals/{id}/events/{step_id}/corrections")
    def correct_step(self, request, case_id, step_id):
        actor = self._actor(request, CASE_ROLES, hide=True)
        body = read_object(request)
        answer = self._call("referrals", "correct_step", actor, valid_id(case_id),
                            valid_id(step_id), body)
        return json_response(answer, 201)

    @http("GET", "/v1/referrals/<string:case_id>/events")
    @endpoint("/v1/referrals/{id}/events")
    def case_history(self, request, case_id):
        actor = self._actor(request, CASE_ROLES, hide=True)
        return json_response(self._call("referrals", "history", actor, valid_id(case_id)))

    @http("GET", "/v1/referrals/<string:case_id>/deadlines")
    @endpoint("/v1/referrals/{id}/deadlines")
    def referral_deadlines(self, request, case_id):
        actor = self._actor(request, CASE_ROLES, hide=True)
        # Tenancy and audit first; read before the deadlines, so "up to date" is never
        # claimed for milestones older than the case's latest event.
        referral = self._call("referrals", "get_referral", actor, valid_id(case_id))
        by_case = self._deadlines_of([referral["id"]])
        return json_response({"case_id": referral["id"], "reference": referral["reference"],
                              "deadlines_up_to_date": referral["deadlines_up_to_date"],
                              "deadlines": by_case.get(referral["id"], [])})

    @http("GET", "/v1/referrals/<string:case_id>/audit")
    @endpoint("/v1/referrals/{id}/audit")
    def case_audit(self, request, case_id):
        # Caseworkers and schools may see the case, so for them it is a 403 (from the
        # referrals service, after the tenancy check); other roles never learn it exists.
        actor = self._actor(request, CASE_ROLES, hide=True)
        q = load_query(schemas.AuditQuery, request.args)
        return json_response(self._call("referrals", "audit_trail", actor, valid_id(case_id),
                                        q["limit"], q.get("before")))

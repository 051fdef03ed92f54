"""Routes of cases: requests for assessment, their steps, history, deadlines and audit.

Tenancy is checked twice: here by role (a role that never sees cases gets 404 on a case
and 403 on a list), and again by the referrals service's queries, which only ever return
the caller's own cases."""

from __future__ import annotations

import uuid

from services.gateway import gias, region, schemas
from services.gateway.http import (
    decode_cursor,
    encode_cursor,
    endpoint,
    idempotency_key,
    json_response,
    load_body,
    load_query,
    read_object,
)
from services.gateway.openapi import CASE_ROLES, LA_ROLES
from services.gateway.wsgi import http
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
        referral = self._submit(actor, read_object(request), idempotency_key(request))
        return json_response(referral, 201, {"Location": f"/v1/referrals/{referral['id']}"})

    def _submit(self, actor: dict, body: dict, key: str | None) -> dict:
        """Submit a request (API and pages alike): the register check, then referrals."""
        self._check_register(body.get("school_urn"))
        return self._call("referrals", "submit_request", actor, body, key)

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
        return json_response(self._case_page(actor, q))

    def _case_page(self, actor: dict, q: dict) -> dict:
        """One page of cases, filtered, sorted and paged in SQL by the referrals service
        (which checks tenancy again and audits each case shown). Pages use it too."""
        filters = {k: q[k] for k in ("status", "la_code", "school_urn", "adviser", "reference",
                                     "assigned_to", "unassigned", "due_within", "overdue")
                   if q.get(k) not in (None, [], "")}
        answer = self._call("referrals", "list_cases", actor, filters, q["sort"],
                            decode_cursor(q.get("cursor")), q["limit"])
        return {"items": answer["items"], "count": answer["count"],
                "next_cursor": encode_cursor(answer["next_key"]) if answer["next_key"] else None}

    @http("PUT", "/v1/referrals/<string:case_id>/assignment")
    @endpoint("/v1/referrals/{id}/assignment")
    def assign_referral(self, request, case_id):
        actor = self._actor(request, CASE_ROLES, hide=True)
        body = read_object(request)
        return json_response(self._assign(actor, valid_id(case_id), body))

    def _assign(self, actor: dict, case_id: str, body: dict) -> dict:
        """Assign a case to a caseworker of the caller's LA, checked in the directory."""
        answer = load_body(schemas.Assignment, body)
        caseworker = answer["caseworker"]
        if caseworker is not None:
            with self.db.read() as conn:
                user = region.get_user(conn, caseworker)
            if not (user and user["active"] and user["role"] in LA_ROLES
                    and user["la_code"] == actor.get("la_code")):
                raise Problem(422, "Validation failed",
                              "caseworker: not an active caseworker of your LA",
                              [{"field": "caseworker",
                                "message": "not an active caseworker of your LA"}])
        return self._call("referrals", "assign_case", actor, case_id, caseworker)

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
        # One RPC: tenancy, audit and the referrals service's copy of the schedule.
        view = self._call("referrals", "get_referral_deadlines", actor, valid_id(case_id))
        if view["deadlines"] is None:
            # No schedule copied yet (a new case, or one from before the copy existed):
            # the deadlines service's own, read after the case row, so "up to date" is
            # never claimed for milestones older than the case's latest event.
            view["deadlines"] = self._deadlines_of([view["case_id"]]).get(view["case_id"], [])
        return json_response(view)

    @http("GET", "/v1/referrals/<string:case_id>/audit")
    @endpoint("/v1/referrals/{id}/audit")
    def case_audit(self, request, case_id):
        # Caseworkers and schools may see the case, so for them it is a 403 (from the
        # referrals service, after the tenancy check); other roles never learn it exists.
        actor = self._actor(request, CASE_ROLES, hide=True)
        q = load_query(schemas.AuditQuery, request.args)
        return json_response(self._call("referrals", "audit_trail", actor, valid_id(case_id),
                                        q["limit"], q.get("before")))

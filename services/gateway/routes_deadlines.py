"""Routes of deadlines across the caller's cases, and of managers' figures."""

from __future__ import annotations

from services.gateway import joins, schemas
from services.gateway.http import endpoint, json_response, load_query, page
from services.gateway.openapi import CASE_ROLES
from services.gateway.wsgi import http
from shared.config import today
from shared.problems import Problem


class DeadlineRoutes:
    @http("GET", "/v1/deadlines")
    @endpoint("/v1/deadlines")
    def list_deadlines(self, request):
        actor = self._actor(request, CASE_ROLES)
        q = load_query(schemas.DeadlineListQuery, request.args)
        index = self._call("referrals", "case_index", actor, {
            k: q[k] for k in ("la_code", "school_urn") if q.get(k)})
        cases = {c["id"]: c for c in index}
        milestones = self._deadlines_of(list(cases)) if cases else {}
        now = today(self.settings).isoformat()
        due_before = q["due_before"].isoformat() if q.get("due_before") else None
        rows = []
        for case_id, ms in milestones.items():
            case = cases.get(case_id)
            if case is None:
                continue
            for m in ms:
                due = joins.effective_due(m)
                if not joins.matches_status(m, q.get("status", [])):
                    continue
                if due_before and due > due_before:
                    continue
                if q.get("milestone") and m["milestone"] != q["milestone"]:
                    continue
                rows.append({**m, "case_id": case_id, "reference": case["reference"],
                             "la_code": case["la_code"], "school_urn": case["school_urn"],
                             "overdue": joins.is_open(m) and due < now})

        def key(r):
            return [joins.effective_due(r), r["reference"], r["milestone"]]

        rows.sort(key=key)
        shown, next_cursor = page(rows, key, q.get("cursor"), q["limit"])
        if shown:
            # The referrals service re-checks tenancy of the cases shown and audits them.
            seen = {c["id"] for c in self._call("referrals", "get_referrals", actor,
                                                 list(dict.fromkeys(r["case_id"] for r in shown)),
                                                 "list_deadlines")}
            shown = [r for r in shown if r["case_id"] in seen]
        return json_response({"items": shown, "count": len(rows), "next_cursor": next_cursor})

    @http("GET", "/v1/reports/timeliness")
    @endpoint("/v1/reports/timeliness")
    def timeliness(self, request):
        actor = self._actor(request, ("la_manager",))
        q = load_query(schemas.TimelinessQuery, request.args)
        la_code = q.get("la_code") or actor["la_code"]
        if la_code != actor["la_code"]:
            raise Problem(403, "Forbidden", "You may read your own LA's figures only.")
        year = q.get("year") or today(self.settings).year
        # SEN2 figures are the statutory clock's (met milestones, exception days): one
        # definition for the API, the gauges and the DfE return.
        return json_response(self._call("deadlines", "timeliness", la_code, year))

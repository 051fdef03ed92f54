"""Routes of cases: requests for assessment, their steps and deadlines."""

from __future__ import annotations

from nameko.web.handlers import http

from services.gateway.http import endpoint, json_response, read_json


class ReferralRoutes:
    @http("POST", "/v1/referrals")
    @endpoint("/v1/referrals")
    def submit_referral(self, request):
        actor = self._actor(request)
        body = read_json(request)
        referral = self._call("referrals", "submit_request", actor, body,
                              request.headers.get("Idempotency-Key"))
        return json_response(referral, 201, {"Location": f"/v1/referrals/{referral['id']}"})

    @http("GET", "/v1/referrals/<string:case_id>")
    @endpoint("/v1/referrals/{id}")
    def get_referral(self, request, case_id):
        actor = self._actor(request)
        return json_response(self._call("referrals", "get_referral", actor, case_id))

    @http("GET", "/v1/referrals/<string:case_id>/deadlines")
    @endpoint("/v1/referrals/{id}/deadlines")
    def referral_deadlines(self, request, case_id):
        actor = self._actor(request)
        referral = self._call("referrals", "get_referral", actor, case_id)  # tenancy + audit
        by_case = self._call("deadlines", "deadlines_of_cases", [referral["id"]])
        return json_response({"case_id": referral["id"], "reference": referral["reference"],
                              "deadlines": by_case.get(referral["id"], [])})


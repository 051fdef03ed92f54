"""Routes of the SEN2 return: the details a case lacks for it, and the return itself.

The return holds personal data (it is the statutory return): only the LA's managers get it,
the referrals service audits every case in it, and it is never logged."""

from __future__ import annotations

from marshmallow import ValidationError

from services.gateway import schemas
from services.gateway.http import endpoint, json_response, load_query, read_object
from services.gateway.openapi import CASE_ROLES
from services.gateway.routes_referrals import valid_id
from services.gateway.wsgi import http
from shared.problems import Problem, validation_problem

# the return's counts that must equal the deadlines service's figures (incl. exceptions)
AGREEING = ("requests_decided", "decided_within_6_weeks", "plans_issued", "within_20_weeks")


def counts_agree(counts: dict, figures: dict) -> bool:
    incl, excl = figures["including_exceptions"], figures["excluding_exceptions"]
    return (all(counts[k] == incl[k] for k in AGREEING)
            and counts["plans_issued_excluding_exceptions"] == excl["plans_issued"])


class Sen2Routes:
    @http("PUT", "/v1/referrals/<string:case_id>/sen2")
    @endpoint("/v1/referrals/{id}/sen2")
    def record_sen2(self, request, case_id):
        actor = self._actor(request, CASE_ROLES, hide=True)
        case_id = valid_id(case_id)
        try:  # JSON types checked strictly here; codes and formats again by the service
            body = schemas.Sen2Details().load(read_object(request))
        except ValidationError as exc:
            raise validation_problem(exc.messages) from None
        return json_response(self._call("referrals", "record_sen2", actor, case_id, body))

    @http("GET", "/v1/reports/sen2")
    @endpoint("/v1/reports/sen2")
    def sen2_return(self, request):
        actor = self._actor(request, ("la_manager",))
        q = load_query(schemas.Sen2ReturnQuery, request.args)
        la_code = q.get("la_code") or actor["la_code"]
        if la_code != actor["la_code"]:
            raise Problem(403, "Forbidden", "You may produce your own LA's return only.")
        answer = self._call("referrals", "sen2_return", actor, la_code, q["year"])
        answer["figures"] = self._call("deadlines", "timeliness", la_code, q["year"] - 1)
        answer["counts_agree"] = counts_agree(answer["counts"], answer["figures"])
        return json_response(answer)

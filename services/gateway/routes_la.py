"""Routes of an LA's statutory-clock settings and school closures (term dates).

The deadlines service owns both (RPCs get_la_settings, set_la_settings, add_closure,
list_closures, remove_closure) and queues a recompute of the LA's open cases on every
change; these routes decide who may read or change them and pass its answers through.

Who: staff of the LA read (caseworkers and managers), region admins read any LA, the
LA's managers change. Anyone else gets 404, as for a case that is not theirs: whether an
LA has settings is not for a school or another LA to learn. A caller who may read but
not change gets 403."""

from __future__ import annotations

import re
import uuid

from marshmallow import Schema, ValidationError

from services.gateway import schemas
from services.gateway.http import endpoint, json_response, read_object
from services.gateway.wsgi import http
from shared.problems import Problem, not_found, validation_problem

LA_STAFF = ("la_caseworker", "la_manager")
# Every role may ask; _la_access answers 404 to those the LA is hidden from (hide=True
# makes a role outside this tuple get 404 too, never 403).
READERS = LA_STAFF + ("region_admin",)
_LA_CODE = re.compile(r"^\d{3}$")


def _load(schema: type[Schema], body: dict) -> dict:
    try:
        return schema().load(body)
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None


class LaRoutes:
    def _la_access(self, request, la_code: str, write: bool = False) -> dict:
        """The caller, if they may read (or, with `write`, change) the LA's settings."""
        actor = self._actor(request, READERS, hide=True)
        roles = set(actor["roles"])
        staff = bool(roles & set(LA_STAFF)) and actor.get("la_code") == la_code
        if not _LA_CODE.match(la_code) or not (staff or "region_admin" in roles):
            raise not_found("LA")
        if write and not ("la_manager" in roles and actor.get("la_code") == la_code):
            raise Problem(403, "Forbidden", "Only the LA's managers may change this.")
        return actor

    @http("GET", "/v1/las/<string:la_code>/settings")
    @endpoint("/v1/las/{la_code}/settings")
    def get_la_settings(self, request, la_code):
        self._la_access(request, la_code)
        answer = self._call("deadlines", "get_la_settings", la_code)
        return json_response({"la_code": la_code, "settings": answer["settings"]})

    @http("PUT", "/v1/las/<string:la_code>/settings")
    @endpoint("/v1/las/{la_code}/settings")
    def put_la_settings(self, request, la_code):
        self._la_access(request, la_code, write=True)
        # Checked here too so that a 422 names the body's own fields ("receipt_cutoff"),
        # with the deadlines service's schema: one definition of what is valid.
        settings = _load(schemas.LaSettings, read_object(request))
        answer = self._call("deadlines", "set_la_settings", la_code,
                            schemas.LaSettings().dump(settings))
        return json_response(answer)

    @http("GET", "/v1/las/<string:la_code>/closures")
    @endpoint("/v1/las/{la_code}/closures")
    def list_la_closures(self, request, la_code):
        self._la_access(request, la_code)
        return json_response({"items": self._call("deadlines", "list_closures", la_code)})

    @http("POST", "/v1/las/<string:la_code>/closures")
    @endpoint("/v1/las/{la_code}/closures")
    def add_la_closure(self, request, la_code):
        self._la_access(request, la_code, write=True)
        body = _load(schemas.ClosureRequest, read_object(request))
        # The deadlines service checks the rest (ends_on not before starts_on) and its
        # 422 passes through unchanged.
        created = self._call("deadlines", "add_closure", la_code, body.get("school_urn"),
                             body["starts_on"].isoformat(), body["ends_on"].isoformat())
        return json_response(created, 201,
                             {"Location": f"/v1/las/{la_code}/closures/{created['id']}"})

    @http("DELETE", "/v1/las/<string:la_code>/closures/<string:closure_id>")
    @endpoint("/v1/las/{la_code}/closures/{id}")
    def remove_la_closure(self, request, la_code, closure_id):
        self._la_access(request, la_code, write=True)
        try:
            closure_id = str(uuid.UUID(closure_id))
        except ValueError:  # not an id this API gave out: no such closure
            raise not_found("closure") from None
        return json_response(self._call("deadlines", "remove_closure", la_code, closure_id))

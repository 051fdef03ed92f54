"""Routes of the region's directory (LAs, schools, users) and of operations (metrics).

Directory entries carry no personal data of children: every authenticated role may read
LAs and schools; only region admins change them or manage users."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from marshmallow import ValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Response

from services.gateway import region, schemas
from services.gateway.auth import GRANTABLE_BY_REGION_ADMIN, issue_token
from services.gateway.http import endpoint, json_response, read_object
from services.gateway.wsgi import http
from shared.problems import Problem, not_found, validation_problem

log = logging.getLogger(__name__)

ADMIN = ("region_admin",)
TOKEN_TTL = 8 * 3600


def load_body(schema: type, body: dict) -> dict:
    try:
        return schema().load(body)
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None


def check_user_claims(user: dict) -> None:
    """What a user of each role must carry (the API and the admin pages)."""
    if user["role"] in ("la_caseworker", "la_manager") and not user["la_code"]:
        raise Problem(422, "Validation failed", "la_code: required for an LA role",
                      [{"field": "la_code", "message": "required for an LA role"}])
    if user["role"] == "school" and not user["school_urn"]:
        raise Problem(422, "Validation failed", "school_urn: required for a school",
                      [{"field": "school_urn", "message": "required for a school"}])


class RegionRoutes:
    @http("GET", "/v1/las")
    @endpoint("/v1/las")
    def list_las(self, request):
        self._actor(request)
        with self.db.read() as conn:
            return json_response({"items": region.list_las(conn)})

    @http("POST", "/v1/las")
    @endpoint("/v1/las")
    def add_la(self, request):
        self._actor(request, ADMIN)
        la = load_body(schemas.LocalAuthority, read_object(request))
        with self.db.unit_of_work() as uow:
            row = region.add_la(uow.conn, la["la_code"], la["name"])
        return json_response(row, 201)

    @http("GET", "/v1/schools")
    @endpoint("/v1/schools")
    def list_schools(self, request):
        self._actor(request)
        with self.db.read() as conn:
            return json_response({"items": region.list_schools(conn)})

    @http("POST", "/v1/schools")
    @endpoint("/v1/schools")
    def add_school(self, request):
        self._actor(request, ADMIN)
        school = load_body(schemas.School, read_object(request))
        with self.db.unit_of_work() as uow:
            if not region.la_exists(uow.conn, school["la_code"]):
                raise Problem(422, "Validation failed", "la_code: unknown LA",
                              [{"field": "la_code", "message": "no such LA in the region"}])
            row = region.add_school(uow.conn, school["urn"], school["name"], school["la_code"])
        return json_response(row, 201)

    @http("GET", "/v1/users")
    @endpoint("/v1/users")
    def list_users(self, request):
        self._actor(request, ADMIN)
        with self.db.read() as conn:
            return json_response({"items": region.list_users(conn)})

    @http("POST", "/v1/users")
    @endpoint("/v1/users")
    def add_user(self, request):
        self._actor(request, ADMIN)
        user = load_body(schemas.User, read_object(request))
        check_user_claims(user)
        with self.db.unit_of_work() as uow:
            row = region.upsert_user(uow.conn, user["sub"], user["role"], user["la_code"],
                                     user["school_urn"])
        self.auth.users.forget(user["sub"])  # its next request sees the new row
        return json_response(row, 201)

    def _set_active(self, request, sub: str, active: bool):
        self._actor(request, ADMIN)
        with self.db.unit_of_work() as uow:
            row = region.set_active(uow.conn, sub, active)
        self.auth.users.forget(sub)  # a disabled user is refused from the next request on
        if row is None:
            raise not_found("user")
        return json_response(row)

    @http("POST", "/v1/users/<string:sub>/disable")
    @endpoint("/v1/users/{id}/disable")
    def disable_user(self, request, sub):
        return self._set_active(request, sub, False)

    @http("POST", "/v1/users/<string:sub>/enable")
    @endpoint("/v1/users/{id}/enable")
    def enable_user(self, request, sub):
        return self._set_active(request, sub, True)

    @http("POST", "/v1/users/<string:sub>/token")
    @endpoint("/v1/users/{id}/token")
    def user_token(self, request, sub):
        """A region admin issues a token for a listed user, only of a role that never reads
        a case (GRANTABLE_BY_REGION_ADMIN), and every grant is recorded in token_grants."""
        admin = self._actor(request, ADMIN)
        if self.auth.settings.mode == "oidc":
            raise Problem(409, "Tokens come from the identity provider",
                          "This deployment verifies OpenID Connect tokens only.")
        ttl = min(TOKEN_TTL, self.settings.max_token_seconds)
        with self.db.unit_of_work() as uow:
            user = region.get_user(uow.conn, sub)
            if user is None:
                raise not_found("user")
            if not user["active"]:
                raise Problem(409, "User disabled", "Enable the user before issuing a token.")
            roles = [user["role"], *user["extra_roles"]]
            refused = [r for r in roles if r not in GRANTABLE_BY_REGION_ADMIN]
            if refused:
                raise Problem(403, "Forbidden",
                              f"A region admin may not issue tokens for the role "
                              f"{refused[0]}: it comes from the identity provider or an "
                              "operator.")
            expires = datetime.now(UTC) + timedelta(seconds=ttl)  # real time, as the token's
            region.record_grant(uow.conn, admin["sub"], user, roles, expires, admin["source"])
        token = issue_token(self.settings.jwt_secret, role=user["role"],
                            la_code=user["la_code"], school_urn=user["school_urn"],
                            sub=user["sub"], ttl=ttl, issuer=self.settings.jwt_issuer,
                            audience=self.settings.jwt_audience,
                            extra_roles=user["extra_roles"])
        log.info("token issued", extra={"route": "/v1/users/{id}/token", "subject": admin["sub"]})
        return json_response({"token": token, "expires_in": ttl}, 201)

    @http("GET", "/v1/metrics")
    @endpoint("/v1/metrics")
    def metrics(self, request):
        self._actor(request, ("ops",))
        return Response(generate_latest(), status=200, mimetype=CONTENT_TYPE_LATEST)

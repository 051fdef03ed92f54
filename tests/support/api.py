"""A small HTTP client for the gateway, with tokens signed like the deployment's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import requests

from services.gateway import region
from services.gateway.auth import issue_token
from shared.config import Config

SECRET = Config.jwt_secret
_users_database: list[str] = []  # a stack: the innermost fresh_infra's database is used


@contextmanager
def users_database(url: str) -> Iterator[None]:
    """Tokens made inside list their users in this database (tests/support/infra.py)."""
    _users_database.append(url)
    try:
        yield
    finally:
        _users_database.pop()


def register_user(sub: str, role: str, la_code: str | None = None,
                  school_urn: str | None = None, extra_roles=()) -> None:
    """List the user in the gateway's users table, as an operator's `ehcp token` does: a
    local token is accepted only for a user whose row matches it."""
    with psycopg.connect(_users_database[-1], autocommit=True, options="-c search_path=gateway",
                         row_factory=psycopg.rows.dict_row) as conn:
        region.upsert_user(conn, sub, role, la_code, school_urn, extra_roles)


def token(role: str, la_code: str | None = None, school_urn: str | None = None,
          sub: str | None = None, extra_roles=(), **kw) -> str:
    """A token for a user listed with exactly these claims (registered first)."""
    sub = sub or f"{role}-{uuid.uuid4().hex[:8]}"
    register_user(sub, role, la_code, school_urn, extra_roles)
    return issue_token(SECRET, role=role, la_code=la_code, school_urn=school_urn, sub=sub,
                       extra_roles=extra_roles, **kw)


class Api:
    def __init__(self, base_url: str, bearer: str | None = None):
        self.base_url = base_url
        self.bearer = bearer

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        return {**headers, **(extra or {})}

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base_url + path, headers=self._headers(kw.pop("headers", None)),
                            timeout=15, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return requests.post(self.base_url + path, json=json,
                             headers=self._headers(kw.pop("headers", None)), timeout=15, **kw)


    def put(self, path: str, json=None, **kw) -> requests.Response:
        return requests.put(self.base_url + path, json=json,
                            headers=self._headers(kw.pop("headers", None)), timeout=15, **kw)


def referral_body(la_code: str = "881", school_urn: str = "100001",
                  received_on: str = "2026-01-05") -> dict:
    # Synthetic child: no real person.
    return {"child": {"given_name": "Test", "family_name": "Child-Synthetic",
                      "date_of_birth": "2015-03-01"},
            "la_code": la_code, "school_urn": school_urn, "requested_by": "school",
            "received_on": received_on}

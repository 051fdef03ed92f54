"""A small HTTP client for the gateway, with tokens signed like the deployment's."""

from __future__ import annotations

import requests

from services.gateway.auth import issue_token
from shared.config import Config

SECRET = Config.jwt_secret


def token(role: str, la_code: str | None = None, school_urn: str | None = None,
          **kw) -> str:
    return issue_token(SECRET, role=role, la_code=la_code, school_urn=school_urn, **kw)


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

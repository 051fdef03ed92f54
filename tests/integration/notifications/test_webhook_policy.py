"""The webhook URL policy through the real API, on a system in production mode (issue 9):
local, private and metadata addresses in every spelling and plain http are refused with a
422 naming webhook_url; a public https URL is accepted."""

from __future__ import annotations

import pytest
import requests

from services.gateway.auth import issue_token
from shared.config import Config
from tests.support.api import Api, register_user
from tests.support.processes import System

SECRET = "a-production-secret-of-this-test-run-0123456789"
LA = "961"


@pytest.fixture(scope="module")
def production(infra, tmp_path_factory):
    system = System(infra, tmp_path_factory.mktemp("production-logs"),
                    extra_env={"EHCP_MODE": "production", "JWT_SECRET": SECRET}).start()
    yield system
    system.stop()


@pytest.fixture(scope="module")
def admin(production):
    register_user("webhook-policy-admin", "region_admin")
    return Api(production.url, issue_token(SECRET, role="region_admin",
                                           sub="webhook-policy-admin"))


def recipient(url: str) -> dict:
    return {"kind": "la_team", "la_code": LA, "name": "Policy team", "webhook_url": url,
            "channels": ["webhook"]}


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook",
    "https://0x7f000001/hook", "https://2130706433/hook",
    "https://169.254.169.254/latest/meta-data/", "https://[::ffff:127.0.0.1]/hook",
    "https://10.1.2.3/hook", "http://93.184.215.14/hook",
])
def test_production_refuses_local_urls_and_plain_http(admin, url):
    r = admin.post("/v1/recipients", recipient(url))
    assert r.status_code == 422, (url, r.text)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "webhook_url"


def test_production_accepts_a_public_https_address_and_refuses_an_update_to_a_local_one(admin):
    created = admin.post("/v1/recipients", recipient("https://93.184.215.14/hook"))
    assert created.status_code == 201, created.text
    moved = requests.patch(f"{admin.base_url}/v1/recipients/{created.json()['id']}",
                           json={"webhook_url": "https://169.254.169.254/"},
                           headers=admin._headers(), timeout=15)
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "webhook_url"


def test_tokens_signed_with_the_public_secret_are_refused_in_production(production):
    register_user("webhook-policy-forger", "region_admin")
    forged = issue_token(Config.jwt_secret, role="region_admin", sub="webhook-policy-forger")
    assert Api(production.url, forged).get("/v1/recipients").status_code == 401

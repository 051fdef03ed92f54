"""Sessions of the pages over plain HTTP: cookie flags, CSRF on every form, idle timeout,
sign-out, a disabled user's session, bearer tokens unchanged."""

from __future__ import annotations

import re

import pytest
import requests

from tests.e2e.pages.site import PASSWORD
from tests.support.api import Api, token

pytestmark = pytest.mark.e2e


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def signed_in(site, sub: str, headers: dict | None = None) -> requests.Session:
    s = requests.Session()
    s.headers.update(headers or {})
    form = s.get(f"{site.url}/sign-in", timeout=10)
    r = s.post(f"{site.url}/sign-in", data={"csrf_token": csrf_of(form.text), "sub": sub,
                                             "password": PASSWORD, "next": "/"},
               allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    return s


def test_cookie_flags_csrf_idle_timeout_and_sign_out(site, infra):
    s = signed_in(site, "cw-971")
    cookie = s.cookies.get("ehcp_session")
    assert cookie and s.get(f"{site.url}/cases", timeout=10).status_code == 200
    raw = [c for c in s.get(f"{site.url}/sign-in", allow_redirects=False, timeout=10)
           .raw.headers.getlist("Set-Cookie")]
    assert raw == []  # a signed-in caller gets no new cookie
    # the session cookie's flags: HttpOnly, SameSite=Lax; not Secure on localhost only
    again = requests.Session()
    form = again.get(f"{site.url}/sign-in", timeout=10)
    r = again.post(f"{site.url}/sign-in", data={"csrf_token": csrf_of(form.text),
                                                "sub": "cw-971", "password": PASSWORD},
                   allow_redirects=False, timeout=10)
    set_cookie = [h for h in r.raw.headers.getlist("Set-Cookie") if "ehcp_session=" in h][0]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie
    public = requests.get(f"{site.url}/sign-in", headers={"Host": "ehcp.council.example"},
                          timeout=10)
    assert "Secure" in public.headers["Set-Cookie"]

    # a form posted without its CSRF token changes nothing
    r = s.post(f"{site.url}/sign-out", data={}, allow_redirects=False, timeout=10)
    assert r.status_code == 400
    assert s.get(f"{site.url}/cases", allow_redirects=False, timeout=10).status_code == 200

    # idle for longer than SESSION_IDLE_SECONDS: signed out
    with infra.connect("gateway") as conn:
        conn.execute("UPDATE sessions SET last_seen = now() - interval '2 hours' "
                     "WHERE sub = 'cw-971'")
    r = s.get(f"{site.url}/cases", allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"].startswith("/sign-in")

    # sign-out ends the session for good
    s = signed_in(site, "cw2-971")
    page = s.get(f"{site.url}/cases", timeout=10)
    r = s.post(f"{site.url}/sign-out", data={"csrf_token": csrf_of(page.text)},
               allow_redirects=False, timeout=10)
    assert r.status_code == 303
    stolen = requests.get(f"{site.url}/cases", cookies={"ehcp_session": cookie},
                          allow_redirects=False, timeout=10)
    assert stolen.status_code == 303  # the idle one is gone too


def test_disabled_user_is_signed_out_and_bearer_tokens_unchanged(site, infra):
    s = signed_in(site, "senco-971002")
    assert s.get(f"{site.url}/cases", allow_redirects=False, timeout=10).status_code == 200
    admin = Api(site.url, token("region_admin", sub="admin"))
    assert admin.post("/v1/users/senco-971002/disable").status_code == 200
    try:
        assert s.get(f"{site.url}/cases", allow_redirects=False,
                     timeout=10).status_code == 303
    finally:
        assert admin.post("/v1/users/senco-971002/enable").status_code == 200
    # the API still takes bearer tokens, and a session cookie is no bearer token
    assert Api(site.url, token("school", school_urn="971002", la_code="971")).get(
        "/v1/referrals").status_code == 200
    r = requests.get(f"{site.url}/v1/referrals", cookies=s.cookies, timeout=10)
    assert r.status_code == 401

"""LA staff sign in through the OpenID Connect issuer (authorization code + PKCE), against
a small provider the test starts; a user without a role, or disabled, is refused."""

from __future__ import annotations

import pytest

from tests.e2e.pages.site import LA
from tests.support.oidc_provider import OidcProvider

pytestmark = pytest.mark.e2e
CLIENT = "ehcp-pages"


@pytest.fixture
def provider(site):
    with OidcProvider(CLIENT) as provider:
        gateway = site.services["gateway"]
        gateway.stop()
        gateway.start(extra_env={"AUTH_MODE": "both", "OIDC_ISSUER": provider.issuer,
                                 "OIDC_AUDIENCE": CLIENT, "OIDC_CLIENT_ID": CLIENT})
        try:
            yield provider
        finally:
            gateway.stop()
            gateway.start()


def test_la_staff_sign_in_through_the_issuer(site, provider, browser_for):
    provider.user = {"sub": "entra-object-1", "oid": "cw-971", "roles": ["la_caseworker"],
                     "la_code": LA}
    b = browser_for()
    b.open("/sign-in")
    b.page.click("a:has-text('Sign in with your council account')")
    b.page.wait_for_url("**/cases")
    b.check()
    assert b.page.locator("h1").inner_text() == "Work tray"
    assert "cw-971" in b.page.locator(".app-signed-in").inner_text()

    # a replayed callback (state already used) is refused
    b.open("/sign-in/oidc/callback?state=used&code=x", status=400)

    # an account without a role here is refused, with a message
    provider.user = {"sub": "entra-object-2", "roles": ["something_else"]}
    other = browser_for()
    other.open("/sign-in")
    other.page.click("a:has-text('Sign in with your council account')")
    other.page.wait_for_load_state()
    other.check()
    assert "no role here" in other.page.locator("main").inner_text()

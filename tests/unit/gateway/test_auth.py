"""Token verification: the deployment's own tokens and an OpenID Connect issuer's, whose
keys are served by a real local HTTP server (a JWKS endpoint and a discovery document)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.gateway.auth import (
    PUBLIC_SECRETS,
    Authenticator,
    AuthSettings,
    FailureLimiter,
    UserCache,
    check_secret,
    claimed_subject,
    issue_token,
    reconcile,
)
from shared.config import Config
from shared.problems import Problem

SECRET = Config.jwt_secret
ISSUER = "https://login.example.test/tenant-1/v2.0"  # never contacted: see OIDC_JWKS_URL
AUDIENCE = "api://ehcp-tracker"
FAR_FUTURE = 4102444800  # 2100: parameters are built at collection, long before they run


def local() -> Authenticator:
    return Authenticator(AuthSettings())


def bearer(token: str) -> str:
    return f"Bearer {token}"


def refused(auth: Authenticator, header: str | None) -> str:
    with pytest.raises(Problem) as caught:
        auth.authenticate(header)
    assert caught.value.status == 401
    return caught.value.detail


# --- local tokens -------------------------------------------------------------------------


def test_local_token_gives_the_actor():
    actor = local().authenticate(bearer(issue_token(SECRET, role="school", school_urn="100001",
                                                    sub="senco-1")))
    assert actor == {"sub": "senco-1", "role": "school", "roles": ["school"], "la_code": None,
                     "school_urn": "100001", "local": True}


def test_several_roles_the_la_role_decides_what_is_seen():
    actor = local().authenticate(bearer(issue_token(
        SECRET, role="region_admin", la_code="881", extra_roles=["la_manager"])))
    assert actor["role"] == "la_manager"
    assert actor["roles"] == ["la_manager", "region_admin"]


@pytest.mark.parametrize("token,why", [
    (issue_token(SECRET, role="ops", ttl=-3600), "expired"),
    (issue_token("x" * 40, role="ops"), "not valid"),
    (issue_token(SECRET, role="ops", audience="other"), "not valid"),
    (issue_token(SECRET, role="ops", issuer="other"), "not valid"),
    ("a.b.c", "not valid"),
    (jwt.encode({"sub": "x", "role": "ops", "iss": "ehcp-tracker", "aud": "ehcp-tracker",
                 "exp": FAR_FUTURE}, None, algorithm="none"), "not valid"),
    (jwt.encode({"sub": "x", "role": "king", "iss": "ehcp-tracker", "aud": "ehcp-tracker",
                 "exp": FAR_FUTURE}, SECRET), "no known role"),
    (jwt.encode({"sub": "x", "role": "la_manager", "la_code": "88", "iss": "ehcp-tracker",
                 "aud": "ehcp-tracker", "exp": FAR_FUTURE}, SECRET), "LA code"),
    (jwt.encode({"sub": "x", "role": "school", "iss": "ehcp-tracker",
                 "aud": "ehcp-tracker", "exp": FAR_FUTURE}, SECRET), "URN"),
    (jwt.encode({"role": "ops", "iss": "ehcp-tracker", "aud": "ehcp-tracker",
                 "exp": FAR_FUTURE}, SECRET), "not valid"),  # no subject
])
def test_bad_local_tokens_are_401(token, why):
    assert why in refused(local(), bearer(token))


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer "])
def test_missing_bearer_is_401(header):
    refused(local(), header)


def test_issue_token_refuses_what_authenticate_would():
    with pytest.raises(ValueError):
        issue_token(SECRET, role="la_caseworker")
    with pytest.raises(ValueError):
        issue_token(SECRET, role="school")
    with pytest.raises(ValueError):
        issue_token(SECRET, role="root")


def test_settings_from_the_environment():
    cfg = Config(service="gateway", mode="demo")
    assert AuthSettings.from_env(cfg, {}).mode == "local"
    with pytest.raises(ValueError):
        AuthSettings.from_env(cfg, {"AUTH_MODE": "oidc"})  # no issuer or audience
    with pytest.raises(ValueError):
        AuthSettings.from_env(cfg, {"AUTH_MODE": "kerberos"})
    s = AuthSettings.from_env(cfg, {"AUTH_MODE": "both", "OIDC_ISSUER": ISSUER,
                                    "OIDC_AUDIENCE": AUDIENCE, "OIDC_LA_CLAIM": "ext_la"})
    assert (s.mode, s.oidc_issuer, s.la_claim, s.role_claim) == ("both", ISSUER, "ext_la",
                                                                  "roles")


# --- OpenID Connect -----------------------------------------------------------------------


class Idp:
    """A local identity provider: signs tokens with its RSA key, serves the JWKS."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**public, "kid": "key-1", "use": "sig", "alg": "RS256"}]}
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path == "/keys":
                    body = json.dumps(idp.jwks).encode()
                elif self.path == "/.well-known/openid-configuration":
                    body = json.dumps({"issuer": idp.issuer,
                                       "jwks_uri": f"{idp.url}/keys"}).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.url  # discovery lives under the issuer
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key=None, kid: str = "key-1", **claims) -> str:
        body = {"iss": self.issuer, "aud": AUDIENCE, "sub": "pairwise-sub", "oid": "user-oid-1",
                "exp": int(time.time()) + 600, "roles": ["la_caseworker"], "la_code": "881",
                **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})

    def settings(self, **kw) -> AuthSettings:
        return AuthSettings(mode=kw.pop("mode", "oidc"), oidc_issuer=self.issuer,
                            oidc_audience=AUDIENCE, **kw)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def idp():
    idp = Idp()
    yield idp
    idp.close()


def test_oidc_token_verified_from_the_discovered_jwks(idp):
    auth = Authenticator(idp.settings())
    actor = auth.authenticate(bearer(idp.token()))
    # Entra's stable user id (oid) is the subject; app roles come as a list
    assert actor == {"sub": "user-oid-1", "role": "la_caseworker", "roles": ["la_caseworker"],
                     "la_code": "881", "school_urn": None, "local": False}


def test_oidc_claims_are_configurable(idp):
    auth = Authenticator(idp.settings(oidc_jwks_url=f"{idp.url}/keys", role_claim="app_role",
                                      la_claim="ext_la", sub_claim="sub"))
    actor = auth.authenticate(bearer(idp.token(app_role="la_manager", ext_la="882")))
    assert (actor["sub"], actor["role"], actor["la_code"]) == ("pairwise-sub", "la_manager",
                                                                "882")


def test_bad_oidc_tokens_are_401(idp):
    auth = Authenticator(idp.settings())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "wrongly signed": idp.token(key=other_key),
        "unknown key id": idp.token(kid="key-9"),
        "expired": idp.token(exp=int(time.time()) - 3600),
        "wrong audience": idp.token(aud="api://someone-else"),
        "wrong issuer": idp.token(iss="https://evil.example.test"),
        "no role": idp.token(roles=["reader"]),
        "locally signed": issue_token(SECRET, role="ops"),
    }
    for label, token in cases.items():
        assert refused(auth, bearer(token)), label


def test_both_modes_pick_the_verifier_by_issuer(idp):
    auth = Authenticator(idp.settings(mode="both"))
    assert auth.authenticate(bearer(idp.token()))["sub"] == "user-oid-1"
    assert auth.authenticate(bearer(issue_token(SECRET, role="ops", sub="cli")))["sub"] == "cli"
    # a token claiming the local issuer but signed by the IdP's key is refused
    refused(auth, bearer(idp.token(iss="ehcp-tracker", aud="ehcp-tracker")))


def test_unreachable_identity_provider_is_503_not_401(idp):
    settings = AuthSettings(mode="oidc", oidc_issuer=idp.issuer, oidc_audience=AUDIENCE,
                            oidc_jwks_url="http://127.0.0.1:9/keys")  # nothing listens
    with pytest.raises(Problem) as caught:
        Authenticator(settings).authenticate(bearer(idp.token()))
    assert caught.value.status == 503


# --- token policy (issue 9) ----------------------------------------------------------------


def test_a_token_living_longer_than_the_maximum_is_refused(idp):
    auth = Authenticator(AuthSettings(max_token_seconds=12 * 3600))
    assert auth.authenticate(bearer(issue_token(SECRET, role="ops", ttl=12 * 3600)))
    century = issue_token(SECRET, role="ops", ttl=100 * 365 * 24 * 3600)
    assert "lifetime" in refused(auth, bearer(century))
    no_iat = jwt.encode({"sub": "x", "role": "ops", "iss": "ehcp-tracker", "aud": "ehcp-tracker",
                         "exp": int(time.time()) + 13 * 3600}, SECRET)
    assert "lifetime" in refused(auth, bearer(no_iat))
    # an identity provider's token is held to the same maximum
    oidc = Authenticator(idp.settings(max_token_seconds=3600))
    assert oidc.authenticate(bearer(idp.token()))  # 10 minutes
    assert "lifetime" in refused(oidc, bearer(idp.token(iat=int(time.time()),
                                                        exp=int(time.time()) + 7200)))


def user(role="la_caseworker", la_code="881", school_urn=None, extra_roles=(), active=True):
    return {"sub": "cw-1", "role": role, "la_code": la_code, "school_urn": school_urn,
            "extra_roles": list(extra_roles), "active": active}


def test_reconcile_takes_the_users_row_and_refuses_a_moved_or_unknown_user():
    actor = local().authenticate(bearer(issue_token(SECRET, role="la_caseworker",
                                                    la_code="881", sub="cw-1")))
    assert reconcile(actor, user())["la_code"] == "881"
    for row, why in ((None, "not a user"), (user(active=False), "disabled"),
                     (user(la_code="882"), "changed"), (user(role="la_manager"), "changed"),
                     (user(extra_roles=["region_admin"]), "changed")):
        with pytest.raises(Problem) as caught:
            reconcile(actor, row)
        assert caught.value.status == 401 and why in caught.value.detail, row


def test_reconcile_leaves_oidc_tokens_to_the_identity_provider_but_disabled_is_final():
    oidc_actor = {"sub": "oid-1", "role": "la_caseworker", "roles": ["la_caseworker"],
                  "la_code": "881", "school_urn": None, "local": False}
    as_given = {k: v for k, v in oidc_actor.items() if k != "local"}
    assert reconcile(oidc_actor, None) == as_given
    assert reconcile(oidc_actor, user(la_code="999")) == as_given
    with pytest.raises(Problem):
        reconcile(oidc_actor, user(active=False))


def test_production_refuses_a_public_or_short_secret():
    for secret in (*PUBLIC_SECRETS, "short-secret"):
        with pytest.raises(ValueError, match="JWT_SECRET"):
            check_secret(Config(service="gateway", jwt_secret=secret, mode="production"))
        check_secret(Config(service="gateway", jwt_secret=secret, mode="demo"))
    check_secret(Config(service="gateway", jwt_secret="s" * 48, mode="production"))


def test_failure_limiter_slides_its_window():
    clock = [1000.0]
    limiter = FailureLimiter(window=60, clock=lambda: clock[0])
    for _ in range(3):
        assert limiter.retry_after("ip:a", 3) == 0
        limiter.fail("ip:a")
    assert 59 <= limiter.retry_after("ip:a", 3) <= 61
    assert limiter.retry_after("ip:b", 3) == 0  # keys are independent
    clock[0] += 61
    assert limiter.retry_after("ip:a", 3) == 0


def test_claimed_subject_is_read_without_trusting_the_token():
    assert claimed_subject(bearer(issue_token("x" * 40, role="ops", sub="guess"))) == "guess"
    assert claimed_subject("Bearer not.a.token") is None
    assert claimed_subject(None) is None


def test_user_cache_reuses_an_active_row_until_its_ttl_and_forgets_on_change():
    clock = [0.0]
    rows = {"cw": {"sub": "cw", "active": True}}
    loads = []

    def load(sub):
        loads.append(sub)
        return rows.get(sub)

    cache = UserCache(ttl=5, clock=lambda: clock[0])
    cache.set_listening(True)
    assert cache.get("cw", load)["active"] and cache.get("cw", load)["active"]
    assert loads == ["cw"]  # the second request did not look the user up
    rows["cw"] = {"sub": "cw", "active": False}  # disabled by another instance or the CLI
    clock[0] = 5.1
    assert cache.get("cw", load)["active"] is False  # seen once the ttl has passed
    assert cache.get("cw", load)["active"] is False and loads == ["cw", "cw", "cw"]
    rows["cw"] = {"sub": "cw", "active": True}
    assert cache.get("cw", load)["active"]
    rows["cw"] = {"sub": "cw", "active": False}
    cache.forget("cw")  # disabled through this gateway: refused at the next request
    assert cache.get("cw", load)["active"] is False


def test_user_cache_never_keeps_an_unknown_subject_and_ttl_zero_keeps_nothing():
    loads = []

    def load(sub):
        loads.append(sub)
        return None if sub == "nobody" else {"sub": sub, "active": True}

    cache = UserCache(ttl=5)
    cache.set_listening(True)
    assert cache.get("nobody", load) is None and cache.get("nobody", load) is None
    off = UserCache(ttl=0)
    off.set_listening(True)
    off.get("cw", load)
    off.get("cw", load)
    assert loads == ["nobody", "nobody", "cw", "cw"]


def test_user_cache_serves_nothing_while_not_listening_for_changes():
    loads = []

    def load(sub):
        loads.append(sub)
        return {"sub": sub, "active": True}

    cache = UserCache(ttl=5)
    cache.get("cw", load)
    cache.get("cw", load)
    assert loads == ["cw", "cw"]  # the listener has not connected yet
    cache.set_listening(True)
    cache.get("cw", load)
    cache.get("cw", load)
    assert loads == ["cw", "cw", "cw"]
    cache.set_listening(False)  # its connection was lost: changes could be missed
    cache.get("cw", load)
    assert loads == ["cw", "cw", "cw", "cw"]


def test_user_cache_does_not_keep_a_row_loaded_while_a_change_arrived():
    cache = UserCache(ttl=5)
    cache.set_listening(True)
    loads = []

    def load(sub):
        loads.append(sub)
        cache.forget("someone")  # a change notified while this row was being read
        return {"sub": sub, "active": True}

    cache.get("cw", load)
    cache.get("cw", load)
    assert loads == ["cw", "cw"]


def test_a_verified_token_is_not_decoded_again_and_never_kept_past_its_expiry(monkeypatch):
    auth = local()
    token = issue_token(SECRET, role="la_caseworker", la_code="881", sub="cw-1", ttl=600)
    first = auth.authenticate(bearer(token))
    decodes = []
    original = Authenticator._decode
    monkeypatch.setattr(Authenticator, "_decode", staticmethod(
        lambda *a, **k: decodes.append(1) or original(*a, **k)))
    again = auth.authenticate(bearer(token))
    assert again == first and decodes == []  # from the verified tokens, no decode
    again["role"] = "ops"  # a caller's copy: the kept actor is unchanged
    assert auth.authenticate(bearer(token))["role"] == "la_caseworker"
    assert auth.subject_of(bearer(token)) == "cw-1"
    until, _ = auth._verified[token]
    assert until <= jwt.decode(token, options={"verify_signature": False})["exp"]
    # a token that fails is never kept
    forged = issue_token("not-the-secret-" * 3, role="la_manager", la_code="881", sub="cw-1")
    assert "not valid" in refused(auth, bearer(forged))
    assert "not valid" in refused(auth, bearer(forged))
    assert len(decodes) == 2

"""OpenID Connect authorization-code flow with PKCE for the pages (LA staff through the
configured issuer, e.g. Entra ID): the authorization URL, the code exchange and the ID
token's verification. The claims become an actor exactly as a bearer token's would."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
import urllib.request

import jwt

TIMEOUT = 10


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def discover(issuer: str) -> dict:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310
        return json.load(response)


def authorize_url(meta: dict, client_id: str, redirect_uri: str, state: str, nonce: str,
                  challenge: str) -> str:
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid profile", "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    return f"{meta['authorization_endpoint']}?{query}"


def exchange(meta: dict, client_id: str, client_secret: str, redirect_uri: str, code: str,
             verifier: str) -> dict:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": client_id, "code_verifier": verifier}
    if client_secret:
        form["client_secret"] = client_secret
    request = urllib.request.Request(meta["token_endpoint"],
                                     data=urllib.parse.urlencode(form).encode(),
                                     headers={"Content-Type":
                                              "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
        return json.load(response)


def verify_id_token(meta: dict, id_token: str, issuer: str, client_id: str, nonce: str,
                    algorithms: tuple[str, ...]) -> dict:
    """The ID token's claims: signature (issuer's JWKS), issuer, audience (our client),
    expiry and the nonce of this sign-in. jwt.PyJWTError when any is wrong."""
    key = jwt.PyJWKClient(meta["jwks_uri"], timeout=TIMEOUT).get_signing_key_from_jwt(id_token)
    claims = jwt.decode(id_token, key.key, algorithms=list(algorithms), audience=client_id,
                        issuer=issuer, leeway=30, options={"require": ["exp", "sub", "iss",
                                                                       "aud"]})
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise jwt.InvalidTokenError("nonce does not match")
    return claims

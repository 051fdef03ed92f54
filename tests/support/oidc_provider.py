"""A tiny OpenID Connect provider for the tests (authorization code + PKCE), in a thread:
discovery, JWKS, an authorize endpoint that signs in `user` at once, and a token endpoint
that checks the code verifier and signs an ID token with a key generated per run."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class OidcProvider:
    def __init__(self, client_id: str):
        self.client_id = client_id
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.user: dict = {}  # the claims of whoever signs in next
        self.codes: dict[str, dict] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OidcProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _jwks(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": "test-key", "use": "sig", "alg": "RS256"}]}

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _json(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    return self._json({
                        "issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/jwks",
                        "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": f"{provider.issuer}/token",
                        "code_challenge_methods_supported": ["S256"]})
                if url.path == "/jwks":
                    return self._json(provider._jwks())
                if url.path == "/authorize":
                    if q.get("client_id") != provider.client_id or \
                            q.get("code_challenge_method") != "S256":
                        return self._json({"error": "invalid_request"}, 400)
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = q
                    self.send_response(302)
                    self.send_header("Location", q["redirect_uri"] + "?" + urlencode(
                        {"code": code, "state": q["state"]}))
                    self.end_headers()
                    return None
                return self._json({"error": "not_found"}, 404)

            def do_POST(self):
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(
                    int(self.headers["Content-Length"])).decode()).items()}
                asked = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(
                    hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if asked is None or challenge != asked["code_challenge"] or \
                        form.get("redirect_uri") != asked["redirect_uri"]:
                    return self._json({"error": "invalid_grant"}, 400)
                now = int(time.time())
                id_token = jwt.encode({
                    "iss": provider.issuer, "aud": provider.client_id, "iat": now,
                    "exp": now + 300, "nonce": asked["nonce"], **provider.user},
                    provider.key, algorithm="RS256", headers={"kid": "test-key"})
                return self._json({"id_token": id_token, "token_type": "Bearer",
                                   "access_token": "unused"})

        return Handler

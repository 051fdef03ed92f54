"""Browser sessions of the pages and local sign-in (gateway schema, SQL here).

The cookie holds a random token; the table keeps only its SHA-256, the caller's claims (as
a bearer token would carry them), a CSRF token and when it was last used. A session idle
longer than SESSION_IDLE_SECONDS is deleted on its next use. Passwords are argon2id hashes
(argon2-cffi's defaults), set by `ehcp user password` or the demo seed."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

COOKIE = "ehcp_session"
PRE_COOKIE = "ehcp_csrf"  # the sign-in form's CSRF token, before there is a session
_HASHER = PasswordHasher()
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
# Verified against when the user does not exist, so both answers take as long.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass(frozen=True)
class PageSettings:
    idle_seconds: int = 1800
    oidc_client_id: str = ""  # OIDC_CLIENT_ID: LA staff sign in through the issuer
    oidc_client_secret: str = ""  # OIDC_CLIENT_SECRET (optional with PKCE)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PageSettings:
        return cls(idle_seconds=int(env.get("SESSION_IDLE_SECONDS", cls.idle_seconds)),
                   oidc_client_id=env.get("OIDC_CLIENT_ID", ""),
                   oidc_client_secret=env.get("OIDC_CLIENT_SECRET", ""))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def plausible_token(token: str) -> bool:
    return bool(_TOKEN.match(token))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def secure_cookie(host: str) -> bool:
    """Cookies are Secure (HTTPS only) everywhere but on this machine's own addresses."""
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return hostname not in LOCAL_HOSTS


def cookie(name: str, value: str, secure: bool, max_age: int | None = None) -> dict:
    return {"key": name, "value": value, "httponly": True, "samesite": "Lax",
            "secure": secure, "path": "/", "max_age": max_age}


def clear(name: str, secure: bool) -> dict:
    return {**cookie(name, "", secure), "max_age": 0, "expires": 0}


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password(conn, sub: str, password: str) -> dict | None:
    """The active user `sub` if the password is theirs, else None (same cost either way)."""
    user = conn.execute("SELECT sub, role, la_code, school_urn, active, password_hash "
                        "FROM users WHERE sub = %s", (sub,)).fetchone()
    stored = user["password_hash"] if user and user["password_hash"] else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user["password_hash"] or not user["active"]:
        return None
    return user


def set_password(conn, sub: str, password: str) -> bool:
    row = conn.execute("UPDATE users SET password_hash = %s, updated_at = now() WHERE sub = %s "
                       "RETURNING sub", (hash_password(password), sub)).fetchone()
    return row is not None


def start(conn, actor: Mapping, via: str) -> tuple[str, str]:
    """A new session for `actor`: (cookie token, CSRF token)."""
    token, csrf = new_token(), new_token()
    conn.execute(
        "INSERT INTO sessions (token_hash, sub, role, roles, la_code, school_urn, csrf_token, "
        "via) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (_digest(token), actor["sub"], actor["role"], list(actor["roles"]), actor.get("la_code"),
         actor.get("school_urn"), csrf, via))
    return token, csrf


def resume(conn, token: str, idle_seconds: int) -> dict | None:
    """The session of this cookie, touched; None if unknown, idle too long (deleted) or its
    user was disabled since."""
    if not plausible_token(token):
        return None
    row = conn.execute(
        "UPDATE sessions s SET last_seen = now() WHERE token_hash = %s "
        "AND last_seen > now() - make_interval(secs => %s) "
        "AND NOT EXISTS (SELECT 1 FROM users u WHERE u.sub = s.sub AND NOT u.active) "
        "RETURNING *", (_digest(token), idle_seconds)).fetchone()
    if row is None:
        conn.execute("DELETE FROM sessions WHERE token_hash = %s", (_digest(token),))
    return row


def end(conn, token: str) -> None:
    conn.execute("DELETE FROM sessions WHERE token_hash = %s", (_digest(token),))


def purge_idle(conn, idle_seconds: int) -> int:
    return conn.execute("DELETE FROM sessions WHERE last_seen < now() - make_interval(secs => %s)",
                        (idle_seconds,)).rowcount


def actor_of(session: Mapping) -> dict:
    return {"sub": session["sub"], "role": session["role"], "roles": list(session["roles"]),
            "la_code": session["la_code"], "school_urn": session["school_urn"]}

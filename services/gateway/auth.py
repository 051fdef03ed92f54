"""Bearer tokens (JWT). The deployment signs its own; every claim is checked on each request."""

from __future__ import annotations

import time
import uuid

import jwt

from shared.problems import Problem

ROLES = ("school", "la_caseworker", "la_manager", "region_admin", "ops")
ALGORITHM = "HS256"


def issue_token(secret: str, *, role: str, la_code: str | None = None,
                school_urn: str | None = None, sub: str | None = None, ttl: int = 8 * 3600,
                issuer: str = "ehcp-tracker", audience: str = "ehcp-tracker") -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "school" and not school_urn:
        raise ValueError("a school token needs a school URN")
    if role in ("la_caseworker", "la_manager") and not la_code:
        raise ValueError("an LA token needs an LA code")
    now = int(time.time())
    claims = {"sub": sub or f"{role}-{uuid.uuid4().hex[:8]}", "role": role, "iat": now,
              "exp": now + ttl, "iss": issuer, "aud": audience}
    if la_code:
        claims["la_code"] = la_code
    if school_urn:
        claims["school_urn"] = school_urn
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail)


def authenticate(header: str | None, secret: str, issuer: str = "ehcp-tracker",
                 audience: str = "ehcp-tracker") -> dict:
    """The caller (an actor dict) from an Authorization header, or a 401 Problem."""
    if not header or not header.startswith("Bearer "):
        raise unauthorized("A bearer token is required.")
    try:
        claims = jwt.decode(header[7:].strip(), secret, algorithms=[ALGORITHM],
                            audience=audience, issuer=issuer,
                            options={"require": ["exp", "sub", "iss", "aud"]})
    except jwt.ExpiredSignatureError:
        raise unauthorized("The token has expired.") from None
    except jwt.PyJWTError:
        raise unauthorized("The token is not valid.") from None
    if claims.get("role") not in ROLES:
        raise unauthorized("The token carries no known role.")
    return {"sub": claims["sub"], "role": claims["role"], "la_code": claims.get("la_code"),
            "school_urn": claims.get("school_urn")}

"""Bearer tokens (JWT): the deployment's own (HS256), an external OpenID Connect issuer's
(verified against its JWKS, e.g. Microsoft Entra ID), or both, by configuration.

Every token is checked in full on each request: signature, expiry, issuer, audience, a
lifetime (`exp - iat`) of at most MAX_TOKEN_SECONDS, and a known role with the tenancy
claim that role needs. A local token must also match its subject's row in the users table
(`reconcile`): role, LA and school come from there, so a user moved to another LA or role
cannot keep using an older token. Anything wrong is a 401 that names no detail an attacker
could use. Outside EHCP_MODE=demo the gateway refuses to start with a public secret.

Configuration (environment, read once at start-up):
  AUTH_MODE            local (default) | oidc | both (chosen per token by its `iss`)
  JWT_SECRET           the local signing secret (shared loader, shared/config.py)
  OIDC_ISSUER          e.g. https://login.microsoftonline.com/<tenant-id>/v2.0
  OIDC_AUDIENCE        the API's application id (Entra: api://<client-id> or the client id)
  OIDC_JWKS_URL        default: discovered from <OIDC_ISSUER>/.well-known/openid-configuration
  OIDC_ALGORITHMS      default RS256
  OIDC_ROLE_CLAIM      default roles  (Entra app roles; a list or a string)
  OIDC_LA_CLAIM        default la_code
  OIDC_SCHOOL_CLAIM    default school_urn
  OIDC_SUB_CLAIM       default oid if present in the token, else sub
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jwt

from shared.config import Config
from shared.problems import Problem

ROLES = ("school", "la_caseworker", "la_manager", "region_admin", "ops")
# The role that decides what cases a caller sees, when a token carries several: an LA
# role gives case contents, region_admin and ops never do.
ROLE_PRIORITY = ("la_manager", "la_caseworker", "school", "region_admin", "ops")
LA_ROLES = ("la_caseworker", "la_manager")
# What a region admin may issue tokens for through the API: roles that never read a case.
# Tokens of roles that see children's names come from the identity provider or from an
# operator's `ehcp token` (who holds the signing secret anyway).
GRANTABLE_BY_REGION_ADMIN = ("region_admin", "ops")
ALGORITHM = "HS256"
LEEWAY_SECONDS = 30  # clock skew tolerated between issuer and gateway
_LA_CODE = re.compile(r"^\d{3}$")
_URN = re.compile(r"^\d{6}$")


def issue_token(secret: str, *, role: str, la_code: str | None = None,
                school_urn: str | None = None, sub: str | None = None, ttl: int = 8 * 3600,
                issuer: str = "ehcp-tracker", audience: str = "ehcp-tracker",
                extra_roles: tuple[str, ...] | list[str] = ()) -> str:
    """A locally signed token. `extra_roles` adds roles (e.g. region_admin + la_manager)."""
    roles = list(dict.fromkeys([role, *extra_roles]))
    check_claims(roles, la_code, school_urn)
    now = int(time.time())
    claims = {"sub": sub or f"{role}-{uuid.uuid4().hex[:8]}", "role": role, "iat": now,
              "exp": now + ttl, "iss": issuer, "aud": audience}
    if len(roles) > 1:
        claims["roles"] = roles
    if la_code:
        claims["la_code"] = la_code
    if school_urn:
        claims["school_urn"] = school_urn
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def check_claims(roles: list[str], la_code: str | None, school_urn: str | None) -> None:
    """What a token of these roles must carry (ValueError otherwise)."""
    for r in roles:
        if r not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if "school" in roles and not school_urn:
        raise ValueError("a school token needs a school URN")
    if any(r in LA_ROLES for r in roles) and not la_code:
        raise ValueError("an LA token needs an LA code")


# Secrets published in this repository (the loader's default and docker-compose.yml's):
# anyone can sign tokens with them, so production refuses them, and anything short.
PUBLIC_SECRETS = (Config.jwt_secret, "change-me-in-production-0123456789abcdef")
MIN_SECRET_BYTES = 32


def check_secret(cfg: Config) -> None:
    """Refuse (ValueError) a public or short JWT_SECRET outside demo mode."""
    if cfg.demo:
        return
    if cfg.jwt_secret in PUBLIC_SECRETS or len(cfg.jwt_secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError("JWT_SECRET is the public default or shorter than 32 bytes: set a "
                         "secret of your own, or EHCP_MODE=demo for a local demo")


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail)


def idp_unavailable(reason: str) -> Problem:
    # Not a 401: the token may be fine; the keys to check it could not be fetched.
    return Problem(503, "Service unavailable", f"identity provider unavailable: {reason}")


@dataclass(frozen=True)
class AuthSettings:
    mode: str = "local"
    secret: str = Config.jwt_secret
    issuer: str = Config.jwt_issuer
    audience: str = Config.jwt_audience
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    oidc_algorithms: tuple[str, ...] = ("RS256",)
    role_claim: str = "roles"
    la_claim: str = "la_code"
    school_claim: str = "school_urn"
    sub_claim: str = ""
    max_token_seconds: int = Config.max_token_seconds

    @classmethod
    def from_env(cls, cfg: Config, env: Mapping[str, str] | None = None) -> AuthSettings:
        env = cfg.env if env is None else env  # the one loader's copy of the environment
        check_secret(cfg)
        mode = env.get("AUTH_MODE", "local").strip().lower()
        if mode not in ("local", "oidc", "both"):
            raise ValueError("AUTH_MODE must be local, oidc or both")
        settings = cls(
            mode=mode, secret=cfg.jwt_secret, issuer=cfg.jwt_issuer, audience=cfg.jwt_audience,
            oidc_issuer=env.get("OIDC_ISSUER", ""), oidc_audience=env.get("OIDC_AUDIENCE", ""),
            oidc_jwks_url=env.get("OIDC_JWKS_URL", ""),
            oidc_algorithms=tuple(a.strip() for a in env.get("OIDC_ALGORITHMS", "RS256")
                                  .split(",") if a.strip()),
            role_claim=env.get("OIDC_ROLE_CLAIM", "roles"),
            la_claim=env.get("OIDC_LA_CLAIM", "la_code"),
            school_claim=env.get("OIDC_SCHOOL_CLAIM", "school_urn"),
            sub_claim=env.get("OIDC_SUB_CLAIM", ""), max_token_seconds=cfg.max_token_seconds)
        if mode != "local" and not (settings.oidc_issuer and settings.oidc_audience):
            raise ValueError("AUTH_MODE=oidc needs OIDC_ISSUER and OIDC_AUDIENCE")
        return settings


def discover_jwks_url(issuer: str, timeout: float = 5.0) -> str:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https URL)
        return json.load(response)["jwks_uri"]


class Authenticator:
    """Turns an Authorization header into an actor: {sub, role, roles, la_code, school_urn}."""

    def __init__(self, settings: AuthSettings, user_cache_seconds: float = 0.0):
        self.settings = settings
        self._jwks: jwt.PyJWKClient | None = None
        self.failures = FailureLimiter()  # failed sign-ins, counted by the gateway
        self.users = UserCache(user_cache_seconds)  # users rows, for `reconcile`
        # token -> (until, actor): a token whose signature and claims were checked is not
        # decoded again for VERIFIED_SECONDS (the users row is still reconciled every time)
        self._verified: dict[str, tuple[float, dict]] = {}

    def _jwks_client(self) -> jwt.PyJWKClient:
        # Built on first use, not at start-up: the gateway starts (and answers /healthz)
        # even while the identity provider is unreachable.
        if self._jwks is None:
            s = self.settings
            try:
                url = s.oidc_jwks_url or discover_jwks_url(s.oidc_issuer)
            except Exception as exc:  # network trouble: the caller gets a 503
                raise idp_unavailable(type(exc).__name__) from None
            # Keys are cached; an unknown kid (key rotation) refetches the set, with a cooldown.
            self._jwks = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5)
        return self._jwks

    VERIFIED_SECONDS = 60.0
    MAX_VERIFIED = 50_000

    def subject_of(self, header: str | None) -> str | None:
        """The subject a header's token claims (one verified already: its checked `sub`)."""
        hit = self._verified_hit(header)
        return hit["sub"] if hit else claimed_subject(header)

    def _verified_hit(self, header: str | None) -> dict | None:
        if not header or not header.startswith("Bearer "):
            return None
        hit = self._verified.get(header[7:].strip())
        return hit[1] if hit is not None and hit[0] > time.time() else None

    def authenticate(self, header: str | None) -> dict:
        hit = self._verified_hit(header)
        if hit is not None:
            return dict(hit)
        if not header or not header.startswith("Bearer "):
            raise unauthorized("A bearer token is required.")
        token = header[7:].strip()
        actor = self._authenticate(token)
        if len(self._verified) >= self.MAX_VERIFIED:
            self._verified.clear()
        # never past the token's own expiry
        until = min(time.time() + self.VERIFIED_SECONDS, float(actor.pop("_exp")))
        self._verified[token] = (until, actor)
        return dict(actor)

    def _authenticate(self, token: str) -> dict:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise unauthorized("The token is not valid.") from None
        s = self.settings
        use_oidc = s.mode == "oidc" or (s.mode == "both" and unverified.get("iss") == s.oidc_issuer)
        claims = self._verify_oidc(token) if use_oidc else self._verify_local(token)
        actor = self._actor(claims, oidc=use_oidc)
        self._check_lifetime(claims)
        return {**actor, "_exp": claims["exp"]}

    def _check_lifetime(self, claims: dict) -> None:
        """A stolen token must not work for a century: exp - iat (or exp - now when the
        issuer sets no iat) is at most max_token_seconds."""
        issued = claims.get("iat", time.time())
        if not isinstance(issued, int | float) or not isinstance(claims["exp"], int | float):
            raise unauthorized("The token is not valid.")
        if claims["exp"] - issued > self.settings.max_token_seconds + LEEWAY_SECONDS:
            raise unauthorized("The token's lifetime is longer than this deployment allows.")

    def _verify_local(self, token: str) -> dict:
        s = self.settings
        return self._decode(token, s.secret, [ALGORITHM], s.audience, s.issuer)

    def _verify_oidc(self, token: str) -> dict:
        s = self.settings
        try:
            key = self._jwks_client().get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise idp_unavailable("JWKS unreachable") from None
        except jwt.PyJWTError:  # unknown kid, malformed header
            raise unauthorized("The token is not valid.") from None
        return self._decode(token, key, list(s.oidc_algorithms), s.oidc_audience, s.oidc_issuer)

    @staticmethod
    def _decode(token: str, key, algorithms: list[str], audience: str, issuer: str) -> dict:
        try:
            return jwt.decode(token, key, algorithms=algorithms, audience=audience,
                              issuer=issuer, leeway=LEEWAY_SECONDS,
                              options={"require": ["exp", "sub", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("The token has expired.") from None
        except jwt.PyJWTError:
            raise unauthorized("The token is not valid.") from None

    def _actor(self, claims: dict, oidc: bool) -> dict:
        s = self.settings
        if oidc:
            raw_roles = claims.get(s.role_claim)
            la_code, school_urn = claims.get(s.la_claim), claims.get(s.school_claim)
            sub = claims.get(s.sub_claim) if s.sub_claim else (claims.get("oid") or claims["sub"])
        else:
            raw_roles = claims.get("roles") or claims.get("role")
            la_code, school_urn, sub = claims.get("la_code"), claims.get("school_urn"), \
                claims["sub"]
        if isinstance(raw_roles, str):
            raw_roles = [raw_roles]
        roles = [r for r in ROLE_PRIORITY if r in (raw_roles or [])]
        if not roles:
            raise unauthorized("The token carries no known role.")
        if any(r in LA_ROLES for r in roles) and not (
                isinstance(la_code, str) and _LA_CODE.match(la_code)):
            raise unauthorized("An LA role needs a three-digit LA code in the token.")
        if "school" in roles and not (isinstance(school_urn, str) and _URN.match(school_urn)):
            raise unauthorized("A school role needs a six-digit URN in the token.")
        if not isinstance(sub, str) or not sub:
            raise unauthorized("The token names no subject.")
        return {"sub": sub, "role": roles[0], "roles": roles,
                "la_code": la_code if isinstance(la_code, str) else None,
                "school_urn": school_urn if isinstance(school_urn, str) else None,
                "local": not oidc}


def reconcile(actor: dict, user: dict | None) -> dict:
    """The actor as the users table says it is now. A local token whose subject is unknown,
    disabled, or whose roles, LA or school differ from its row (moved, promoted, demoted
    since the token was signed) is refused; an OIDC token is the identity provider's word,
    refused only when its subject is listed and disabled."""
    local = actor["local"]
    actor = {k: v for k, v in actor.items() if k != "local"}  # the services' Actor schema
    if user is not None and not user["active"]:
        raise unauthorized("This account is disabled.")
    if not local:
        return actor
    if user is None:
        raise unauthorized("The token's subject is not a user of this deployment.")
    roles = [r for r in ROLE_PRIORITY if r in {user["role"], *user["extra_roles"]}]
    if (set(roles) != set(actor["roles"]) or user["la_code"] != actor["la_code"]
            or user["school_urn"] != actor["school_urn"]):
        raise unauthorized("The account changed since this token was issued: ask for a new "
                           "token.")
    return {**actor, "role": roles[0], "roles": roles, "la_code": user["la_code"],
            "school_urn": user["school_urn"]}


class UserCache:
    """Users rows of active accounts, reused for at most `ttl` seconds so a read does not
    look its caller up on every request. Served from only while `listening`: the gateway
    listens for the users table's changes (migration 0004_user_changes.sql) and forgets a
    row the moment any instance, page or CLI command changes it; while that listener is
    down every request reads the table. Unknown and disabled subjects are never kept.
    Per process, like FailureLimiter."""

    MAX_USERS = 50_000  # beyond this, the cache starts afresh (a region has far fewer staff)

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self.listening = False
        self._rows: dict[str, tuple[float, dict]] = {}
        self._changes = 0  # bumped by every forget: a row loaded across one is not kept

    def get(self, sub: str, load: Callable[[str], dict | None]) -> dict | None:
        hit = self._rows.get(sub) if self.listening else None
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        changes = self._changes
        row = load(sub)
        if (row is not None and row["active"] and self.ttl > 0 and self.listening
                and changes == self._changes):
            if len(self._rows) >= self.MAX_USERS:
                self._rows.clear()
            self._rows[sub] = (self.clock() + self.ttl, row)
        else:
            self._rows.pop(sub, None)
        return row

    def forget(self, sub: str) -> None:
        self._changes += 1
        self._rows.pop(sub, None)

    def set_listening(self, listening: bool) -> None:
        """The listener (re)connected or lost its connection: either way, start afresh."""
        self._changes += 1
        self._rows.clear()
        self.listening = listening


class FailureLimiter:
    """Failed authentications per key (a client address, a claimed subject) in a sliding
    window: past `limit` failures in `window` seconds the key is refused (429) until the
    oldest failure leaves the window. Per process: each gateway instance counts its own."""

    MAX_KEYS = 50_000  # beyond this, keys with no recent failure are forgotten

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str, limit: int) -> int:
        """Seconds until `key` may try again (0: now)."""
        times = self._recent(key)
        if times is None or len(times) < limit:
            return 0
        return max(1, int(times[-limit] + self.window - self.clock()) + 1)

    def fail(self, key: str) -> None:
        if len(self._failures) >= self.MAX_KEYS:
            for k in [k for k in self._failures if not self._recent(k)]:
                del self._failures[k]
        self._failures.setdefault(key, deque()).append(self.clock())

    def _recent(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is not None:
            cutoff = self.clock() - self.window
            while times and times[0] <= cutoff:
                times.popleft()
        return times


def claimed_subject(header: str | None) -> str | None:
    """The `sub` a token claims, before any check: only to count failures per subject."""
    if not header or not header.startswith("Bearer "):
        return None
    try:
        sub = jwt.decode(header[7:].strip(), options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return sub[:200] if isinstance(sub, str) and sub else None

"""Gateway: the HTTP front door for schools and LAs (authentication, tenancy, errors)."""

from __future__ import annotations

import logging

import eventlet
import psycopg
from kombu import Connection
from nameko.extensions import DependencyProvider

from services.gateway import joins, openapi, region
from services.gateway.auth import (
    Authenticator,
    AuthSettings,
    reconcile,
)
from services.gateway.http import endpoint, json_response
from services.gateway.pages import PageSupport
from services.gateway.pages_auth import AuthPages
from services.gateway.pages_cases import CasePages
from services.gateway.pages_manage import ManagePages
from services.gateway.routes_alerts import AlertRoutes
from services.gateway.routes_deadlines import DeadlineRoutes
from services.gateway.routes_docs import DocRoutes
from services.gateway.routes_la import LaRoutes
from services.gateway.routes_notifications import NotificationRoutes
from services.gateway.routes_ops import OpsRoutes
from services.gateway.routes_referrals import ReferralRoutes
from services.gateway.routes_region import RegionRoutes
from services.gateway.routes_sen2 import Sen2Routes
from services.gateway.sessions import PageSettings
from services.gateway.wsgi import http
from shared import broker
from shared.config import load_config
from shared.problems import Problem
from shared.rpc import ServiceUnavailable, call, rpc_proxy
from shared.service import Settings, Storage

log = logging.getLogger(__name__)

# nameko builds RPC proxies when the class is defined, so the timeout (which is also each
# request's expiration in the broker) is read from the one loader at import.
RPC_TIMEOUT = load_config("gateway").rpc_timeout
DEADLINES_CHUNK = 500  # case ids per deadlines RPC: keeps each reply well under a megabyte


class Auth(DependencyProvider):
    """The token verifier and the failed-sign-in counter, built once per process."""

    def setup(self):
        cfg = self.container.config["EHCP"]
        self.authenticator = Authenticator(AuthSettings.from_env(cfg), cfg.user_cache_seconds)

    def start(self):
        if self.authenticator.users.ttl > 0:
            self.container.spawn_managed_thread(self._listen_for_user_changes,
                                                identifier="user-changes")

    def _listen_for_user_changes(self) -> None:
        """Forget a cached users row as soon as the table changes (NOTIFY from its trigger);
        reconnect after a failure, serving no cached row meanwhile."""
        cfg, users = self.container.config["EHCP"], self.authenticator.users
        while True:
            try:
                with psycopg.connect(cfg.database_url, autocommit=True,
                                     connect_timeout=3) as conn:
                    conn.execute("LISTEN gateway_users")
                    users.set_listening(True)
                    while True:
                        for note in conn.notifies(timeout=30):
                            users.forget(note.payload)
                        conn.execute("SELECT 1")  # thirty quiet seconds: is the link alive?
            except Exception as exc:  # database down or restarted: retried shortly
                log.warning("user change listener lost", extra={"error": repr(exc)})
            users.set_listening(False)
            eventlet.sleep(1)

    def get_dependency(self, worker_ctx) -> Authenticator:
        return self.authenticator


class GatewayService(ReferralRoutes, DeadlineRoutes, AlertRoutes, RegionRoutes, DocRoutes,
                     NotificationRoutes, LaRoutes, Sen2Routes, OpsRoutes, PageSupport,
                     AuthPages, CasePages, ManagePages):
    """Dependencies and helpers here; each group of routes lives in its own routes_*.py
    mixin, each group of pages in a pages_*.py one (nameko collects entrypoints from base
    classes too)."""

    name = "gateway"

    db = Storage(relay=False)
    settings = Settings()
    auth = Auth()
    referrals = rpc_proxy("referrals", RPC_TIMEOUT)
    deadlines = rpc_proxy("deadlines", RPC_TIMEOUT)
    notifications = rpc_proxy("notifications", RPC_TIMEOUT)

    # helpers ---------------------------------------------------------------
    @property
    def _page_settings(self) -> PageSettings:
        return PageSettings.from_env(self.settings.env)

    def _actor(self, request, roles: tuple[str, ...] = openapi.ALL_ROLES,
               hide: bool = False) -> dict:
        """The verified caller. A caller with none of `roles` gets 403, or 404 when `hide`
        (a case route: even its existence is not for them). Which cases a caller sees is
        decided by its primary role (`role`), never by the others it holds."""
        header = request.headers.get("Authorization")
        actor = self._authenticated(header, request.remote_addr or "-")
        request.environ["ehcp.subject"] = actor["sub"]  # for the access log
        if not set(actor["roles"]) & set(roles):
            if hide:
                raise Problem(404, "Not found", "No such case.")
            raise Problem(403, "Forbidden", "Your role may not do this.")
        actor["source"] = request.remote_addr
        return actor

    def _authenticated(self, header: str | None, address: str) -> dict:
        """Token checks, then the users table (`reconcile`). Failures are counted per client
        address and per claimed subject; past the limit, 429 before any check is made."""
        cfg, failures = self.settings, self.auth.failures
        keys = [(f"ip:{address}", cfg.auth_failures_per_ip)]
        subject = self.auth.subject_of(header)
        if subject:
            keys.append((f"sub:{subject}", cfg.auth_failures_per_subject))
        wait = max(failures.retry_after(key, limit) for key, limit in keys)
        if wait:
            raise Problem(429, "Too many failed sign-ins",
                          f"Too many failed attempts; try again in {wait} s.",
                          extra={"retry_after": wait})
        try:
            actor = self.auth.authenticate(header)
            return reconcile(actor, self._account(actor["sub"]))
        except Problem as problem:
            if problem.status == 401:
                for key, _ in keys:
                    failures.fail(key)
                log.info("authentication refused", extra={"status": 401, "error": problem.detail})
            raise

    def _account(self, sub: str) -> dict | None:
        """The subject's users row, reused for up to USER_CACHE_SECONDS while it is active
        and unchanged (auth.UserCache: any change to the row, from any instance, page or
        CLI command, is seen at the next request)."""
        return self.auth.users.get(sub, self._load_account)

    def _load_account(self, sub: str) -> dict | None:
        try:
            with self.db.read() as conn:
                return region.get_user(conn, sub)
        except Exception as exc:  # the database is down or the pool exhausted: 503
            raise ServiceUnavailable("database", type(exc).__name__) from None

    def _deadlines_of(self, case_ids: list[str]) -> dict[str, list[dict]]:
        """Milestones per case, from the deadlines service (never from its tables)."""
        out: dict[str, list[dict]] = {}
        for chunk in joins.chunks(case_ids, DEADLINES_CHUNK):
            out.update(self._call("deadlines", "deadlines_of_cases", chunk))
        return out

    def _call(self, target: str, method: str, *args, **kwargs):
        proxy = getattr(self, target)
        return call("gateway", proxy, target, method, *args,
                    timeout=RPC_TIMEOUT, **kwargs)

    # health ----------------------------------------------------------------
    @http("GET", "/healthz")
    @endpoint("/healthz")
    def healthz(self, request):
        return json_response({"status": "ok"})

    @http("GET", "/readyz")
    @endpoint("/readyz")
    def readyz(self, request):
        checks = {}
        try:
            with self.db.read() as conn:
                conn.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"down: {type(exc).__name__}"
        try:
            with Connection(self.settings.amqp_uri, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"down: {type(exc).__name__}"
        # The consumer that receives RPC replies: while it reconnects, every call would 503.
        checks["rpc_replies"] = ("ok" if broker.connected(
            self.referrals.reply_listener.queue_consumer) else "down: reconnecting")
        ok = all(v == "ok" for v in checks.values())
        # The services behind the gateway: reported, but the gateway itself stays ready
        # (it answers 503 problem+json for what needs a service that is down).
        services = {target: self._ping(target) for target in ("referrals", "deadlines",
                                                               "notifications")}
        if not ok:
            raise Problem(503, "Not ready", "A backing service is unreachable.",
                          extra={"checks": checks, "services": services})
        return json_response({"status": "ready", "checks": checks, "services": services})

    def _ping(self, target: str) -> str:
        try:
            call("gateway", getattr(self, target), target, "ping", timeout=1.0)
            return "ok"
        except Exception as exc:
            return f"down: {type(exc).__name__}"

    # anything else -----------------------------------------------------------
    @http("GET,POST,PUT,PATCH,DELETE", "/<path:path>")
    @endpoint("unmatched")
    def unmatched(self, request, path):
        """Unknown paths and methods answer problem+json too (werkzeug's default is HTML).
        Werkzeug tries this rule last: every other rule is more specific."""
        allowed = openapi.methods_of("/" + path)
        if allowed:
            raise Problem(405, "Method not allowed",
                          f"Use {', '.join(sorted(allowed))} on this path.")
        raise Problem(404, "Not found", "No such endpoint.")

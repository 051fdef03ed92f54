"""Gateway: the HTTP front door for schools and LAs (authentication, tenancy, errors)."""

from __future__ import annotations

from kombu import Connection
from nameko.web.handlers import http

from services.gateway.auth import authenticate
from services.gateway.http import endpoint, json_response
from services.gateway.routes_alerts import AlertRoutes
from services.gateway.routes_notifications import NotificationRoutes
from services.gateway.routes_referrals import ReferralRoutes
from shared.problems import Problem
from shared.rpc import call, rpc_proxy
from shared.service import Settings, Storage

RPC_TIMEOUT = 5.0  # seconds; also the request's expiration in the broker


class GatewayService(ReferralRoutes, AlertRoutes, NotificationRoutes):
    """Dependencies and helpers here; each group of routes lives in its own routes_*.py
    mixin (nameko collects entrypoints from base classes too)."""

    name = "gateway"

    db = Storage(relay=False)
    settings = Settings()
    referrals = rpc_proxy("referrals", RPC_TIMEOUT)
    deadlines = rpc_proxy("deadlines", RPC_TIMEOUT)
    notifications = rpc_proxy("notifications", RPC_TIMEOUT)

    # helpers ---------------------------------------------------------------
    def _actor(self, request) -> dict:
        cfg = self.settings
        actor = authenticate(request.headers.get("Authorization"), cfg.jwt_secret,
                             cfg.jwt_issuer, cfg.jwt_audience)
        actor["source"] = request.remote_addr
        return actor

    def _call(self, target: str, method: str, *args, **kwargs):
        proxy = getattr(self, target)
        return call("gateway", proxy, target, method, *args,
                    timeout=self.settings.rpc_timeout, **kwargs)

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
        ok = all(v == "ok" for v in checks.values())
        if not ok:
            raise Problem(503, "Not ready", "A backing service is unreachable.",
                          extra={"checks": checks})
        return json_response({"status": "ready", "checks": checks})

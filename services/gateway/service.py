"""Gateway: the HTTP front door for schools and LAs (authentication, tenancy, errors)."""

from __future__ import annotations

from kombu import Connection
from nameko.web.handlers import http

from services.gateway.auth import authenticate
from services.gateway.http import endpoint, json_response, read_json
from shared.problems import Problem
from shared.rpc import call, rpc_proxy
from shared.service import Settings, Storage

RPC_TIMEOUT = 5.0  # seconds; also the request's expiration in the broker


class GatewayService:
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

    # referrals -------------------------------------------------------------
    @http("POST", "/v1/referrals")
    @endpoint("/v1/referrals")
    def submit_referral(self, request):
        actor = self._actor(request)
        body = read_json(request)
        referral = self._call("referrals", "submit_request", actor, body,
                              request.headers.get("Idempotency-Key"))
        return json_response(referral, 201, {"Location": f"/v1/referrals/{referral['id']}"})

    @http("GET", "/v1/referrals/<string:case_id>")
    @endpoint("/v1/referrals/{id}")
    def get_referral(self, request, case_id):
        actor = self._actor(request)
        return json_response(self._call("referrals", "get_referral", actor, case_id))

    @http("GET", "/v1/referrals/<string:case_id>/deadlines")
    @endpoint("/v1/referrals/{id}/deadlines")
    def referral_deadlines(self, request, case_id):
        actor = self._actor(request)
        referral = self._call("referrals", "get_referral", actor, case_id)  # tenancy + audit
        by_case = self._call("deadlines", "deadlines_of_cases", [referral["id"]])
        return json_response({"case_id": referral["id"], "reference": referral["reference"],
                              "deadlines": by_case.get(referral["id"], [])})

    # alerts ----------------------------------------------------------------
    @http("GET", "/v1/alerts")
    @endpoint("/v1/alerts")
    def list_alerts(self, request):
        actor = self._actor(request)
        unread = request.args.get("unread", "false").lower() in ("1", "true", "yes")
        alerts = self._call("notifications", "list_alerts", actor, unread)
        return json_response({"alerts": alerts})

    @http("POST", "/v1/alerts/<string:alert_id>/read")
    @endpoint("/v1/alerts/{id}/read")
    def read_alert(self, request, alert_id):
        actor = self._actor(request)
        return json_response(self._call("notifications", "mark_read", actor, alert_id))

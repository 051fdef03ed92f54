"""Routes of alerts: the caller's in-app inbox."""

from __future__ import annotations

from nameko.web.handlers import http

from services.gateway.http import endpoint, json_response


class AlertRoutes:
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

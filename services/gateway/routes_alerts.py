"""Routes of alerts: the caller's in-app inbox."""

from __future__ import annotations

import uuid

from services.gateway import schemas
from services.gateway.http import endpoint, json_response, load_query
from services.gateway.openapi import CASE_ROLES
from services.gateway.wsgi import http
from shared.problems import not_found


class AlertRoutes:
    @http("GET", "/v1/alerts")
    @endpoint("/v1/alerts")
    def list_alerts(self, request):
        actor = self._actor(request, CASE_ROLES)
        q = load_query(schemas.AlertQuery, request.args)
        alerts = self._call("notifications", "list_alerts", actor, q["unread"])
        return json_response({"alerts": alerts})

    @http("POST", "/v1/alerts/<string:alert_id>/read")
    @endpoint("/v1/alerts/{id}/read")
    def read_alert(self, request, alert_id):
        actor = self._actor(request, CASE_ROLES)
        try:
            alert_id = str(uuid.UUID(alert_id))
        except ValueError:
            raise not_found("alert") from None
        return json_response(self._call("notifications", "mark_read", actor, alert_id))

"""Routes of the notifications service: the recipient directory (LA managers and region
admins), delivery dead letters, and the calendar feed (whose secret is its credential)."""

from __future__ import annotations

from werkzeug.wrappers import Response

from services.gateway.http import endpoint, json_response, read_json
from services.gateway.wsgi import http

MANAGERS = ("la_manager", "region_admin")  # the service checks the LA as well


class NotificationRoutes:
    @http("GET", "/v1/recipients")
    @endpoint("/v1/recipients")
    def list_recipients(self, request):
        actor = self._actor(request, MANAGERS)
        filters = {k: request.args[k] for k in ("la_code", "kind", "school_urn")
                   if request.args.get(k)}
        return json_response({"recipients": self._call("notifications", "list_recipients",
                                                       actor, filters)})

    @http("POST", "/v1/recipients")
    @endpoint("/v1/recipients")
    def create_recipient(self, request):
        actor = self._actor(request, MANAGERS)
        created = self._call("notifications", "create_recipient", actor, read_json(request))
        return json_response(created, 201, {"Location": f"/v1/recipients/{created['id']}"})

    @http("GET", "/v1/recipients/<string:recipient_id>")
    @endpoint("/v1/recipients/{id}")
    def get_recipient(self, request, recipient_id):
        actor = self._actor(request, MANAGERS)
        return json_response(self._call("notifications", "get_recipient", actor, recipient_id))

    @http("PATCH", "/v1/recipients/<string:recipient_id>")
    @endpoint("/v1/recipients/{id}")
    def update_recipient(self, request, recipient_id):
        actor = self._actor(request, MANAGERS)
        return json_response(self._call("notifications", "update_recipient", actor,
                                        recipient_id, read_json(request)))

    @http("DELETE", "/v1/recipients/<string:recipient_id>")
    @endpoint("/v1/recipients/{id}")
    def delete_recipient(self, request, recipient_id):
        actor = self._actor(request, MANAGERS)
        self._call("notifications", "delete_recipient", actor, recipient_id)
        return Response(status=204)

    @http("POST", "/v1/recipients/<string:recipient_id>/calendar-secret")
    @endpoint("/v1/recipients/{id}/calendar-secret")
    def rotate_calendar_secret(self, request, recipient_id):
        actor = self._actor(request, MANAGERS)
        return json_response(self._call("notifications", "rotate_calendar_secret", actor,
                                        recipient_id), 201)

    @http("DELETE", "/v1/recipients/<string:recipient_id>/calendar-secret")
    @endpoint("/v1/recipients/{id}/calendar-secret")
    def revoke_calendar_secret(self, request, recipient_id):
        actor = self._actor(request, MANAGERS)
        self._call("notifications", "revoke_calendar_secret", actor, recipient_id)
        return Response(status=204)

    @http("POST", "/v1/recipients/<string:recipient_id>/webhook-secret")
    @endpoint("/v1/recipients/{id}/webhook-secret")
    def rotate_webhook_secret(self, request, recipient_id):
        actor = self._actor(request, MANAGERS)
        return json_response(self._call("notifications", "rotate_webhook_secret", actor,
                                        recipient_id), 201)

    @http("GET", "/v1/deliveries")
    @endpoint("/v1/deliveries")
    def list_deliveries(self, request):
        actor = self._actor(request, MANAGERS)
        return json_response({"deliveries": self._call(
            "notifications", "list_deliveries", actor, request.args.get("status") or None)})

    @http("POST", "/v1/deliveries/<string:delivery_id>/retry")
    @endpoint("/v1/deliveries/{id}/retry")
    def retry_delivery(self, request, delivery_id):
        actor = self._actor(request, MANAGERS)
        return json_response(self._call("notifications", "retry_delivery", actor, delivery_id))

    @http("GET", "/v1/calendar/<string:secret>.ics")
    @endpoint("/v1/calendar/{secret}.ics")
    def calendar(self, request, secret):
        # No bearer token: calendar apps cannot send one. The secret is the credential,
        # never logged (metrics use the route template) and revocable by its manager.
        ics = self._call("notifications", "calendar_feed", secret)
        return Response(ics, status=200, mimetype="text/calendar",
                        headers={"Cache-Control": "private, max-age=300"})

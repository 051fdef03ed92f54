"""Routes of operations: the dead-letter queues (listed, replayed, purged), each action
audited in `dead_letter_actions` (who, when, what). Dead letters hold events, which carry
no personal data; region admins and ops may handle them."""

from __future__ import annotations

from marshmallow import ValidationError

from services.gateway import openapi, schemas
from services.gateway.http import endpoint, json_response, read_json
from services.gateway.wsgi import http
from shared import dead_letters
from shared.problems import Problem, ServiceUnavailable, not_found, validation_problem


class OpsRoutes:
    def _dead_letter_audit(self, actor: dict, action: str, consumer: str | None, fn, *args):
        """Record who asked for what before touching the queues (so even an action whose
        outcome could not be recorded is in the log), run it, then record its outcome."""
        with self.db.unit_of_work() as uow:
            audit_id = uow.execute(
                "INSERT INTO dead_letter_actions (actor, roles, source, action, consumer, count)"
                " VALUES (%s, %s, %s, %s, %s, NULL) RETURNING id",
                (actor["sub"], list(actor["roles"]), actor.get("source"), action, consumer),
            ).fetchone()["id"]
        try:
            result = fn(self.settings.amqp_uri, *args)
        except (Problem, ServiceUnavailable):
            raise
        except Exception as exc:  # the broker is down: 503, like any backing service
            raise ServiceUnavailable("broker", type(exc).__name__) from None
        if action == "list":
            count, event_ids = sum(q["count"] for q in result), []
        else:
            count, event_ids = len(result), [str(m["event_id"]) for m in result]
        with self.db.unit_of_work() as uow:
            uow.execute("UPDATE dead_letter_actions SET count = %s, event_ids = %s WHERE id = %s",
                        (count, event_ids, audit_id))
        return result

    @http("GET", "/v1/dead-letters")
    @endpoint("/v1/dead-letters")
    def list_dead_letters(self, request):
        actor = self._actor(request, openapi.DLQ_ADMINS)
        queues = self._dead_letter_audit(actor, "list", None, dead_letters.summary)
        return json_response({"queues": queues, "total": sum(q["count"] for q in queues)})

    @http("POST", "/v1/dead-letters/<string:consumer>/replay")
    @endpoint("/v1/dead-letters/{consumer}/replay")
    def replay_dead_letters(self, request, consumer):
        return self._settle_dead_letters(request, consumer, "replay", dead_letters.replay)

    @http("POST", "/v1/dead-letters/<string:consumer>/purge")
    @endpoint("/v1/dead-letters/{consumer}/purge")
    def purge_dead_letters(self, request, consumer):
        return self._settle_dead_letters(request, consumer, "purge", dead_letters.purge)

    @http("GET", "/v1/dead-letters/actions")
    @endpoint("/v1/dead-letters/actions")
    def dead_letter_actions(self, request):
        self._actor(request, openapi.DLQ_ADMINS)
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT at, actor, roles, source, action, consumer, count, event_ids "
                "FROM dead_letter_actions ORDER BY at DESC, id DESC LIMIT 200").fetchall()
        return json_response({"items": rows})

    def _settle_dead_letters(self, request, consumer: str, action: str, settle):
        actor = self._actor(request, openapi.DLQ_ADMINS)
        if consumer not in dead_letters.consumers():
            raise not_found("dead-letter queue")
        body = read_json(request) if request.get_data() else {}
        try:
            selection = schemas.DeadLetterSelection().load(body or {})
        except ValidationError as exc:
            raise validation_problem(exc.messages) from None
        ids = selection.get("event_ids")
        done = self._dead_letter_audit(actor, action, consumer, settle, consumer,
                                       {str(i) for i in ids} if ids else None)
        return json_response({"consumer": consumer, "action": action, "count": len(done),
                              "messages": done})

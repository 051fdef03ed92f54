"""Notifications service: turns deadline events into alerts for schools and LAs."""

from __future__ import annotations

from nameko.rpc import rpc

from services.notifications import inbox, store
from shared.consumer import event_consumer, handle_once
from shared.problems import not_found
from shared.service import Settings, Storage

CONSUMER = "notifications"


def recipients_for(actor: dict) -> list[str]:
    """Whose inbox the caller reads: a school its own, LA staff their LA's."""
    if actor.get("role") == "school" and actor.get("school_urn"):
        return [f"school:{actor['school_urn']}"]
    if actor.get("role") in ("la_caseworker", "la_manager") and actor.get("la_code"):
        return [f"la:{actor['la_code']}"]
    return []


def as_json(row: dict) -> dict:
    return {**row, "id": str(row["id"]), "case_id": str(row["case_id"]),
            "due_on": row["due_on"].isoformat(), "created_at": row["created_at"].isoformat(),
            "read_at": row["read_at"].isoformat() if row["read_at"] else None,
            "read": row["read_at"] is not None}


class NotificationsService:
    name = "notifications"

    db = Storage()
    settings = Settings()

    @event_consumer(CONSUMER)
    def handle_event(self, event: dict) -> None:
        handle_once(self.db, CONSUMER, event,
                    lambda uow, e: inbox.on_deadline_event(uow, e, self.settings.public_url))

    @rpc
    def list_alerts(self, actor: dict, unread_only: bool = False, limit: int = 100) -> list[dict]:
        with self.db.read() as conn:
            rows = store.list_alerts(conn, recipients_for(actor), unread_only, min(limit, 500))
        return [as_json(r) for r in rows]

    @rpc
    def mark_read(self, actor: dict, alert_id: str) -> dict:
        with self.db.unit_of_work() as uow:
            if not store.mark_read(uow.conn, recipients_for(actor), alert_id):
                raise not_found("alert")
        return {"id": alert_id, "read": True}

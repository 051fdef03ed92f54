"""Notifications service: turns deadline events into alerts for schools and LAs, in their
inbox and queued for email, webhook and the daily digest (sent by the process of
services/notifications/senders.py), and serves the inbox, the calendar feed and the
recipient directory."""

from __future__ import annotations

import logging
import uuid

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from services.notifications import calendar_feed, digest, directory, inbox, store
from services.notifications.config import NotifyConfig, notify_config
from services.notifications.urlpolicy import UrlRefused, check_url
from services.notifications.webhooks import new_secret
from shared.config import now, today
from shared.consumer import event_consumer, handle_batch
from shared.events import is_uuid, json_values
from shared.problems import Problem, not_found
from shared.service import Settings, Storage, ping

log = logging.getLogger(__name__)

CONSUMER = "notifications"


class Notify(DependencyProvider):
    """The service's own settings (SMTP, retries, digest) from the shared Config."""

    def setup(self):
        self.notify = notify_config(self.container.config["EHCP"])

    def get_dependency(self, worker_ctx) -> NotifyConfig:
        return self.notify


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

    db = Storage(relay=False)  # it emits no events: no relay polling an empty outbox
    settings = Settings()
    notify = Notify()

    # events ------------------------------------------------------------------
    @event_consumer(CONSUMER)
    def handle_events(self, events: list[dict]) -> None:
        handle_batch(self.db, CONSUMER, events, lambda uow, batch: inbox.on_deadline_events(
            uow, batch, self.settings.public_url))

    # in-app inbox ------------------------------------------------------------
    @rpc
    def list_alerts(self, actor: dict, unread_only: bool = False, limit: int = 100) -> list[dict]:
        with self.db.read() as conn:
            rows = store.list_alerts(conn, recipients_for(actor), unread_only, min(limit, 500))
        return [as_json(r) for r in rows]

    @rpc
    def mark_read(self, actor: dict, alert_id: str) -> dict:
        if not is_uuid(alert_id):
            raise not_found("alert")
        with self.db.unit_of_work() as uow:
            if not store.mark_read(uow.conn, recipients_for(actor), alert_id):
                raise not_found("alert")
        return {"id": alert_id, "read": True}

    # calendar feed -------------------------------------------------------------
    @rpc
    def calendar_feed(self, secret: str) -> str:
        """The .ics text for a feed secret (the secret is the credential)."""
        with self.db.read() as conn:
            recipient = store.recipient_by_calendar_hash(conn, directory.secret_hash(secret))
            if recipient is None:
                raise not_found("calendar feed")
            ics = digest.feed(conn, recipient, today(self.settings), self.settings.public_url,
                              now(self.settings))
        return ics.decode()

    # recipient directory -------------------------------------------------------
    def _managed(self, conn, actor: dict, recipient_id: str, for_update: bool = False) -> dict:
        directory.require_manager(actor)
        row = store.get_recipient(conn, recipient_id, for_update) if is_uuid(recipient_id) \
            else None
        if row is None or not directory.may_manage(actor, row["la_code"]):
            raise not_found("recipient")  # another LA's entry: do not reveal it exists
        return row

    def _check_webhook_url(self, data: dict) -> None:
        """The URL policy when an address is saved (and again at each send: delivery.py)."""
        if data.get("webhook_url"):
            try:
                check_url(data["webhook_url"], self.notify.webhook_policy)
            except UrlRefused as exc:
                raise Problem(422, "Validation failed", f"webhook_url: {exc}",
                              [{"field": "webhook_url", "message": str(exc)}]) from None

    @rpc
    def create_recipient(self, actor: dict, body: dict) -> dict:
        directory.require_manager(actor)
        data = directory.load_body(body)
        self._check_webhook_url(data)
        if not directory.may_manage(actor, data["la_code"]):
            raise Problem(403, "Forbidden", "You manage recipients of your own LA only.")
        secret = new_secret() if data["webhook_url"] else None
        with self.db.unit_of_work() as uow:
            row = store.insert_recipient(uow.conn, uuid.uuid4(), data, secret)
        out = directory.as_json(row)
        if secret:
            out["webhook_secret"] = secret  # shown once; rotate to get a new one
        return out

    @rpc
    def list_recipients(self, actor: dict, filters: dict | None = None) -> list[dict]:
        directory.require_manager(actor)
        filters = filters or {}
        la_code = directory.scope_la(actor) or filters.get("la_code")
        with self.db.read() as conn:
            rows = store.list_recipients(conn, la_code, filters.get("kind"),
                                         filters.get("school_urn"))
        return [directory.as_json(r) for r in rows]

    @rpc
    def get_recipient(self, actor: dict, recipient_id: str) -> dict:
        with self.db.read() as conn:
            return directory.as_json(self._managed(conn, actor, recipient_id))

    @rpc
    def update_recipient(self, actor: dict, recipient_id: str, body: dict) -> dict:
        changes = directory.load_body(body, partial=True)
        self._check_webhook_url(changes)
        with self.db.unit_of_work() as uow:
            row = self._managed(uow.conn, actor, recipient_id, for_update=True)
            merged = {**row, **changes}
            directory.check_merged(merged)
            if not directory.may_manage(actor, merged["la_code"]):
                raise Problem(403, "Forbidden", "You manage recipients of your own LA only.")
            secret = None
            if merged["webhook_url"] and not row["webhook_secret"]:
                secret = changes["webhook_secret"] = new_secret()
            row = store.update_recipient(uow.conn, recipient_id, changes) if changes else row
        out = directory.as_json(row)
        if secret:
            out["webhook_secret"] = secret
        return out

    @rpc
    def delete_recipient(self, actor: dict, recipient_id: str) -> None:
        with self.db.unit_of_work() as uow:
            self._managed(uow.conn, actor, recipient_id, for_update=True)
            store.delete_recipient(uow.conn, recipient_id)

    @rpc
    def rotate_calendar_secret(self, actor: dict, recipient_id: str) -> dict:
        """A new feed secret; the old feed URL stops working at once."""
        secret = calendar_feed.new_feed_secret()
        with self.db.unit_of_work() as uow:
            self._managed(uow.conn, actor, recipient_id, for_update=True)
            store.update_recipient(uow.conn, recipient_id,
                                   {"calendar_secret_hash": directory.secret_hash(secret)})
        url = f"{self.settings.public_url.rstrip('/')}/v1/calendar/{secret}.ics"
        return {"calendar_secret": secret, "calendar_url": url}

    @rpc
    def school_calendar(self, actor: dict, rotate: bool = False) -> dict:
        """A SENCo's own calendar feed: their school's recipient entry (set up by the LA).
        `rotate` gives a new feed URL (shown once; the old one stops working)."""
        if actor.get("role") != "school" or not actor.get("school_urn"):
            raise not_found("calendar feed")
        with self.db.unit_of_work() as uow:
            rows = store.list_recipients(uow.conn, None, "school", actor["school_urn"])
            if not rows:
                raise not_found("alert recipient for your school")
            row = rows[0]
            answer = {"name": row["name"], "has_calendar_feed": bool(row["calendar_secret_hash"])}
            if rotate:
                secret = calendar_feed.new_feed_secret()
                store.update_recipient(uow.conn, str(row["id"]),
                                       {"calendar_secret_hash": directory.secret_hash(secret)})
                answer.update(has_calendar_feed=True, calendar_url=(
                    f"{self.settings.public_url.rstrip('/')}/v1/calendar/{secret}.ics"))
        return answer

    @rpc
    def revoke_calendar_secret(self, actor: dict, recipient_id: str) -> None:
        with self.db.unit_of_work() as uow:
            self._managed(uow.conn, actor, recipient_id, for_update=True)
            store.update_recipient(uow.conn, recipient_id, {"calendar_secret_hash": None})

    @rpc
    def rotate_webhook_secret(self, actor: dict, recipient_id: str) -> dict:
        secret = new_secret()
        with self.db.unit_of_work() as uow:
            self._managed(uow.conn, actor, recipient_id, for_update=True)
            store.update_recipient(uow.conn, recipient_id, {"webhook_secret": secret})
        return {"webhook_secret": secret}

    # dead letters ------------------------------------------------------------
    @rpc
    def ping(self) -> str:
        return ping(self.db)

    @rpc
    def list_deliveries(self, actor: dict, status: str | None = None,
                        limit: int = 100) -> list[dict]:
        directory.require_manager(actor)
        with self.db.read() as conn:
            rows = store.list_deliveries(conn, directory.scope_la(actor), status,
                                         min(int(limit), 500))
        return [json_values(r) for r in rows]

    @rpc
    def retry_delivery(self, actor: dict, delivery_id: str) -> dict:
        """Send a failed (dead-lettered) delivery again, e.g. after fixing an address."""
        directory.require_manager(actor)
        with self.db.unit_of_work() as uow:
            if not is_uuid(delivery_id) or not store.requeue_delivery(
                    uow.conn, delivery_id, directory.scope_la(actor)):
                raise not_found("failed delivery")
        return {"id": delivery_id, "status": "pending"}

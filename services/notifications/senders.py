"""Notification senders: email, webhooks and the daily digest, sent from the notifications
schema's `deliveries` table by a process of its own, so that building and sending never
takes CPU (or a green thread stuck on a hanging server) from the inbox consumer
(docs/decisions.md). `python -m services.notifications.senders` runs it."""

from __future__ import annotations

if __name__ == "__main__":  # green threads before anything imports sockets or psycopg
    from shared.green import patch

    patch()

from pathlib import Path  # noqa: E402

from services.notifications import delivery, digest  # noqa: E402
from services.notifications.config import notify_config  # noqa: E402
from services.notifications.service import Notify  # noqa: E402
from shared.config import now  # noqa: E402
from shared.service import Settings, Storage, config_timer, run  # noqa: E402


class NotificationSenders:
    name = "notification_senders"
    schema = "notifications"  # the notifications service's tables; this process owns none
    # On a shared machine, building and sending mail yields the CPU to the inbox consumer
    # (a burst of 5,000 alerts: the senders took a tenth of the machine's CPU).
    nice = 10

    db = Storage(relay=False)  # it emits no events
    settings = Settings()
    notify = Notify()

    # delivery workers: one per channel, so a hanging SMTP server never delays webhooks --
    @config_timer(seconds=lambda cfg: notify_config(cfg).poll_seconds)
    def deliver_email(self) -> None:
        if self.notify.email is not None:  # no SMTP configured: emails wait, never dropped
            delivery.run_for_a_while(self.db, "email", self.notify)

    @config_timer(seconds=lambda cfg: notify_config(cfg).poll_seconds)
    def deliver_webhooks(self) -> None:
        delivery.run_for_a_while(self.db, "webhook", self.notify)
        delivery.update_backlog(self.db)

    @config_timer(seconds=lambda cfg: notify_config(cfg).digest_poll_seconds)
    def send_digests(self) -> None:
        digest.run_digests(self.db, self.notify, now(self.settings), self.settings.public_url)


if __name__ == "__main__":
    # the notifications migrations too (idempotent, under an advisory lock): either
    # process may start first
    run(NotificationSenders, Path(__file__).parent / "migrations")

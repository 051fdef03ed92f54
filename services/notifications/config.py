"""The notifications service's own settings (SMTP, retries, digest): its section of the
environment as read by the one loader (shared/config.py, `Config.env`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import time

from services.notifications.email import EmailSettings
from services.notifications.urlpolicy import WebhookPolicy
from shared.config import Config


@dataclass(frozen=True)
class NotifyConfig:
    email: EmailSettings | None  # None: SMTP not configured, emails wait (never dropped)
    webhook_timeout: float = 10.0
    poll_seconds: float = 1.0  # how often the delivery workers look for due deliveries
    batch: int = 50
    max_attempts: int = 8
    retry_base_seconds: float = 30.0
    retry_cap_seconds: float = 3600.0
    # A claimed delivery whose worker died is taken again after this lease. It must be
    # longer than a send can take (SMTP/webhook timeouts), or two workers could both send.
    lease_seconds: float = 120.0
    digest_at: time = time(7, 0)
    digest_tz: str = "Europe/London"
    digest_poll_seconds: float = 60.0
    # https and public addresses only, unless EHCP_MODE=demo (local receivers, plain http)
    webhook_policy: WebhookPolicy = WebhookPolicy()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifyConfig:
        email = EmailSettings.from_mapping(env, prefix="SMTP_") if env.get("SMTP_HOST") else None
        webhook_timeout = float(env.get("WEBHOOK_TIMEOUT", cls.webhook_timeout))
        send_timeout = max(webhook_timeout, email.timeout if email else 0.0)
        lease = float(env.get("NOTIFY_LEASE_SECONDS", cls.lease_seconds))
        return cls(
            email=email,
            webhook_timeout=webhook_timeout,
            poll_seconds=float(env.get("NOTIFY_POLL_SECONDS", cls.poll_seconds)),
            batch=int(env.get("NOTIFY_BATCH", cls.batch)),
            max_attempts=max(1, int(env.get("NOTIFY_MAX_ATTEMPTS", cls.max_attempts))),
            retry_base_seconds=float(env.get("NOTIFY_RETRY_BASE_SECONDS",
                                             cls.retry_base_seconds)),
            retry_cap_seconds=float(env.get("NOTIFY_RETRY_CAP_SECONDS", cls.retry_cap_seconds)),
            lease_seconds=max(lease, 2 * send_timeout + 1),
            digest_at=time.fromisoformat(env.get("DIGEST_AT", "07:00")),
            digest_tz=env.get("DIGEST_TZ", cls.digest_tz),
            digest_poll_seconds=float(env.get("DIGEST_POLL_SECONDS", cls.digest_poll_seconds)),
        )


def notify_config(cfg: Config) -> NotifyConfig:
    return replace(NotifyConfig.from_env(cfg.env),
                   webhook_policy=WebhookPolicy.for_mode(cfg.demo))

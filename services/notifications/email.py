"""SMTP email channel: one multipart (plain text + HTML) message per call."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class DeliveryFailed(Exception):
    """A channel could not deliver. ``retryable`` tells the caller whether to try again
    later (server down, timeout, 4xx SMTP / 5xx HTTP) or to record a permanent failure
    (rejected address, bad credentials, 4xx HTTP)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int = 25
    sender: str = "ehcp-tracker@localhost"
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], prefix: str = "") -> EmailSettings:
        """Build from configuration, e.g. ``from_mapping(os.environ, prefix="SMTP_")``.

        Keys (after the prefix, case-insensitive): host, port, sender (or from),
        starttls, username (or user), password, timeout. Strings are parsed, so an
        environment mapping works as is.
        """
        plen = len(prefix)
        conf = {k[plen:].lower(): v for k, v in mapping.items()
                if k.lower().startswith(prefix.lower())}
        if not conf.get("host"):
            raise ValueError(f"{prefix}host is required")
        username = conf.get("username") or conf.get("user") or None
        password = conf.get("password") or None
        if password and not username:
            raise ValueError("a password without a username")
        return cls(
            host=str(conf["host"]),
            port=int(conf.get("port", 25)),
            sender=str(conf.get("sender") or conf.get("from") or cls.sender),
            starttls=_as_bool(conf.get("starttls", False)),
            username=None if username is None else str(username),
            password=None if password is None else str(password),
            timeout=float(conf.get("timeout", 10.0)),
        )

    def __repr__(self) -> str:  # never print the password into logs
        return (f"EmailSettings(host={self.host!r}, port={self.port}, sender={self.sender!r}, "
                f"starttls={self.starttls}, username={self.username!r}, "
                f"password={'***' if self.password else None}, timeout={self.timeout})")


def build_message(settings: EmailSettings, to: list[str], subject: str, text: str,
                  html: str, message_id: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = settings.sender.rpartition("@")[2] or "localhost"
    # Explicit domain: make_msgid() would otherwise do a (possibly slow) FQDN lookup.
    # A caller-chosen id (the delivery's id) is the same on every retry, so a mail system
    # can drop the rare duplicate sent after a crash between sending and recording it.
    msg["Message-ID"] = (f"<{message_id}@{domain}>" if message_id
                         else make_msgid(domain=domain))
    # Alerts are machine-generated: ask auto-responders not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def _smtp_code_failure(exc: smtplib.SMTPResponseException, what: str) -> DeliveryFailed:
    # SMTP reply codes: 4xx transient (try later), 5xx permanent.
    retryable = 400 <= exc.smtp_code < 500
    return DeliveryFailed(f"{what}: {exc.smtp_code} {exc.smtp_error!r}", retryable=retryable,
                          status=exc.smtp_code)


def send_email(settings: EmailSettings, to: list[str], subject: str, text: str,
               html: str, message_id: str | None = None) -> str:
    """Send one message to ``to``; return its Message-ID. Raises DeliveryFailed."""
    if not to:
        raise DeliveryFailed("no recipients", retryable=False)
    try:
        msg = build_message(settings, to, subject, text, html, message_id)
    except (ValueError, TypeError) as exc:  # e.g. a newline in a header
        raise DeliveryFailed(f"cannot build message: {exc}", retryable=False) from exc
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            smtp.ehlo()
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            refused = smtp.send_message(msg, from_addr=settings.sender, to_addrs=to)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        retryable = all(400 <= c < 500 for c in codes)
        raise DeliveryFailed(f"all recipients refused: {sorted(set(codes))}",
                             retryable=retryable, status=max(codes, default=None)) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryFailed(f"authentication failed: {exc.smtp_code}", retryable=False,
                             status=exc.smtp_code) from exc
    except smtplib.SMTPNotSupportedError as exc:
        # STARTTLS or AUTH not offered: a configuration problem, retrying will not help.
        raise DeliveryFailed(f"server does not support: {exc}", retryable=False) from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise DeliveryFailed(f"server disconnected: {exc}", retryable=True) from exc
    except smtplib.SMTPResponseException as exc:
        # Covers SMTPSenderRefused, SMTPDataError, SMTPConnectError, SMTPHeloError.
        raise _smtp_code_failure(exc, "SMTP error") from exc
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryFailed(f"TLS certificate rejected: {exc}", retryable=False) from exc
    except smtplib.SMTPException as exc:
        raise DeliveryFailed(f"SMTP error: {exc}", retryable=True) from exc
    except OSError as exc:
        # Connection refused, unreachable host, DNS failure, timeout: the server may return.
        raise DeliveryFailed(f"cannot reach {settings.host}:{settings.port}: {exc}",
                             retryable=True) from exc
    if refused:
        # Some addresses were accepted, so the message went out; retrying would duplicate it
        # for them. Report the rest for follow-up instead.
        log.warning("SMTP refused %d of %d recipients for %s", len(refused), len(to),
                    msg["Message-ID"])
    return str(msg["Message-ID"])

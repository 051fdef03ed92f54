"""Webhook channel, signed per the Standard Webhooks specification.

https://www.standardwebhooks.com: headers ``webhook-id``, ``webhook-timestamp`` (unix
seconds) and ``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(key, "{id}.{ts}.{body}"))
where the key is the base64 part of a ``whsec_...`` secret. The id stays the same across
retries of one message (receivers deduplicate on it); the timestamp and signature are
fresh on each attempt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import random
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import requests

from services.notifications.email import DeliveryFailed
from services.notifications.urlpolicy import (
    Resolver,
    UrlRefused,
    WebhookPolicy,
    check_url,
    pinned_session,
)

log = logging.getLogger(__name__)

__all__ = [
    "DeliveryFailed",
    "WebhookVerificationError",
    "backoff_delay",
    "deliver",
    "deliver_with_retries",
    "new_secret",
    "sign",
    "signed_headers",
    "verify",
]

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 5 * 60  # seconds, the specification's recommended replay window
USER_AGENT = "ehcp-tracker-webhooks/1"


class WebhookVerificationError(ValueError):
    """The request is not a valid signed webhook (bad signature, stale timestamp...)."""


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64") from exc


def new_secret(nbytes: int = 32) -> str:
    """A fresh per-recipient secret in the ``whsec_`` + base64 form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for one message."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    to_sign = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str | bytes, msg_id: str, body: bytes,
                   timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


def verify(secret: str | bytes, headers: Mapping[str, str], body: bytes | str, *,
           tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> None:
    """Check a received webhook; raise WebhookVerificationError if it is not genuine.

    ``headers`` may be any mapping (case-insensitive lookup). The signature header may
    list several space-separated signatures (secret rotation): one match is enough.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    ts_text = lower.get("webhook-timestamp")
    sig_header = lower.get("webhook-signature")
    if not msg_id or not ts_text or not sig_header:
        raise WebhookVerificationError("missing webhook headers")
    try:
        ts = int(ts_text)
    except ValueError:
        raise WebhookVerificationError("invalid webhook-timestamp") from None
    current = time.time() if now is None else now
    # Both directions: an old timestamp is a replay, a future one a forged clock.
    if ts < current - tolerance:
        raise WebhookVerificationError("webhook-timestamp too old")
    if ts > current + tolerance:
        raise WebhookVerificationError("webhook-timestamp too new")
    expected = sign(secret, msg_id, ts, body).split(",", 1)[1]
    for candidate in sig_header.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return
    raise WebhookVerificationError("no matching signature")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value and value.strip().isdigit():
        return float(value.strip())
    return None  # an HTTP-date form is rare for webhooks; fall back to our backoff


UNREACHABLE = "webhook receiver unreachable"  # one message for every network-level failure


def deliver(url: str, secret: str | bytes, msg_id: str, body: bytes, timeout: float, *,
            session: requests.Session | None = None, timestamp: int | None = None,
            policy: WebhookPolicy | None = None, resolve: Resolver = socket.getaddrinfo,
            ) -> int:
    """POST one signed message; return the 2xx status or raise DeliveryFailed.

    With a `policy`, the URL is checked again now (its host resolved afresh) and the
    connection goes to the address checked (urlpolicy.py). Refused addresses, DNS failures,
    refused connections and timeouts all fail alike (UNREACHABLE, retryable), so the
    delivery log is no port scanner; the reason is only logged here.
    Retryable: those, 408, 429 and 5xx. Not retryable: other 4xx and 3xx (redirects are
    not followed: the signature is for this URL's owner).
    """
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signed_headers(secret, msg_id, body, timestamp),
    }
    if policy is not None:
        try:
            target = check_url(url, policy, resolve)
        except UrlRefused as exc:
            log.info("webhook refused by the URL policy", extra={"error": str(exc)})
            raise DeliveryFailed(UNREACHABLE, retryable=True) from None
        if session is None:
            session = pinned_session(target)
            headers["host"] = urlsplit(url).netloc  # else the pinned address is sent
    post = session.post if session is not None else requests.post
    try:
        response = post(url, data=body, headers=headers, timeout=timeout,
                        allow_redirects=False)
    except (requests.Timeout, requests.ConnectionError) as exc:  # refused, reset, TLS...
        log.info("webhook not delivered", extra={"error": type(exc).__name__})
        raise DeliveryFailed(UNREACHABLE, retryable=True) from exc
    except requests.RequestException as exc:  # not a usable URL: no network was involved
        raise DeliveryFailed("webhook URL not usable", retryable=False) from exc
    status = response.status_code
    response.close()  # the body is not needed; free the connection
    if 200 <= status < 300:
        return status
    retryable = status >= 500 or status in (408, 429)
    raise DeliveryFailed(f"webhook receiver answered {status}", retryable=retryable,
                         status=status, retry_after=_retry_after(response))


def backoff_delay(attempt: int, base: float = 1.0, cap: float = 300.0,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry).

    Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)],
    so many failed deliveries do not hammer a recovering receiver in lockstep.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    # Clamp the exponent: 2**2000 does not fit a float, and the cap applies anyway.
    ceiling = cap if attempt >= 64 else min(cap, base * (2 ** attempt))
    return (rng or random).uniform(0.0, ceiling)


def deliver_with_retries(url: str, secret: str | bytes, msg_id: str, body: bytes, *,
                         timeout: float = 10.0, attempts: int = 5, base: float = 1.0,
                         cap: float = 300.0, rng: random.Random | None = None,
                         sleep: Callable[[float], None] = time.sleep,
                         session: requests.Session | None = None,
                         policy: WebhookPolicy | None = None) -> int:
    """In-process retries for one message (the service may instead schedule retries via
    its outbox with backoff_delay). Same ``msg_id`` on every attempt; a server's
    Retry-After is honoured up to ``cap``. Raises the last DeliveryFailed."""
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(attempts):
        try:
            return deliver(url, secret, msg_id, body, timeout, session=session,
                           policy=policy)
        except DeliveryFailed as exc:
            if not exc.retryable or attempt == attempts - 1:
                raise
            delay = backoff_delay(attempt, base, cap, rng)
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, cap))
            sleep(delay)
    raise AssertionError("unreachable")

"""Real local channel endpoints for tests: an aiosmtpd SMTP server that can be stopped
and restarted on the same port, and an HTTP receiver that verifies Standard Webhooks
signatures like a school's system would. Both record what they received and when."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from services.notifications.webhooks import WebhookVerificationError, verify
from tests.support.ports import free_port


class MailSink:
    """aiosmtpd handler keeping every accepted message with its receipt time."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[dict[str, Any]] = []
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.messages.append({"received": time.time(), "raw": raw, "msg": msg,
                                  "to": list(envelope.rcpt_tos),
                                  "subject": str(msg["Subject"]),
                                  "message_id": str(msg["Message-ID"])})
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if address in m["to"]]


class SmtpServer:
    def __init__(self, port: int | None = None, delay: float = 0.0) -> None:
        self.port = port or free_port()
        self.sink = MailSink(delay)
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, secrets: dict[str, str] | None = None, script: list[int] | None = None,
                 ) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.secrets = dict(secrets or {})  # path -> whsec_ secret
        self.script = {}  # path -> statuses to answer in turn, then 204
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def url(self, path: str = "/hooks/ehcp") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def start(self) -> Receiver:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def at(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        secret = self.server.secrets.get(self.path)
        try:
            verify(secret or "", self.headers, body)
            verified = True
        except (WebhookVerificationError, ValueError):
            verified = False
        with self.server.lock:
            self.server.requests.append({
                "path": self.path, "received": time.time(), "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "verified": verified})
            script = self.server.script.get(self.path) or []
            status = script.pop(0) if script else 204
        if not verified:
            status = 401
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

"""Email and webhook channels against REAL local servers: an aiosmtpd SMTP server and an
http.server receiver, each on a free 127.0.0.1 port in a thread (no broker, no database)."""

from __future__ import annotations

import email
import email.policy
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from services.notifications import render, webhooks
from services.notifications.email import DeliveryFailed, EmailSettings, send_email
from services.notifications.webhooks import WebhookVerificationError, verify
from tests.support.ports import free_port

CASE_ID = "3f2b8c1e-5d7a-4c11-9e0f-000000000042"
CHILD = "Zebedee Quillfeather"  # synthetic, must never appear on the wire
DOB = "2014-03-09"
ALERT: dict[str, Any] = {
    "reference": "881-2026-00042",
    "case_id": CASE_ID,
    "milestone": "final_plan",
    "kind": "breached",
    "due_on": date(2026, 5, 25),
    "link": f"https://gateway.example/cases/{CASE_ID}",
    # Extra keys an upstream bug might add: the renderer must ignore them.
    "child_name": CHILD,
    "date_of_birth": DOB,
}


def assert_no_pii(raw: bytes) -> None:
    text = raw.decode("utf-8", "replace").lower()
    for needle in ("zebedee", "quillfeather", DOB, "09/03/2014", "9 march 2014"):
        assert needle.lower() not in text


# --- SMTP --------------------------------------------------------------------------

class Recorder:
    """aiosmtpd handler keeping every accepted message; can refuse recipients."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.rcpt_reply: str | None = None  # e.g. "550 5.1.1 no such mailbox"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"alerts"
          and auth_data.password == b"correct-horse")
    # handled=False makes aiosmtpd answer 535 itself (its default leaves the client waiting).
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            authenticator=_authenticator, auth_require_tls=False)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def settings(port: int, **extra: Any) -> EmailSettings:
    return EmailSettings.from_mapping(
        {"host": "127.0.0.1", "port": str(port), "from": "alerts@ehcp.example",
         "timeout": "3", **extra})


def test_email_arrives_with_subject_text_and_html_and_no_pii(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    rendered = render.render_email(ALERT)
    to = ["senco@school.example", "office@school.example"]
    message_id = send_email(settings(port), to, rendered.subject, rendered.text, rendered.html)

    assert len(handler.envelopes) == 1
    env = handler.envelopes[0]
    assert env.mail_from == "alerts@ehcp.example"
    assert env.rcpt_tos == to
    raw = env.original_content or b""
    assert_no_pii(raw)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == rendered.subject
    assert msg["Subject"].startswith("Overdue: Final EHC plan (20 weeks) for case 881-2026-00042")
    assert msg["Message-ID"] == message_id
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == rendered.text
    assert html.get_content().replace("\r\n", "\n") == rendered.html
    assert "Status: Overdue" in text.get_content()


def test_email_with_credentials(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    send_email(settings(port, username="alerts", password="correct-horse"),
               ["senco@school.example"], "s", "t", "<p>h</p>")
    assert len(handler.envelopes) == 1
    with pytest.raises(DeliveryFailed) as info:
        send_email(settings(port, username="alerts", password="wrong"),
                   ["senco@school.example"], "s", "t", "<p>h</p>")
    assert info.value.retryable is False  # bad credentials: fix the configuration
    assert len(handler.envelopes) == 1


def test_digest_email_arrives(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    digest = render.digest([ALERT, dict(ALERT, milestone="advice:health", kind="met")],
                           on=date(2026, 5, 26))
    assert digest is not None
    send_email(settings(port), ["senco@school.example"], digest.subject, digest.text,
               digest.html)
    raw = handler.envelopes[0].original_content or b""
    assert_no_pii(raw)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "EHC deadlines digest for Tuesday 26 May 2026: 1 overdue, 1 met"


@pytest.mark.parametrize(("reply", "retryable"), [("550 5.1.1 no such mailbox", False),
                                                  ("451 4.3.0 try again later", True)])
def test_refused_recipient(smtp: tuple[Recorder, int], reply: str, retryable: bool) -> None:
    handler, port = smtp
    handler.rcpt_reply = reply
    with pytest.raises(DeliveryFailed) as info:
        send_email(settings(port), ["nobody@school.example"], "s", "t", "h")
    assert info.value.retryable is retryable
    assert handler.envelopes == []


def test_starttls_required_but_not_offered_is_permanent(smtp: tuple[Recorder, int]) -> None:
    _, port = smtp
    with pytest.raises(DeliveryFailed) as info:
        send_email(settings(port, starttls="true"), ["senco@school.example"], "s", "t", "h")
    assert info.value.retryable is False


def test_smtp_server_down_is_retryable() -> None:
    port = free_port()  # nothing listens there any more
    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as info:
        send_email(settings(port), ["senco@school.example"], "s", "t", "h")
    assert info.value.retryable is True
    assert time.monotonic() - started < 2


def test_smtp_server_that_never_answers_times_out_retryably() -> None:
    # A listening socket that never accepts: TCP connects, the SMTP greeting never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(DeliveryFailed) as info:
            send_email(settings(port, timeout="0.3"), ["senco@school.example"], "s", "t", "h")
    assert info.value.retryable is True
    assert time.monotonic() - started < 2


def test_queued_email_goes_out_when_the_server_returns() -> None:
    """Down first (retryable), then the same send succeeds once the server is up."""
    port = free_port()
    rendered = render.render_email(ALERT)
    with pytest.raises(DeliveryFailed) as info:
        send_email(settings(port), ["senco@school.example"], rendered.subject, rendered.text,
                   rendered.html)
    assert info.value.retryable
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        send_email(settings(port), ["senco@school.example"], rendered.subject, rendered.text,
                   rendered.html)
    finally:
        controller.stop()
    assert len(handler.envelopes) == 1


# --- webhooks ------------------------------------------------------------------------

SECRET = webhooks.new_secret()


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, secret: str, script: list[int] | None = None, delay: float = 0.0,
                 extra_headers: dict[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.secret = secret
        self.script = list(script or [])  # statuses to answer in turn, then 204
        self.delay = delay
        self.extra_headers = extra_headers or {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/ehcp"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            # The receiver checks the signature exactly as a school's system would.
            verify(self.server.secret, self.headers, body)
            verified = True
        except WebhookVerificationError:
            verified = False
        with self.server.lock:
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.server.requests.append({"headers": headers, "body": body,
                                         "verified": verified})
            status = self.server.script.pop(0) if self.server.script else 204
        if self.server.delay:
            time.sleep(self.server.delay)
        if not verified:
            status = 401
        self.send_response(status)
        for name, value in self.server.extra_headers.items():
            self.send_header(name, value)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        server = Receiver(SECRET, **kwargs)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def test_signed_webhook_is_verified_by_the_receiver(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    body = render.webhook_body(ALERT)
    status = webhooks.deliver(receiver.url, SECRET, "msg_ehcp_0001", body, timeout=3)
    assert status == 204
    [req] = receiver.requests
    assert req["verified"] is True
    assert req["headers"]["webhook-id"] == "msg_ehcp_0001"
    assert abs(int(req["headers"]["webhook-timestamp"]) - time.time()) < 5
    assert req["headers"]["content-type"] == "application/json"
    assert req["body"] == body
    assert json.loads(req["body"])["data"]["reference"] == "881-2026-00042"
    assert_no_pii(req["body"])
    assert_no_pii(json.dumps(req["headers"]).encode())


def test_wrong_secret_is_rejected_and_not_retried(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    with pytest.raises(DeliveryFailed) as info:
        webhooks.deliver_with_retries(receiver.url, webhooks.new_secret(), "msg_ehcp_0002",
                                      render.webhook_body(ALERT), timeout=3,
                                      sleep=lambda _: None)
    assert info.value.status == 401 and info.value.retryable is False
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"] is False


def test_500_then_200_is_retried_with_the_same_id(receiver_factory: Any) -> None:
    receiver = receiver_factory(script=[500, 200])
    slept: list[float] = []
    status = webhooks.deliver_with_retries(
        receiver.url, SECRET, "msg_ehcp_0003", render.webhook_body(ALERT), timeout=3,
        attempts=4, base=0.01, cap=0.05, rng=random.Random(7),
        sleep=lambda s: (slept.append(s), time.sleep(s)))
    assert status == 200
    assert [r["verified"] for r in receiver.requests] == [True, True]
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {"msg_ehcp_0003"}
    assert len(slept) == 1 and 0 <= slept[0] <= 0.01


def test_persistent_5xx_gives_up_retryable_after_last_attempt(receiver_factory: Any) -> None:
    receiver = receiver_factory(script=[503, 503, 503])
    with pytest.raises(DeliveryFailed) as info:
        webhooks.deliver_with_retries(receiver.url, SECRET, "msg_ehcp_0004",
                                      render.webhook_body(ALERT), timeout=3, attempts=3,
                                      base=0.01, cap=0.02)
    assert info.value.retryable is True and info.value.status == 503
    assert len(receiver.requests) == 3


def test_429_retry_after_is_honoured(receiver_factory: Any) -> None:
    receiver = receiver_factory(script=[429], extra_headers={"Retry-After": "2"})
    slept: list[float] = []
    webhooks.deliver_with_retries(receiver.url, SECRET, "msg_ehcp_0005",
                                  render.webhook_body(ALERT), timeout=3, base=0.01, cap=60,
                                  sleep=slept.append)
    assert slept == [2.0]
    assert len(receiver.requests) == 2


def test_slow_receiver_times_out_retryably(receiver_factory: Any) -> None:
    receiver = receiver_factory(delay=1.0)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as info:
        webhooks.deliver(receiver.url, SECRET, "msg_ehcp_0006", b"{}", timeout=0.2)
    assert info.value.retryable is True
    assert time.monotonic() - started < 0.9


def test_receiver_down_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/ehcp"
    with pytest.raises(DeliveryFailed) as info:
        webhooks.deliver(url, SECRET, "msg_ehcp_0007", b"{}", timeout=1)
    assert info.value.retryable is True

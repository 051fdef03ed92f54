"""Email and webhook sending never delays inbox delivery: with the senders process frozen
(SIGSTOP: a process stuck on a hanging SMTP server or busy building a burst of emails), an
alert that falls due still reaches the inbox at once; its email waits in the deliveries
table, and goes out when the senders run again."""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import date

import pytest

from shared.events import new_event
from tests.support.api import Api, token
from tests.support.bus import publish
from tests.support.channels import SmtpServer
from tests.support.infra import fresh_infra
from tests.support.processes import System, wait_for

pytestmark = pytest.mark.integration

LA, URN, SENCO = "976", "976001", "senco@976001.example"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A vhost and database of the module's own: no other module's deliveries in the way."""
    smtp = SmtpServer().start()
    with fresh_infra() as infra:
        system = System(infra, tmp_path_factory.mktemp("senders"), extra_env={
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
            "SMTP_FROM": "alerts@ehcp.example", "NOTIFY_POLL_SECONDS": "0.1"}).start()
        try:
            yield system, infra, smtp
        finally:
            system.stop()
            smtp.stop()


def email_statuses(infra, case_id: str) -> list[str]:
    with infra.connect("notifications") as db:
        return [r["status"] for r in db.execute(
            "SELECT status FROM deliveries WHERE case_id = %s AND channel = 'email'",
            (case_id,))]


def test_inbox_alert_arrives_while_the_senders_are_stopped(env):
    system, infra, smtp = env
    admin = Api(system.url, token("region_admin"))
    created = admin.post("/v1/recipients", {
        "kind": "school", "la_code": LA, "school_urn": URN, "name": "Frozen Senders School",
        "emails": [SENCO], "channels": ["inbox", "email"]})
    assert created.status_code == 201, created.text
    school = Api(system.url, token("school", school_urn=URN))
    case_id, reference = str(uuid.uuid4()), f"{LA}-2026-00001"

    def inbox() -> list[dict]:
        return [a for a in school.get("/v1/alerts").json()["alerts"]
                if a["case_id"] == case_id]

    def mails() -> list[dict]:
        return [m for m in smtp.sink.to(SENCO) if reference in m["subject"]]

    senders = system.services["notification_senders"].proc
    os.kill(senders.pid, signal.SIGSTOP)
    try:
        publish(infra.amqp_uri, new_event("deadline.due", {
            "case_id": case_id, "reference": reference, "school_urn": URN, "kind": "due",
            "milestone": "final_plan", "rule": "A6", "regulation": "Reg 13(2)",
            "due_on": date(2026, 5, 25)}, la_code=LA))
        started = time.monotonic()
        [alert] = wait_for(inbox, timeout=10)
        arrived = time.monotonic() - started
        assert alert["kind"] == "due"
        assert email_statuses(infra, case_id) == ["pending"]  # queued, nobody sending
        time.sleep(1)  # ten poll intervals: still nobody sends it
        assert email_statuses(infra, case_id) == ["pending"] and mails() == []
    finally:
        os.kill(senders.pid, signal.SIGCONT)
    [mail] = wait_for(mails, timeout=15)
    assert mail["subject"].startswith("Due today")
    wait_for(lambda: email_statuses(infra, case_id) == ["sent"])
    print(f"\ninbox alert {arrived * 1000:.0f} ms after the event, senders stopped")

"""A receiver that keeps failing: the webhook is retried with backoff up to the last try,
then recorded as failed and counted, while the inbox still has the alert."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from shared.events import new_event
from tests.support.api import Api, token
from tests.support.bus import publish
from tests.support.channels import Receiver
from tests.support.infra import fresh_infra
from tests.support.processes import System, wait_for

pytestmark = pytest.mark.integration

LA, URN = "974", "974001"


@pytest.fixture(scope="module")
def infra():
    """A vhost and database of this module's own: recipients and cases other modules left
    in the run's database must not add to the counters asserted here."""
    with fresh_infra() as infra:
        yield infra


@pytest.fixture(scope="module")
def env(infra, tmp_path_factory):
    receiver = Receiver().start()
    system = System(infra, tmp_path_factory.mktemp("retries"), extra_env={
        "NOTIFY_POLL_SECONDS": "0.1", "NOTIFY_RETRY_BASE_SECONDS": "0.1",
        "NOTIFY_RETRY_CAP_SECONDS": "0.2", "NOTIFY_MAX_ATTEMPTS": "3",
        "NOTIFY_LEASE_SECONDS": "3"}).start()
    yield system, receiver
    system.stop()
    receiver.stop()


def test_a_failing_webhook_is_tried_max_attempts_times_then_failed(env, infra):
    system, receiver = env
    admin = Api(system.url, token("region_admin"))
    created = admin.post("/v1/recipients", {
        "kind": "school", "la_code": LA, "school_urn": URN, "name": "Flaky receiver school",
        "channels": ["inbox", "webhook"], "webhook_url": receiver.url("/down")})
    assert created.status_code == 201, created.text
    receiver.secrets["/down"] = created.json()["webhook_secret"]
    receiver.script["/down"] = [503] * 10  # retryable, and more failures than tries

    case_id = str(uuid.uuid4())
    publish(infra.amqp_uri, new_event("deadline.due", {
        "case_id": case_id, "reference": f"{LA}-2026-00001", "school_urn": URN,
        "kind": "due", "milestone": "final_plan", "rule": "A6", "regulation": "Reg 13(2)",
        "due_on": date(2026, 5, 25)}, la_code=LA))

    def failed():
        rows = admin.get("/v1/deliveries", params={"status": "failed"}).json()["deliveries"]
        return [d for d in rows if d["case_id"] == case_id]

    [dead] = wait_for(failed, timeout=30)
    assert dead["channel"] == "webhook" and "503" in dead["last_error"]
    tries = [r for r in receiver.at("/down") if f"{LA}-2026-00001".encode() in r["body"]]
    assert len(tries) == 3  # NOTIFY_MAX_ATTEMPTS, no more
    assert len({r["headers"]["webhook-id"] for r in tries}) == 1  # one message, retried
    metrics = system.metrics("notification_senders")  # the process that sends
    assert 'ehcp_notification_retries_total{channel="webhook"} 2.0' in metrics
    assert 'ehcp_notification_dead_letters_total{channel="webhook"} 1.0' in metrics
    school = Api(system.url, token("school", school_urn=URN))
    assert [a["kind"] for a in school.get("/v1/alerts").json()["alerts"]
            if a["case_id"] == case_id] == ["due"]

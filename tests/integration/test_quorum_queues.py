"""QUEUE_TYPE=quorum: the services on a vhost of their own (queues cannot change type in
place), every event queue declared as a quorum queue, the whole flow and the retry path
(per-message TTL delay queues) working on them, and a poison message that keeps killing
its consumer dead-lettered after x-delivery-limit deliveries."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from kombu import Connection

from shared import topology
from tests.support.api import Api, referral_body, token
from tests.support.bus import drain, publish, referral_received
from tests.support.infra import fresh_infra
from tests.support.processes import ServiceProcess, running_system, wait_for

pytestmark = pytest.mark.integration

QUORUM = {"QUEUE_TYPE": "quorum"}


@pytest.fixture(scope="module")
def quorum(tmp_path_factory):
    with fresh_infra() as infra, running_system(infra, tmp_path_factory.mktemp("quorum"),
                                                QUORUM, ("881", "100001")) as system:
        yield infra, system


def queue_types(vhost: str) -> dict[str, tuple[str, str]]:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    out = subprocess.run([ctl, "-q", "list_queues", "-p", vhost, "name", "type", "arguments",
                          "--formatter", "json"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return {q["name"]: (q["type"], json.dumps(q["arguments"])) for q in json.loads(out)}


def test_event_queues_are_quorum_queues(quorum):
    infra, _ = quorum
    types = queue_types(infra.vhost)
    event_queues = {q.name for q in topology.all_queues()}
    assert event_queues <= types.keys()
    for name in event_queues:
        assert types[name][0] == "quorum", (name, types[name])
    for consumer in topology.SUBSCRIPTIONS:
        assert '"x-delivery-limit"' in types[topology.queue_name(consumer)][1]
    rpc = [n for n in types if n.startswith("rpc-")]
    assert rpc and all(types[n][0] == "classic" for n in rpc)  # nameko's, on purpose
    print(f"\n{len(event_queues)} event queues are quorum queues; "
          f"{len(rpc)} RPC queues classic")


def test_a_request_flows_to_the_school_over_quorum_queues(quorum):
    _, system = quorum
    school = Api(system.url, token("school", school_urn="100001"))
    case = school.post("/v1/referrals", referral_body(school_urn="100001")).json()
    alerts = wait_for(lambda: [a for a in school.get("/v1/alerts").json()["alerts"]
                               if a["case_id"] == case["id"]], timeout=30)
    assert alerts
    body = wait_for(lambda: (lambda b: b["deadlines_up_to_date"] and b)(
        school.get(f"/v1/referrals/{case['id']}/deadlines").json()), timeout=30)
    assert body["deadlines"]


def test_retries_through_quorum_delay_queues_then_dead_letter(quorum, tmp_path):
    infra, system = quorum
    flaky = ServiceProcess("tests.support.flaky_service", "flaky", system.env, tmp_path)
    flaky.start()
    try:
        publish(infra.amqp_uri, referral_received("881-2026-FAIL9"))
        dead = wait_for(lambda: drain(infra.amqp_uri, "flaky.events.dlq"), timeout=30)
        assert dead[0][1]["x-attempt"] == 3 and dead[0][1]["x-error-kind"] == "handler_failed"
        assert flaky.log().count("handler failed, retrying") == 3
    finally:
        flaky.stop()


def test_a_poison_message_is_dead_lettered_after_the_delivery_limit(quorum, monkeypatch):
    """A consumer that dies on a message (never acks) gets it back DELIVERY_LIMIT times,
    then the broker dead-letters it, instead of taking consumers down for ever."""
    infra, _ = quorum
    subscriptions = {"poison": ("test.poison",)}
    monkeypatch.setenv("QUEUE_TYPE", "quorum")  # read by the one config loader
    topology.declare_topology(infra.amqp_uri, subscriptions)
    publish(infra.amqp_uri, b'{"not": "an envelope"}', routing_key="test.poison")
    deliveries = 0
    with Connection(infra.amqp_uri) as conn:
        channel = conn.channel()
        while (message := channel.basic_get("poison.events")) is not None:
            deliveries += 1
            channel.basic_reject(message.delivery_tag, requeue=True)  # "crashed"
            assert deliveries <= topology.DELIVERY_LIMIT + 1
    dead = wait_for(lambda: drain(infra.amqp_uri, "poison.events.dlq"), timeout=10)
    assert deliveries == topology.DELIVERY_LIMIT + 1 and len(dead) == 1
    assert dead[0][1]["x-death"][0]["reason"] == "delivery_limit"
    print(f"\npoison message: {deliveries} deliveries, then dead-lettered (delivery_limit)")

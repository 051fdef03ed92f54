"""Many alerts falling due at once, through the real sweep, broker and notifications
consumer (batched, set-based): each reaches the school's inbox and its email queue exactly
once, and the same events delivered again add nothing."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kombu import Connection

from shared.topology import EVENTS
from tests.integration.test_batches import metric
from tests.support.infra import fresh_infra
from tests.support.processes import System, wait_for

pytestmark = pytest.mark.integration

N = 300
DAY = "2027-03-01"
URN, LA = "100071", "871"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with fresh_infra() as infra:
        system = System(infra, tmp_path_factory.mktemp("logs"),
                        {"NOTIFY_POLL_SECONDS": "3600", "SWEEP_SECONDS": "3600"}).start()
        system.infra = infra
        yield system
        system.stop()


def state(infra) -> tuple:
    with infra.connect("notifications") as db:
        inbox = db.execute("SELECT recipient, case_id, milestone, kind, count(*) AS n "
                           "FROM alerts GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4").fetchall()
        emails = db.execute("SELECT recipient_id, case_id, kind, count(*) AS n FROM deliveries "
                            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3").fetchall()
    return inbox, emails


def test_burst_of_due_alerts_reaches_the_inbox_once(system):
    infra = system.infra
    deadlines = system.services["deadlines"]
    deadlines.stop()
    with infra.connect("deadlines") as db:
        db.execute(
            "INSERT INTO cases (case_id, reference, la_code, school_urn, first_seen_on) "
            "SELECT md5('batch' || g)::uuid, 'B-' || g, %s, %s, %s::date - 30 "
            "FROM generate_series(1, %s) g", (LA, URN, DAY, N))
        db.execute(
            "INSERT INTO milestones (case_id, milestone, rule, regulation, due_on, status, "
            "la_code, school_urn, known_since, next_alert_on) "
            "SELECT md5('batch' || g)::uuid, 'final_plan', 'A6', 'Reg 13(2)', %s::date, "
            "'pending', %s, %s, %s::date, %s::date FROM generate_series(1, %s) g",
            (DAY, LA, URN, DAY, DAY, N))
    with infra.connect("notifications") as db:
        db.execute("INSERT INTO recipients (id, kind, la_code, school_urn, name, emails, "
                   "channels, muted_kinds) VALUES (%s, 'school', %s, %s, 'Batch School', "
                   "ARRAY['senco@school.example'], ARRAY['inbox', 'email'], '{}')",
                   (uuid.uuid4(), LA, URN))
    deadlines.start({"NOW": DAY, "SWEEP_SECONDS": "0.5"})

    wait_for(lambda: sum(r["n"] for r in state(infra)[0]) >= 2 * N, timeout=60)
    time.sleep(1)  # a second sweep tick has run: nothing more may arrive
    inbox, emails = state(infra)
    assert len(inbox) == 2 * N  # the school's and the LA's inbox, one row per alert
    assert {r["recipient"] for r in inbox} == {f"school:{URN}", f"la:{LA}"}
    assert all(r["n"] == 1 and r["kind"] == "due" for r in inbox)
    assert len(emails) == N and all(r["n"] == 1 for r in emails)
    with infra.connect("deadlines") as db:
        bodies = [r["body"] for r in db.execute(
            "SELECT body FROM outbox WHERE event_type = 'deadline.due'").fetchall()]
        assert db.execute("SELECT count(*) AS n FROM alerts_emitted").fetchone()["n"] == N
    assert len(bodies) == N

    # The whole burst delivered again (same event ids, one batch after another).
    notifications = system.services["notifications"]
    notifications.stop()
    with Connection(infra.amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for body in bodies:
            producer.publish(json.dumps(body), exchange=EVENTS.name, routing_key=body["type"],
                             content_type="application/json", content_encoding="utf-8",
                             delivery_mode=2, mandatory=True)
    notifications.start()
    wait_for(lambda: metric(system.metrics("notifications"), "ehcp_messages_duplicate_total",
                            queue="notifications") >= N, timeout=60)
    time.sleep(0.5)  # room for a wrong write to land
    assert state(infra) == (inbox, emails)

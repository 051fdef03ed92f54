"""Batched consumption (issue 10) on real processes, broker and database: a batch with a
poison message, a redelivered batch, and reference numbers under concurrent submissions."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from tests.support.api import Api, referral_body, token
from tests.support.bus import delete_consumer_queues, drain, publish, referral_received
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, wait_for

pytestmark = pytest.mark.integration


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


@pytest.fixture
def flaky(system, tmp_path):
    port = free_port()
    proc = ServiceProcess("tests.support.flaky_service", "flaky",
                          {**system.env, "FLAKY_METRICS_PORT": str(port),
                           "CONSUMER_BATCH_WAIT_MS": "200"}, tmp_path)
    proc.start()  # declares its queues, so what is published next waits there;
    # a wide batch window: the twenty messages published while it is down form one batch
    proc.stop()
    proc.metrics = lambda: requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    yield proc
    proc.stop()
    delete_consumer_queues(system.env["AMQP_URI"], "flaky")


def test_batch_with_a_poison_message(flaky, infra):
    """Twenty messages taken as one batch, one of them failing: the batch rolls back, the
    nineteen others are then processed once each, the poison one alone takes the retry
    ladder and is dead-lettered with its reason."""
    drain(infra.amqp_uri, "flaky.events.dlq")
    good = [referral_received(f"881-2026-8{n:04d}") for n in range(19)]
    poison = referral_received("881-2026-FAIL2")
    for event in good[:10] + [poison] + good[10:]:
        publish(infra.amqp_uri, event)
    flaky.start()

    dead = wait_for(lambda: drain(infra.amqp_uri, "flaky.events.dlq"), timeout=30)
    assert len(dead) == 1
    body, headers = dead[0]
    assert json.loads(body)["id"] == poison["id"]
    assert "synthetic failure for 881-2026-FAIL2" in headers["x-error"]
    assert headers["x-error-kind"] == "handler_failed"
    assert headers["x-attempt"] == 3
    with infra.connect("flaky") as db:
        rows = db.execute("SELECT event_id::text AS id, count(*) AS n FROM processed "
                          "WHERE event_id = ANY(%s::uuid[]) GROUP BY 1",
                          ([e["id"] for e in good + [poison]],)).fetchall()
    assert {r["id"]: r["n"] for r in rows} == {e["id"]: 1 for e in good}

    log = flaky.log()
    assert "batch failed, handling its messages one by one" in log
    assert log.count("handler failed, retrying") == 3  # the poison message only
    text = flaky.metrics()
    assert metric(text, "ehcp_consumer_batch_fallbacks_total", queue="flaky") >= 1
    batches = metric(text, "ehcp_consumer_batch_size_count", queue="flaky")
    messages = metric(text, "ehcp_consumer_batch_size_sum", queue="flaky")
    assert messages > batches  # some batch held more than one message
    assert metric(text, "ehcp_messages_processed_total", queue="flaky") == 19
    assert metric(text, "ehcp_messages_failed_total", queue="flaky") == 4  # 1 + 3 retries


def test_redelivered_batch_changes_nothing(system, infra):
    """A batch of case events (each sent twice) is handled once; the same batch delivered
    again later finds every inbox mark: no history, milestone or event is added."""
    deadlines = system.services["deadlines"]
    deadlines.stop()
    events = [referral_received(f"881-2026-7{n:04d}", school_urn="200031") for n in range(15)]
    case_ids = [str(e["payload"]["case_id"]) for e in events]
    for event in events + events:
        publish(infra.amqp_uri, event)
    deadlines.start()

    def state() -> tuple:
        with infra.connect("deadlines") as db:
            history = db.execute("SELECT count(*) AS n FROM case_events "
                                 "WHERE case_id = ANY(%s::uuid[])", (case_ids,)).fetchone()["n"]
            milestones = db.execute(
                "SELECT case_id, milestone, rule, due_on, occurrence, status, known_since "
                "FROM milestones WHERE case_id = ANY(%s::uuid[]) "
                "ORDER BY case_id, milestone, rule, due_on, occurrence", (case_ids,)).fetchall()
            announced = db.execute(
                "SELECT count(*) AS n FROM outbox WHERE event_type = 'deadline.scheduled' "
                "AND body->'payload'->>'case_id' = ANY(%s)", (case_ids,)).fetchone()["n"]
        return history, milestones, announced

    wait_for(lambda: state()[2] == 15, timeout=30)
    first = state()
    assert first[0] == 15 and len({m["case_id"] for m in first[1]}) == 15

    deadlines.stop()
    for event in events:
        publish(infra.amqp_uri, event)
    deadlines.start()
    wait_for(lambda: metric(system.metrics("deadlines"), "ehcp_messages_duplicate_total",
                            queue="deadlines") >= 15, timeout=30)
    time.sleep(0.5)  # room for a wrong write to land
    assert state() == first


def test_references_unique_under_concurrent_submissions(system):
    """Forty requests at once for one LA and year, and forty more for a year no request had
    yet (its sequence created by the first of them, whichever): every reference distinct,
    of the LA and year, and numbered from 1 in the new year. An LA of this test's own: the
    run's database holds other modules' cases of 881, some of them of 2025."""
    system.register_schools("996", "299641")
    school = Api(system.url, token("school", school_urn="299641"))

    def submit(received_on: str) -> requests.Response:
        return school.post("/v1/referrals", referral_body(la_code="996", school_urn="299641",
                                                          received_on=received_on))

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(submit, ["2026-01-05"] * 40 + ["2025-11-03"] * 40))
    assert [a.status_code for a in answers] == [201] * 80, answers[0].text
    refs = [a.json()["reference"] for a in answers]
    assert len(set(refs)) == 80
    assert all(re.fullmatch(r"996-2026-\d{5}", r) for r in refs[:40])
    assert sorted(refs[40:]) == [f"996-2025-{n:05d}" for n in range(1, 41)]


def test_reference_sequence_created_once_by_racing_first_requests(system, infra):
    """Two transactions take the first number of a new LA year at once: the second waits
    for the first's sequence instead of failing, and gets the next number."""
    url = infra.database_url
    got: list[int] = []
    started = threading.Event()

    def second() -> None:
        with psycopg.connect(url, options="-c search_path=referrals") as conn:
            started.set()
            got.append(conn.execute("SELECT next_reference_number('999', 2031)").fetchone()[0])

    with psycopg.connect(url, options="-c search_path=referrals") as first:
        got.append(first.execute("SELECT next_reference_number('999', 2031)").fetchone()[0])
        thread = threading.Thread(target=second)
        thread.start()
        started.wait(5)
        time.sleep(0.5)  # the second is now waiting on the first's uncommitted sequence
        first.commit()
    thread.join(10)
    assert got == [1, 2]


def test_a_case_is_announced_once_per_batch_naming_every_event(system, infra):
    """A request and its steps arriving together (as an import sends them): deadlines
    announces the case's schedule once per batch, not once per event, and the announcements
    name every event between them (as_of_event + covers), so referrals can clear each."""
    from datetime import date

    from shared.events import new_event

    deadlines = system.services["deadlines"]
    deadlines.stop()
    received = referral_received("881-2026-80001", school_urn="200031")
    p = received["payload"]
    steps = [new_event("case.step_recorded", {
        "case_id": p["case_id"], "reference": p["reference"], "school_urn": p["school_urn"],
        "step_id": uuid.uuid4(), "step_type": step, "on": date(2026, 1, 5 + n), "data": {}},
        la_code="881") for n, step in enumerate(
            ["decision_to_assess", "advice_requested", "advice_requested", "advice_requested",
             "advice_requested"])]
    events = [received, *steps]
    for event in events:
        publish(infra.amqp_uri, event)
    deadlines.start()

    def announced() -> list[dict]:
        with infra.connect("deadlines") as db:
            return [r["payload"] for r in db.execute(
                "SELECT body->'payload' AS payload FROM outbox "
                "WHERE event_type = 'deadline.scheduled' AND body->'payload'->>'case_id' = %s "
                "ORDER BY id",
                (str(p["case_id"]),)).fetchall()]

    def covered() -> set[str]:
        return {i for a in announced() for i in (a["as_of_event"], *a["covers"])}

    wait_for(lambda: covered() == {e["id"] for e in events}, timeout=30)
    assert len(announced()) < len(events)  # at least one announcement covered several
    assert announced()[-1]["as_of_event"] == events[-1]["id"]

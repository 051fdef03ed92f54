"""The outbox relay against the real broker and database: confirmed rows only, each once."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from kombu import Connection, Queue

from shared.db import SHARED_SQL, make_pool
from shared.outbox import OutboxRelay
from shared.topology import EVENTS

pytestmark = pytest.mark.integration


@pytest.fixture
def outbox(infra):
    schema = f"outbox_{uuid.uuid4().hex[:8]}"
    with infra.connect("public") as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
        db.execute(f'SET search_path TO "{schema}"')
        db.execute(SHARED_SQL)
    pool = make_pool(infra.database_url, schema, max_size=4)
    yield schema, pool
    pool.close()


def fill(infra, schema: str, event_type: str, n: int) -> None:
    with infra.connect(schema) as db, db.cursor().copy(
            "COPY outbox (event_id, event_type, body) FROM STDIN") as copy:
        for _ in range(n):
            eid = str(uuid.uuid4())
            copy.write_row((eid, event_type, json.dumps({"id": eid, "type": event_type})))


def bound_queue(infra, event_type: str) -> Queue:
    queue = Queue(f"test.{event_type}", exchange=EVENTS, routing_key=event_type, durable=True)
    with Connection(infra.amqp_uri) as conn:
        EVENTS.declare(channel=conn.default_channel)
        queue.bind(conn.default_channel).declare()
    return queue


def message_ids(infra, queue: Queue) -> list[str]:
    ids = []
    with Connection(infra.amqp_uri) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue.name, no_ack=True)) is not None:
            ids.append(message.properties["message_id"])
            assert message.properties["delivery_mode"] == 2  # persistent
    return ids


def test_two_relays_publish_every_row_exactly_once(infra, outbox):
    schema, pool = outbox
    event_type = f"test.relay_{uuid.uuid4().hex[:6]}"
    queue = bound_queue(infra, event_type)
    fill(infra, schema, event_type, 3000)
    relays = [OutboxRelay("test", infra.amqp_uri, pool, batch=200) for _ in range(2)]
    counts = [0, 0]

    def drain(i: int) -> None:
        while (sent := relays[i].publish_batch()) > 0:
            counts[i] += sent

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for relay in relays:
        relay._close()
    ids = message_ids(infra, queue)
    assert len(ids) == 3000 and len(set(ids)) == 3000
    assert sum(counts) == 3000 and all(counts), counts  # both relays took part
    with infra.connect(schema) as db:
        assert db.execute("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL"
                          ).fetchone()["n"] == 0


def test_unroutable_rows_stay_unsent_and_say_why(infra, outbox):
    schema, pool = outbox
    fill(infra, schema, "test.nobody_listens", 3)
    relay = OutboxRelay("test", infra.amqp_uri, pool)
    assert relay.publish_batch() == 0
    relay._close()
    with infra.connect(schema) as db:
        rows = db.execute("SELECT sent_at, last_error, next_attempt_at FROM outbox").fetchall()
    assert len(rows) == 3
    assert all(r["sent_at"] is None and r["last_error"] == "unroutable" for r in rows)
    assert all(r["next_attempt_at"] is not None for r in rows)  # backed off, not hot-looping


def test_broker_down_keeps_rows_for_later(infra, outbox):
    schema, pool = outbox
    fill(infra, schema, "test.down", 2)
    relay = OutboxRelay("test", "amqp://guest:guest@127.0.0.1:1/", pool)
    with pytest.raises(OSError):  # connection refused
        relay.publish_batch()
    with infra.connect(schema) as db:
        assert db.execute("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL"
                          ).fetchone()["n"] == 2


def test_retention_prunes_old_sent_rows_and_inbox_ids_in_batches(infra, outbox):
    """Sent rows and processed ids older than their age go, in batches; unsent rows and
    recent ones stay; the shared migration gives both deletes an index."""
    from shared.db import SHARED_MIGRATIONS, migrate
    from shared.retention import prune

    schema, pool = outbox
    assert migrate(infra.database_url, schema, SHARED_MIGRATIONS, prefix="shared/") == [
        "shared/0001_outbox_inbox_retention.sql"]
    fill(infra, schema, "case.old", 7)
    with infra.connect(schema) as db:
        ids = [r["id"] for r in db.execute("SELECT id FROM outbox ORDER BY id")]
        db.execute("UPDATE outbox SET sent_at = now() - interval '10 days' WHERE id = ANY(%s)",
                   (ids[:5],))  # five old and sent
        db.execute("UPDATE outbox SET sent_at = now() - interval '1 day' WHERE id = %s",
                   (ids[5],))  # sent recently; ids[6] never sent
        db.execute("UPDATE outbox SET created_at = now() - interval '30 days'")
        for days in (40, 40, 40, 2):
            db.execute("INSERT INTO inbox (consumer, event_id, processed_at) VALUES "
                       "('deadlines', %s, now() - make_interval(days => %s))",
                       (uuid.uuid4(), days))
        db.execute("SET enable_seqscan = off")  # a 7-row table: ask whether the index fits
        plan = "\n".join(r["QUERY PLAN"] for r in db.execute(
            "EXPLAIN SELECT id FROM outbox WHERE sent_at IS NOT NULL AND sent_at < now() "
            "ORDER BY sent_at LIMIT 2"))

    assert prune(pool, "test", {"outbox": 7, "inbox": 30}, batch=2) == {"outbox": 5, "inbox": 3}
    with infra.connect(schema) as db:
        left = [r["id"] for r in db.execute("SELECT id FROM outbox ORDER BY id")]
        assert left == ids[5:]
        assert db.execute("SELECT count(*) AS n FROM inbox").fetchone()["n"] == 1
    assert "outbox_sent_at" in plan
    assert prune(pool, "test", {"outbox": 7, "inbox": 30}) == {"outbox": 0, "inbox": 0}

"""PostgreSQL access: pooled connections, per-service schema, migrations, unit of work.

Each service owns one schema and sets it as the connection's search_path, so its SQL
never names another service's tables. The unit of work is the only way to change state:
its outbox rows and inbox marks commit in the same transaction as the change.
"""

from __future__ import annotations

import logging
import re
import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from shared.problems import ServiceUnavailable

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class DatabaseUnavailable(ServiceUnavailable):
    """PostgreSQL is unreachable (down, restarting, pool exhausted): callers answer 503 and
    consumers retry later; never a 500. RPC callers see it by name (`shared.rpc`)."""

    def __init__(self, reason: str):
        super().__init__("database", reason)


# How long a request waits for a pooled connection before it is told 503.
POOL_WAIT_SECONDS = 3.0


def make_pool(database_url: str, schema: str, max_size: int = 10, name: str = "") -> ConnectionPool:
    return ConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        # autocommit: a read is one round trip (no BEGIN and COMMIT around it; at READ
        # COMMITTED each statement had its own snapshot anyway); a unit of work still opens
        # a transaction of its own (conn.transaction()).
        kwargs={"options": f"-c search_path={schema}", "row_factory": dict_row,
                "connect_timeout": 3, "autocommit": True},
        name=name or schema,
        open=True,
        timeout=POOL_WAIT_SECONDS,
        # A connection left broken by a database restart is found and replaced when it is
        # taken from the pool, not by the next request failing with it.
        check=check_idle_connection,
        # psycopg_pool doubles its reconnect delay without a cap until this timeout, then
        # gives up and starts afresh on the next request: a short timeout keeps every
        # delay short, so the pool is back within seconds of the database.
        reconnect_timeout=5,
    )


def check_idle_connection(conn: psycopg.Connection) -> None:
    """The pool's check of a connection it hands out, without a round trip when nothing
    happened to it: an idle connection's socket has nothing to read unless the server wrote
    to it (a restart's termination notice, a closed socket), and then the full check
    (an empty query) runs and raises. A ping on every checkout cost each read one more
    round trip to PostgreSQL."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


@contextmanager
def _unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except psycopg.OperationalError as exc:  # connection lost, refused, pool timeout
        raise DatabaseUnavailable(type(exc).__name__) from exc


def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if it does not exist (fresh machines, test runs)."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    name = info.get("dbname")
    admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            try:
                conn.execute(f'CREATE DATABASE "{name}"')
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # another service created it at the same moment


def migrate(database_url: str, schema: str, migrations_dir: Path, prefix: str = "") -> list[str]:
    """Apply the plain-SQL migrations not yet applied to this schema, in order. `prefix`
    keeps the versions of shared migrations (every schema's outbox and inbox) apart.

    An advisory lock serialises concurrent start-ups of the same service."""
    files = sorted(p for p in migrations_dir.glob("*.sql") if MIGRATION_NAME.match(p.name))
    applied_now = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"migrate:{schema}",))
        try:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations '
                "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r[0] for r in conn.execute(f'SELECT version FROM "{schema}".schema_migrations')}
            for path in files:
                version = prefix + path.name
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(f'SET LOCAL search_path TO "{schema}"')
                    conn.execute(path.read_text())
                    conn.execute(
                        f'INSERT INTO "{schema}".schema_migrations (version) VALUES (%s)',
                        (version,))
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"migrate:{schema}",))
    if applied_now:
        log.info("applied migrations %s to %s", ", ".join(applied_now), schema)
    return applied_now


# Outbox and inbox tables every service gets (created by shared migrations, see SHARED_SQL).
SHARED_SQL = """
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at timestamptz,
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error text
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS inbox (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"""


# Later changes to those tables, applied to every schema, recorded as "shared/<file>".
SHARED_MIGRATIONS = Path(__file__).parent / "migrations"


def ensure_shared_tables(database_url: str, schema: str) -> None:
    """The schema's outbox and inbox, under its migration lock: two processes on one schema
    (notifications and its senders) start at once, and IF NOT EXISTS is no guard against a
    concurrent CREATE (a unique violation in the catalogue)."""
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"migrate:{schema}",))
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f'SET LOCAL search_path TO "{schema}"')
        conn.execute(SHARED_SQL)


class UnitOfWork:
    """One transaction: state changes, outgoing events (outbox), processed events (inbox)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.emitted: list[dict] = []

    def execute(self, sql: str, params: object = None) -> psycopg.Cursor:
        return self.conn.execute(sql, params)

    def emit(self, event: dict) -> None:
        """Queue an event for publication; it is sent only if this transaction commits."""
        self.emit_many([event])

    def emit_many(self, events: list[dict]) -> None:
        """Queue many events in one statement (in their order), sent only if this
        transaction commits."""
        if not events:
            return
        # One jsonb array, not a jsonb[] parameter: psycopg escapes each element of a text
        # array literal with a regex, which costs more than the insert (bench/alerts.py).
        self.conn.execute(
            "INSERT INTO outbox (event_id, event_type, body) "
            "SELECT (e ->> 'id')::uuid, e ->> 'type', e FROM jsonb_array_elements(%s) AS e",
            (Jsonb(events),))
        self.emitted.extend(events)

    def first_delivery(self, consumer: str, event_id: str) -> bool:
        """Mark an incoming event processed; False if it already was (a redelivery)."""
        row = self.conn.execute(
            "INSERT INTO inbox (consumer, event_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING RETURNING event_id", (consumer, event_id)).fetchone()
        return row is not None

    def first_deliveries(self, consumer: str, event_ids: list[str]) -> set[str]:
        """Mark many incoming events processed in one statement; returns the ids not marked
        before (first deliveries). Sorted, so two batches lock inbox keys in one order."""
        rows = self.conn.execute(
            "INSERT INTO inbox (consumer, event_id) SELECT %s, unnest(%b::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            (consumer, sorted(set(event_ids)))).fetchall()
        return {str(r["event_id"]) for r in rows}


class Database:
    """A pool plus the unit-of-work factory; `on_emit` wakes the outbox relay after commit."""

    def __init__(self, pool: ConnectionPool, on_emit: Callable[[], None] | None = None,
                 service: str = ""):
        self.pool = pool
        self.service = service
        self.on_emit = on_emit

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        with _unavailable_as_503(), self.pool.connection() as conn:
            with conn.transaction():
                uow = UnitOfWork(conn)
                yield uow
        if uow.emitted and self.on_emit:
            self.on_emit()

    @contextmanager
    def statement(self) -> Iterator[psycopg.Connection]:
        """A connection for one statement that is its own transaction and emits no event
        (a case read and its audit row, written by that same statement). Pool connections
        are in autocommit, so this is two round trips (BEGIN, COMMIT) fewer than a unit of
        work, and as atomic."""
        with self.read() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[psycopg.Connection]:
        with _unavailable_as_503(), self.pool.connection() as conn:
            yield conn


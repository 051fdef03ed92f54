"""The pool's check at checkout (shared.db.check_idle_connection): no round trip for a
healthy idle connection, yet one the server closed while it sat in the pool is replaced
before a request gets it."""

from __future__ import annotations

import time

import psycopg
from psycopg_pool import ConnectionPool

from shared.db import Database, check_idle_connection, make_pool


def gone_by_backend(admin: psycopg.Connection, pid: int) -> None:
    """Wait until the terminated backend has exited (pg_terminate_backend only signals it):
    from then on its socket holds the termination notice and the close."""
    deadline = time.monotonic() + 10
    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
        assert time.monotonic() < deadline, "the backend did not exit"
        time.sleep(0.02)
    time.sleep(0.05)


def test_a_connection_the_server_terminated_is_replaced_at_checkout(infra):
    pool = make_pool(infra.database_url, "public", max_size=1, name="pool-check")
    try:
        with pool.connection() as conn:
            first = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
        with psycopg.connect(infra.database_url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone()[0]
            gone_by_backend(admin, first)
        # the only pooled connection is dead: the check finds it and the pool opens another
        with pool.connection() as conn:
            second = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
        assert second != first
    finally:
        pool.close()


def test_a_healthy_idle_connection_passes_without_a_query(infra, monkeypatch):
    pinged = []
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(pinged.append))
    with psycopg.connect(infra.database_url, autocommit=True) as conn:
        conn.execute("SELECT 1").fetchone()
        check_idle_connection(conn)
        assert pinged == []  # nothing to read on its socket: no round trip
        pid = conn.info.backend_pid
        with psycopg.connect(infra.database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            gone_by_backend(admin, pid)
        check_idle_connection(conn)
        assert pinged == [conn]  # the server wrote to the idle connection: the full check


def test_one_statement_is_its_own_transaction_and_a_unit_of_work_still_is_one(infra):
    pool = make_pool(infra.database_url, "public", max_size=1, name="statement")
    try:
        db = Database(pool)
        with db.statement() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS pool_statement_check (n int)")
            conn.execute("INSERT INTO pool_statement_check VALUES (1)")
        with db.read() as conn:
            assert conn.autocommit is True  # pool connections: a read is one round trip
            assert conn.execute("SELECT count(*) AS n FROM pool_statement_check"
                                ).fetchone()["n"] == 1  # committed without a COMMIT
        try:  # a unit of work is still all or nothing on the same connections
            with db.unit_of_work() as uow:
                uow.execute("INSERT INTO pool_statement_check VALUES (2)")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        with db.read() as conn:
            assert conn.execute("SELECT count(*) AS n FROM pool_statement_check"
                                ).fetchone()["n"] == 1
            conn.execute("DROP TABLE pool_statement_check")
    finally:
        pool.close()

"""A private RabbitMQ vhost and PostgreSQL database per test run, so runs never collide and
leftovers never make a test pass or fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.support.api import users_database

BROKER = os.environ.get("TEST_AMQP_HOST", "127.0.0.1:5672")
PG = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")


def _rabbitmqctl(*args: str) -> None:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)


class RunInfra:
    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex[:10]
        self.vhost = f"ehcp-test-{self.run_id}"
        self.database = f"ehcp_test_{self.run_id}"
        self.amqp_uri = f"amqp://guest:guest@{BROKER}/{self.vhost}"
        self.database_url = f"{PG}/{self.database}"

    def create(self) -> None:
        _rabbitmqctl("add_vhost", self.vhost)
        _rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def drop(self) -> None:
        try:
            _rabbitmqctl("delete_vhost", self.vhost)
        finally:
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def connect(self, schema: str) -> psycopg.Connection:
        return psycopg.connect(self.database_url, autocommit=True,
                               options=f"-c search_path={schema}",
                               row_factory=psycopg.rows.dict_row)


@contextmanager
def fresh_infra() -> Iterator[RunInfra]:
    """A vhost and database that exist for the duration of the block."""
    infra = RunInfra()
    infra.create()
    try:
        with users_database(infra.database_url):  # test tokens list their users here
            yield infra
    finally:
        infra.drop()

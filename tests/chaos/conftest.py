"""The chaos lab: a RabbitMQ node and a PostgreSQL cluster of this suite's own (other ports,
so the shared servers are never stopped), the services on them, a mail sink, and a
report of every fault printed at the end of the run."""

from __future__ import annotations

import contextlib
import signal
import threading
import types

import pytest
import requests

from tests.support import api as api_support
from tests.support import chaos
from tests.support.api import Api, token
from tests.support.channels import Receiver
from tests.support.processes import System, wait_for

LA, URN = "881", "100001"
REPORT: list[dict] = []


@pytest.fixture(scope="package")
def lab(tmp_path_factory):
    missing = chaos.available()
    if missing:
        pytest.skip(f"chaos lab unavailable: {missing}")
    broker, postgres = chaos.ChaosBroker(), chaos.ChaosPostgres()
    receiver = Receiver().start()
    system = None
    users = contextlib.ExitStack()
    try:
        booting = threading.Thread(target=broker.start)  # the slow one: boot it meanwhile
        booting.start()
        postgres.start()
        booting.join()
        infra = types.SimpleNamespace(amqp_uri=broker.amqp_uri,
                                      database_url=f"{postgres.url}/ehcp_chaos")
        system = System(infra, tmp_path_factory.mktemp("chaos-logs"), extra_env={
            "RPC_TIMEOUT": "3",
            # long enough to ride out the outages below, short enough for a test run
            "RETRY_DELAYS_MS": "500,2000,5000,10000,20000",
            "NOTIFY_POLL_SECONDS": "0.2", "WEBHOOK_TIMEOUT": "2",
            "NOTIFY_RETRY_BASE_SECONDS": "0.2", "NOTIFY_RETRY_CAP_SECONDS": "1",
            "NOTIFY_MAX_ATTEMPTS": "100", "NOTIFY_LEASE_SECONDS": "3",
        })
        _start_all(system)
        # the lab's tokens list their users in the lab's own database, and its school is in
        # the lab's register (the run's database is another cluster)
        users.enter_context(api_support.users_database(infra.database_url))
        system.register_schools(LA, URN)
        admin = Api(system.url, token("region_admin"))
        created = admin.post("/v1/recipients", {
            "kind": "school", "la_code": LA, "school_urn": URN, "name": "Chaos Primary",
            "channels": ["webhook", "inbox"], "webhook_url": receiver.url("/school")})
        assert created.status_code == 201, created.text
        receiver.secrets["/school"] = created.json()["webhook_secret"]
        yield types.SimpleNamespace(broker=broker, postgres=postgres, system=system,
                                    receiver=receiver, infra=infra)
    finally:
        users.close()
        if system is not None:  # nothing to keep: no graceful stop needed
            for proc in system.services.values():
                proc.kill(signal.SIGKILL)
        receiver.stop()
        broker.close()
        postgres.close()


def _start_all(system: System) -> None:
    """Every process at once (each migrates its schema), then wait until ready."""
    for proc in system.services.values():
        proc.launch()
    for proc in system.services.values():
        proc.wait_started(timeout=90)
    wait_for(lambda: requests.get(f"{system.url}/readyz", timeout=2).status_code == 200,
             timeout=60)


def pytest_terminal_summary(terminalreporter) -> None:
    """The table of every fault tried in this run, after the test results."""
    if not REPORT:
        return
    terminalreporter.section("chaos report")
    terminalreporter.write_line(
        "fault | requests tried | acknowledged (held) | lost | duplicated | outage s | "
        "recovered s after | slowest 503 s | answers")
    for row in REPORT:
        terminalreporter.write_line(
            f"{row['fault']} | {row['tried']} | {row['held']} | {row['lost']} | "
            f"{row['duplicated']} | {row['outage_s']} | {row['recover_s']} | "
            f"{row['slowest_503_s']} | {row['statuses']}")

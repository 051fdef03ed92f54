"""What every service process shares: its storage dependency and its start-up sequence."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared import broker, retention
from shared.config import Config, load_config
from shared.db import (
    SHARED_MIGRATIONS,
    Database,
    ensure_database,
    ensure_shared_tables,
    make_pool,
    migrate,
)
from shared.logs import setup_logging
from shared.metrics import DEPENDENCY_UP, serve_metrics
from shared.outbox import OutboxRelay
from shared.topology import declare_topology

log = logging.getLogger(__name__)


class Storage(DependencyProvider):
    """The service's PostgreSQL schema (a pool) and its outbox relay."""

    def __init__(self, relay: bool = True):
        self.with_relay = relay

    def setup(self):
        cfg: Config = self.container.config["EHCP"]
        self.pool = make_pool(cfg.database_url, cfg.service, max_size=cfg.db_pool_size)
        self.relay = None
        if self.with_relay and cfg.outbox_relay:
            self.relay = OutboxRelay(cfg.service, cfg.amqp_uri, self.pool,
                                     batch=cfg.relay_batch, poll_seconds=cfg.relay_poll_seconds,
                                     linger_seconds=cfg.relay_linger_ms / 1000)
        self.database = Database(self.pool, on_emit=self.relay.wake if self.relay else None,
                                 service=cfg.service)

    def start(self):
        if self.relay:
            self.relay.start()
        self.container.spawn_managed_thread(self._prune_forever, identifier="retention")
        self.container.spawn_managed_thread(self._watch_health, identifier="health")

    def _watch_health(self, interval: float = 5.0) -> None:
        """ehcp_dependency_up: can this process reach its database, and are its broker
        consumers connected (not reconnecting)? What a dashboard or alert needs to tell
        'the service is up but cut off' from 'the service is fine'."""
        import eventlet
        from nameko.messaging import QueueConsumer

        service = self.container.config["EHCP"].service
        while True:
            try:
                with self.pool.connection(timeout=2) as conn:
                    conn.execute("SELECT 1")
                DEPENDENCY_UP.labels(service, "database").set(1)
            except Exception:  # down: reported, retried next tick
                DEPENDENCY_UP.labels(service, "database").set(0)
            consumers = [e for e in self.container.extensions if isinstance(e, QueueConsumer)]
            DEPENDENCY_UP.labels(service, "broker").set(
                int(all(broker.connected(c) for c in consumers)))
            eventlet.sleep(interval)

    def _prune_forever(self) -> None:
        """Outbox and inbox retention (shared/retention.py), on a timer of its own."""
        import eventlet

        cfg: Config = self.container.config["EHCP"]
        ages = {"outbox": cfg.outbox_retention_days, "inbox": cfg.inbox_retention_days}
        while True:
            eventlet.sleep(cfg.retention_sweep_seconds)
            try:
                retention.prune(self.pool, cfg.service, ages)
            except Exception as exc:  # database down: the next tick tries again
                log.warning("retention pruning failed", extra={"error": repr(exc)})

    def stop(self):
        if self.relay:
            self.relay.stop()
        self.pool.close()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx) -> Database:
        return self.database


def prepare(cfg: Config, migrations: Path | None) -> None:
    """Everything that must exist before the service takes or sends a message."""
    ensure_database(cfg.database_url)
    ensure_shared_tables(cfg.database_url, cfg.service)
    migrate(cfg.database_url, cfg.service, SHARED_MIGRATIONS, prefix="shared/")
    if migrations is not None:
        migrate(cfg.database_url, cfg.service, migrations)
    declare_topology(cfg.amqp_uri)


def run(service_cls: type, migrations: Path | None = None) -> None:
    """Start one service as a process: migrate, declare topology, serve metrics, run nameko.

    A class with a `schema` attribute is a process of its own on that service's schema
    (metrics port and log name its own); one with `nice` runs at that lower CPU priority.
    Call shared.green.patch() before importing this module."""
    from nameko.runners import ServiceRunner

    cfg = load_config(getattr(service_cls, "schema", service_cls.name),
                      process=service_cls.name)
    if getattr(service_cls, "nice", 0):  # a process that must yield the CPU to the others
        os.nice(service_cls.nice)
    setup_logging(cfg.process, cfg.log_level)
    broker.install()  # reconnect fast, re-declare everything, never die on a dead channel
    prepare(cfg, migrations)
    serve_metrics(cfg.metrics_port, cfg.metrics_bind)
    runner = ServiceRunner({**cfg.nameko(), "EHCP": cfg})
    runner.add_service(service_cls)

    stopping = []

    def shutdown(signum, frame):
        # Ctrl-C in a terminal signals the whole process group, and run.sh adds a SIGTERM:
        # stop once; a third signal while stopping means "now".
        stopping.append(signum)
        if len(stopping) == 1:
            log.info("stopping on signal %s", signum)
            import eventlet

            eventlet.spawn_n(runner.stop)
        elif len(stopping) > 2:
            os._exit(1)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    log.info("started", extra={"route": f"metrics :{cfg.metrics_port}"})
    runner.wait()


def ping(db: Database) -> str:
    """The health RPC every service answers: 'pong' only while its database answers too,
    so the gateway's /readyz reports what each service can really do."""
    with db.read() as conn:
        conn.execute("SELECT 1")
    return "pong"


class Settings(DependencyProvider):
    """The service's Config (from the one loader), injected into workers."""

    def get_dependency(self, worker_ctx) -> Config:
        return self.container.config["EHCP"]


class ConfigTimer(Timer):
    """nameko's timer with its interval taken from the service's Config at start-up (nameko's
    own fixes it when the class is defined), so tests and the demo can run it faster."""

    def __init__(self, seconds: Callable[[Config], float], **kwargs):
        # A keyword argument: nameko takes a lone positional callable for the decorated method.
        self.interval_of = seconds
        super().__init__(interval=1.0, eager=True, **kwargs)

    def setup(self):
        self.interval = self.interval_of(self.container.config["EHCP"])


config_timer = ConfigTimer.decorator

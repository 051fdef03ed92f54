"""Start services as real processes through their real entrypoints (`python -m services.X`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
# Process names; each runs `python -m services.<name>` unless MODULES says otherwise.
SERVICES = ("referrals", "deadlines", "notifications", "notification_senders", "gateway")
MODULES = {"notification_senders": "services.notifications.senders"}


def module(process: str) -> str:
    """The module `python -m` runs for a process of SERVICES."""
    return MODULES.get(process, f"services.{process}")


def _die_with_parent() -> None:
    """Run in the child before exec: if the test process dies (a timeout, Ctrl-C), the kernel
    kills the service too, so no orphan keeps consuming from a dropped vhost."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ServiceProcess:
    def __init__(self, module: str, name: str, env: dict, log_dir: Path):
        self.module = module
        self.name = name
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, extra_env: dict | None = None, timeout: float = 30) -> ServiceProcess:
        self.launch(extra_env)
        return self.wait_started(timeout)

    def launch(self, extra_env: dict | None = None) -> None:
        """Start the process without waiting (from the main thread: the kernel kills the
        child when the thread that started it exits)."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{self.name} is already running (pid {self.proc.pid})")
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, env={**self.env, **(extra_env or {})},
            preexec_fn=_die_with_parent)

    def wait_started(self, timeout: float = 30) -> ServiceProcess:
        offset = self._offset
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            if '"msg": "started"' in text:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start in {timeout} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def send_signal(self, sig: int) -> None:
        """Send a signal without waiting (stop several processes at once, then wait)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> None:
        if self.proc:
            self.proc.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class System:
    """The services, one process each (notifications two: its consumer and RPC, and its
    senders), on private ports, vhost and database."""

    def __init__(self, infra, log_dir: Path, extra_env: dict | None = None):
        self.gateway_port = free_port()
        self.metrics_ports = {s: free_port() for s in SERVICES}
        self.env = {
            **os.environ,
            "AMQP_URI": infra.amqp_uri,
            "DATABASE_URL": infra.database_url,
            "GATEWAY_PORT": str(self.gateway_port),
            "RETRY_DELAYS_MS": "100,200,400",
            "RELAY_POLL_SECONDS": "0.1",
            "LOG_LEVEL": "INFO",
            # demo mode: the public test secret and webhooks to a local receiver are allowed
            "EHCP_MODE": "demo",
            "BODY_READ_SECONDS": "4",
            "HEADER_READ_SECONDS": "4",
            # every test signs in from 127.0.0.1, many on purpose with bad tokens: the
            # failed-sign-in limit has tests of its own (tests/e2e/test_token_policy.py)
            "AUTH_FAILURES_PER_IP": "1000000",
            "AUTH_FAILURES_PER_SUBJECT": "1000000",
            **{f"{s.upper()}_METRICS_PORT": str(p) for s, p in self.metrics_ports.items()},
            **(extra_env or {}),
        }
        self.services = {s: ServiceProcess(module(s), s, self.env, log_dir)
                         for s in SERVICES}
        self.url = f"http://127.0.0.1:{self.gateway_port}"

    def start(self) -> System:
        # All at once (migrations take an advisory lock; each declares the whole
        # topology), then wait for each: a module's set-up costs one start, not five.
        for s in SERVICES:
            self.services[s].launch()
        for s in SERVICES:
            self.services[s].wait_started()
        wait_for(lambda: requests.get(f"{self.url}/readyz", timeout=2).status_code == 200)
        return self

    def stop(self) -> None:
        """SIGTERM to all, then wait for each (stopped in turn, their graceful stops
        added up to most of a module's teardown)."""
        for proc in self.services.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.services.values():
            proc.wait()

    def register_schools(self, la_code: str, *urns: str) -> None:
        """Put schools in the register (open), as `ehcp school add` does: a request for
        assessment must name one. Needs the gateway to have migrated (after start())."""
        register_schools(self.env["DATABASE_URL"], la_code, *urns)

    def metrics(self, service: str) -> str:
        return requests.get(f"http://127.0.0.1:{self.metrics_ports[service]}/metrics",
                            timeout=5).text


@contextmanager
def running_system(infra, log_dir: Path, extra_env: dict | None = None,
                   schools: tuple[str, ...] = ()) -> Iterator[System]:
    """A System started, with `schools` (an LA code, then its URNs) in the register, and
    stopped afterwards: the body of a module's or package's system fixture."""
    system = System(infra, log_dir, extra_env).start()
    try:
        if schools:
            system.register_schools(*schools)
        yield system
    finally:
        system.stop()


def register_schools(database_url: str, la_code: str, *urns: str) -> None:
    import psycopg
    from psycopg.rows import dict_row

    from services.gateway import region

    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row,
                         options="-c search_path=gateway") as conn:
        if not region.la_exists(conn, la_code):
            region.add_la(conn, la_code, f"Test LA {la_code}")
        for urn in urns:
            region.add_school(conn, urn, f"Test School {urn}", la_code)


def wait_for(predicate, timeout: float = 20, interval: float = 0.05):
    """Poll until predicate() is truthy; return its value. Exceptions count as not yet."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # not ready yet
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last error: {last_exc!r})")

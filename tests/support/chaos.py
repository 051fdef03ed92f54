"""A RabbitMQ node and a PostgreSQL cluster of the test's own, on free ports, that a chaos
test may stop, reset and start again. The shared servers (5672, 5432) are never touched."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.ports import free_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found under /usr/lib/postgresql/*/bin")
    return found[-1]


def available() -> str | None:
    """Why the chaos servers cannot run here, or None when they can."""
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        return "rabbitmq-server not installed"
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return "PostgreSQL server binaries not installed"
    return None


class ChaosBroker:
    """One RabbitMQ node: its own name, ports, database and logs in a temp dir; no plugins."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ehcp-chaos-rabbit-"))
        self.port = free_port()
        self.node = f"ehcp-chaos-{os.getpid()}-{self.port}@localhost"
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n")
        self.env = {
            **os.environ,
            "HOME": str(self.dir),  # its own Erlang cookie
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.amqp_uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", self.node, *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def start(self) -> None:
        pid_file = self.dir / "node.pid"
        pid_file.unlink(missing_ok=True)
        subprocess.run([str(RABBIT_BIN / "rabbitmq-server"), "-detached"], env=self.env,
                       check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 90
        while not pid_file.exists():  # -detached returns before the node writes its pid
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker did not start: {self.log_tail()}")
            time.sleep(0.1)
        self.ctl("wait", str(pid_file), "--timeout", "90")

    def stop(self) -> None:
        self.ctl("stop")

    def reset(self) -> None:
        """Lose every queue, exchange and message, as a broker rebuilt from scratch would."""
        # stop_app, reset, start_app in one CLI call (each call costs seconds of start-up)
        self.ctl("eval", "ok = rabbit:stop(), ok = rabbit_mnesia:reset(), rabbit:start().")

    def queue_counts(self) -> dict[str, int]:
        out = self.ctl("list_queues", "name", "messages", "--no-table-headers")
        counts = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
        return counts

    def log_tail(self) -> str:
        logs = sorted((self.dir / "log").glob("*.log"))
        return logs[0].read_text(errors="replace")[-2000:] if logs else ""

    def close(self) -> None:
        try:
            self.stop()
        except Exception:  # already stopped
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class ChaosPostgres:
    """One PostgreSQL cluster (initdb into a temp dir, run as the postgres user)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ehcp-chaos-pg-"))
        self.port = free_port()
        self.data = self.dir / "data"
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, *cmd: str) -> None:
        if self._as_postgres:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off -c max_connections=200", "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back, clients are disconnected."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        try:
            self.stop()
        except Exception:  # already stopped
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

"""Ports for the processes a test starts.

Asking the kernel for a free port (bind to port 0) hands out a port from the ephemeral
range, which is also where every outgoing connection (to RabbitMQ, PostgreSQL, a test's
HTTP client) takes its local port. Between the test releasing the port and the service
binding it, such a connection can take it, and the service fails with "Address already
in use" (seen in CI). Ports below the ephemeral range are never taken that way, so the
only contenders are listeners, which the bind check sees, and this run's own earlier
picks, which are remembered."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 10000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port nothing listens on, outside the ephemeral range, not handed out before in
    this run."""
    highest = _ephemeral_start() - 1
    for _ in range(1000):
        port = random.randint(_LOWEST, highest)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {_LOWEST} and {highest}")

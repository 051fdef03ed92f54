"""Business figures of the referrals service: cases by LA and state (LA code label only)."""

from __future__ import annotations

from prometheus_client import Gauge

CASES = Gauge("ehcp_cases", "Cases by LA and lifecycle state (open and closed)",
              ["la_code", "status"])

_seen: set[tuple[str, str]] = set()


def set_cases(rows: list[dict]) -> None:
    """Set the gauge from one grouped query; label sets that disappeared go to zero."""
    current = set()
    for r in rows:
        key = (r["la_code"], r["status"])
        current.add(key)
        CASES.labels(*key).set(r["n"])
    for key in _seen - current:
        CASES.labels(*key).set(0)
    _seen.update(current)

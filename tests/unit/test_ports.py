"""The test harness's port picker: below the ephemeral range, bindable, never twice."""

import socket

from tests.support import ports
from tests.support.ports import _ephemeral_start, free_port


def test_ports_are_outside_the_ephemeral_range_distinct_and_bindable():
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(10000 <= p < _ephemeral_start() for p in ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))


def test_a_port_something_listens_on_is_never_handed_out(monkeypatch):
    taken, other = free_port(), free_port()
    monkeypatch.setattr(ports, "_handed_out", set())  # as if this run had picked neither
    picks = iter([taken, other])
    monkeypatch.setattr(ports.random, "randint", lambda low, high: next(picks))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", taken))
        listener.listen()
        assert free_port() == other

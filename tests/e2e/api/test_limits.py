"""Hostile clients against the real gateway (issue 9): slow bodies, huge bodies, deep JSON,
security headers on every answer, one access-log line per request."""

from __future__ import annotations

import json
import select
import socket
import threading
import time

import pytest
import requests

from tests.support.api import Api, referral_body, token
from tests.support.processes import wait_for

LA, SCHOOL = "931", "931001"


@pytest.fixture(scope="module", autouse=True)
def register(system):
    system.register_schools(LA, SCHOOL)


def raw_request(url: str, head: str, body: bytes = b"", read: bool = True) -> tuple[int, bytes]:
    """Send bytes as they are (requests would fix a lying Content-Length) and return the
    status and the whole answer, read until the server closes or 10 s pass."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        data = b""
        if read:
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except (TimeoutError, ConnectionResetError):
                pass
    return int(data.split(b" ", 2)[1]) if data else 0, data


def test_slow_clients_do_not_block_other_requests(system):
    """Twelve clients trickle a body at 1 byte/s: /healthz and an authenticated read still
    answer at once, and each slow client is cut off with a 408 after BODY_READ_SECONDS."""
    host, port = system.url.removeprefix("http://").split(":")
    reader = Api(system.url, token("la_caseworker", la_code=LA))
    stop = threading.Event()  # a safety net: the server should end every trickle
    answers: list[bytes] = []

    def trickle():
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"POST /v1/referrals HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n")
            try:
                while not stop.is_set():
                    # one byte a second until the server answers (then read its answer)
                    if select.select([sock], [], [], 1.0)[0]:
                        answers.append(sock.recv(65536))
                        return
                    sock.sendall(b" ")
            except OSError:
                answers.append(b"")

    slow = [threading.Thread(target=trickle, daemon=True) for _ in range(12)]
    for t in slow:
        t.start()
    time.sleep(1.5)  # every slow client is connected and sending
    worst = 0.0
    for _ in range(5):
        for call in (lambda: requests.get(f"{system.url}/healthz", timeout=5),
                     lambda: reader.get("/v1/referrals")):
            started = time.perf_counter()
            assert call().status_code == 200
            worst = max(worst, time.perf_counter() - started)
        time.sleep(0.3)
    for t in slow:
        t.join(timeout=15)
    stop.set()
    print(f"slowest /healthz or authenticated read beside 12 slow clients: {worst:.3f} s")
    assert worst < 2.0, worst  # a blocked gateway would wait for the 4 s body deadline
    assert len(answers) == 12
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:2]


def test_a_body_over_the_cap_is_refused_unread(system):
    """A declared 150 MB body gets 413 problem+json at once; the connection is closed
    without the server reading (or waiting for) the body."""
    started = time.perf_counter()
    status, answer = raw_request(
        system.url, "POST /v1/referrals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                    f"\r\nContent-Length: {150 * 1024 * 1024}", b"{")
    assert status == 413
    assert time.perf_counter() - started < 3
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/problem+json" in head and b"Connection: close" in head
    assert json.loads(body)["errors"][0]["field"] == "body"
    assert b"nosniff" in head  # the refusal carries the security headers too


def test_a_chunked_body_growing_past_the_cap_is_refused(system):
    api = Api(system.url, token("la_caseworker", la_code=LA))

    def chunks():
        for _ in range(40):  # 40 x 64 KiB = 2.5 MiB, over the 1 MiB cap
            yield b" " * 65536

    r = requests.post(system.url + "/v1/referrals", data=chunks(), timeout=15,
                      headers={**api._headers(), "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.headers["Content-Type"] == "application/problem+json"


def test_a_body_under_the_cap_still_works(system):
    school = Api(system.url, token("school", school_urn=SCHOOL))
    body = referral_body(LA, SCHOOL, "2026-03-02")
    padded = json.dumps(body) + " " * 500_000  # whitespace: valid JSON, half a megabyte
    r = requests.post(system.url + "/v1/referrals", data=padded, timeout=15,
                      headers={**school._headers(), "Content-Type": "application/json"})
    assert r.status_code == 201, r.text


def test_deeply_nested_json_is_422_naming_the_body(system):
    school = Api(system.url, token("school", school_urn=SCHOOL))
    for depth in (30, 1_000, 100_000):
        deep = "[" * depth + "]" * depth
        r = requests.post(system.url + "/v1/referrals", data=deep, timeout=15,
                          headers={**school._headers(), "Content-Type": "application/json"})
        assert r.status_code == 422, (depth, r.text)
        assert r.json()["errors"][0]["field"] == "body"


SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def test_security_headers_on_every_answer(system):
    school = Api(system.url, token("school", school_urn=SCHOOL))
    answers = {
        "health": requests.get(system.url + "/healthz", timeout=5),
        "case list": school.get("/v1/referrals"),
        "unauthorized": requests.get(system.url + "/v1/referrals", timeout=5),
        "unknown path": requests.get(system.url + "/nowhere", timeout=5),
        "docs": requests.get(system.url + "/v1/docs", timeout=5),
        "invalid body": school.post("/v1/referrals", {"child": 1}),
    }
    for name, r in answers.items():
        for header, part in SECURITY_HEADERS.items():
            assert part in r.headers.get(header, ""), (name, header, r.headers)
        assert "default-src 'self'" in r.headers["Content-Security-Policy"], name
    # personal data is never cached by a browser or a proxy
    assert answers["case list"].headers["Cache-Control"] == "no-store"
    # the docs page's inline style is allowed by its hash alone, never 'unsafe-inline'
    assert "'sha256-" in answers["docs"].headers["Content-Security-Policy"]
    assert "unsafe-inline" not in answers["docs"].headers["Content-Security-Policy"]


def test_one_access_log_line_per_request_without_the_case(system):
    school = Api(system.url, token("school", school_urn=SCHOOL, sub="senco-access-log"))
    case = school.post("/v1/referrals", referral_body(LA, SCHOOL, "2026-03-03")).json()
    assert school.get(f"/v1/referrals/{case['id']}").status_code == 200

    def line():
        for raw in system.services["gateway"].log().splitlines():
            entry = json.loads(raw) if raw.startswith("{") else {}
            if (entry.get("logger") == "ehcp.access" and entry.get("method") == "GET"
                    and entry.get("route") == "/v1/referrals/{id}"
                    and entry.get("subject") == "senco-access-log"):
                return entry
        return None

    entry = wait_for(line, timeout=5)
    assert entry["status"] == 200 and entry["level"] == "info"
    assert isinstance(entry["elapsed_ms"], float)
    log = system.services["gateway"].log()
    assert case["id"] not in log and "Child-Synthetic" not in log


def _listening_addresses(port: int) -> set[str]:
    """Local addresses a TCP port listens on, from the kernel's own table."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if int(hex_port, 16) == port and state == "0A":  # LISTEN
                    found.add(address)
    return found


def test_metrics_listen_on_loopback_only_by_default(system):
    for service, port in system.metrics_ports.items():
        assert _listening_addresses(port) == {"0100007F"}, service  # 127.0.0.1

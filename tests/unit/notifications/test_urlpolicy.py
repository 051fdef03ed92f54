"""The webhook URL policy (SSRF, issue 9): both ways, production and demo."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.notifications import webhooks
from services.notifications.email import DeliveryFailed
from services.notifications.urlpolicy import UrlRefused, WebhookPolicy, check_url

PRODUCTION = WebhookPolicy.for_mode(demo=False)
DEMO = WebhookPolicy.for_mode(demo=True)
SECRET = webhooks.new_secret()


def resolver(table: dict[str, list[str]]):
    """A DNS stand-in: host -> addresses (in getaddrinfo's shape)."""

    def resolve(host, port, type=0):  # noqa: A002 (getaddrinfo's own name)
        if host not in table:
            raise socket.gaierror("no such host")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in table[host]]

    return resolve


PUBLIC = resolver({"hooks.example.org": ["93.184.215.14"]})


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook",
    "https://0x7f000001/hook", "https://2130706433/hook", "https://0177.0.0.1/hook",
    "https://127.1/hook", "https://169.254.169.254/latest/meta-data/",
    "https://[::ffff:127.0.0.1]/hook", "https://[::ffff:169.254.169.254]/hook",
    "https://10.0.0.5/hook", "https://192.168.1.1/hook", "https://172.16.0.1/hook",
    "https://100.64.0.1/hook", "https://0.0.0.0/hook", "https://[::]/hook",
    "https://224.0.0.1/hook", "https://[fe80::1]/hook", "https://[fd00:ec2::254]/hook",
])
def test_production_refuses_local_and_metadata_addresses_in_every_spelling(url):
    # the system resolver, as at run time: numeric spellings resolve like names
    with pytest.raises(UrlRefused, match="private, loopback"):
        check_url(url, PRODUCTION)


@pytest.mark.parametrize("url,why", [
    ("http://hooks.example.org/hook", "https"),
    ("ftp://hooks.example.org/hook", "https"),
    ("https://user:pw@hooks.example.org/hook", "password"),
    ("https:///hook", "host"),
    ("https://hooks.example.org:99999/hook", "valid"),
    ("https://nowhere.invalid/hook", "resolve"),
])
def test_production_refuses_other_bad_urls(url, why):
    with pytest.raises(UrlRefused, match=why):
        check_url(url, PRODUCTION, PUBLIC)


def test_production_accepts_a_public_https_host_and_pins_its_address():
    target = check_url("https://hooks.example.org:8443/x", PRODUCTION, PUBLIC)
    assert (target.host, target.port, target.address) == ("hooks.example.org", 8443,
                                                          "93.184.215.14")


def test_a_name_with_one_private_address_among_public_ones_is_refused():
    mixed = resolver({"mixed.example.org": ["93.184.215.14", "10.1.2.3"]})
    with pytest.raises(UrlRefused):
        check_url("https://mixed.example.org/", PRODUCTION, mixed)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook",
                                 "https://[::1]/hook", "http://0x7f000001/hook"])
def test_demo_allows_local_http_receivers(url):
    assert check_url(url, DEMO).address


class Receiver:
    """A local HTTP server that records each request's Host header."""

    def __init__(self):
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hosts.append(self.headers["Host"])
                self.send_response(302 if self.path == "/redirect" else 204)
                if self.path == "/redirect":
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_send_connects_to_the_checked_address_not_a_fresh_lookup(receiver):
    """The name resolves (in our stand-in DNS) to the receiver's address: the POST goes
    there with the name as Host, although no real DNS knows the name."""
    dns = resolver({"receiver.invalid": ["127.0.0.1"]})
    status = webhooks.deliver(f"http://receiver.invalid:{receiver.port}/hook", SECRET, "m1",
                              b"{}", 2.0, policy=DEMO, resolve=dns)
    assert status == 204
    assert receiver.hosts == [f"receiver.invalid:{receiver.port}"]


def test_dns_rebinding_to_a_local_address_is_refused_at_send_time(receiver):
    """Public when saved, loopback when sent: nothing reaches the local receiver."""
    saved = resolver({"rebind.example.org": ["93.184.215.14"]})
    check_url(f"https://rebind.example.org:{receiver.port}/hook", PRODUCTION, saved)
    rebound = resolver({"rebind.example.org": ["127.0.0.1"]})
    with pytest.raises(DeliveryFailed) as caught:
        webhooks.deliver(f"https://rebind.example.org:{receiver.port}/hook", SECRET, "m2",
                         b"{}", 2.0, policy=PRODUCTION, resolve=rebound)
    assert str(caught.value) == webhooks.UNREACHABLE
    assert receiver.hosts == []


def test_delivery_errors_are_uniform_no_port_scanner(receiver):
    """A closed port, a refused address and an unresolvable name fail with one message."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    errors = set()
    for url, policy in ((f"http://127.0.0.1:{closed_port}/", DEMO),
                        ("https://127.0.0.1/", PRODUCTION),
                        ("https://nowhere.invalid/", PRODUCTION)):
        with pytest.raises(DeliveryFailed) as caught:
            webhooks.deliver(url, SECRET, "m3", b"{}", 2.0, policy=policy)
        errors.add((str(caught.value), caught.value.retryable))
    assert errors == {(webhooks.UNREACHABLE, True)}


def test_redirects_are_not_followed(receiver):
    with pytest.raises(DeliveryFailed) as caught:
        webhooks.deliver(f"http://127.0.0.1:{receiver.port}/redirect", SECRET, "m4", b"{}",
                         2.0, policy=DEMO)
    assert caught.value.status == 302 and caught.value.retryable is False
    assert len(receiver.hosts) == 1  # the redirect's target was never asked

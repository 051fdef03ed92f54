"""Where a webhook may be sent (issue 9: SSRF). A recipient's URL is checked when it is
saved and again at every send, against the addresses its host resolves to *then*; the
connection goes to the address that was checked (DNS rebinding cannot swap it afterwards).

Refused outside demo mode: any scheme but https, user:password@ in the URL, and a host
resolving to any address that is not global unicast (loopback, private, link-local and so
the cloud metadata service at 169.254.169.254, carrier-grade NAT, unspecified, multicast,
reserved, IPv4-mapped forms of those). Numeric spellings (0x7f000001, 2130706433, 127.1)
resolve like names and are caught by the same address check. Demo mode (EHCP_MODE=demo:
the demo and the tests' local receivers) allows http and local addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

Resolver = Callable[..., list]


class UrlRefused(ValueError):
    """The URL may not receive webhooks (the reason is for logs and the API's 422)."""


@dataclass(frozen=True)
class WebhookPolicy:
    allow_http: bool = False
    allow_local: bool = False

    @classmethod
    def for_mode(cls, demo: bool) -> WebhookPolicy:
        return cls(allow_http=demo, allow_local=demo)


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    address: str  # the checked address the connection must go to


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, policy: WebhookPolicy,
              resolve: Resolver = socket.getaddrinfo) -> Target:
    """The target to connect to, or UrlRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("not a valid URL") from None
    allowed = {"https", "http"} if policy.allow_http else {"https"}
    if parts.scheme not in allowed:
        raise UrlRefused("must be an https URL")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry a user name or password")
    host = parts.hostname
    if not host:
        raise UrlRefused("needs a host name")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UrlRefused("host name does not resolve") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UrlRefused("host name does not resolve")
    if not policy.allow_local and not all(_public(a) for a in addresses):
        # all must be public: a name with one private address is a rebinding vehicle
        raise UrlRefused("host resolves to a private, loopback, link-local or reserved "
                         "address")
    return Target(host=host, port=port, address=addresses[0])


class PinnedAdapter(HTTPAdapter):
    """Connects to the checked address whatever the URL's host resolves to now, while the
    Host header, TLS SNI and certificate check still use the host name."""

    def __init__(self, target: Target):
        self.target = target
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        if host_params["host"].lower() == self.target.host.lower():
            host_params = {**host_params, "host": self.target.address}
            if host_params["scheme"] == "https":
                pool_kwargs = {**pool_kwargs, "server_hostname": self.target.host,
                               "assert_hostname": self.target.host}
        return host_params, pool_kwargs


def pinned_session(target: Target) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment may bypass the pin
    adapter = PinnedAdapter(target)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session

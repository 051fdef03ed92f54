"""How the gateway is served: nameko's web server, guarded against hostile clients.

nameko hands each connection to a green thread, but the body used to be read inside a
nameko worker (`request.get_data()`), so ten clients trickling a body at 1 byte/s held all
ten workers and the gateway stopped answering, /healthz included. Here, before a request
reaches a worker:
- the request line and headers must arrive within HEADER_READ_SECONDS;
- a body declared larger than MAX_BODY_BYTES is refused (413) without reading it, and one
  that grows past the cap while streaming (chunked) likewise; the connection is closed;
- the whole body must arrive within BODY_READ_SECONDS (else 408), read into memory by
  the connection's own green thread, so workers only ever see complete requests.
Every response, from a route or from here, gets the security headers (`security_headers`)
and one JSON access-log line (route template, status, duration, subject; no URL, no body).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import socket
import time

import eventlet
from eventlet import wsgi
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.datastructures import Headers

from shared.config import Config
from shared.problems import Problem

access_log = logging.getLogger("ehcp.access")

READ_CHUNK = 64 * 1024

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def csp_with_style(style: str) -> str:
    """The policy for a page with one inline <style> block: allowed by its hash only."""
    digest = hashlib.sha256(style.encode()).digest()
    return CSP.replace("style-src 'self'",
                       f"style-src 'self' 'sha256-{base64.b64encode(digest).decode()}'")


SECURITY_HEADERS = (
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CSP),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cache-Control", "no-store"),
)


def security_headers(headers: Headers) -> None:
    """Added to every response of the gateway (a route may set a stricter or page-specific
    value first: existing headers win). Responses are `no-store` unless a route says
    otherwise: almost every answer carries a child's or a member of staff's data. One pass
    over the headers (nine setdefault calls were 2.7% of the gateway's samples for a read,
    this 0.9%)."""
    present = {key.lower() for key in headers.keys()}
    headers.extend([(k, v) for k, v in SECURITY_HEADERS if k.lower() not in present])


class GuardedProtocol(HttpOnlyProtocol):
    """eventlet's HTTP protocol with a deadline on the request line and headers (the
    per-read socket timeout alone lets a client send one byte every few seconds forever)."""

    def setup(self):
        super().setup()
        # eventlet writes a response through a 16 KB buffer, so a case list goes out in
        # several sends; with Nagle's algorithm each one after the first waits for the
        # client's delayed ACK (40 ms on Linux). Responses are whole when written: no delay.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):  # not a TCP socket (a test's socketpair)
            pass

    def parse_request(self):
        timeout = eventlet.Timeout(self.server.header_read_seconds)
        try:
            return super().parse_request()
        except eventlet.Timeout as exc:
            if exc is not timeout:
                raise
            self.close_connection = 1
            return False
        finally:
            timeout.cancel()

    def get_environ(self):
        environ = super().get_environ()
        # Lets the guard close the connection after refusing a body it did not read
        # (otherwise eventlet would read and discard the whole body to keep the
        # connection alive).
        environ["ehcp.close_connection"] = lambda: setattr(self, "close_connection", 1)
        return environ


class Guard:
    """WSGI middleware between eventlet's server and nameko's router (see module doc)."""

    def __init__(self, app, cfg: Config):
        self.app = app
        self.cfg = cfg

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        environ["ehcp.route"] = None
        environ["ehcp.subject"] = None
        status_seen: list[int] = [0]

        def guarded_start(status, headers, exc_info=None):
            status_seen[0] = int(status.split(" ", 1)[0])
            merged = Headers(headers)
            security_headers(merged)
            return start_response(status, merged.to_wsgi_list(), exc_info)

        try:
            try:
                self._buffer_body(environ)
            except Problem as problem:
                environ["ehcp.close_connection"]()
                body = json.dumps(problem.body()).encode()
                guarded_start(f"{problem.status} {problem.title}",
                              [("Content-Type", "application/problem+json"),
                               ("Content-Length", str(len(body))), ("Connection", "close")])
                return [body]
            return self.app(environ, guarded_start)
        finally:
            self._log(environ, status_seen[0], started)

    def _buffer_body(self, environ) -> None:
        """Read the whole body (at most max_body_bytes, within body_read_seconds) in this
        green thread and hand the route an in-memory copy."""
        cap = self.cfg.max_body_bytes
        declared = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if declared.isdigit() and int(declared) > cap:
            raise too_large(cap)
        if not chunked and (not declared.isdigit() or int(declared) == 0):
            environ["wsgi.input"] = io.BytesIO(b"")
            environ["CONTENT_LENGTH"] = "0"
            return
        source = environ["wsgi.input"]
        parts: list[bytes] = []
        size = 0
        timeout = eventlet.Timeout(self.cfg.body_read_seconds)
        try:
            while True:
                chunk = source.read(READ_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    raise too_large(cap)
                parts.append(chunk)
        except eventlet.Timeout as exc:
            if exc is not timeout:
                raise
            raise Problem(408, "Request timeout",
                          f"The body did not arrive within {self.cfg.body_read_seconds:g} s."
                          ) from None
        except OSError:
            raise Problem(400, "Bad request", "The body could not be read.") from None
        finally:
            timeout.cancel()
        body = b"".join(parts)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = True

    @staticmethod
    def _log(environ, status: int, started: float) -> None:
        # Route template and subject are set by the route (`endpoint`, `_actor`); never the
        # concrete path, query or body, which may carry a case id or a calendar secret.
        access_log.info("request", extra={
            "route": environ.get("ehcp.route") or "unrouted",
            "method": environ.get("REQUEST_METHOD"), "status": status,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
            "subject": environ.get("ehcp.subject")})


def too_large(cap: int) -> Problem:
    return Problem(413, "Payload too large", f"The body may be at most {cap} bytes.",
                   [{"field": "body", "message": f"at most {cap} bytes"}])


class GatewayServer(WebServer):
    """nameko's WebServer with the guard in front of its router and the timeouts set."""

    def get_wsgi_app(self):
        return Guard(WsgiApp(self), self.container.config["EHCP"])

    def get_wsgi_server(self, sock, wsgi_app, protocol=GuardedProtocol, debug=False):
        cfg: Config = self.container.config["EHCP"]
        server = wsgi.Server(
            sock, sock.getsockname(), wsgi_app, protocol=protocol, debug=debug,
            log=logging.getLogger("nameko.web.server"),
            keepalive=cfg.idle_seconds,  # how long a kept-alive connection may sit idle
            socket_timeout=cfg.body_read_seconds)  # any single read or write
        server.header_read_seconds = cfg.header_read_seconds
        server.log_output = False  # our own access log instead of eventlet's text line
        return server


class GatewayHttp(HttpRequestHandler):
    server = GatewayServer()


http = GatewayHttp.decorator


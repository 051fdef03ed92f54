"""Every HTTP entrypoint of the gateway is served by the one guarded server: a route declared
with nameko's own `http` would start a second, unguarded server on the same port, and the
kernel would hand it a share of the connections (seen: /readyz answering 404 at random)."""

from nameko.web.handlers import HttpRequestHandler

from services.gateway.service import GatewayService
from services.gateway.wsgi import GatewayHttp


def test_every_http_entrypoint_is_the_guarded_one():
    http_routes = {name: type(e) for name in dir(GatewayService)
                   for e in getattr(getattr(GatewayService, name), "nameko_entrypoints", ())
                   if isinstance(e, HttpRequestHandler)}
    assert len(http_routes) > 20, http_routes  # the API and the pages are all found
    assert {n for n, cls in http_routes.items() if cls is not GatewayHttp} == set()

"""Routes of the API's own documentation: the OpenAPI document and a page for people."""

from __future__ import annotations

from werkzeug.wrappers import Response

from services.gateway.http import endpoint, json_response
from services.gateway.openapi import DOCS_STYLE, api_page, build_spec
from services.gateway.wsgi import csp_with_style, http


class DocRoutes:
    _spec: dict | None = None

    def _openapi(self) -> dict:
        # Built once per process: the schemas do not change while it runs.
        if DocRoutes._spec is None:
            DocRoutes._spec = build_spec(self.settings.public_url)
        return DocRoutes._spec

    @http("GET", "/v1/openapi.json")
    @endpoint("/v1/openapi.json")
    def openapi_document(self, request):
        return json_response(self._openapi())

    @http("GET", "/v1/docs")
    @endpoint("/v1/docs")
    def api_docs(self, request):
        return Response(api_page(self._openapi()), status=200, mimetype="text/html",
                        headers={"Content-Security-Policy": csp_with_style(DOCS_STYLE)})

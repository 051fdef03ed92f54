"""HTTP plumbing of the gateway: JSON and problem+json responses, per-route metrics."""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from datetime import date, datetime

from nameko.exceptions import RemoteError
from werkzeug.wrappers import Response

from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS
from shared.problems import Problem
from shared.rpc import ServiceUnavailable

log = logging.getLogger(__name__)


def _default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, default=_default), status=status,
                    mimetype="application/json", headers=headers)


def problem_response(problem: Problem) -> Response:
    return Response(json.dumps(problem.body(), default=_default), status=problem.status,
                    mimetype="application/problem+json")


def read_json(request) -> object:
    if not (request.mimetype or "").endswith("json"):
        raise Problem(415, "Unsupported media type", "Send a JSON body (application/json).")
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise Problem(400, "Malformed JSON", "The request body is not valid JSON.") from None


def endpoint(route: str):
    """Wrap a route: errors become problem+json (503 when a backing service is down), and
    every request is counted and timed by route template, never by concrete URL."""

    def wrap(fn):
        @functools.wraps(fn)
        def handler(self, request, *args, **kwargs):
            started = time.perf_counter()
            try:
                response = fn(self, request, *args, **kwargs)
            except Problem as problem:
                response = problem_response(problem)
            except ServiceUnavailable as exc:
                response = problem_response(Problem(503, "Service unavailable", str(exc)))
            except RemoteError as exc:
                log.error("remote error", extra={"route": route, "error": exc.exc_type})
                response = problem_response(Problem(500, "Internal error", "Unexpected error."))
            except Exception:
                log.exception("unhandled error", extra={"route": route})
                response = problem_response(Problem(500, "Internal error", "Unexpected error."))
            HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
            HTTP_SECONDS.labels(route, request.method).observe(time.perf_counter() - started)
            return response

        return handler

    return wrap

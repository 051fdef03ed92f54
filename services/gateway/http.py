"""HTTP plumbing of the gateway: JSON and problem+json responses, per-route metrics."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import time
import uuid
from datetime import date, datetime

from marshmallow import Schema, ValidationError, fields
from nameko.exceptions import RemoteError
from werkzeug.wrappers import Response

from shared.config import load_config
from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS
from shared.problems import Problem, validation_problem
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
    headers = {}
    if problem.status in (429, 503) and problem.extra.get("retry_after"):
        headers["Retry-After"] = str(problem.extra["retry_after"])
    return Response(json.dumps(problem.body(), default=_default), status=problem.status,
                    mimetype="application/problem+json", headers=headers)


MAX_JSON_DEPTH = load_config("gateway").max_json_depth


def read_json(request) -> object:
    """The body as JSON. Its size was capped before the route ran (services/gateway/wsgi.py);
    nesting deeper than MAX_JSON_DEPTH is a 422, never a RecursionError's 500."""
    if not (request.mimetype or "").endswith("json"):
        raise Problem(415, "Unsupported media type", "Send a JSON body (application/json).")
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except RecursionError:
        raise too_deep() from None
    except ValueError:
        raise Problem(400, "Malformed JSON", "The request body is not valid JSON.") from None
    if _depth(body) > MAX_JSON_DEPTH:
        raise too_deep()
    if not _plain_text(body):
        # PostgreSQL text holds neither NUL nor lone surrogates: refuse them at the door.
        raise Problem(400, "Malformed JSON",
                      "Strings must be valid Unicode text without NUL characters.")
    return body


def too_deep() -> Problem:
    return Problem(422, "Validation failed", f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                   [{"field": "body", "message": f"at most {MAX_JSON_DEPTH} levels of nesting"}])


def _depth(value) -> int:
    """Nesting depth of parsed JSON, without recursion (a deep body must not crash us)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                return level
            stack.extend((child, level + 1) for child in node)
    return deepest


def _plain_text(value) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_plain_text(k) and _plain_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_text(v) for v in value)
    return True


MAX_IDEMPOTENCY_KEY = 200


def idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise Problem(422, "Validation failed", "Idempotency-Key: 1 to 200 characters",
                      [{"field": "Idempotency-Key",
                        "message": f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"}])
    return key


def read_object(request) -> dict:
    body = read_json(request)
    if not isinstance(body, dict):
        raise Problem(422, "Validation failed", "The body must be a JSON object.",
                      [{"field": "", "message": "must be a JSON object"}])
    return body


def load_query(schema: type[Schema], args) -> dict:
    """Validate a query string. List fields take repeated parameters or comma lists."""
    instance = schema()
    raw: dict = {}
    for name, fld in instance.fields.items():
        if name not in args:
            continue
        if isinstance(fld, fields.List):
            raw[name] = [v for item in args.getlist(name) for v in item.split(",") if v]
        else:
            raw[name] = args.get(name)
    try:
        return instance.load(raw)
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None


def load_body(schema: type[Schema], body: dict) -> dict:
    """Validate a JSON body: a 422 naming each wrong field."""
    try:
        return schema().load(body)
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None


def encode_cursor(key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list | None:
    """The sort key a page ended at, or a 422 naming `cursor` if it was tampered with."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        key = None
    if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
        raise Problem(422, "Validation failed", "cursor: not a cursor this API gave out",
                      [{"field": "cursor", "message": "not a cursor this API gave out"}])
    return key


def page(items: list, key, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Keyset paging over a sorted list: the items after the cursor's key, and the next
    cursor (None on the last page). Stable while items are added or removed."""
    after = decode_cursor(cursor)
    if after is not None:
        items = [i for i in items if key(i) > after]
    shown = items[:limit]
    return shown, (encode_cursor(key(shown[-1])) if len(items) > limit else None)


def endpoint(route: str):
    """Wrap a route: errors become problem+json (503 when a backing service is down), and
    every request is counted and timed by route template, never by concrete URL."""

    def wrap(fn):
        @functools.wraps(fn)
        def handler(self, request, *args, **kwargs):
            started = time.perf_counter()
            request.environ["ehcp.route"] = route  # for the access log (wsgi.Guard)
            try:
                response = fn(self, request, *args, **kwargs)
            except Problem as problem:  # an ordinary refusal: the access log has it
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

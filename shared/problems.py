"""The one error format: RFC 9457 problem details, raised anywhere, rendered by the gateway.

Registered with nameko so an RPC call re-raises it in the caller as the same type."""

from __future__ import annotations

from nameko.exceptions import deserialize_to_instance


class ServiceUnavailable(Exception):
    """A backing service (another service, the broker, the database) cannot answer now:
    the gateway renders it as 503, a consumer retries later."""

    def __init__(self, target: str, reason: str):
        super().__init__(f"{target} unavailable: {reason}")
        self.target = target
        self.reason = reason


@deserialize_to_instance
class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str = "", errors: list | None = None,
                 extra: dict | None = None):
        super().__init__(status, title, detail, errors or [], extra or {})
        self.status = int(status)  # RPC transport turns args into strings
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}

    def body(self) -> dict:
        body = {"type": f"https://ehcp-tracker.example/problems/{self.status}",
                "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def validation_problem(messages: dict, prefix: str = "") -> Problem:
    """Turn marshmallow's nested messages into a flat field list: [{field, message}]."""
    errors = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and node and not all(isinstance(n, str) for n in node):
            for item in node:
                walk(item, path)
        else:
            for msg in node if isinstance(node, list) else [node]:
                errors.append({"field": path, "message": str(msg)})

    walk(messages, prefix)
    return Problem(422, "Validation failed", "One or more fields are invalid.", errors)


def not_found(what: str = "case") -> Problem:
    return Problem(404, "Not found", f"No such {what}.")

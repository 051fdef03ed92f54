"""JSON-lines logging. Fields come from `extra=`; never pass a child's name or date of birth."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Only these extra keys are written: a whitelist keeps personal data out by construction.
FIELDS = ("event_id", "event_type", "correlation_id", "case_id", "reference", "la_code",
          "queue", "attempt", "error", "count", "elapsed_ms", "route", "status", "milestone",
          "method", "subject")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value if isinstance(value, int | float) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # nameko and kombu are chatty at INFO about connections; keep warnings.
    for noisy in ("nameko", "kombu", "amqp", "psycopg.pool", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

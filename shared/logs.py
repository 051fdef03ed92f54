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


class OrdinaryRefusals(logging.Filter):
    """nameko logs every exception a worker raised as an error with its traceback, also a
    Problem with a 4xx status (a refused request is the service working as intended): those
    are written at info, without traceback; 5xx and anything else stay as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        status = getattr(exc, "status", None)
        if (record.name.startswith("nameko") and type(exc).__name__ == "Problem"
                and isinstance(status, int) and 400 <= status < 500):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = f"request refused: {status} {exc.title}", ()
            record.exc_info = record.exc_text = None
        return True


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(OrdinaryRefusals())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # nameko and kombu are chatty at INFO about connections; keep warnings.
    for noisy in ("nameko", "kombu", "amqp", "psycopg.pool", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

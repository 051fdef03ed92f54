from __future__ import annotations

import json
import logging

from shared.logs import JsonFormatter, OrdinaryRefusals
from shared.problems import Problem, validation_problem


def test_validation_problem_flattens_nested_fields():
    problem = validation_problem({"child": {"date_of_birth": ["Not a valid date."]},
                                  "la_code": ["must be a three-digit LA code"]})
    assert problem.status == 422
    assert problem.body()["errors"] == [
        {"field": "child.date_of_birth", "message": "Not a valid date."},
        {"field": "la_code", "message": "must be a three-digit LA code"},
    ]


def test_problem_status_survives_string_args():
    assert Problem("409", "Conflict").status == 409  # nameko's RPC transport stringifies args


def test_log_lines_are_json_and_only_whitelisted_fields_are_written():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "request received", (), None)
    record.case_id = "c-1"
    record.event_id = "e-1"
    record.child_name = "Synthetic Name"  # not whitelisted: must never be written
    line = json.loads(JsonFormatter("referrals").format(record))
    assert line["service"] == "referrals" and line["case_id"] == "c-1"
    assert line["event_id"] == "e-1"
    assert "Synthetic Name" not in json.dumps(line)


def _worker_error(exc: Exception) -> logging.LogRecord:
    try:
        raise exc
    except Exception:
        import sys

        return logging.LogRecord("nameko.containers", logging.ERROR, __file__, 1,
                                 "error handling worker %s: %s", ("ctx", exc), sys.exc_info())


def test_a_4xx_refusal_is_logged_at_info_without_traceback_and_a_5xx_is_not():
    formatter = JsonFormatter("referrals")
    refused = _worker_error(Problem(404, "Not found", "No such case."))
    assert OrdinaryRefusals().filter(refused)
    line = json.loads(formatter.format(refused))
    assert line["level"] == "info" and "exc" not in line and "404" in line["msg"]
    broken = _worker_error(Problem(500, "Internal error"))
    OrdinaryRefusals().filter(broken)
    line = json.loads(formatter.format(broken))
    assert line["level"] == "error" and "Traceback" in line["exc"]
    other = _worker_error(KeyError("x"))
    OrdinaryRefusals().filter(other)
    assert json.loads(formatter.format(other))["level"] == "error"

from __future__ import annotations

import json
import logging

from shared.logs import JsonFormatter
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

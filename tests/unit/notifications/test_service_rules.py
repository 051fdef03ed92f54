"""Pure rules of the notifications service: settings, directory validation, digest selection."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

import pytest

from services.notifications import digest, directory
from services.notifications.config import NotifyConfig
from shared.problems import Problem

CASE = uuid.UUID("3f2b8c1e-5d7a-4c11-9e0f-000000000042")


def test_settings_from_env_and_lease_above_send_timeouts():
    cfg = NotifyConfig.from_env({"SMTP_HOST": "mail.example", "SMTP_PORT": "2525",
                                 "SMTP_STARTTLS": "true", "SMTP_USER": "u",
                                 "SMTP_PASSWORD": "p", "SMTP_TIMEOUT": "20",
                                 "NOTIFY_LEASE_SECONDS": "5", "DIGEST_AT": "06:30"})
    assert cfg.email.port == 2525 and cfg.email.starttls and cfg.email.username == "u"
    assert cfg.lease_seconds == 41  # never shorter than two send timeouts
    assert cfg.digest_at == time(6, 30)
    assert NotifyConfig.from_env({}).email is None  # no SMTP: emails wait


def test_working_days_skip_weekends_and_bank_holidays():
    # Friday 22 May 2026; Monday 25 May is the spring bank holiday
    assert digest.add_working_days(date(2026, 5, 22), 1) == date(2026, 5, 26)
    assert digest.add_working_days(date(2026, 5, 20), 10) == date(2026, 6, 4)


def test_digest_at_local_time_across_bst():
    cfg = NotifyConfig.from_env({})
    local = digest.local_now(datetime.fromisoformat("2026-05-21T06:30:00+00:00"), cfg)
    assert local.time() >= cfg.digest_at  # 07:30 in London (BST)


def milestone(name, due, status="pending", met_on=None):
    return {"case_id": CASE, "milestone": name, "reference": "881-2026-00042",
            "la_code": "881", "school_urn": "100001", "due_on": due, "status": status,
            "met_on": met_on}


def recipient(kind="school", muted=()):
    return {"id": uuid.uuid4(), "kind": kind, "la_code": "881",
            "school_urn": "100001" if kind == "school" else None,
            "channels": ["digest"], "muted_kinds": list(muted)}


def test_digest_items_group_and_respect_mutes_and_audiences():
    on = date(2026, 5, 21)
    rows = [milestone("final_plan", date(2026, 5, 20)),                    # overdue
            milestone("draft_response", date(2026, 6, 5)),                 # 10th working day
            milestone("annual_review", date(2026, 6, 8)),                  # too far
            milestone("decision_to_assess", date(2026, 2, 16), "met", date(2026, 5, 20)),
            milestone("appeal", date(2026, 3, 1), "met", date(2026, 3, 1)),  # met long ago
            milestone("advice:health", date(2026, 5, 1), "breached")]
    kinds = {i["milestone"]: i["kind"] for i in digest.digest_items(rows, recipient(), on,
                                                                    "http://gw")}
    # overdue advice is the LA's to chase: not in the school's digest
    assert kinds == {"final_plan": "breached", "draft_response": "approaching",
                     "decision_to_assess": "met"}
    muted = digest.digest_items(rows, recipient(muted=["approaching"]), on, "http://gw")
    assert "draft_response" not in {i["milestone"] for i in muted}
    la = {i["milestone"] for i in digest.digest_items(rows, recipient("la_team"), on, "http://gw")}
    assert "advice:health" in la
    assert digest.digest_items([], recipient(), on, "http://gw") == []


def test_directory_validation_and_management_scope():
    with pytest.raises(Problem) as info:
        directory.load_body({"kind": "school", "la_code": "881", "name": "X",
                             "child_name": "Zebedee"})
    assert {e["field"] for e in info.value.errors} == {"child_name"}  # no free-form keys
    with pytest.raises(Problem) as info:
        directory.load_body({"kind": "school", "la_code": "881", "name": "X",
                             "channels": ["webhook"]})
    assert {e["field"] for e in info.value.errors} == {"school_urn", "webhook_url"}
    data = directory.load_body({"kind": "la_team", "la_code": "881", "name": "SEND team",
                                "emails": ["b@x.example", "a@x.example", "a@x.example"],
                                "channels": ["email", "email"]})
    assert data["emails"] == ["a@x.example", "b@x.example"] and data["channels"] == ["email"]
    assert directory.may_manage({"role": "region_admin"}, "881")
    assert directory.may_manage({"role": "la_manager", "la_code": "881"}, "881")
    assert not directory.may_manage({"role": "la_manager", "la_code": "882"}, "881")
    with pytest.raises(Problem):
        directory.require_manager({"role": "la_caseworker", "la_code": "881"})
    assert directory.secret_hash("s") != "s"

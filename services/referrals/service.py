"""Referrals service: requests for EHC needs assessment and the case lifecycle."""

from __future__ import annotations

import logging

from nameko.rpc import rpc

from services.referrals import cases, metrics, store
from shared.config import now, today
from shared.consumer import event_consumer, handle_batch
from shared.service import Settings, Storage, config_timer, ping

CONSUMER = "referrals"
log = logging.getLogger(__name__)


class ReferralsService:
    name = "referrals"

    db = Storage()
    settings = Settings()

    @rpc
    def submit_request(self, actor: dict, body: dict, idempotency_key: str | None = None) -> dict:
        return cases.submit_request(self.db, actor, body, idempotency_key, today(self.settings),
                                    now(self.settings))

    @rpc
    def get_referral(self, actor: dict, case_id: str) -> dict:
        return cases.get_referral(self.db, actor, case_id)

    @rpc
    def get_referral_deadlines(self, actor: dict, case_id: str) -> dict:
        return cases.get_referral_deadlines(self.db, actor, case_id, today(self.settings))

    @rpc
    def record_step(self, actor: dict, case_id: str, body: dict,
                    idempotency_key: str | None = None) -> dict:
        return cases.record_step(self.db, actor, case_id, body, idempotency_key,
                                 today(self.settings))

    @rpc
    def correct_step(self, actor: dict, case_id: str, step_id: str, body: dict) -> dict:
        return cases.correct_step(self.db, actor, case_id, step_id, body, today(self.settings))

    @rpc
    def correct_receipt(self, actor: dict, case_id: str, body: dict) -> dict:
        return cases.correct_receipt(self.db, actor, case_id, body, today(self.settings))

    @rpc
    def history(self, actor: dict, case_id: str) -> dict:
        return cases.history(self.db, actor, case_id)

    @rpc
    def case_index(self, actor: dict, filters: dict) -> list[dict]:
        return cases.case_index(self.db, actor, filters)

    @rpc
    def list_cases(self, actor: dict, filters: dict, sort: str = "next_due",
                   after: list | None = None, limit: int = 50) -> dict:
        return cases.list_cases(self.db, actor, filters, sort, after, limit,
                                today(self.settings))

    @rpc
    def assign_case(self, actor: dict, case_id: str, caseworker: str | None) -> dict:
        return cases.assign_case(self.db, actor, case_id, caseworker, today(self.settings))

    @rpc
    def caseload(self, actor: dict) -> list[dict]:
        return cases.caseload(self.db, actor, today(self.settings))

    @rpc
    def get_referrals(self, actor: dict, case_ids: list[str], action: str = "list") -> list[dict]:
        return cases.get_referrals(self.db, actor, case_ids, action)

    @rpc
    def audit_trail(self, actor: dict, case_id: str, limit: int = 100,
                    before: int | None = None) -> dict:
        return cases.audit_trail(self.db, actor, case_id, limit, before)

    @rpc
    def record_sen2(self, actor: dict, case_id: str, body: dict) -> dict:
        return cases.record_sen2(self.db, actor, case_id, body)

    @rpc
    def sen2_return(self, actor: dict, la_code: str, year: int) -> dict:
        return cases.sen2_return(self.db, actor, la_code, year, now(self.settings))

    @rpc
    def ping(self) -> str:
        return ping(self.db)

    @config_timer(seconds=lambda cfg: cfg.sweep_seconds)
    def refresh_gauges(self) -> None:
        try:
            with self.db.read() as conn:
                metrics.set_cases(store.cases_by_la_and_status(conn))
        except Exception:  # a failed refresh is retried on the next tick
            log.exception("gauge refresh failed")

    @event_consumer(CONSUMER)
    def handle_events(self, events: list[dict]) -> None:
        handle_batch(self.db, CONSUMER, events, cases.on_deadlines_scheduled)

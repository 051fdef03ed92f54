"""Referrals service: requests for EHC needs assessment and the case lifecycle."""

from __future__ import annotations

from nameko.rpc import rpc

from services.referrals import cases
from shared.config import today
from shared.service import Settings, Storage


class ReferralsService:
    name = "referrals"

    db = Storage()
    settings = Settings()

    @rpc
    def submit_request(self, actor: dict, body: dict, idempotency_key: str | None = None) -> dict:
        return cases.submit_request(self.db, actor, body, idempotency_key, today(self.settings))

    @rpc
    def get_referral(self, actor: dict, case_id: str) -> dict:
        return cases.get_referral(self.db, actor, case_id)

    @rpc
    def ping(self) -> str:
        return "pong"

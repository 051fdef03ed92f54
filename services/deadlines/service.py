"""Deadlines service: the statutory clock of every case."""

from __future__ import annotations

from nameko.rpc import rpc

from services.deadlines import schedule
from shared.config import today
from shared.consumer import event_consumer, handle_once
from shared.db import Database
from shared.service import Settings, Storage

CONSUMER = "deadlines"


class DeadlinesService:
    name = "deadlines"

    db: Database = Storage()
    settings = Settings()

    @event_consumer(CONSUMER)
    def handle_event(self, event: dict) -> None:
        handle_once(self.db, CONSUMER, event,
                    lambda uow, e: schedule.on_case_event(uow, e, today(self.settings)))

    @rpc
    def deadlines_of_cases(self, case_ids: list[str]) -> dict[str, list[dict]]:
        with self.db.read() as conn:
            return schedule.deadlines_of_cases(conn, case_ids)

"""Deadlines service: the statutory clock of every case."""

from __future__ import annotations

import logging
from datetime import date

from nameko.rpc import rpc

from services.deadlines import metrics, schedule, store
from services.deadlines.schemas import (
    ClosureSchema,
    DeadlineFilters,
    LaSettingsSchema,
    load,
)
from shared.config import today
from shared.consumer import event_consumer, handle_batch
from shared.db import Database
from shared.events import LA_CODE
from shared.problems import Problem, not_found
from shared.service import Settings, Storage, config_timer, ping

CONSUMER = "deadlines"
log = logging.getLogger(__name__)


def _la_code(la_code: str) -> str:
    try:
        LA_CODE(la_code)
    except Exception:
        raise Problem(422, "Validation failed", "One or more fields are invalid.",
                      [{"field": "la_code", "message": "must be a three-digit LA code"}]
                      ) from None
    return la_code


class DeadlinesService:
    name = "deadlines"

    db: Database = Storage()
    settings = Settings()

    @event_consumer(CONSUMER)
    def handle_events(self, events: list[dict]) -> None:
        handle_batch(self.db, CONSUMER, events,
                     lambda uow, batch: schedule.on_case_events(uow, batch, today(self.settings)))

    # -- timers -----------------------------------------------------------------------------
    @config_timer(seconds=lambda cfg: cfg.sweep_seconds)
    def sweep(self) -> None:
        """Recompute cases whose LA settings changed, then emit the alerts now due."""
        try:
            day = today(self.settings)
            recomputed = schedule.recompute_stale(self.db, day)
            emitted = schedule.sweep(self.db, day)
            metrics.SWEEP_EMITTED.inc(emitted)
            if recomputed or emitted:
                log.info("sweep done", extra={"count": emitted, "status": f"recomputed "
                                                                          f"{recomputed}"})
        except Exception:  # a failed tick is retried on the next one
            log.exception("sweep failed")

    @config_timer(seconds=lambda cfg: cfg.sweep_seconds * 6)
    def refresh_gauges(self) -> None:
        """Open milestones and SEN2 gauges, from grouped queries (never per case)."""
        try:
            day = today(self.settings)
            with self.db.read() as conn:
                metrics.set_open_milestones(store.open_milestone_counts(conn, day))
                rows = store.timeliness(conn, day.year)
            metrics.set_sen2([schedule.timeliness_json(r, r["la_code"], day.year)
                              for r in rows])
        except Exception:
            log.exception("gauge refresh failed")

    # -- RPC ----------------------------------------------------------------------------------
    @rpc
    def ping(self) -> str:
        return ping(self.db)

    @rpc
    def deadlines_of_cases(self, case_ids: list[str]) -> dict[str, list[dict]]:
        with self.db.read() as conn:
            return schedule.deadlines_of_cases(conn, case_ids, today(self.settings))

    @rpc
    def list_deadlines(self, filters: dict | None = None) -> list[dict]:
        """Milestones matching every filter given, ordered by working target date.

        filters: la_code, school_urns, case_ids, rules, status (one or a list; as of
        today), open_only, due_before (target date), due_within_days (open, target in
        [today, today+N]), overdue (open, target before today), limit (<=1000), offset."""
        f = load(DeadlineFilters(), filters, "filters")
        if isinstance(f.get("status"), str):
            f["status"] = [f["status"]]
        with self.db.read() as conn:
            rows = store.list_deadlines(conn, f, today(self.settings))
        return [schedule.deadline_json(r, with_case=True) for r in rows]

    @rpc
    def timeliness(self, la_code: str, year: int) -> dict:
        """SEN2 timeliness figures of one LA for one calendar year."""
        _la_code(la_code)
        try:
            year = int(year)
        except (TypeError, ValueError):
            raise Problem(422, "Validation failed", "year must be a number.") from None
        if not 2014 <= year <= 2100:
            raise Problem(422, "Validation failed", "year must be between 2014 and 2100.")
        with self.db.read() as conn:
            rows = store.timeliness(conn, year, la_code)
        return schedule.timeliness_json(rows[0] if rows else None, la_code, year)

    @rpc
    def timeliness_by_month(self, la_code: str, year: int) -> list[dict]:
        """Month by month: plans issued, within 20 weeks, breaches (the managers' chart)."""
        _la_code(la_code)
        with self.db.read() as conn:
            return store.timeliness_by_month(conn, int(year), la_code, today(self.settings))

    @rpc
    def get_la_settings(self, la_code: str) -> dict:
        _la_code(la_code)
        with self.db.read() as conn:
            raw = store.la_settings_raw(conn, la_code)
            closures = store.closures(conn, la_code)
        return {"la_code": la_code, "settings": raw, "closures": [_closure_json(c)
                                                                  for c in closures]}

    @rpc
    def set_la_settings(self, la_code: str, settings: dict) -> dict:
        """Replace the LA's settings; its open cases are recomputed in batches by the timer."""
        _la_code(la_code)
        clean = LaSettingsSchema().dump(load(LaSettingsSchema(), settings, "settings"))
        with self.db.unit_of_work() as uow:
            store.save_la_settings(uow, la_code, clean)
            queued = store.mark_open_cases_for_recompute(uow, la_code)
        log.info("LA settings changed", extra={"la_code": la_code, "count": queued})
        return {"la_code": la_code, "settings": clean, "recompute_queued": queued}

    @rpc
    def add_closure(self, la_code: str, school_urn: str | None, starts_on: str | date,
                    ends_on: str | date) -> dict:
        """Record a school closure (term dates: school_urn None = all the LA's schools)."""
        c = load(ClosureSchema(), {"la_code": la_code, "school_urn": school_urn,
                                   "starts_on": str(starts_on), "ends_on": str(ends_on)})
        with self.db.unit_of_work() as uow:
            row = store.add_closure(uow, c["la_code"], c["school_urn"], c["starts_on"],
                                    c["ends_on"])
            queued = store.mark_open_cases_for_recompute(uow, c["la_code"])
        return {**_closure_json(row), "recompute_queued": queued}

    @rpc
    def list_closures(self, la_code: str) -> list[dict]:
        _la_code(la_code)
        with self.db.read() as conn:
            return [_closure_json(c) for c in store.closures(conn, la_code)]

    @rpc
    def remove_closure(self, la_code: str, closure_id: str) -> dict:
        _la_code(la_code)
        with self.db.unit_of_work() as uow:
            if not store.delete_closure(uow, la_code, closure_id):
                raise not_found("closure")
            queued = store.mark_open_cases_for_recompute(uow, la_code)
        return {"id": closure_id, "removed": True, "recompute_queued": queued}


def _closure_json(c: dict) -> dict:
    return {"id": str(c["id"]), "la_code": c["la_code"], "school_urn": c["school_urn"],
            "starts_on": c["starts_on"].isoformat(), "ends_on": c["ends_on"].isoformat()}

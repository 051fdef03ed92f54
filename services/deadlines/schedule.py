"""Use cases of the deadlines service: recompute a case, sweep due alerts, serve figures.

Everything here takes `today` from the caller (the service's clock, `NOW`-overridable),
so tests and the demo can move time without waiting weeks.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import date

from services.deadlines import store
from services.deadlines.domain import (
    CaseEvent,
    LaSettings,
    Milestone,
    alert_schedule,
    compute_milestones,
)
from services.deadlines.metrics import BREACHES, RECOMPUTED_CASES, RECOMPUTED_MILESTONES
from shared.db import Database, UnitOfWork
from shared.events import new_event

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
SWEEP_MAX_BATCHES = 40  # per tick: a huge backlog is worked off over several ticks
RECOMPUTE_BATCH = 100


def as_case_event(event: dict) -> CaseEvent:
    """Translate a message into the pure engine's CaseEvent."""
    p = event["payload"]
    if event["type"] == "referral.received":
        return CaseEvent(id=event["id"], type="request_received", on=p["received_on"],
                         received_at=p.get("received_at"))
    return CaseEvent(id=str(p["step_id"]), type=p["step_type"], on=p["on"], data=p["data"],
                     corrects=str(p["corrects"]) if p.get("corrects") else None)


def pending_alerts(m: Milestone, settings: LaSettings, known_since: date,
                   sent: set[tuple[str, date]]) -> list[tuple[str, date]]:
    """The alerts of a milestone still to send, by date.

    An alert whose send date had passed before the milestone was first computed is never
    sent: a back-dated record shows its status at once, it does not replay a burst of
    stale warnings. Alerts missed while the service was down are still sent (catch-up)."""
    return [(kind, on) for kind, on in alert_schedule(m, settings)
            if on >= known_since and (kind, on) not in sent]


# -- recompute ------------------------------------------------------------------------------


def on_case_events(uow: UnitOfWork, events: list[dict], today: date) -> None:
    """A batch of case events: cases and histories recorded set-wise, then each case
    recomputed and announced (deadline.scheduled) once per event, so the referrals service
    learns that every one of them was taken into account."""
    by_case: dict[str, list[dict]] = {}
    for event in events:
        by_case.setdefault(str(event["payload"]["case_id"]), []).append(event)
    latest = [(cid, evs[-1]) for cid, evs in by_case.items()]
    cases = store.upsert_cases(uow, [
        (cid, e["payload"]["reference"], e["la_code"], e["payload"]["school_urn"], e["id"])
        for cid, e in latest], today)
    store.record_events(uow, [(e["payload"]["case_id"], as_case_event(e)) for e in events])
    for case in cases:
        for event in by_case[str(case["case_id"])]:
            recompute(uow, {**case, "last_event_id": event["id"]}, today,
                      correlation_id=event["correlation_id"], always_announce=True)
            log.info("deadlines computed", extra={"case_id": str(case["case_id"]),
                                                  "event_id": event["id"]})


def _state(m: Milestone) -> tuple:
    return (m.milestone, m.rule, m.due_on, m.adjusted_due_on, m.status, m.met_on)


def recompute(uow: UnitOfWork, case: dict, today: date, correlation_id: str | None = None,
              always_announce: bool = False) -> list[Milestone]:
    """Recompute one case: recompute_many of a single case."""
    return recompute_many(uow, [case], today, correlation_id=correlation_id,
                          always_announce=always_announce)[str(case["case_id"])]


def recompute_many(uow: UnitOfWork, cases: Sequence[dict], today: date,
                   correlation_id: str | None = None,
                   always_announce: bool = False) -> dict[str, list[Milestone]]:
    """Recompute many cases in the caller's transaction, set-based.

    `cases` are rows of this service's `cases` table (case_id, reference, la_code,
    school_urn, last_event_id, first_seen_on), e.g. as returned by store.upsert_cases or
    store.claim_stale_cases; lock them first if concurrent recomputes are possible.
    Histories, stored milestones and emitted alerts are each read with one query for all
    the cases, LA settings and closures once per LA; only milestones that changed are
    written (one DELETE, one upsert). Per case, as ever: each milestone keeps its
    `known_since`, its next alert is planned, a newly met milestone is announced once
    (deadline.met), and deadline.scheduled is emitted always when `always_announce` (an
    event arrived), else only when a milestone changed. Returns milestones by case id."""
    ids = [str(c["case_id"]) for c in cases]
    if not ids:
        return {}
    histories = store.histories_of(uow, ids)
    stored = store.stored_milestones_of(uow, ids)
    emitted_by = store.emitted_of_cases(uow, ids)
    settings_of: dict[str, LaSettings] = {}
    closures_of: dict[str, list] = {}
    upserts: list[tuple] = []
    deletes: list[tuple] = []
    result: dict[str, list[Milestone]] = {}
    for case in cases:
        cid, la_code = str(case["case_id"]), case["la_code"]
        if la_code not in settings_of:
            settings_of[la_code] = store.la_settings(uow.conn, la_code)
            closures_of[la_code] = store.closures_of(uow.conn, la_code)
        settings = settings_of[la_code]
        milestones = compute_milestones(histories[cid], today, settings, closures_of[la_code])
        result[cid] = milestones
        old = {(r["milestone"], r["rule"], r["due_on"], r["occurrence"]): r
               for r in stored[cid]}
        emitted = emitted_by[cid]
        seen: Counter = Counter()
        new_keys = set()
        for m in milestones:
            base = (m.milestone, m.rule, m.due_on)
            occurrence = seen[base]
            seen[base] += 1
            key = (*base, occurrence)
            new_keys.add(key)
            prev = old.get(key)
            known = prev["known_since"] if prev else today
            sent = {(k, on) for (name, rule, due, k, on) in emitted if (name, rule, due) == base}
            pending = pending_alerts(m, settings, known, sent)
            row = (case["case_id"], m.milestone, m.rule, m.due_on, occurrence, m.regulation,
                   m.adjusted_due_on, m.status, m.met_on, m.exception_days, la_code,
                   case["school_urn"], known, pending[0][1] if pending else None)
            if prev is None or tuple(prev[c] for c in store.MILESTONE_ROW[5:]) != row[5:]:
                upserts.append(row)
        deletes.extend((case["case_id"], *k) for k in old if k not in new_keys)

        for m in milestones:
            if m.met_on is not None and m.met_on >= case["first_seen_on"] and not any(
                    k == "met" and (name, rule, due) == (m.milestone, m.rule, m.due_on)
                    for (name, rule, due, k, _) in emitted):
                emit_alert(uow, _as_row(m, case), "met", m.met_on, correlation_id)

        changed = sorted(_state(m) for m in milestones) != sorted(
            (r["milestone"], r["rule"], r["due_on"], r["adjusted_due_on"], r["status"],
             r["met_on"]) for r in old.values())
        if always_announce or changed:
            uow.emit(new_event("deadline.scheduled", {
                "case_id": case["case_id"], "reference": case["reference"],
                "school_urn": case["school_urn"], "as_of_event": case["last_event_id"],
                "milestones": [{
                    "milestone": m.milestone, "rule": m.rule, "regulation": m.regulation,
                    "due_on": m.due_on, "adjusted_due_on": m.adjusted_due_on,
                    "status": m.status, "met_on": m.met_on} for m in milestones],
            }, la_code=la_code, correlation_id=correlation_id))
    store.write_milestone_changes(uow, upserts, deletes)
    RECOMPUTED_CASES.inc(len(ids))
    RECOMPUTED_MILESTONES.inc(len(upserts) + len(deletes))
    return result


def _as_row(m: Milestone, case: dict) -> dict:
    return {"case_id": case["case_id"], "reference": case["reference"],
            "school_urn": case["school_urn"], "la_code": case["la_code"],
            "milestone": m.milestone, "rule": m.rule, "regulation": m.regulation,
            "due_on": m.due_on, "adjusted_due_on": m.adjusted_due_on}


def emit_alert(uow: UnitOfWork, row: dict, kind: str, send_on: date,
               correlation_id: str | None = None) -> bool:
    """Emit deadline.<kind> unless already emitted: the record and the outbox row commit
    together, so a crash leaves both or neither, and a second instance finds the record."""
    event = new_event(f"deadline.{kind}", {
        "case_id": row["case_id"], "reference": row["reference"],
        "school_urn": row["school_urn"], "kind": kind, "milestone": row["milestone"],
        "rule": row["rule"], "regulation": row["regulation"], "due_on": row["due_on"],
        "adjusted_due_on": row["adjusted_due_on"]}, la_code=row["la_code"],
        correlation_id=correlation_id)
    if not store.record_alert(uow, row, kind, send_on, event["id"]):
        return False
    uow.emit(event)
    if kind == "breached":
        BREACHES.labels(row["la_code"]).inc()
    log.info("deadline alert", extra={"case_id": str(row["case_id"]), "event_type": event["type"],
                                      "milestone": row["milestone"], "la_code": row["la_code"]})
    return True


def recompute_stale(db: Database, today: date, batch: int = RECOMPUTE_BATCH) -> int:
    """Work off cases flagged by a settings or closure change, a batch per transaction."""
    done = 0
    while True:
        with db.unit_of_work() as uow:
            cases = store.claim_stale_cases(uow, batch)
            recompute_many(uow, cases, today)
            store.clear_recompute(uow, [c["case_id"] for c in cases])
        done += len(cases)
        if len(cases) < batch:
            return done


# -- the sweep -------------------------------------------------------------------------------


def _milestone(row: dict) -> Milestone:
    return Milestone(milestone=row["milestone"], rule=row["rule"], regulation=row["regulation"],
                     due_on=row["due_on"], adjusted_due_on=row["adjusted_due_on"],
                     status=row["status"], met_on=row["met_on"],
                     exception_days=row["exception_days"])


def sweep_batch(uow: UnitOfWork, today: date, batch: int,
                settings_cache: dict[str, LaSettings]) -> tuple[int, int]:
    """Claim one batch of due milestones and emit their due alerts. (claimed, emitted)"""
    rows = store.claim_due(uow.conn, today, batch)
    emitted = 0
    for row in rows:
        la = row["la_code"]
        if la not in settings_cache:
            settings_cache[la] = store.la_settings(uow.conn, la)
        m = _milestone(row)
        schedule = pending_alerts(m, settings_cache[la], row["known_since"], set())
        for kind, on in schedule:
            if on <= today:
                emitted += emit_alert(uow, row, kind, on)
        later = [on for _, on in schedule if on > today]
        store.set_next_alert(uow, row, min(later) if later else None, row["status"])
    return len(rows), emitted


def sweep(db: Database, today: date, batch: int = SWEEP_BATCH) -> int:
    """Emit every alert due by `today`; safe to run in several processes at once."""
    emitted, cache = 0, {}
    for _ in range(SWEEP_MAX_BATCHES):
        with db.unit_of_work() as uow:
            claimed, n = sweep_batch(uow, today, batch, cache)
        emitted += n
        if claimed < batch:
            break
    return emitted


# -- reads -------------------------------------------------------------------------------------


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def deadline_json(row: dict, with_case: bool = False) -> dict:
    out = {
        "milestone": row["milestone"], "rule": row["rule"], "regulation": row["regulation"],
        "due_on": row["due_on"].isoformat(), "adjusted_due_on": _iso(row["adjusted_due_on"]),
        "status": row["status"], "met_on": _iso(row["met_on"]),
        "exception_days": row["exception_days"],
    }
    if with_case:
        out.update({"case_id": str(row["case_id"]), "reference": row["reference"],
                    "la_code": row["la_code"], "school_urn": row["school_urn"],
                    "target_on": row["target_on"].isoformat(),
                    "next_alert_on": _iso(row["next_alert_on"])})
    return out


def deadlines_of_cases(conn, case_ids: list[str], today: date) -> dict[str, list[dict]]:
    by_case: dict[str, list[dict]] = {c: [] for c in case_ids}
    for row in store.milestones_of_cases(conn, case_ids, today):
        by_case[str(row["case_id"])].append(deadline_json(row))
    return by_case


def _pct(n: int, d: int) -> float | None:
    return round(100.0 * n / d, 1) if d else None


def timeliness_json(row: dict | None, la_code: str, year: int) -> dict:
    """SEN2 figures: incl. exceptions counts every plan against its statutory date;
    excl. exceptions leaves out plans to which an exception applied."""
    p = (row or {}).get("p") or {}
    d = (row or {}).get("d") or {}

    def block(suffix: str) -> dict:
        plans = p.get(f"plans_issued{suffix}", 0)
        within = p.get(f"within_20_weeks{suffix}", 0)
        decided = d.get(f"requests_decided{suffix}", 0)
        in_time = d.get(f"decided_within_6_weeks{suffix}", 0)
        return {
            "requests_decided": decided, "decided_within_6_weeks": in_time,
            "decided_within_6_weeks_pct": _pct(in_time, decided),
            "plans_issued": plans, "within_20_weeks": within,
            "over_20_weeks_under_a_year": p.get(f"over_20_weeks_under_a_year{suffix}", 0),
            "over_a_year": p.get(f"over_a_year{suffix}", 0),
            "within_20_weeks_pct": _pct(within, plans),
        }

    avg = p.get("average_weeks_to_issue")
    return {"la_code": la_code, "year": year,
            "including_exceptions": block(""), "excluding_exceptions": block("_excl"),
            "average_weeks_to_issue": round(float(avg), 1) if avg is not None else None}

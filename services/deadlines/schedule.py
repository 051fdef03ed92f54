"""Use cases of the deadlines service: recompute a case, sweep due alerts, serve figures.

Everything here takes `today` from the caller (the service's clock, `NOW`-overridable),
so tests and the demo can move time without waiting weeks.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from services.deadlines import store
from services.deadlines.domain import (
    CaseEvent,
    LaSettings,
    Milestone,
    alert_schedule,
    compute_milestones,
)
from services.deadlines.metrics import BREACHES
from services.deadlines.rules import NEVER_BREACHED_RULES
from shared.db import Database, UnitOfWork
from shared.events import new_event

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
SWEEP_MAX_BATCHES = 40  # per tick: a huge backlog is worked off over several ticks
SWEEP_WORKERS = 2
RECOMPUTE_BATCH = 500


def as_case_events(event: dict) -> list[CaseEvent]:
    """Translate a message into the pure engine's CaseEvents: a request (its id the
    event's, as receipt corrections name it), a step (its id the step's, as step
    corrections name it), or an imported case's request and every step, with the same ids
    those would have had."""
    p = event["payload"]
    if event["type"] == "case.step_recorded":
        return [_step_event(p)]
    request = CaseEvent(id=event["id"], type="request_received", on=p["received_on"],
                        received_at=p.get("received_at"))
    return [request, *(_step_event(s) for s in p.get("steps", ()))]


def _step_event(step: dict) -> CaseEvent:
    return CaseEvent(id=str(step["step_id"]), type=step["step_type"], on=step["on"],
                     data=step["data"],
                     corrects=str(step["corrects"]) if step.get("corrects") else None)


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
    """A batch of case events: cases and histories recorded set-wise, then all the cases
    recomputed together and announced (deadline.scheduled) once per case, naming every
    event of the batch it took into account (`as_of_event` and `covers`), so the referrals
    service learns that each of them was."""
    by_case: dict[str, list[dict]] = {}
    for event in events:
        by_case.setdefault(str(event["payload"]["case_id"]), []).append(event)
    latest = [(cid, evs[-1]) for cid, evs in by_case.items()]
    cases = store.upsert_cases(uow, [
        (cid, e["payload"]["reference"], e["la_code"], e["payload"]["school_urn"], e["id"])
        for cid, e in latest], today)
    store.record_events(uow, [(e["payload"]["case_id"], case_event) for e in events
                              for case_event in as_case_events(e)])
    recompute_many(uow, cases, today, announce={
        cid: [(e["id"], e["correlation_id"]) for e in evs] for cid, evs in by_case.items()})
    for cid, evs in by_case.items():
        for e in evs:
            log.info("deadlines computed", extra={"case_id": cid, "event_id": e["id"]})


def _state(m: Milestone) -> tuple:
    return (m.milestone, m.rule, m.due_on, m.adjusted_due_on, m.status, m.met_on,
            m.exception_days)


@dataclass
class RecomputeResult:
    """What a set-wise recompute did: milestones by case, and the rows it wrote."""
    milestones: dict[str, list[Milestone]] = field(default_factory=dict)
    inserted_or_updated: int = 0
    deleted: int = 0
    cases_changed: int = 0

    @property
    def rows_written(self) -> int:
        return self.inserted_or_updated + self.deleted


def recompute_many(uow: UnitOfWork, cases: list[dict], today: date,
                   announce: dict[str, list[tuple[str, str | None]]] | None = None,
                   correlation_id: str | None = None) -> RecomputeResult:
    """Recompute many cases (rows of `cases`, locked by the caller) set-wise.

    Histories, stored milestones and emitted alerts are read with one query each, LA
    settings and closures once per LA; the pure engine runs per case; only milestones that
    changed are written (deleted / upserted in one statement each). Per case: each
    milestone keeps its `known_since`, its next alert is planned, a newly met milestone is
    announced once (deadline.met), and deadline.scheduled is emitted once per case named in
    `announce[case_id]` (its (event id, correlation id) pairs, in order: the last is the
    event's own, the others it covers), or, for a case not in it, only on change."""
    announce = announce or {}
    result = RecomputeResult()
    if not cases:
        return result
    ids = [str(c["case_id"]) for c in cases]
    histories = store.histories_of(uow, ids)
    stored = store.milestones_of(uow, ids)
    emitted = store.emitted_of(uow, ids)
    settings: dict[str, LaSettings] = {}
    closures: dict[str, list] = {}
    upserts, deletes, met, scheduled = [], [], [], []
    for case in cases:
        cid, la = str(case["case_id"]), case["la_code"]
        if la not in settings:
            settings[la] = store.la_settings(uow.conn, la)
            closures[la] = store.closures_of(uow.conn, la)
        milestones = compute_milestones(histories[cid], today, settings[la], closures[la])
        result.milestones[cid] = milestones
        old = {(r["milestone"], r["rule"], r["due_on"], r["occurrence"]): r
               for r in stored[cid]}
        sent_by = {}
        for (name, rule, due, k, on) in emitted[cid]:
            sent_by.setdefault((name, rule, due), set()).add((k, on))
        seen, new_keys = Counter(), set()
        for m in milestones:
            base = (m.milestone, m.rule, m.due_on)
            occurrence = seen[base]
            seen[base] += 1
            key = (*base, occurrence)
            new_keys.add(key)
            prev = old.get(key)
            known = prev["known_since"] if prev else today
            pending = pending_alerts(m, settings[la], known, sent_by.get(base, set()))
            row = {"case_id": cid, "milestone": m.milestone, "rule": m.rule,
                   "due_on": m.due_on, "occurrence": occurrence, "regulation": m.regulation,
                   "adjusted_due_on": m.adjusted_due_on, "status": m.status,
                   "met_on": m.met_on, "exception_days": m.exception_days, "la_code": la,
                   "school_urn": case["school_urn"], "known_since": known,
                   "next_alert_on": pending[0][1] if pending else None}
            if prev is None or any(prev[c] != row[c] for c in store.MILESTONE_VALUES):
                upserts.append(row)
            if m.met_on is not None and m.met_on >= case["first_seen_on"] and not any(
                    k == "met" for k, _ in sent_by.get(base, ())):
                met.append((_as_row(m, case), "met", m.met_on))
                # a milestone repeated (occurrence > 0) is announced met once, like before
                sent_by.setdefault(base, set()).add(("met", m.met_on))
        deletes.extend((cid, *k) for k in old if k not in new_keys)
        changed = sorted(_state(m) for m in milestones) != sorted(
            (r["milestone"], r["rule"], r["due_on"], r["adjusted_due_on"], r["status"],
             r["met_on"], r["exception_days"]) for r in old.values())
        result.cases_changed += changed
        events = announce.get(cid) or ([(case["last_event_id"], correlation_id)]
                                       if changed else [])
        if events:  # once per case: the newest event, covering the batch's earlier ones
            event_id, corr = events[-1]
            scheduled.append(_scheduled_event(case, milestones, event_id, corr,
                                              [e for e, _ in events[:-1]]))
    result.deleted = store.delete_milestones(uow, deletes)
    result.inserted_or_updated = store.upsert_milestones(uow, upserts)
    emit_alerts(uow, met, correlation_id)  # the alerts_emitted keys decide: once each
    uow.emit_many(scheduled)
    return result


def _scheduled_event(case: dict, milestones: list[Milestone], event_id,
                     correlation_id: str | None, covers: list | None = None) -> dict:
    return new_event("deadline.scheduled", {
        "case_id": case["case_id"], "reference": case["reference"],
        "school_urn": case["school_urn"], "as_of_event": event_id, "covers": covers or [],
        "milestones": [{
            "milestone": m.milestone, "rule": m.rule, "regulation": m.regulation,
            "due_on": m.due_on, "adjusted_due_on": m.adjusted_due_on, "status": m.status,
            "met_on": m.met_on, "exception_days": m.exception_days,
            "lapses": m.rule in NEVER_BREACHED_RULES} for m in milestones],
    }, la_code=case["la_code"], correlation_id=correlation_id)


def recompute(uow: UnitOfWork, case: dict, today: date, correlation_id: str | None = None,
              always_announce: bool = False) -> list[Milestone]:
    """Recompute one case (see recompute_many, of which this is the one-case call)."""
    cid = str(case["case_id"])
    announce = {cid: [(case["last_event_id"], correlation_id)]} if always_announce else None
    return recompute_many(uow, [case], today, announce=announce,
                          correlation_id=correlation_id).milestones[cid]


def _as_row(m: Milestone, case: dict) -> dict:
    return {"case_id": case["case_id"], "reference": case["reference"],
            "school_urn": case["school_urn"], "la_code": case["la_code"],
            "milestone": m.milestone, "rule": m.rule, "regulation": m.regulation,
            "due_on": m.due_on, "adjusted_due_on": m.adjusted_due_on}


def alert_event(row: dict, kind: str, correlation_id: str | None = None) -> dict:
    """The deadline.<kind> event of a milestone row."""
    return new_event(f"deadline.{kind}", {
        "case_id": row["case_id"], "reference": row["reference"],
        "school_urn": row["school_urn"], "kind": kind, "milestone": row["milestone"],
        "rule": row["rule"], "regulation": row["regulation"], "due_on": row["due_on"],
        "adjusted_due_on": row["adjusted_due_on"]}, la_code=row["la_code"],
        correlation_id=correlation_id)


def emit_alerts(uow: UnitOfWork, alerts: list[tuple[dict, str, date]],
                correlation_id: str | None = None) -> int:
    """Emit deadline.<kind> for each (row, kind, send_on) not already emitted: the records
    and the outbox rows of exactly those recorded now commit together, in two statements
    for the whole list, so a crash leaves both or neither, and a second instance finds the
    records (ON CONFLICT DO NOTHING) and emits nothing."""
    events = [alert_event(row, kind, correlation_id) for row, kind, _ in alerts]
    recorded = store.record_alerts(uow, [(row, kind, on, e["id"]) for (row, kind, on), e
                                         in zip(alerts, events, strict=True)])
    new = [(row, e) for (row, _, _), e in zip(alerts, events, strict=True) if e["id"] in recorded]
    uow.emit_many([e for _, e in new])
    for row, event in new:
        if event["type"] == "deadline.breached":
            BREACHES.labels(row["la_code"]).inc()
        log.info("deadline alert", extra={"case_id": str(row["case_id"]),
                                          "event_id": event["id"], "event_type": event["type"],
                                          "milestone": row["milestone"],
                                          "la_code": row["la_code"]})
    return len(new)


def emit_alert(uow: UnitOfWork, row: dict, kind: str, send_on: date,
               correlation_id: str | None = None) -> bool:
    """Emit one deadline.<kind> unless already emitted (see emit_alerts)."""
    return emit_alerts(uow, [(row, kind, send_on)], correlation_id) == 1


def recompute_stale(db: Database, today: date, batch: int = RECOMPUTE_BATCH,
                    totals: Counter | None = None) -> int:
    """Work off cases flagged by a settings or closure change (or `ehcp recompute`), a
    batch per transaction; several processes share the work (SKIP LOCKED). `totals`, if
    given, adds up cases, cases_changed and rows_written."""
    done = 0
    while True:
        with db.unit_of_work() as uow:
            cases = store.claim_stale_cases(uow, batch)
            result = recompute_many(uow, cases, today)
            store.clear_recompute_many(uow, [c["case_id"] for c in cases])
        done += len(cases)
        if totals is not None:
            totals.update(cases=len(cases), cases_changed=result.cases_changed,
                          rows_written=result.rows_written)
        if len(cases) < batch:
            return done


def flag_open_cases(db: Database, la_code: str | None = None, batch: int = 5000) -> int:
    """Flag every open case (of one LA, or all) for recompute, a keyset page per
    transaction so a huge caseload never holds one long lock; rerun, it goes on (a case
    already flagged stays flagged until recomputed)."""
    flagged, after = 0, None
    while True:
        with db.unit_of_work() as uow:
            n, after = store.flag_open_cases(uow, after, batch, la_code)
        flagged += n
        if after is None:
            return flagged


# -- the sweep -------------------------------------------------------------------------------


def _milestone(row: dict) -> Milestone:
    return Milestone(milestone=row["milestone"], rule=row["rule"], regulation=row["regulation"],
                     due_on=row["due_on"], adjusted_due_on=row["adjusted_due_on"],
                     status=row["status"], met_on=row["met_on"],
                     exception_days=row["exception_days"])


def sweep_batch(uow: UnitOfWork, today: date, batch: int,
                settings_cache: dict[str, LaSettings]) -> tuple[int, int]:
    """Claim one batch of due milestones and emit their due alerts, set-wise: one claim,
    one insert of the alert records, one of their outbox rows, one update of the next
    alert dates. (claimed, emitted)"""
    rows = store.claim_due(uow.conn, today, batch)
    due, updates = [], []
    for row in rows:
        la = row["la_code"]
        if la not in settings_cache:
            settings_cache[la] = store.la_settings(uow.conn, la)
        schedule = pending_alerts(_milestone(row), settings_cache[la], row["known_since"],
                                  set())
        due.extend((row, kind, on) for kind, on in schedule if on <= today)
        later = [on for _, on in schedule if on > today]
        updates.append((row, min(later) if later else None, row["status"]))
    emitted = emit_alerts(uow, due)
    store.set_next_alerts(uow, updates)
    return len(rows), emitted


def sweep(db: Database, today: date, batch: int = SWEEP_BATCH,
          workers: int = SWEEP_WORKERS) -> int:
    """Emit every alert due by `today`; safe to run in several processes at once.

    `workers` batches run at once (SKIP LOCKED gives each its own rows), so one batch's
    Python work overlaps another's database round trips: one at a time, the sweep waited on
    the database half of its time."""
    cache: dict[str, LaSettings] = {}

    def batches(share: int) -> int:
        emitted = 0
        for _ in range(share):
            with db.unit_of_work() as uow:
                claimed, n = sweep_batch(uow, today, batch, cache)
            emitted += n
            if claimed < batch:
                break
        return emitted

    if workers <= 1:
        return batches(SWEEP_MAX_BATCHES)
    with ThreadPoolExecutor(workers) as pool:  # green threads in a service process
        return sum(pool.map(batches, [SWEEP_MAX_BATCHES // workers] * workers))


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

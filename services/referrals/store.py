"""The referrals service's SQL. Every read is scoped to what the actor may see, so a bug in
the gateway cannot leak a case."""

from __future__ import annotations

import uuid
from dataclasses import fields as dataclass_fields
from datetime import date
from typing import Any

from psycopg.types.json import Jsonb

from services.referrals.lifecycle import OPEN_STATES, CaseState
from shared.db import UnitOfWork

CASE_ROLES = ("school", "la_caseworker", "la_manager")
FAR_FUTURE = "9999-12-31"  # the sort key of a case with nothing due (last by next due)
# Sort orders of the case list: SQL key columns, each paged by keyset (cursor = last key).
NEXT_DUE = "coalesce(next_due_on, '9999-12-31'::date)"  # as indexed (0005_case_list.sql)
SORT_KEYS = {
    "next_due": (NEXT_DUE, "reference", "id"),
    "received_on": ("received_on", "reference", "id"),
    "reference": ("reference", "id"),
}
_KEY_TYPES = {"next_due": ("date", "text", "uuid"), "received_on": ("date", "text", "uuid"),
              "reference": ("text", "uuid")}


def visibility(actor: dict, alias: str = "") -> tuple[str, tuple]:
    """The WHERE clause limiting cases to the actor's tenancy: a school sees the cases of
    its pupils (by URN, whatever their LA), LA staff every case of their LA, others none."""
    col = f"{alias}." if alias else ""
    role = actor["role"]
    if role == "school" and actor.get("school_urn"):
        return f"{col}school_urn = %s", (actor["school_urn"],)
    if role in ("la_caseworker", "la_manager") and actor.get("la_code"):
        return f"{col}la_code = %s", (actor["la_code"],)
    return "false", ()


# --- the lifecycle state as JSON ----------------------------------------------------------

_DATE_FIELDS = ("received_on", "last_step_on", "responsible_since")
_SET_FIELDS = ("advice_outstanding", "advice_requested", "consultations_outstanding",
               "open_exceptions")


def state_to_json(state: CaseState) -> dict:
    out: dict[str, Any] = {}
    for f in dataclass_fields(CaseState):
        value = getattr(state, f.name)
        if f.name in _SET_FIELDS:
            value = sorted(value)
        elif f.name in _DATE_FIELDS:
            value = value.isoformat()
        out[f.name] = value
    return out


def state_from_json(raw: dict) -> CaseState:
    known = {f.name for f in dataclass_fields(CaseState)}
    values = {k: v for k, v in raw.items() if k in known}
    for name in _DATE_FIELDS:
        values[name] = date.fromisoformat(values[name])
    for name in _SET_FIELDS:
        values[name] = frozenset(values.get(name) or ())
    return CaseState(**values)


# --- cases --------------------------------------------------------------------------------


def next_reference_number(uow: UnitOfWork, la_code: str, year: int) -> int:
    """The next number of the LA's year, from its own sequence (created by the first request
    of the year): nothing is locked until commit, so concurrent requests never queue here.
    A rolled-back request leaves a gap (0006_reference_sequences.sql)."""
    return uow.execute("SELECT next_reference_number(%s, %s) AS n",
                       (la_code, year)).fetchone()["n"]


def lock_idempotency_key(uow: UnitOfWork, key: str) -> None:
    """Until this transaction ends, another request with the same key waits here, then
    finds what this one wrote (no unique violation, no second case)."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"idem:{key}",))


def set_idempotency_fingerprint(uow: UnitOfWork, table: str, row_id, fingerprint: str) -> None:
    uow.execute(f"UPDATE {table} SET idempotency_fingerprint = %s WHERE id = %s",
                (fingerprint, row_id))


def find_by_idempotency_key(uow: UnitOfWork, key: str) -> dict | None:
    return uow.execute("SELECT * FROM cases WHERE idempotency_key = %s", (key,)).fetchone()


def insert_case(uow: UnitOfWork, *, case_id: uuid.UUID, reference: str, state: CaseState,
                request: dict, created_by: str, idempotency_key: str | None,
                event_id: str) -> dict:
    child = request["child"]
    return uow.execute(
        "INSERT INTO cases (id, reference, la_code, school_urn, status, received_on, "
        "requested_by, child_given_name, child_family_name, child_date_of_birth, created_by, "
        "idempotency_key, state, last_step_on, deadlines_pending, received_event_id) "
        "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,ARRAY[%s::uuid],%s) RETURNING *",
        (case_id, reference, request["la_code"], request["school_urn"], state.status,
         request["received_on"], request["requested_by"], child["given_name"],
         child["family_name"], child["date_of_birth"], created_by, idempotency_key,
         Jsonb(state_to_json(state)), state.last_step_on, event_id, event_id),
    ).fetchone()


def get_case(uow: UnitOfWork, actor: dict, case_id: str, for_update: bool = False,
             ) -> dict | None:
    where, params = visibility(actor)
    lock = " FOR UPDATE" if for_update else ""
    return uow.execute(f"SELECT * FROM cases WHERE id = %s AND {where}{lock}",
                       (case_id, *params)).fetchone()


def read_case(conn, actor: dict, case_id: str, action: str,
              with_schedule: bool = False) -> dict | None:
    """The case if the actor may see it, and its audit row (who, when, what), written by
    the same statement: a read is never shown without its audit, nor audited unshown.
    `with_schedule` adds the case's copy of its schedule (`schedule`, None before any)."""
    where, params = visibility(actor)
    shown = ("SELECT c.*, s.milestones AS schedule FROM c "
             "LEFT JOIN case_schedules s ON s.case_id = c.id") if with_schedule \
        else "SELECT * FROM c"
    return conn.execute(
        f"WITH c AS (SELECT * FROM cases WHERE id = %s AND {where}), "
        "a AS (INSERT INTO audit_log (case_id, actor_sub, actor_role, action, detail, source, "
        f"la_code) SELECT id, %s, %s, %s, '{{}}'::jsonb, %s, la_code FROM c) {shown}",
        (case_id, *params, actor["sub"], actor["role"], action, actor.get("source"))).fetchone()


def get_cases(uow: UnitOfWork, actor: dict, case_ids: list[str]) -> list[dict]:
    where, params = visibility(actor)
    return uow.execute(f"SELECT * FROM cases WHERE id = ANY(%b::uuid[]) AND {where}",
                       (case_ids, *params)).fetchall()


def update_case_state(uow: UnitOfWork, case_id, state: CaseState, event_id: str) -> dict:
    return uow.execute(
        "UPDATE cases SET status = %s, school_urn = %s, state = %s, advice_outstanding = %s, "
        "last_step_on = %s, updated_at = now(), "
        "deadlines_pending = array_append(deadlines_pending, %s::uuid) "
        "WHERE id = %s RETURNING *",
        (state.status, state.school_urn, Jsonb(state_to_json(state)),
         sorted(state.advice_outstanding), state.last_step_on, event_id, case_id)).fetchone()


def _list_where(actor: dict, filters: dict, today: date) -> tuple[list[str], list]:
    where, params = visibility(actor)
    clauses, args = [where], list(params)
    if filters.get("status"):
        clauses.append("status = ANY(%s)")
        args.append(list(filters["status"]))
    for column in ("la_code", "school_urn", "reference"):
        if filters.get(column):
            clauses.append(f"{column} = %s")
            args.append(filters[column])
    if filters.get("adviser"):
        clauses.append("%s = ANY(advice_outstanding)")
        args.append(filters["adviser"])
    if filters.get("assigned_to"):
        clauses.append("assigned_to = %s")
        args.append(filters["assigned_to"])
    if filters.get("unassigned"):
        clauses.append("assigned_to IS NULL")
    # Deadline filters on the indexed sort expression, so they bound the index range
    # (a case with nothing due sorts as far future and is never due nor overdue).
    if filters.get("due_within") is not None:
        # the next key date within N days, overdue ones included
        clauses.append(f"{NEXT_DUE} <= %s::date + %s::int")
        args.extend([today, filters["due_within"]])
    if filters.get("overdue") is True:
        clauses.append(f"{NEXT_DUE} < %s")
        args.append(today)
    elif filters.get("overdue") is False:
        clauses.append(f"{NEXT_DUE} >= %s")
        args.append(today)
    return clauses, args


def index(conn, actor: dict, filters: dict) -> list[dict]:
    """Codes and dates (no personal data) of every visible case matching the filters, for
    the deadlines list's join. No cap: an LA of any size gets all its cases."""
    clauses, args = _list_where(actor, filters, date.today())
    return conn.execute(
        "SELECT id, reference, status, la_code, school_urn, received_on FROM cases "
        f"WHERE {' AND '.join(clauses)} ORDER BY received_on, id", args).fetchall()


def page_cases(conn, actor: dict, filters: dict, sort: str, after: list | None, limit: int,
               today: date) -> tuple[list[dict], int]:
    """One page of the cases the actor may see, filtered and sorted in SQL (keyset paging
    on an index of LA/school/caseworker + next due date), and how many match in all."""
    clauses, args = _list_where(actor, filters, today)
    count = conn.execute(f"SELECT count(*) AS n FROM cases WHERE {' AND '.join(clauses)}",
                         args).fetchone()["n"]
    keys = SORT_KEYS[sort]
    page_clauses, page_args = list(clauses), list(args)
    if after is not None:
        types = _KEY_TYPES[sort]
        placeholders = ", ".join(f"%s::{t}" for t in types)
        page_clauses.append(f"({', '.join(keys)}) > ({placeholders})")
        page_args.extend(after)
    rows = conn.execute(
        f"SELECT * FROM cases WHERE {' AND '.join(page_clauses)} "
        f"ORDER BY {', '.join(keys)} LIMIT %s", (*page_args, limit + 1)).fetchall()
    return rows, count


def sort_key(row: dict, sort: str) -> list[str]:
    """The cursor of a row: its sort key as strings."""
    if sort == "next_due":
        due = row["next_due_on"].isoformat() if row["next_due_on"] else FAR_FUTURE
        return [due, row["reference"], str(row["id"])]
    if sort == "received_on":
        return [row["received_on"].isoformat(), row["reference"], str(row["id"])]
    return [row["reference"], str(row["id"])]


def valid_key(key: list, sort: str) -> bool:
    """Whether a cursor's key fits the sort (a tampered one must not reach SQL casts)."""
    types = _KEY_TYPES[sort]
    if not isinstance(key, list) or len(key) != len(types):
        return False
    for value, kind in zip(key, types, strict=True):
        try:
            if kind == "date":
                date.fromisoformat(value)
            elif kind == "uuid":
                uuid.UUID(value)
            elif not isinstance(value, str) or "\x00" in value:
                return False
        except (TypeError, ValueError):
            return False
    return True


def assign(uow: UnitOfWork, case_id, caseworker: str | None) -> dict:
    return uow.execute("UPDATE cases SET assigned_to = %s, updated_at = now() WHERE id = %s "
                       "RETURNING *", (caseworker, case_id)).fetchone()


def caseload(conn, la_code: str, today: date) -> list[dict]:
    """Open cases and overdue ones per assigned caseworker of an LA (null: unassigned)."""
    return conn.execute(
        "SELECT assigned_to, count(*) AS open_cases, "
        "count(*) FILTER (WHERE next_due_on < %s) AS overdue, "
        "count(*) FILTER (WHERE next_due_on BETWEEN %s AND %s::date + 7) AS due_this_week "
        "FROM cases WHERE la_code = %s AND status = ANY(%s) GROUP BY assigned_to "
        "ORDER BY assigned_to NULLS FIRST",
        (today, today, today, la_code, list(OPEN_STATES))).fetchall()


def apply_deadlines_scheduled(uow: UnitOfWork, scheduled: list[tuple]) -> None:
    """A batch of deadline.scheduled, set-wise: rows (case_id, as_of_event, due, milestone,
    status, as_of, milestones as JSON text). Every case's scheduled events leave its pending
    list; its next key date and its copy of the schedule are those of its newest event
    (older ones, in this batch or stored, change nothing). Cases in id order, so two
    batches lock them in one order."""
    uow.execute(
        "WITH s AS (SELECT * FROM unnest(%b::uuid[], %b::uuid[]) AS s(case_id, event_id)), "
        "done AS (SELECT case_id, array_agg(event_id) AS ids FROM s GROUP BY case_id) "
        "UPDATE cases c SET deadlines_pending = ARRAY(SELECT p FROM unnest(c.deadlines_pending) "
        "AS p WHERE p <> ALL(done.ids)) FROM done WHERE c.id = done.case_id",
        ([r[0] for r in scheduled], [r[1] for r in scheduled]))
    newest: dict = {}
    for row in scheduled:
        if row[0] not in newest or newest[row[0]][5] <= row[5]:
            newest[row[0]] = row
    rows = [newest[k] for k in sorted(newest, key=str)]
    uow.execute(
        "UPDATE cases c SET next_due_on = n.due, next_milestone = n.milestone, "
        "next_status = n.status, next_as_of = n.as_of "
        "FROM unnest(%b::uuid[], %b::date[], %b::text[], %b::text[], %b::timestamptz[]) "
        "AS n(case_id, due, milestone, status, as_of) "
        "WHERE c.id = n.case_id AND (c.next_as_of IS NULL OR c.next_as_of <= n.as_of)",
        ([r[0] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
         [r[4] for r in rows], [r[5] for r in rows]))
    # the copy of those whose next key date just came from this batch (next_as_of its time)
    uow.execute(
        "INSERT INTO case_schedules (case_id, milestones) SELECT n.case_id, n.milestones::jsonb "
        "FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[]) AS n(case_id, milestones, as_of) "
        "JOIN cases c ON c.id = n.case_id AND c.next_as_of = n.as_of "
        "ON CONFLICT (case_id) DO UPDATE SET milestones = excluded.milestones",
        ([r[0] for r in rows], [r[6] for r in rows], [r[5] for r in rows]))


# --- steps --------------------------------------------------------------------------------


def find_step_by_idempotency_key(uow: UnitOfWork, key: str) -> dict | None:
    return uow.execute("SELECT * FROM case_steps WHERE idempotency_key = %s", (key,)).fetchone()


def insert_step(uow: UnitOfWork, *, step_id: uuid.UUID, case_id, step_type: str, on: date,
                data: dict, actor: dict, status_after: str, event_id: str,
                idempotency_key: str | None) -> dict:
    return uow.execute(
        "INSERT INTO case_steps (id, case_id, seq, type, on_date, data, recorded_by, "
        "recorded_role, status_after, event_id, idempotency_key) "
        "SELECT %s, %s, coalesce(max(seq), 0) + 1, %s, %s, %s, %s, %s, %s, %s, %s "
        "FROM case_steps WHERE case_id = %s RETURNING *",
        (step_id, case_id, step_type, on, Jsonb(data), actor["sub"], actor["role"],
         status_after, event_id, idempotency_key, case_id)).fetchone()


def latest_version(uow: UnitOfWork, step_id) -> str:
    """The id of the step's newest version: its last correction, or the step itself."""
    row = uow.execute("SELECT id FROM step_corrections WHERE step_id = %s "
                      "ORDER BY recorded_at DESC LIMIT 1", (step_id,)).fetchone()
    return str(row["id"]) if row else str(step_id)


def latest_receipt_version(uow: UnitOfWork, case: dict) -> str:
    """The id of the request's newest version: its last correction, or referral.received."""
    row = uow.execute("SELECT id FROM step_corrections WHERE case_id = %s AND step_id IS NULL "
                      "ORDER BY recorded_at DESC LIMIT 1", (case["id"],)).fetchone()
    return str(row["id"]) if row else str(case["received_event_id"])


def record_correction(uow: UnitOfWork, *, correction_id: uuid.UUID, case_id, step_id,
                      previous_on: date, on: date, corrects: str, note: str | None,
                      actor: dict) -> None:
    uow.execute(
        "INSERT INTO step_corrections (id, case_id, step_id, corrects, previous_on, on_date, "
        "note, recorded_by, recorded_role) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (correction_id, case_id, step_id, corrects, previous_on, on, note, actor["sub"],
         actor["role"]))


def correct_receipt_date(uow: UnitOfWork, case_id, received_on: date) -> None:
    uow.execute("UPDATE cases SET received_on = %s WHERE id = %s", (received_on, case_id))


def correct_step_date(uow: UnitOfWork, *, correction_id: uuid.UUID, step: dict, on: date,
                      corrects: str, note: str | None, actor: dict, status_after: str) -> dict:
    record_correction(uow, correction_id=correction_id, case_id=step["case_id"],
                      step_id=step["id"], previous_on=step["on_date"], on=on,
                      corrects=corrects, note=note, actor=actor)
    return uow.execute("UPDATE case_steps SET on_date = %s, status_after = %s WHERE id = %s "
                       "RETURNING *", (on, status_after, step["id"])).fetchone()


def steps_of_case(uow: UnitOfWork, case_id) -> list[dict]:
    return uow.execute("SELECT * FROM case_steps WHERE case_id = %s ORDER BY seq",
                       (case_id,)).fetchall()


# --- audit --------------------------------------------------------------------------------


def audit(uow: UnitOfWork, actor: dict, action: str, case_id: object = None,
          detail: dict | None = None, la_code: str | None = None) -> None:
    uow.execute(
        "INSERT INTO audit_log (case_id, actor_sub, actor_role, action, detail, source, la_code) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (case_id, actor["sub"], actor["role"], action, Jsonb(detail or {}), actor.get("source"),
         la_code))


def audit_many(uow: UnitOfWork, actor: dict, action: str, cases: list[dict]) -> None:
    """One audit row per case shown, in one statement."""
    if not cases:
        return
    uow.execute(
        "INSERT INTO audit_log (case_id, actor_sub, actor_role, action, source, la_code) "
        "SELECT unnest(%b::uuid[]), %s, %s, %s, %s, unnest(%b::text[])",
        ([c["id"] for c in cases], actor["sub"], actor["role"], action, actor.get("source"),
         [c["la_code"] for c in cases]))


def audit_trail(uow: UnitOfWork, case_id, limit: int, before_id: int | None) -> list[dict]:
    return uow.execute(
        "SELECT id, actor_sub, actor_role, action, detail, source, at FROM audit_log "
        "WHERE case_id = %s AND (%s::bigint IS NULL OR id < %s) ORDER BY id DESC LIMIT %s",
        (case_id, before_id, before_id, limit)).fetchall()


# --- output -------------------------------------------------------------------------------


def as_referral(row: dict, state: CaseState | None = None) -> dict:
    """The case for its readers (`state`: the row's, when the caller has parsed it)."""
    if state is None and row.get("state"):
        state = state_from_json(row["state"])
    out = {
        "id": row["id"], "reference": row["reference"], "status": row["status"],
        "la_code": row["la_code"], "school_urn": row["school_urn"],
        "requested_by": row["requested_by"], "received_on": row["received_on"],
        "child": {"given_name": row["child_given_name"], "family_name": row["child_family_name"],
                  "date_of_birth": row["child_date_of_birth"]},
        "created_at": row["created_at"], "updated_at": row["updated_at"],
        "deadlines_up_to_date": not row.get("deadlines_pending"),
        "assigned_to": row.get("assigned_to"),
    }
    if state is not None:
        out.update({
            "last_step_on": state.last_step_on,
            "responsible_since": state.responsible_since,
            "advice_outstanding": sorted(state.advice_outstanding),
            "consultations_outstanding": sorted(state.consultations_outstanding),
            "open_exceptions": sorted(state.open_exceptions),
            "transferred_from": state.transferred_from or None,
            "transfer_year": state.transfer_year,
            "to_phase": state.to_phase or None,
        })
    return out


def cases_by_la_and_status(conn) -> list[dict]:
    """One grouped query for the gauges (cases_by_la covers it)."""
    return conn.execute("SELECT la_code, status, count(*) AS n FROM cases "
                        "GROUP BY la_code, status").fetchall()


# --- SEN2 ---------------------------------------------------------------------------------


def upsert_sen2(uow: UnitOfWork, case_id, data: dict, sub: str) -> None:
    uow.execute(
        "INSERT INTO sen2_details (case_id, data, updated_by) VALUES (%s, %s, %s) "
        "ON CONFLICT (case_id) DO UPDATE SET data = EXCLUDED.data, "
        "updated_by = EXCLUDED.updated_by, updated_at = now()", (case_id, Jsonb(data), sub))


def sen2_cases(uow: UnitOfWork, actor: dict, la_code: str) -> list[dict]:
    """Every case of the LA the actor may see, with its SEN2 details (NULL when none)."""
    where, params = visibility(actor, "c")
    return uow.execute(
        f"SELECT c.*, s.data AS sen2 FROM cases c LEFT JOIN sen2_details s ON s.case_id = c.id "
        f"WHERE c.la_code = %s AND {where} ORDER BY c.reference", (la_code, *params)).fetchall()


def steps_of_cases(uow: UnitOfWork, case_ids: list) -> dict:
    """The steps of many cases in one query, per case in recorded order."""
    out: dict = {}
    for row in uow.execute("SELECT case_id, type, on_date, data FROM case_steps "
                           "WHERE case_id = ANY(%b::uuid[]) ORDER BY case_id, seq",
                           (case_ids,)).fetchall():
        out.setdefault(row["case_id"], []).append(row)
    return out


# --- import (ehcp import) -----------------------------------------------------------------


def existing_case_refs(uow: UnitOfWork, la_code: str, refs: list[str]) -> dict[str, str]:
    """The LA's own references already imported, with the case reference each became."""
    rows = uow.execute("SELECT la_case_ref, reference FROM cases WHERE la_code = %s "
                       "AND la_case_ref = ANY(%s)", (la_code, refs)).fetchall()
    return {r["la_case_ref"]: r["reference"] for r in rows}


def reference_numbers(uow: UnitOfWork, la_code: str, year: int, n: int) -> list[int]:
    """n numbers of the LA's year from its sequence, in one statement."""
    rows = uow.execute("SELECT next_reference_number(%s, %s) AS n FROM generate_series(1, %s) "
                       "ORDER BY 1", (la_code, year, n)).fetchall()
    return [r["n"] for r in rows]


def copy_rows(uow: UnitOfWork, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Many rows into one table with one COPY (imports: set-wise, not row by row)."""
    with uow.conn.cursor() as cur, \
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def analyze_imported(db) -> None:
    """Fresh planner statistics for the tables an import just grew: before autovacuum's
    next look (up to a minute), the relay's and the deadline.scheduled updates' plans
    still saw the tables empty and scanned them whole for every batch (5,000 imported
    cases: 1.5 million outbox rows and 1.4 million case rows read)."""
    with db.read() as conn:
        conn.execute("ANALYZE cases, case_steps, audit_log, outbox")


IMPORTED_CASE_COLUMNS = (
    "id", "reference", "la_code", "school_urn", "status", "received_on", "requested_by",
    "child_given_name", "child_family_name", "child_date_of_birth", "created_by", "state",
    "advice_outstanding", "last_step_on", "deadlines_pending", "received_event_id",
    "la_case_ref")
IMPORTED_STEP_COLUMNS = ("id", "case_id", "seq", "type", "on_date", "data", "recorded_by",
                         "recorded_role", "status_after", "event_id")
AUDIT_COLUMNS = ("case_id", "actor_sub", "actor_role", "action", "detail", "source", "la_code")


def case_row(*, case_id: uuid.UUID, reference: str, la_code: str, request: dict,
             state: CaseState, created_by: str, event_id: str, la_case_ref: str
             ) -> tuple:
    """An imported case as a row of IMPORTED_CASE_COLUMNS: its final state, and its
    case.imported event pending until the deadlines service has taken it into account
    (and the request's version that a receipt correction names)."""
    child = request["child"]
    return (case_id, reference, la_code, state.school_urn, state.status,
            request["received_on"], request["requested_by"], child["given_name"],
            child["family_name"], child["date_of_birth"], created_by,
            Jsonb(state_to_json(state)), sorted(state.advice_outstanding), state.last_step_on,
            [event_id], event_id, la_case_ref)

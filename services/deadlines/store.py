"""The deadlines service's SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import psycopg
from psycopg.types.json import Jsonb

from services.deadlines.domain import CaseEvent, Closure, LaSettings
from services.deadlines.rules import NEVER_BREACHED_RULES
from shared.db import UnitOfWork

# Rule ids are constants of rules.py (letters, digits, hyphens): safe to inline.
_LAPSING = "(" + ", ".join(f"'{r}'" for r in NEVER_BREACHED_RULES) + ")"

# The status as of `today`: stored statuses were computed on the day of the last
# recompute, and an open milestone becomes breached as days pass without any event.
# A milestone already met keeps its status whatever today is: met late but within its
# exception-adjusted target is `exception`, never `breached` (issue 11).
# Family windows and deadlines only for a decision not to issue lapse instead (issue 11).
EFFECTIVE_STATUS = (
    "CASE WHEN m.met_on IS NOT NULL THEN m.status "
    f"WHEN m.rule IN {_LAPSING} THEN CASE WHEN m.status IN ('pending', 'exception') "
    "AND m.target_on < %(today)s THEN 'not_applicable' ELSE m.status END "
    "WHEN m.status IN ('pending', 'exception', 'breached') THEN "
    "CASE WHEN m.target_on < %(today)s THEN 'breached' "
    "WHEN m.adjusted_due_on IS NOT NULL THEN 'exception' ELSE 'pending' END "
    "ELSE m.status END")

MILESTONE_COLUMNS = (
    "m.case_id, m.milestone, m.rule, m.regulation, m.due_on, m.adjusted_due_on, m.target_on, "
    "m.met_on, m.exception_days, m.la_code, m.school_urn, m.occurrence, m.known_since, "
    "m.next_alert_on, m.status AS stored_status, c.reference, c.last_event_id, "
    f"{EFFECTIVE_STATUS} AS status")


# -- cases and their history ---------------------------------------------------------------


def upsert_cases(uow: UnitOfWork, cases: Sequence[tuple], today: date) -> list[dict]:
    """Insert or update cases in one statement, row-locking them (which serialises
    recomputes of one case): rows (case_id, reference, la_code, school_urn, last_event_id),
    one per case. Locked in case id order, so two batches never wait on each other in a
    cycle."""
    rows = sorted(cases, key=lambda r: str(r[0]))
    return uow.execute(
        "INSERT INTO cases (case_id, reference, la_code, school_urn, last_event_id, "
        "first_seen_on) SELECT c.*, %s::date FROM unnest(%b::uuid[], %b::text[], %b::text[], "
        "%b::text[], %b::uuid[]) AS c ON CONFLICT (case_id) DO UPDATE SET "
        "reference = EXCLUDED.reference, la_code = EXCLUDED.la_code, "
        "school_urn = EXCLUDED.school_urn, last_event_id = EXCLUDED.last_event_id, "
        "updated_at = now() RETURNING *",
        (today, *([r[i] for r in rows] for i in range(5)))).fetchall()


def record_events(uow: UnitOfWork, events: Sequence[tuple[object, CaseEvent]]) -> None:
    """Add (case_id, event) pairs to the histories in one statement (a redelivered one is
    there already)."""
    if not events:
        return
    uow.execute(
        "INSERT INTO case_events (event_id, case_id, type, on_date, data, received_at, corrects) "
        "SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::date[], %b::jsonb[], "
        "%b::timestamptz[], %b::uuid[]) ON CONFLICT (event_id) DO NOTHING",
        ([e.id for _, e in events], [str(c) for c, _ in events], [e.type for _, e in events],
         [e.on for _, e in events], [Jsonb(dict(e.data)) for _, e in events],
         [e.received_at for _, e in events], [e.corrects for _, e in events]))


# -- LA settings and closures ------------------------------------------------------------


def la_settings_raw(conn: psycopg.Connection, la_code: str) -> dict:
    row = conn.execute("SELECT settings FROM la_settings WHERE la_code = %s",
                       (la_code,)).fetchone()
    return row["settings"] if row else {}


def la_settings(conn: psycopg.Connection, la_code: str) -> LaSettings:
    return LaSettings.from_dict(la_settings_raw(conn, la_code))


def save_la_settings(uow: UnitOfWork, la_code: str, settings: dict) -> None:
    uow.execute(
        "INSERT INTO la_settings (la_code, settings) VALUES (%s, %s) ON CONFLICT (la_code) "
        "DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()",
        (la_code, Jsonb(settings)))


def closures(conn: psycopg.Connection, la_code: str) -> list[dict]:
    return conn.execute(
        "SELECT id, la_code, school_urn, starts_on, ends_on FROM closures WHERE la_code = %s "
        "ORDER BY starts_on, school_urn NULLS FIRST, id", (la_code,)).fetchall()


def closures_of(conn: psycopg.Connection, la_code: str) -> list[Closure]:
    return [Closure(r["school_urn"], r["starts_on"], r["ends_on"])
            for r in closures(conn, la_code)]


def add_closure(uow: UnitOfWork, la_code: str, school_urn: str | None, starts_on: date,
                ends_on: date) -> dict:
    return uow.execute(
        "INSERT INTO closures (la_code, school_urn, starts_on, ends_on) VALUES (%s, %s, %s, %s) "
        "RETURNING id, la_code, school_urn, starts_on, ends_on",
        (la_code, school_urn, starts_on, ends_on)).fetchone()


def delete_closure(uow: UnitOfWork, la_code: str, closure_id: str) -> bool:
    return uow.execute("DELETE FROM closures WHERE la_code = %s AND id = %s RETURNING id",
                       (la_code, closure_id)).fetchone() is not None


# An open case not yet flagged: what a recompute (settings change, `ehcp recompute`) flags.
_OPEN_UNFLAGGED = ("NOT c.needs_recompute AND EXISTS "
                   "(SELECT 1 FROM milestones m WHERE m.case_id = c.case_id AND m.is_open)")


def mark_open_cases_for_recompute(uow: UnitOfWork, la_code: str) -> int:
    """Flag every open case of the LA in the caller's transaction (with the settings change
    that calls for it); the sweep's timer recomputes them."""
    return uow.execute(
        f"UPDATE cases c SET needs_recompute = true WHERE c.la_code = %s AND {_OPEN_UNFLAGGED}",
        (la_code,)).rowcount


def claim_stale_cases(uow: UnitOfWork, batch: int) -> list[dict]:
    return uow.execute(
        "SELECT * FROM cases WHERE needs_recompute LIMIT %s FOR UPDATE SKIP LOCKED",
        (batch,)).fetchall()


# -- milestones ----------------------------------------------------------------------------


# -- set-wise recompute (issue 10): one query per kind of row for a whole batch of cases ---------


def histories_of(uow: UnitOfWork, case_ids: Sequence) -> dict[str, list[CaseEvent]]:
    """The histories of many cases in one query, by case id."""
    out: dict[str, list[CaseEvent]] = {str(c): [] for c in case_ids}
    rows = uow.execute(
        "SELECT case_id, event_id, type, on_date, data, received_at, corrects FROM case_events "
        "WHERE case_id = ANY(%b::uuid[])", ([str(c) for c in case_ids],)).fetchall()
    for r in rows:
        out[str(r["case_id"])].append(CaseEvent(
            id=str(r["event_id"]), type=r["type"], on=r["on_date"], data=r["data"],
            received_at=r["received_at"],
            corrects=str(r["corrects"]) if r["corrects"] else None))
    return out


def milestones_of(uow: UnitOfWork, case_ids: Sequence) -> dict[str, list[dict]]:
    """Stored milestone rows of many cases in one query, by case id."""
    out: dict[str, list[dict]] = {str(c): [] for c in case_ids}
    for r in uow.execute(
            "SELECT case_id, milestone, rule, due_on, occurrence, regulation, adjusted_due_on, "
            "status, met_on, exception_days, la_code, school_urn, known_since, next_alert_on "
            "FROM milestones WHERE case_id = ANY(%b::uuid[])",
            ([str(c) for c in case_ids],)).fetchall():
        out[str(r["case_id"])].append(r)
    return out


def emitted_of(uow: UnitOfWork, case_ids: Sequence) -> dict[str, set[tuple]]:
    """(milestone, rule, due_on, kind, send_on) of the alerts emitted, for many cases."""
    out: dict[str, set[tuple]] = {str(c): set() for c in case_ids}
    for r in uow.execute(
            "SELECT case_id, milestone, rule, due_on, kind, send_on FROM alerts_emitted "
            "WHERE case_id = ANY(%b::uuid[])", ([str(c) for c in case_ids],)).fetchall():
        out[str(r["case_id"])].add((r["milestone"], r["rule"], r["due_on"], r["kind"],
                                    r["send_on"]))
    return out


MILESTONE_KEY = ("case_id", "milestone", "rule", "due_on", "occurrence")
MILESTONE_VALUES = ("regulation", "adjusted_due_on", "status", "met_on", "exception_days",
                    "la_code", "school_urn", "known_since", "next_alert_on")
_TYPES = {"case_id": "uuid", "due_on": "date", "occurrence": "int", "adjusted_due_on": "date",
          "met_on": "date", "exception_days": "int", "known_since": "date",
          "next_alert_on": "date"}


def _unnest(cols: Sequence[str]) -> str:
    return "unnest(" + ", ".join(f"%b::{_TYPES.get(c, 'text')}[]" for c in cols) + ")"


def delete_milestones(uow: UnitOfWork, keys: Sequence[tuple]) -> int:
    """Delete milestones by key (case_id, milestone, rule, due_on, occurrence), one statement."""
    if not keys:
        return 0
    return uow.execute(
        f"DELETE FROM milestones m USING {_unnest(MILESTONE_KEY)} "
        "AS k(case_id, milestone, rule, due_on, occurrence) WHERE m.case_id = k.case_id "
        "AND m.milestone = k.milestone AND m.rule = k.rule AND m.due_on = k.due_on "
        "AND m.occurrence = k.occurrence",
        [[str(k[i]) if i == 0 else k[i] for k in keys] for i in range(5)]).rowcount


def upsert_milestones(uow: UnitOfWork, rows: Sequence[dict]) -> int:
    """Insert new and update changed milestones (dicts of key + value columns) in one
    statement; sorted by key so two batches lock rows in one order."""
    if not rows:
        return 0
    cols = MILESTONE_KEY + MILESTONE_VALUES
    rows = sorted(rows, key=lambda r: (str(r["case_id"]), r["milestone"], r["rule"],
                                       r["due_on"], r["occurrence"]))
    return uow.execute(
        f"INSERT INTO milestones ({', '.join(cols)}) SELECT * FROM {_unnest(cols)} "
        "ON CONFLICT (case_id, milestone, rule, due_on, occurrence) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in MILESTONE_VALUES),
        [[str(r[c]) if c == "case_id" else r[c] for r in rows] for c in cols]).rowcount


def flag_open_cases(uow: UnitOfWork, after: str | None, batch: int,
                    la_code: str | None = None) -> tuple[int, str | None]:
    """Flag for recompute the next `batch` cases by id after `after` (keyset walk), only
    those with an open milestone. (cases flagged, last case id looked at; None at the end)"""
    row = uow.execute(
        "WITH page AS (SELECT case_id FROM cases WHERE case_id > coalesce(%(after)s::uuid, "
        "'00000000-0000-0000-0000-000000000000') "
        "AND (%(la)s::text IS NULL OR la_code = %(la)s) ORDER BY case_id LIMIT %(batch)s), "
        "flagged AS (UPDATE cases c SET needs_recompute = true FROM page "
        f"WHERE c.case_id = page.case_id AND {_OPEN_UNFLAGGED} RETURNING 1) "
        "SELECT (SELECT count(*) FROM flagged) AS n, (SELECT max(case_id::text) FROM page) "
        "AS last, (SELECT count(*) FROM page) AS seen",
        {"after": after, "la": la_code, "batch": batch}).fetchone()
    return row["n"], (row["last"] if row["seen"] == batch else None)


def stale_count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) AS n FROM cases WHERE needs_recompute").fetchone()["n"]


def clear_recompute_many(uow: UnitOfWork, case_ids: Sequence) -> None:
    uow.execute("UPDATE cases SET needs_recompute = false WHERE case_id = ANY(%b::uuid[]) "
                "AND needs_recompute", ([str(c) for c in case_ids],))


def milestones_of_cases(conn, case_ids: list[str], today: date) -> list[dict]:
    return conn.execute(
        f"SELECT {MILESTONE_COLUMNS} FROM milestones m "
        "JOIN cases c USING (case_id) WHERE m.case_id = ANY(%(ids)b::uuid[]) "
        "ORDER BY m.case_id, m.due_on, m.milestone, m.occurrence",
        {"ids": case_ids, "today": today}).fetchall()


# -- the sweep -----------------------------------------------------------------------------

CLAIM_DUE = (
    f"SELECT {MILESTONE_COLUMNS} FROM milestones m JOIN cases c USING (case_id) "
    "WHERE m.next_alert_on <= %(today)s ORDER BY m.next_alert_on LIMIT %(batch)s "
    "FOR UPDATE OF m SKIP LOCKED")


def claim_due(conn: psycopg.Connection, today: date, batch: int) -> list[dict]:
    """Lock up to `batch` milestones with an alert due; rows another sweep holds are skipped.

    Reads the partial index on next_alert_on only (see bench/sweep.py)."""
    return conn.execute(CLAIM_DUE, {"today": today, "batch": batch}).fetchall()


def record_alerts(uow: UnitOfWork, alerts: Sequence[tuple[dict, str, date, str]]) -> set[str]:
    """Record many alerts (row, kind, send_on, event_id) as emitted in one statement; returns
    the event ids of those recorded now (the others already were, by us or another
    instance: the primary key and the met-once index decide)."""
    if not alerts:
        return set()
    cols = list(zip(*[(r["case_id"], r["milestone"], r["rule"], r["due_on"], kind, on, eid,
                       r["la_code"]) for r, kind, on, eid in alerts], strict=True))
    rows = uow.execute(
        "INSERT INTO alerts_emitted (case_id, milestone, rule, due_on, kind, send_on, event_id, "
        "la_code) SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::date[], "
        "%b::text[], %b::date[], %b::uuid[], %b::text[]) ON CONFLICT DO NOTHING "
        "RETURNING event_id", [list(c) for c in cols]).fetchall()
    return {str(r["event_id"]) for r in rows}


def set_next_alerts(uow: UnitOfWork,
                    updates: Sequence[tuple[dict, date | None, str | None]]) -> None:
    """Plan each milestone's next alert (and keep its status), one statement per batch."""
    if not updates:
        return
    cols = list(zip(*[(r["case_id"], r["milestone"], r["rule"], r["due_on"], r["occurrence"],
                       nxt, status) for r, nxt, status in updates], strict=True))
    uow.execute(
        "UPDATE milestones m SET next_alert_on = u.next_alert_on, "
        "status = coalesce(u.status, m.status) "
        "FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::date[], %b::int[], %b::date[], "
        "%b::text[]) AS u (case_id, milestone, rule, due_on, occurrence, next_alert_on, status) "
        "WHERE m.case_id = u.case_id AND m.milestone = u.milestone AND m.rule = u.rule "
        "AND m.due_on = u.due_on AND m.occurrence = u.occurrence", [list(c) for c in cols])


# -- reads for the gateway -----------------------------------------------------------------


def list_deadlines(conn: psycopg.Connection, f: dict, today: date) -> list[dict]:
    """One indexed query (no N+1): filters are ANDed, results ordered by working target."""
    where: list[str] = []
    params: dict = {"today": today, "limit": f["limit"], "offset": f["offset"]}
    if f.get("la_code"):
        where.append("m.la_code = %(la_code)s")
        params["la_code"] = f["la_code"]
    if f.get("school_urns") is not None:
        where.append("m.school_urn = ANY(%(school_urns)s)")
        params["school_urns"] = list(f["school_urns"])
    if f.get("case_ids") is not None:
        where.append("m.case_id = ANY(%(case_ids)b::uuid[])")
        params["case_ids"] = [str(c) for c in f["case_ids"]]
    if f.get("rules"):
        where.append("m.rule = ANY(%(rules)s)")
        params["rules"] = list(f["rules"])
    if f.get("open_only"):
        where.append("m.is_open")
    if f.get("due_before"):
        where.append("m.target_on < %(due_before)s")
        params["due_before"] = f["due_before"]
    if f.get("due_within_days") is not None:
        where.append("m.is_open AND m.target_on BETWEEN %(today)s AND %(within)s")
        params["within"] = date.fromordinal(today.toordinal() + f["due_within_days"])
    if f.get("overdue"):
        where.append(f"m.is_open AND m.target_on < %(today)s AND m.rule NOT IN {_LAPSING}")
    sql = f"SELECT {MILESTONE_COLUMNS} FROM milestones m JOIN cases c USING (case_id)"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if f.get("status"):
        sql = f"SELECT * FROM ({sql}) s WHERE s.status = ANY(%(status)s)"
        params["status"] = list(f["status"])
    sql += (" ORDER BY target_on, case_id, milestone, occurrence"
            " LIMIT %(limit)s OFFSET %(offset)s")
    return conn.execute(sql, params).fetchall()


TIMELINESS = """
WITH plans AS (
    SELECT m.la_code, m.met_on, m.due_on, m.exception_days > 0 AS excepted,
           (m.met_on - (m.due_on - 140)) AS days,
           m.met_on < ((m.due_on - 140) + interval '1 year')::date AS under_a_year
    FROM milestones m
    WHERE m.rule IN ('A6', 'T4') AND m.met_on IS NOT NULL
      AND m.met_on >= %(start)s AND m.met_on < %(end)s {la}
), decisions AS (
    SELECT m.la_code, m.met_on <= m.due_on AS in_time, m.exception_days > 0 AS excepted
    FROM milestones m
    WHERE m.rule IN ('A1', 'T4d') AND m.met_on IS NOT NULL
      AND m.met_on >= %(start)s AND m.met_on < %(end)s {la}
), p AS (
    SELECT la_code,
        count(*) AS plans_issued,
        count(*) FILTER (WHERE days <= 140) AS within_20_weeks,
        count(*) FILTER (WHERE days > 140 AND under_a_year) AS over_20_weeks_under_a_year,
        count(*) FILTER (WHERE NOT under_a_year) AS over_a_year,
        count(*) FILTER (WHERE NOT excepted) AS plans_issued_excl,
        count(*) FILTER (WHERE days <= 140 AND NOT excepted) AS within_20_weeks_excl,
        count(*) FILTER (WHERE days > 140 AND under_a_year AND NOT excepted)
            AS over_20_weeks_under_a_year_excl,
        count(*) FILTER (WHERE NOT under_a_year AND NOT excepted) AS over_a_year_excl,
        avg(days) / 7.0 AS average_weeks_to_issue
    FROM plans GROUP BY la_code
), d AS (
    SELECT la_code,
        count(*) AS requests_decided,
        count(*) FILTER (WHERE in_time) AS decided_within_6_weeks,
        count(*) FILTER (WHERE NOT excepted) AS requests_decided_excl,
        count(*) FILTER (WHERE in_time AND NOT excepted) AS decided_within_6_weeks_excl
    FROM decisions GROUP BY la_code
)
SELECT coalesce(p.la_code, d.la_code) AS la_code, to_jsonb(p) AS p, to_jsonb(d) AS d
FROM p FULL JOIN d ON d.la_code = p.la_code
"""


def timeliness(conn: psycopg.Connection, year: int, la_code: str | None = None) -> list[dict]:
    """SEN2 figures of one calendar year, per LA (all LAs when la_code is None)."""
    la = "AND m.la_code = %(la_code)s" if la_code else ""
    return conn.execute(TIMELINESS.format(la=la), {
        "start": date(year, 1, 1), "end": date(year + 1, 1, 1), "la_code": la_code,
    }).fetchall()


def open_milestone_counts(conn: psycopg.Connection, today: date) -> list[dict]:
    """Open milestones per (LA, rule, status as of today): one grouped query for the gauges."""
    return conn.execute(
        f"SELECT m.la_code, m.rule, {EFFECTIVE_STATUS} AS status, count(*) AS n "
        "FROM milestones m WHERE m.is_open GROUP BY 1, 2, 3", {"today": today}).fetchall()


TIMELINESS_BY_MONTH = """
WITH m AS (
    SELECT rule, met_on, due_on, coalesce(adjusted_due_on, due_on) AS eff, status
    FROM milestones WHERE la_code = %(la_code)s
)
SELECT month, sum(plans)::int AS plans_issued, sum(within)::int AS within_20_weeks,
       sum(breaches)::int AS breaches
FROM (
    SELECT extract(month FROM met_on)::int AS month, (rule IN ('A6', 'T4'))::int AS plans,
           (rule IN ('A6', 'T4') AND met_on <= due_on)::int AS within,
           (met_on > eff)::int AS breaches
    FROM m WHERE met_on >= %(start)s AND met_on < %(end)s
    UNION ALL
    SELECT extract(month FROM eff)::int, 0, 0, 1
    FROM m WHERE met_on IS NULL AND status IN ('pending', 'breached', 'exception')
      AND eff >= %(start)s AND eff < least(%(end)s, %(today)s)
) x GROUP BY month ORDER BY month
"""


def timeliness_by_month(conn: psycopg.Connection, year: int, la_code: str,
                        today: date) -> list[dict]:
    """Per month of a year: final plans issued, within 20 weeks (Reg 13(2)), and breaches
    (milestones met late that month, or open and past their date that month)."""
    return conn.execute(TIMELINESS_BY_MONTH, {
        "start": date(year, 1, 1), "end": date(year + 1, 1, 1), "la_code": la_code,
        "today": today}).fetchall()

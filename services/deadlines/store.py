"""The deadlines service's SQL."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from services.deadlines.domain import CaseEvent, Milestone
from shared.db import UnitOfWork


def upsert_case(uow: UnitOfWork, case_id, reference: str, la_code: str, school_urn: str,
                event_id: str) -> None:
    uow.execute(
        "INSERT INTO cases (case_id, reference, la_code, school_urn, last_event_id) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (case_id) DO UPDATE SET "
        "reference = EXCLUDED.reference, la_code = EXCLUDED.la_code, "
        "school_urn = EXCLUDED.school_urn, last_event_id = EXCLUDED.last_event_id, "
        "updated_at = now()", (case_id, reference, la_code, school_urn, event_id))


def record_event(uow: UnitOfWork, case_id, event: CaseEvent) -> None:
    uow.execute(
        "INSERT INTO case_events (event_id, case_id, type, on_date, data, received_at, corrects) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (event.id, case_id, event.type, event.on, Jsonb(dict(event.data)), event.received_at,
         event.corrects))


def case_history(uow: UnitOfWork, case_id) -> list[CaseEvent]:
    rows = uow.execute(
        "SELECT event_id, type, on_date, data, received_at, corrects FROM case_events "
        "WHERE case_id = %s", (case_id,)).fetchall()
    return [CaseEvent(id=str(r["event_id"]), type=r["type"], on=r["on_date"], data=r["data"],
                      received_at=r["received_at"],
                      corrects=str(r["corrects"]) if r["corrects"] else None) for r in rows]


def replace_milestones(uow: UnitOfWork, case_id, la_code: str, school_urn: str,
                       milestones: list[Milestone]) -> None:
    uow.execute("DELETE FROM milestones WHERE case_id = %s", (case_id,))
    if milestones:
        with uow.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO milestones (case_id, milestone, rule, regulation, due_on, "
                "adjusted_due_on, status, met_on, exception_days, la_code, school_urn) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(case_id, m.milestone, m.rule, m.regulation, m.due_on, m.adjusted_due_on,
                  m.status, m.met_on, m.exception_days, la_code, school_urn)
                 for m in milestones])


def milestones_of_cases(conn, case_ids: list[str]) -> list[dict]:
    return conn.execute(
        "SELECT m.*, c.reference, c.last_event_id FROM milestones m "
        "JOIN cases c USING (case_id) WHERE m.case_id = ANY(%s::uuid[]) "
        "ORDER BY m.case_id, m.due_on, m.milestone", (case_ids,)).fetchall()


def last_event_of_cases(conn, case_ids: list[str]) -> dict[str, str]:
    rows = conn.execute("SELECT case_id, last_event_id FROM cases WHERE case_id = ANY(%s::uuid[])",
                        (case_ids,)).fetchall()
    return {str(r["case_id"]): str(r["last_event_id"]) for r in rows}

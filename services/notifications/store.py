"""The notifications service's SQL."""

from __future__ import annotations

from shared.db import UnitOfWork

COLUMNS = ("id", "recipient", "case_id", "reference", "la_code", "school_urn", "milestone",
           "kind", "due_on", "title", "link", "source_event_id")


def insert_alert(uow: UnitOfWork, alert: dict) -> int:
    """Insert unless this recipient already has this alert; returns 1 if inserted."""
    row = uow.execute(
        f"INSERT INTO alerts ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
        "ON CONFLICT (recipient, case_id, milestone, kind, due_on) DO NOTHING RETURNING id",
        tuple(alert[c] for c in COLUMNS)).fetchone()
    return 1 if row else 0


def list_alerts(conn, recipients: list[str], unread_only: bool, limit: int) -> list[dict]:
    return conn.execute(
        "SELECT id, case_id, reference, milestone, kind, due_on, title, link, created_at, "
        "read_at FROM alerts WHERE recipient = ANY(%s) AND (NOT %s OR read_at IS NULL) "
        "ORDER BY created_at DESC, id LIMIT %s", (recipients, unread_only, limit)).fetchall()


def mark_read(conn, recipients: list[str], alert_id: str) -> bool:
    row = conn.execute(
        "UPDATE alerts SET read_at = coalesce(read_at, now()) WHERE id = %s "
        "AND recipient = ANY(%s) RETURNING id", (alert_id, recipients)).fetchone()
    return row is not None

"""The notifications service's SQL."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.types.json import Jsonb

from shared.db import UnitOfWork

# Ids of new alerts and deliveries come from PostgreSQL (gen_random_uuid()): one value
# fewer per row to make and send from Python.
COLUMNS = ("recipient", "case_id", "reference", "la_code", "school_urn", "milestone",
           "kind", "due_on", "title", "link", "source_event_id")


ALERT_TYPES = ("text", "uuid", "text", "text", "text", "text", "text", "date", "text",
               "text", "uuid")


def insert_alerts(uow: UnitOfWork, alerts: Sequence[dict]) -> int:
    """Insert many in one statement, each unless its recipient already has it (the same
    unique key (recipient, case, milestone, kind, due)); returns how many were inserted."""
    if not alerts:
        return 0
    arrays = ", ".join(f"%b::{t}[]" for t in ALERT_TYPES)
    return len(uow.execute(
        f"INSERT INTO alerts (id, {', '.join(COLUMNS)}) "
        f"SELECT gen_random_uuid(), * FROM unnest({arrays}) "
        "ON CONFLICT (recipient, case_id, milestone, kind, due_on) DO NOTHING RETURNING id",
        [[a[c] for a in alerts] for c in COLUMNS]).fetchall())


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


# --- recipient directory ----------------------------------------------------------

RECIPIENT_FIELDS = ("kind", "la_code", "school_urn", "name", "emails", "webhook_url",
                    "channels", "muted_kinds")


def insert_recipient(conn, recipient_id, data: dict, webhook_secret: str | None) -> dict:
    cols = ("id", *RECIPIENT_FIELDS, "webhook_secret")
    values = (recipient_id, *(data[c] for c in RECIPIENT_FIELDS), webhook_secret)
    return conn.execute(
        f"INSERT INTO recipients ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
        "RETURNING *", values).fetchone()


def get_recipient(conn, recipient_id: str, for_update: bool = False) -> dict | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM recipients WHERE id = %s AND deleted_at IS NULL" + lock,
                        (recipient_id,)).fetchone()


def list_recipients(conn, la_code: str | None, kind: str | None,
                    school_urn: str | None) -> list[dict]:
    return conn.execute(
        "SELECT * FROM recipients WHERE deleted_at IS NULL "
        "AND (%(la)s::text IS NULL OR la_code = %(la)s) "
        "AND (%(kind)s::text IS NULL OR kind = %(kind)s) "
        "AND (%(urn)s::text IS NULL OR school_urn = %(urn)s) ORDER BY la_code, kind, name, id",
        {"la": la_code, "kind": kind, "urn": school_urn}).fetchall()


def update_recipient(conn, recipient_id: str, changes: dict) -> dict:
    sets = ", ".join(f"{k} = %({k})s" for k in changes)
    return conn.execute(
        f"UPDATE recipients SET {sets}, updated_at = now() WHERE id = %(id)s RETURNING *",
        {**changes, "id": recipient_id}).fetchone()


def delete_recipient(conn, recipient_id: str) -> None:
    conn.execute("UPDATE recipients SET deleted_at = now(), calendar_secret_hash = NULL, "
                 "updated_at = now() WHERE id = %s", (recipient_id,))
    # Nothing more goes to a removed recipient; what was sent stays as history.
    conn.execute("UPDATE deliveries SET status = 'cancelled', last_error = 'recipient removed' "
                 "WHERE recipient_id = %s AND status IN ('pending', 'sending')", (recipient_id,))


def recipient_by_calendar_hash(conn, digest: str) -> dict | None:
    return conn.execute("SELECT * FROM recipients WHERE calendar_secret_hash = %s "
                        "AND deleted_at IS NULL", (digest,)).fetchone()


# --- deliveries ---------------------------------------------------------------------

def recipients_for_alerts(conn, la_codes: Sequence[str], school_urns: Sequence[str]
                          ) -> list[dict]:
    """The directory entries any of a batch's alerts may reach, in one query (each alert
    then keeps those of its LA or its school)."""
    return conn.execute(
        "SELECT * FROM recipients WHERE deleted_at IS NULL "
        "AND (la_code = ANY(%b) OR school_urn = ANY(%b)) ORDER BY created_at, id",
        (sorted(set(la_codes)), sorted(set(school_urns)))).fetchall()


DELIVERY_COLUMNS = ("recipient_id", "channel", "case_id", "milestone", "kind", "due_on",
                    "event_occurred_at", "source_event_id")
DELIVERY_TYPES = ("uuid", "text", "uuid", "text", "text", "date", "timestamptz", "uuid")


def insert_deliveries(conn, deliveries: Sequence[dict]) -> list[str]:
    """Queue many deliveries in one statement, each unless its unique key exists; returns
    the channels of the new ones. Each `content` is a plain dict: they travel as one jsonb
    array (psycopg escapes a jsonb[] parameter element by element, slowly)."""
    if not deliveries:
        return []
    arrays = ", ".join(f"%b::{t}[]" for t in DELIVERY_TYPES)
    cols = ", ".join(DELIVERY_COLUMNS)
    rows = conn.execute(
        f"INSERT INTO deliveries (id, {cols}, content) "
        f"SELECT gen_random_uuid(), {cols}, c.content "
        f"FROM unnest({arrays}) WITH ORDINALITY AS u ({cols}, n) "
        "JOIN jsonb_array_elements(%s) WITH ORDINALITY AS c (content, n) USING (n) "
        "ON CONFLICT DO NOTHING RETURNING channel",
        [*([d[c] for d in deliveries] for c in DELIVERY_COLUMNS),
         Jsonb([d["content"] for d in deliveries])]).fetchall()
    return [r["channel"] for r in rows]


def insert_delivery(conn, d: dict) -> bool:
    """Queue a delivery unless its unique key exists; True if it is new."""
    row = conn.execute(
        "INSERT INTO deliveries (id, recipient_id, channel, case_id, milestone, kind, due_on, "
        "content, event_occurred_at, source_event_id) VALUES (%(id)s, %(recipient_id)s, "
        "%(channel)s, %(case_id)s, %(milestone)s, %(kind)s, %(due_on)s, %(content)s, "
        "%(event_occurred_at)s, %(source_event_id)s) ON CONFLICT DO NOTHING RETURNING id",
        d).fetchone()
    return row is not None


def claim_deliveries(conn, channel: str, limit: int, lease_seconds: float) -> list[dict]:
    """Take due deliveries (pending, or 'sending' whose worker's lease ran out) and mark
    them 'sending' with a fresh attempt id, in one statement; SKIP LOCKED lets two
    instances claim disjoint batches."""
    return conn.execute(
        "UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1, "
        "attempt_id = gen_random_uuid(), "
        "next_attempt_at = now() + make_interval(secs => %(lease)s) "
        "FROM recipients r WHERE r.id = d.recipient_id AND d.id IN ("
        "  SELECT id FROM deliveries WHERE channel = %(channel)s "
        "  AND status IN ('pending', 'sending') AND next_attempt_at <= now() "
        "  ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
        "RETURNING d.id, d.channel, d.kind, d.content, d.attempts, d.attempt_id, "
        "d.event_occurred_at, r.emails, r.webhook_url, r.webhook_secret, "
        "r.deleted_at IS NOT NULL AS recipient_removed",
        {"channel": channel, "limit": limit, "lease": lease_seconds}).fetchall()


def mark_sent(conn, delivery_id, attempt_id) -> bool:
    row = conn.execute(
        "UPDATE deliveries SET status = 'sent', sent_at = now(), last_error = NULL "
        "WHERE id = %s AND attempt_id = %s AND status = 'sending' RETURNING id",
        (delivery_id, attempt_id)).fetchone()
    return row is not None


def mark_retry(conn, delivery_id, attempt_id, delay_seconds: float, error: str) -> bool:
    row = conn.execute(
        "UPDATE deliveries SET status = 'pending', last_error = %s, "
        "next_attempt_at = now() + make_interval(secs => %s) "
        "WHERE id = %s AND attempt_id = %s AND status = 'sending' RETURNING id",
        (error[:1000], delay_seconds, delivery_id, attempt_id)).fetchone()
    return row is not None


def mark_failed(conn, delivery_id, attempt_id, error: str, status: str = "failed") -> bool:
    row = conn.execute(
        "UPDATE deliveries SET status = %s, last_error = %s "
        "WHERE id = %s AND attempt_id = %s AND status = 'sending' RETURNING id",
        (status, error[:1000], delivery_id, attempt_id)).fetchone()
    return row is not None


def backlog(conn) -> dict[str, int]:
    rows = conn.execute("SELECT channel, count(*) AS n FROM deliveries "
                        "WHERE status IN ('pending', 'sending') GROUP BY channel").fetchall()
    return {r["channel"]: r["n"] for r in rows}


def list_deliveries(conn, la_code: str | None, status: str | None, limit: int) -> list[dict]:
    return conn.execute(
        "SELECT d.id, d.recipient_id, d.channel, d.case_id, d.milestone, d.kind, d.due_on, "
        "d.status, d.attempts, d.last_error, d.created_at, d.sent_at FROM deliveries d "
        "JOIN recipients r ON r.id = d.recipient_id "
        "WHERE (%(la)s::text IS NULL OR r.la_code = %(la)s) "
        "AND (%(status)s::text IS NULL OR d.status = %(status)s) "
        "ORDER BY d.created_at DESC LIMIT %(limit)s",
        {"la": la_code, "status": status, "limit": limit}).fetchall()


def requeue_delivery(conn, delivery_id: str, la_code: str | None) -> bool:
    row = conn.execute(
        "UPDATE deliveries d SET status = 'pending', next_attempt_at = now(), attempts = 0 "
        "FROM recipients r WHERE r.id = d.recipient_id AND d.id = %(id)s "
        "AND d.status = 'failed' AND (%(la)s::text IS NULL OR r.la_code = %(la)s) "
        "RETURNING d.id", {"id": delivery_id, "la": la_code}).fetchone()
    return row is not None


# --- milestones copy ----------------------------------------------------------------

# The milestone copy's rows, as (case_id, milestone, reference, la_code, school_urn, due_on,
# status, met_on, as_of) arrays, for replace_schedules and apply_alerts.
COPY_ROWS = (
    "unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::date[], "
    "%b::text[], %b::date[], %b::timestamptz[]) AS u (case_id, milestone, reference, "
    "la_code, school_urn, due_on, status, met_on, as_of)")


def replace_schedules(conn, schedules: Sequence[tuple[dict, list[dict], object]]) -> int:
    """Apply many deadline.scheduled, (case, milestones, as_of) with one per case, in three
    statements: a case whose copy holds a newer schedule is left alone (out of order); the
    others lose the milestones no longer in their schedule and have the rest upserted (by
    milestone name: a repeated one keeps its last occurrence). Returns how many applied."""
    if not schedules:
        return 0
    schedules = sorted(schedules, key=lambda s: str(s[0]["case_id"]))  # one lock order
    fresh = {str(r["case_id"]) for r in conn.execute(
        "SELECT s.case_id FROM unnest(%b::uuid[], %b::timestamptz[]) AS s(case_id, as_of) "
        "WHERE NOT EXISTS (SELECT 1 FROM milestones m WHERE m.case_id = s.case_id "
        "AND m.as_of > s.as_of)",
        ([str(c["case_id"]) for c, _, _ in schedules], [at for _, _, at in schedules]))}
    applied = [s for s in schedules if str(s[0]["case_id"]) in fresh]
    if not applied:
        return 0
    rows = {(str(c["case_id"]), m["milestone"]): (
        str(c["case_id"]), m["milestone"], c["reference"], c["la_code"], c["school_urn"],
        m["due_on"], m["status"], m.get("met_on"), at) for c, ms, at in applied for m in ms}
    conn.execute(
        "DELETE FROM milestones m WHERE m.case_id = ANY(%b::uuid[]) AND NOT EXISTS ("
        "SELECT 1 FROM unnest(%b::uuid[], %b::text[]) AS n(case_id, milestone) "
        "WHERE n.case_id = m.case_id AND n.milestone = m.milestone)",
        ([str(c["case_id"]) for c, _, _ in applied], [k[0] for k in rows],
         [k[1] for k in rows]))
    if rows:
        conn.execute(
            "INSERT INTO milestones (case_id, milestone, reference, la_code, school_urn, "
            f"due_on, status, met_on, as_of) SELECT * FROM {COPY_ROWS} "
            "ON CONFLICT (case_id, milestone) DO UPDATE SET reference = excluded.reference, "
            "la_code = excluded.la_code, school_urn = excluded.school_urn, "
            "due_on = excluded.due_on, status = excluded.status, met_on = excluded.met_on, "
            "as_of = excluded.as_of", [list(c) for c in zip(*rows.values(), strict=True)])
    return len(applied)


def apply_alerts(conn, alerts: Sequence[tuple]) -> None:
    """Alerts on the milestone copy: many (case, milestone, due_on, status, met_on, as_of)
    in one statement;
    the caller passes each (case_id, milestone) at most once (ON CONFLICT DO UPDATE may
    touch a row once per statement)."""
    if not alerts:
        return
    cols = [list(c) for c in zip(*[
        (c["case_id"], m, c["reference"], c["la_code"], c["school_urn"], due, status, met, at)
        for c, m, due, status, met, at in alerts], strict=True)]
    conn.execute(
        "INSERT INTO milestones (case_id, milestone, reference, la_code, school_urn, due_on, "
        "status, met_on, as_of) SELECT u.case_id, u.milestone, u.reference, u.la_code, "
        "u.school_urn, u.due_on, coalesce(u.status, 'pending'), u.met_on, u.as_of "
        f"FROM {COPY_ROWS} "
        "ON CONFLICT (case_id, milestone) DO UPDATE SET due_on = excluded.due_on, "
        # an alert's own status is only ever breached, met or none (inserted as pending)
        "status = CASE WHEN excluded.status = 'pending' THEN milestones.status "
        "ELSE excluded.status END, "
        "met_on = coalesce(excluded.met_on, milestones.met_on), "
        "as_of = excluded.as_of WHERE milestones.as_of <= excluded.as_of", cols)


def milestones_in_scope(conn, la_code: str, school_urn: str | None, met_since) -> list[dict]:
    """Open milestones (pending or breached) of a school (by URN) or of an LA, and those
    met since ``met_since``; callers pick the window they show."""
    return conn.execute(
        "SELECT * FROM milestones WHERE "
        "(CASE WHEN %(urn)s::text IS NOT NULL THEN school_urn = %(urn)s ELSE la_code = %(la)s END) "
        "AND (status IN ('pending', 'breached') OR met_on >= %(since)s) "
        "ORDER BY due_on, reference, milestone",
        {"la": la_code, "urn": school_urn, "since": met_since}).fetchall()


# --- digests ------------------------------------------------------------------------

def digest_candidates(conn, on_date) -> list[dict]:
    return conn.execute(
        "SELECT r.* FROM recipients r WHERE r.deleted_at IS NULL AND 'digest' = ANY(r.channels) "
        "AND NOT EXISTS (SELECT 1 FROM digest_runs d WHERE d.recipient_id = r.id "
        "AND d.on_date = %s) ORDER BY r.id", (on_date,)).fetchall()


def claim_digest(conn, recipient_id, on_date) -> bool:
    row = conn.execute(
        "INSERT INTO digest_runs (recipient_id, on_date, outcome) VALUES (%s, %s, 'claimed') "
        "ON CONFLICT DO NOTHING RETURNING recipient_id", (recipient_id, on_date)).fetchone()
    return row is not None


def finish_digest(conn, recipient_id, on_date, outcome: str, items: int) -> None:
    conn.execute("UPDATE digest_runs SET outcome = %s, items = %s WHERE recipient_id = %s "
                 "AND on_date = %s", (outcome, items, recipient_id, on_date))

"""The referrals service's SQL. Every read is scoped to what the actor may see, so a bug in
the gateway cannot leak a case."""

from __future__ import annotations

import uuid

from psycopg.types.json import Jsonb

from shared.db import UnitOfWork


def visibility(actor: dict) -> tuple[str, tuple]:
    """The WHERE clause limiting cases to the actor's tenancy."""
    role = actor["role"]
    if role == "school" and actor.get("school_urn"):
        return "school_urn = %s", (actor["school_urn"],)
    if role in ("la_caseworker", "la_manager") and actor.get("la_code"):
        return "la_code = %s", (actor["la_code"],)
    return "false", ()


def next_reference_number(uow: UnitOfWork, la_code: str, year: int) -> int:
    row = uow.execute(
        "INSERT INTO reference_counters (la_code, year, last) VALUES (%s, %s, 1) "
        "ON CONFLICT (la_code, year) DO UPDATE SET last = reference_counters.last + 1 "
        "RETURNING last", (la_code, year)).fetchone()
    return row["last"]


def find_by_idempotency_key(uow: UnitOfWork, key: str) -> dict | None:
    return uow.execute("SELECT * FROM cases WHERE idempotency_key = %s", (key,)).fetchone()


def insert_case(uow: UnitOfWork, *, case_id: uuid.UUID, reference: str, status: str,
                request: dict, created_by: str, idempotency_key: str | None) -> dict:
    child = request["child"]
    return uow.execute(
        "INSERT INTO cases (id, reference, la_code, school_urn, status, received_on, "
        "requested_by, child_given_name, child_family_name, child_date_of_birth, created_by, "
        "idempotency_key) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING *",
        (case_id, reference, request["la_code"], request["school_urn"], status,
         request["received_on"], request["requested_by"], child["given_name"],
         child["family_name"], child["date_of_birth"], created_by, idempotency_key),
    ).fetchone()


def get_case(uow: UnitOfWork, actor: dict, case_id: str) -> dict | None:
    where, params = visibility(actor)
    return uow.execute(f"SELECT * FROM cases WHERE id = %s AND {where}",
                       (case_id, *params)).fetchone()


def audit(uow: UnitOfWork, actor: dict, action: str, case_id: object = None,
          detail: dict | None = None) -> None:
    uow.execute(
        "INSERT INTO audit_log (case_id, actor_sub, actor_role, action, detail, source) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (case_id, actor["sub"], actor["role"], action, Jsonb(detail or {}), actor.get("source")))


def as_referral(row: dict) -> dict:
    return {
        "id": row["id"], "reference": row["reference"], "status": row["status"],
        "la_code": row["la_code"], "school_urn": row["school_urn"],
        "requested_by": row["requested_by"], "received_on": row["received_on"],
        "child": {"given_name": row["child_given_name"], "family_name": row["child_family_name"],
                  "date_of_birth": row["child_date_of_birth"]},
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def is_valid_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


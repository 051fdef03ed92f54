"""The region's directory (gateway schema): local authorities, schools and users.
Used by the API (region admins) and by the `ehcp` console command alike."""

from __future__ import annotations

USER_COLUMNS = "sub, role, extra_roles, la_code, school_urn, active"


def add_la(conn, code: str, name: str) -> dict:
    return conn.execute(
        "INSERT INTO local_authorities (la_code, name) VALUES (%s, %s) "
        "ON CONFLICT (la_code) DO UPDATE SET name = EXCLUDED.name "
        "RETURNING la_code, name", (code, name)).fetchone()


def list_las(conn) -> list[dict]:
    return conn.execute("SELECT la_code, name FROM local_authorities ORDER BY la_code").fetchall()


def la_exists(conn, code: str) -> bool:
    return conn.execute("SELECT 1 FROM local_authorities WHERE la_code = %s",
                        (code,)).fetchone() is not None


def add_school(conn, urn: str, name: str, la_code: str) -> dict:
    return conn.execute(
        "INSERT INTO schools (urn, name, la_code) VALUES (%s, %s, %s) "
        "ON CONFLICT (urn) DO UPDATE SET name = EXCLUDED.name, la_code = EXCLUDED.la_code "
        "RETURNING urn, name, la_code", (urn, name, la_code)).fetchone()


def list_schools(conn, la_code: str | None = None) -> list[dict]:
    return conn.execute(
        "SELECT urn, name, la_code, phase, status, opened_on, closed_on FROM schools "
        "WHERE (%s::text IS NULL OR la_code = %s) ORDER BY urn", (la_code, la_code)).fetchall()


def get_school(conn, urn: str) -> dict | None:
    return conn.execute("SELECT urn, name, la_code, status, closed_on FROM schools "
                        "WHERE urn = %s", (urn,)).fetchone()


def upsert_register(conn, schools: list) -> dict[str, int]:
    """Load one batch of GIAS schools (services.gateway.gias.SchoolRow) in one transaction:
    LAs not yet in the region are added under their GIAS name (a region's own names are
    kept), then every school is inserted or updated with one statement from a COPY.
    Returns how many schools were inserted, updated and already up to date."""
    latest = {s.urn: s for s in schools}  # a URN twice in a batch: the later row wins
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS register_batch (urn text, name text, "
                    "la_code text, la_name text, phase text, status text, opened_on date, "
                    "closed_on date) ON COMMIT DELETE ROWS")
        with cur.copy("COPY register_batch FROM STDIN") as copy:
            for s in latest.values():
                copy.write_row((s.urn, s.name, s.la_code, s.la_name or f"LA {s.la_code}",
                                s.phase, s.status, s.opened_on, s.closed_on))
        cur.execute("INSERT INTO local_authorities (la_code, name) "
                    "SELECT DISTINCT ON (la_code) la_code, la_name FROM register_batch "
                    "ORDER BY la_code ON CONFLICT (la_code) DO NOTHING")
        added_las = cur.rowcount
        cur.execute(
            "INSERT INTO schools (urn, name, la_code, phase, status, opened_on, closed_on, "
            "source) SELECT urn, name, la_code, phase, status, opened_on, closed_on, 'gias' "
            "FROM register_batch ON CONFLICT (urn) DO UPDATE SET name = EXCLUDED.name, "
            "la_code = EXCLUDED.la_code, phase = EXCLUDED.phase, status = EXCLUDED.status, "
            "opened_on = EXCLUDED.opened_on, closed_on = EXCLUDED.closed_on, source = 'gias', "
            "updated_at = now() "
            "WHERE (schools.name, schools.la_code, schools.phase, schools.status, "
            "schools.opened_on, schools.closed_on) IS DISTINCT FROM (EXCLUDED.name, "
            "EXCLUDED.la_code, EXCLUDED.phase, EXCLUDED.status, EXCLUDED.opened_on, "
            "EXCLUDED.closed_on) RETURNING (xmax = 0) AS inserted")
        changed = [r["inserted"] for r in cur.fetchall()]
    inserted = sum(changed)
    return {"inserted": inserted, "updated": len(changed) - inserted,
            "unchanged": len(latest) - len(changed), "las_added": added_las}


def upsert_user(conn, sub: str, role: str, la_code: str | None, school_urn: str | None,
                extra_roles: tuple[str, ...] | list[str] = ()) -> dict:
    """Add or change a user. Changing role, LA or school voids the user's older local tokens
    (the gateway compares each token with this row)."""
    extra = [r for r in dict.fromkeys(extra_roles) if r != role]
    return conn.execute(
        "INSERT INTO users (sub, role, la_code, school_urn, extra_roles) "
        "VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (sub) DO UPDATE SET role = EXCLUDED.role, la_code = EXCLUDED.la_code, "
        "school_urn = EXCLUDED.school_urn, extra_roles = EXCLUDED.extra_roles, "
        "updated_at = now() "
        f"RETURNING {USER_COLUMNS}",
        (sub, role, la_code, school_urn, extra)).fetchone()


def set_active(conn, sub: str, active: bool) -> dict | None:
    return conn.execute(
        "UPDATE users SET active = %s, updated_at = now() WHERE sub = %s "
        f"RETURNING {USER_COLUMNS}", (active, sub)).fetchone()


def get_user(conn, sub: str) -> dict | None:
    return conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE sub = %s", (sub,)).fetchone()


def list_users(conn) -> list[dict]:
    return conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY sub").fetchall()


def record_grant(conn, granted_by: str, user: dict, roles: list[str], expires_at,
                 source: str | None) -> dict:
    """Audit of a token issued through the API (who asked, for whom, what, until when)."""
    return conn.execute(
        "INSERT INTO token_grants (granted_by, sub, roles, la_code, school_urn, source, "
        "expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id, granted_at",
        (granted_by, user["sub"], roles, user["la_code"], user["school_urn"], source,
         expires_at)).fetchone()


def grants_of(conn, sub: str) -> list[dict]:
    return conn.execute(
        "SELECT granted_by, sub, roles, la_code, school_urn, expires_at, granted_at "
        "FROM token_grants WHERE sub = %s ORDER BY granted_at", (sub,)).fetchall()

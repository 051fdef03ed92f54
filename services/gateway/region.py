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
        "SELECT urn, name, la_code FROM schools WHERE (%s::text IS NULL OR la_code = %s) "
        "ORDER BY urn", (la_code, la_code)).fetchall()


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

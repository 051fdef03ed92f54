"""`ehcp`: the console command for operators: tokens, the region's LAs and schools, the demo.

Usage:
  ehcp token --role school --school-urn 100001 [--la-code 881] [--sub NAME] [--ttl SECONDS]
                (also lists the user with these claims: the gateway checks tokens against it)
  ehcp token --role la_manager --la-code 881 --also-role region_admin
  ehcp la add 881 "Northshire County Council"      ehcp la list
  ehcp school add 100001 "Oakfield Primary" --la-code 881      ehcp school list [--la-code 881]
  ehcp schools import edubasealldata20270104.csv [--la-code 881 ...]  (the GIAS register)
  ehcp import caseload.csv --la 881 [--as SUB]   an LA's existing caseload (all or nothing;
       every bad line reported with its number; see README "Importing a caseload")
  ehcp user add senco-1 --role school --school-urn 100001     ehcp user list
  ehcp user disable senco-1      (every token of senco-1 is refused from now on)
  ehcp user password senco-1     (local sign-in to the pages; prompts, or --password)
  ehcp migrate            apply every service's migrations (also done at each start-up)
  ehcp recompute [--la 881] [--workers 2]   rebuild every open case's deadlines (after a
       rule, bank-holiday or settings change): flagged, then recomputed in batches; resumable
  ehcp seed-demo [--url http://127.0.0.1:8000]   demo region, tokens, and demo requests
  ehcp closures list 881 [--url URL]      school closures (term dates) of an LA
  ehcp closures add 881 --from 2026-07-22 --to 2026-09-01 [--school-urn 100001] [--url URL]
  ehcp closures remove 881 <id>           (through the gateway's API, as an LA manager)
  ehcp recipients list [--la-code 881]     who gets alerts (through the API, as region admin)
  ehcp recipients add --kind school --la-code 881 --school-urn 100001 --name "Oakfield SENCo"
       --email senco@oakfield.example --channels inbox,email,digest
  ehcp recipients remove <id>
  ehcp sen2 export 881 --year 2027 [--out sen2_881_2027.xml]   the LA's SEN2 return (XML
       written to the file, readable by its owner only; the validation report printed)
  ehcp dlq list                            dead letters per consumer: counts, reasons, events
  ehcp dlq replay deadlines [--event-id ID ...]   back to the consumer (fresh retry ladder)
  ehcp dlq purge deadlines [--event-id ID ...]    dropped for good (audited, like replay)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from services.gateway import gias, region, sessions
from services.gateway.auth import ROLES, check_claims, issue_token
from shared.config import load_config
from shared.db import SHARED_MIGRATIONS, ensure_database, ensure_shared_tables, migrate

SERVICES_DIR = Path(__file__).resolve().parents[1]

# A synthetic region: invented names, codes and URNs in the real formats.
DEMO_LAS = {"881": "Northshire County Council", "882": "Southvale Borough Council"}
DEMO_SCHOOLS = {
    "100001": ("Oakfield Primary School", "881"),
    "100002": ("Riverside Academy", "881"),
    "100003": ("Hilltop Secondary School", "882"),
    "100004": ("Meadow Lane Infant School", "882"),
}
DEMO_ROLES = [
    ("SENCo, Oakfield Primary (881)", dict(role="school", school_urn="100001", la_code="881",
                                           sub="senco-oakfield")),
    ("SENCo, Hilltop Secondary (882)", dict(role="school", school_urn="100003", la_code="882",
                                            sub="senco-hilltop")),
    ("Caseworker, Northshire (881)", dict(role="la_caseworker", la_code="881",
                                          sub="caseworker-881")),
    ("Manager, Northshire (881)", dict(role="la_manager", la_code="881", sub="manager-881")),
    ("Caseworker, Southvale (882)", dict(role="la_caseworker", la_code="882",
                                         sub="caseworker-882")),
    ("Region admin", dict(role="region_admin", sub="region-admin")),
    ("Ops", dict(role="ops", sub="ops")),
]


def _gateway_db():
    cfg = load_config("gateway")
    return psycopg.connect(cfg.database_url, autocommit=True, row_factory=dict_row,
                           options="-c search_path=gateway")


def cmd_migrate(args, quiet: bool = False) -> None:
    cfg = load_config("gateway")
    ensure_database(cfg.database_url)
    for service in ("referrals", "deadlines", "notifications", "gateway"):
        ensure_shared_tables(cfg.database_url, service)
        applied = (migrate(cfg.database_url, service, SHARED_MIGRATIONS, prefix="shared/")
                   + migrate(cfg.database_url, service, SERVICES_DIR / service / "migrations"))
        if not quiet:
            print(f"{service}: {', '.join(applied) or 'up to date'}")


def cmd_la(args) -> None:
    with _gateway_db() as conn:
        if args.action == "list":
            for la in region.list_las(conn):
                print(f"{la['la_code']}  {la['name']}")
            return
        if not (args.la_code and args.name):
            raise ValueError("la add needs an LA code and a name")
        if not re.fullmatch(r"\d{3}", args.la_code):
            raise ValueError("an LA code has three digits, e.g. 881")
        region.add_la(conn, args.la_code, args.name)
    print(f"LA {args.la_code} saved")


def cmd_school(args) -> None:
    with _gateway_db() as conn:
        if args.action == "list":
            for school in region.list_schools(conn, args.la_code):
                print(f"{school['urn']}  {school['la_code']}  {school['name']}")
            return
        if not (args.urn and args.name and args.la_code):
            raise ValueError("school add needs a URN, a name and --la-code")
        if not re.fullmatch(r"\d{6}", args.urn):
            raise ValueError("a school URN has six digits, e.g. 100001")
        if not region.la_exists(conn, args.la_code):
            raise ValueError(f"no LA {args.la_code} in the region: add it first (ehcp la add)")
        region.add_school(conn, args.urn, args.name, args.la_code)
    print(f"school {args.urn} saved")


class Progress:
    """A progress bar on stderr, by bytes of the file read (redrawn in place on a terminal,
    else a line every tenth)."""

    def __init__(self, total_bytes: int, width: int = 30, unit: str = "rows"):
        self.total, self.width, self.shown = max(total_bytes, 1), width, -1
        self.unit = unit
        self.tty = sys.stderr.isatty()

    def update(self, done_bytes: int, rows: int) -> None:
        share = min(done_bytes / self.total, 1.0)
        step = int(share * (100 if self.tty else 10))
        if step == self.shown:
            return
        self.shown = step
        bar = "#" * int(share * self.width)
        line = f"[{bar:<{self.width}}] {share:4.0%}  {rows:,} {self.unit}"
        sys.stderr.write(f"\r{line}" if self.tty else f"{line}\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _deadlines_db():
    """The deadlines service's own pool and unit of work (as `ehcp migrate`, not an RPC: a
    national recompute takes minutes, longer than any RPC timeout, and runs its code in
    as many processes as there are cores)."""
    from shared.db import Database, make_pool
    cfg = load_config("deadlines")
    return cfg, Database(make_pool(cfg.database_url, "deadlines", max_size=2))


def _recompute_worker(batch: int) -> dict:
    from collections import Counter

    from services.deadlines import schedule
    from shared.config import today
    cfg, db = _deadlines_db()
    totals: Counter = Counter()
    try:
        schedule.recompute_stale(db, today(cfg), batch, totals)
    finally:
        db.pool.close()
    return dict(totals)


def cmd_recompute(args) -> None:
    """Flag every open case (of --la, or all) and recompute them in batches of --batch,
    in --workers processes (FOR UPDATE SKIP LOCKED shares the cases between them and the
    running service's sweep). Interrupted, rerun it: flagged cases stay flagged."""
    import multiprocessing

    from services.deadlines import schedule, store
    started = time.monotonic()
    _cfg, db = _deadlines_db()
    flagged = schedule.flag_open_cases(db, args.la)
    with db.read() as conn:
        total = store.stale_count(conn)
    progress = Progress(total, unit="cases")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.workers) as pool:
        pending = pool.map_async(_recompute_worker, [args.batch] * args.workers)
        while not pending.ready():
            pending.wait(1)
            with db.read() as conn:
                left = store.stale_count(conn)
            progress.update(total - left, total - left)
        results = pending.get()
    progress.update(total, total)
    progress.close()
    db.pool.close()
    cases = sum(r.get("cases", 0) for r in results)
    print(f"recomputed {cases:,} cases ({flagged:,} flagged now) in "
          f"{time.monotonic() - started:.1f} s: "
          f"{sum(r.get('cases_changed', 0) for r in results):,} changed, "
          f"{sum(r.get('rows_written', 0) for r in results):,} milestone rows written")


def cmd_schools_import(args) -> None:
    """Load a GIAS extract into the register in batches (one COPY and one upsert each)."""
    path = Path(args.file)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    only = set(args.la_code or ())
    started = time.monotonic()
    totals = {"inserted": 0, "updated": 0, "unchanged": 0, "las_added": 0}
    skipped, read, closed = gias.Skipped(), 0, 0
    progress = Progress(path.stat().st_size)
    with _gateway_db() as conn, open(path, "rb") as raw:
        text = gias.open_text(raw)  # kept: collecting the wrapper would close the file
        batch: list[gias.SchoolRow] = []

        def flush() -> None:
            for key, n in region.upsert_register(conn, batch).items():
                totals[key] += n
            batch.clear()
            progress.update(raw.tell(), read)

        try:
            for school in gias.read_extract(text, skipped):
                read += 1
                if only and school.la_code not in only:
                    skipped.add("LA not asked for (--la-code)")
                    continue
                closed += school.status == "closed"
                batch.append(school)
                if len(batch) >= args.batch:
                    flush()
        except gias.NotGias as exc:
            raise ValueError(str(exc)) from None
        if batch:
            flush()
    progress.close()
    loaded = totals["inserted"] + totals["updated"] + totals["unchanged"]
    print(f"{path.name}: {loaded:,} schools loaded in {time.monotonic() - started:.1f} s "
          f"({totals['inserted']:,} new, {totals['updated']:,} updated, "
          f"{totals['unchanged']:,} unchanged; {closed:,} closed); "
          f"{totals['las_added']} LAs added")
    for reason, n in sorted(skipped.reasons.items()):
        print(f"  skipped {n:,}: {reason}")


# --- ehcp import: an LA's existing caseload (issue 10) ------------------------------------


def _read_caseload(path: Path, la_code: str, today: date):
    """The file read and checked (progress by bytes read), with the register status of
    every school it names (one query)."""
    from services.referrals import importing

    progress = Progress(path.stat().st_size)
    with open(path, "rb") as raw:
        text = gias.open_text(raw)  # UTF-8 with a BOM, else cp1252 (spreadsheet exports)
        rows = []
        try:
            for n, row in enumerate(importing.read_rows(text), start=1):
                rows.append(row)
                if n % 5000 == 0:
                    progress.update(raw.tell(), n)
        except importing.NotACaseload as exc:
            raise ValueError(str(exc)) from None
        progress.update(path.stat().st_size, len(rows))
    progress.close()
    with _gateway_db() as conn:
        schools = {r["urn"]: r["status"] for r in conn.execute(
            "SELECT urn, status FROM schools WHERE urn = ANY(%s)",
            (sorted(importing.school_urns(rows)),)).fetchall()}
    return importing.check_caseload(rows, la_code, today, schools)


def cmd_import(args) -> None:
    """Load an LA's caseload into the referrals service directly against its database, as
    an admin command (docs/decisions.md): checked in full first, then written in one
    transaction with the events the API would emit."""
    import getpass

    from services.referrals import cases
    from shared.db import Database, make_pool

    path = Path(args.file)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    if not re.fullmatch(r"\d{3}", args.la or ""):
        raise ValueError("an LA code has three digits, e.g. 881")
    cfg = load_config("gateway")
    today = date.fromisoformat(cfg.now[:10]) if cfg.now else date.today()
    started = time.monotonic()
    sys.stderr.write(f"checking {path.name}\n")
    caseload = _read_caseload(path, args.la, today)
    checked = time.monotonic()
    actor = {"sub": args.as_sub or f"cli:{getpass.getuser()}", "role": "la_manager",
             "la_code": args.la, "source": "ehcp import"}
    pool = make_pool(cfg.database_url, "referrals", max_size=1, name="ehcp-import")
    try:
        sys.stderr.write(f"writing {len(caseload.cases):,} cases and "
                         f"{caseload.step_count:,} steps in one transaction\n")
        result = cases.import_caseload(Database(pool), actor, args.la, caseload)
    except cases.ImportRefused as exc:
        for error in exc.errors[:args.max_errors]:
            print(error)
        more = len(exc.errors) - args.max_errors
        if more > 0:
            print(f"... and {more:,} more")
        lines = len({e.line for e in exc.errors})
        sys.exit(f"ehcp: {path.name}: {len(exc.errors):,} errors on {lines:,} lines; "
                 "nothing imported")
    finally:
        pool.close()
    done = time.monotonic()
    print(f"{path.name}: {result['cases']:,} cases and {result['steps']:,} steps imported "
          f"for LA {args.la} in {done - started:.1f} s (checked in {checked - started:.1f} s, "
          f"written in {done - checked:.1f} s); {result['events']:,} case.imported "
          f"event{'' if result['events'] == 1 else 's'} queued for the deadlines service")


def cmd_user(args) -> None:
    with _gateway_db() as conn:
        if args.action == "list":
            for u in region.list_users(conn):
                print(f"{u['sub']}  {u['role']}  la={u['la_code'] or '-'}  "
                      f"school={u['school_urn'] or '-'}  {'active' if u['active'] else 'disabled'}")
            return
        if not args.sub:
            raise ValueError(f"user {args.action} needs a subject")
        if args.action == "password":
            import getpass

            password = args.password or getpass.getpass(f"password for {args.sub}: ")
            if len(password) < 10:
                raise ValueError("a password has at least 10 characters")
            if not sessions.set_password(conn, args.sub, password):
                raise ValueError(f"no user {args.sub}")
            print(f"password of {args.sub} set")
            return
        if args.action == "add":
            if not args.role:
                raise ValueError("user add needs --role")
            check_claims([args.role], args.la_code, args.school_urn)  # as for a token
            region.upsert_user(conn, args.sub, args.role, args.la_code, args.school_urn)
        elif region.set_active(conn, args.sub, args.action == "enable") is None:
            raise ValueError(f"no user {args.sub}")
    print(f"user {args.sub} {args.action}d" if args.action != "add" else f"user {args.sub} saved")


def signed_token(*, role: str, la_code: str | None = None, school_urn: str | None = None,
                 sub: str | None = None, ttl: int | None = None,
                 extra_roles: tuple[str, ...] | list[str] = ()) -> str:
    """A token signed here, for a user listed (or updated) in the users table to match it:
    the gateway accepts a local token only for a user whose row says the same."""
    cfg = load_config("gateway")
    ttl = cfg.max_token_seconds if ttl is None else ttl
    if ttl > cfg.max_token_seconds:
        raise ValueError(f"--ttl is at most MAX_TOKEN_SECONDS ({cfg.max_token_seconds})")
    check_claims([role, *extra_roles], la_code, school_urn)
    sub = sub or f"{role}-{uuid.uuid4().hex[:8]}"
    with _gateway_db() as conn:
        region.upsert_user(conn, sub, role, la_code, school_urn, extra_roles)
    return issue_token(cfg.jwt_secret, role=role, la_code=la_code, school_urn=school_urn,
                       sub=sub, ttl=ttl, extra_roles=extra_roles)


def cmd_token(args) -> None:
    print(signed_token(role=args.role, la_code=args.la_code, school_urn=args.school_urn,
                       sub=args.sub, ttl=args.ttl, extra_roles=args.also_role or ()))


def demo_requests(today: date) -> list[tuple[str, dict]]:
    """Synthetic requests at different ages, so the demo shows alerts of every kind."""
    out = []
    for n, (urn, (_, la)) in enumerate(sorted(DEMO_SCHOOLS.items())):
        for weeks_ago in (1, 5, 19, 21):
            received = today - timedelta(weeks=weeks_ago, days=n)
            out.append((urn, {
                "child": {"given_name": f"Demo{n}{weeks_ago}", "family_name": "Synthetic",
                          "date_of_birth": str(date(2015 + n, 1 + weeks_ago % 12, 10))},
                "la_code": la, "school_urn": urn, "requested_by": "school",
                "received_on": received.isoformat()}))
    return out


# Who gets alerts in the demo: invented addresses on the reserved .example domain.
DEMO_RECIPIENTS = [
    {"kind": "school", "la_code": "881", "school_urn": "100001", "name": "Oakfield SENCo",
     "emails": ["senco@oakfield.example"], "channels": ["inbox", "email", "digest"]},
    {"kind": "la_team", "la_code": "881", "name": "Northshire SEND team",
     "emails": ["send-team@northshire.example"], "channels": ["inbox", "email"]},
    {"kind": "la_manager", "la_code": "881", "name": "Northshire SEND managers",
     "emails": ["send-managers@northshire.example"], "channels": ["inbox", "email", "digest"]},
]


def seed_demo_recipients(url: str, admin_token: str) -> None:
    """The demo's alert directory, through the gateway like any admin (idempotent by name)."""
    import requests

    headers = {"Authorization": f"Bearer {admin_token}"}
    listed = requests.get(f"{url}/v1/recipients", headers=headers, timeout=15)
    listed.raise_for_status()
    existing = {r["name"] for r in listed.json()["recipients"]}
    for recipient in DEMO_RECIPIENTS:
        if recipient["name"] not in existing:
            r = requests.post(f"{url}/v1/recipients", json=recipient, headers=headers,
                              timeout=15)
            if r.status_code != 201:
                sys.exit(f"demo recipient failed: {r.status_code} {r.text}")


def cmd_seed_demo(args) -> None:
    import requests

    cmd_migrate(args, quiet=True)
    with _gateway_db() as conn:
        for code, name in DEMO_LAS.items():
            region.add_la(conn, code, name)
        for urn, (name, la) in DEMO_SCHOOLS.items():
            region.add_school(conn, urn, name, la)
        for _, claims in DEMO_ROLES:  # listed, so a region admin can disable them
            region.upsert_user(conn, claims["sub"], claims["role"], claims.get("la_code"),
                               claims.get("school_urn"))
        # A fresh password per demo run for the pages' local sign-in, printed below.
        passwords = {claims["sub"]: "demo-" + secrets.token_urlsafe(8)
                     for _, claims in DEMO_ROLES}
        for sub_, password in passwords.items():
            sessions.set_password(conn, sub_, password)
    cfg = load_config("gateway")
    # each demo role is listed as a user, so a region admin can disable it
    tokens = {label: signed_token(**claims) for label, claims in DEMO_ROLES}
    if args.url:
        seed_demo_recipients(args.url, signed_token(role="region_admin", sub="region-admin"))
        today = date.fromisoformat(cfg.now[:10]) if cfg.now else date.today()
        for urn, body in demo_requests(today):
            school_token = signed_token(role="school", school_urn=urn, sub=f"demo-{urn}")
            r = requests.post(f"{args.url}/v1/referrals", json=body, timeout=15,
                              headers={"Authorization": f"Bearer {school_token}",
                                       "Idempotency-Key": f"demo-{urn}-{body['received_on']}"})
            if r.status_code != 201:
                sys.exit(f"demo request failed: {r.status_code} {r.text}")
        print(f"submitted {len(demo_requests(today))} demo requests")
    print(f"\nDemo bearer tokens (valid {cfg.max_token_seconds // 3600} hours):")
    for label, tok in tokens.items():
        print(f"  {label}:\n    {tok}")
    if args.tokens_file:
        Path(args.tokens_file).write_text(json.dumps(tokens, indent=2))
    print(f"\nSign in to the pages at {(args.url or cfg.public_url).rstrip('/')}/sign-in as:")
    for label, claims in DEMO_ROLES:
        print(f"  {label:34} username {claims['sub']:16} password {passwords[claims['sub']]}")


def _api(args, method: str, path: str, json: dict | None = None, **claims) -> dict:
    """Call the gateway's API with the token in --token or EHCP_TOKEN, else a short-lived one
    signed here with `claims`; a problem answer becomes a readable error."""
    import requests

    bearer = args.token or os.environ.get("EHCP_TOKEN") or signed_token(
        sub=f"ehcp-cli-{claims['role']}-{claims.get('la_code') or 'region'}", ttl=300,
        **claims)
    r = requests.request(method, f"{args.url.rstrip('/')}{path}", json=json, timeout=15,
                         headers={"Authorization": f"Bearer {bearer}"})
    if r.status_code >= 400:
        problem = r.json() if "json" in r.headers.get("Content-Type", "") else {}
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in problem.get("errors", []))
        raise ValueError(f"{r.status_code} {problem.get('detail') or r.text[:200]}"
                         + (f" ({fields})" if fields else ""))
    return r.json() if r.content else {}  # 204: nothing to say


def cmd_closures(args) -> None:
    """An LA's school closures through the gateway's API (never the deadlines tables), as a
    manager of the LA."""
    if not re.fullmatch(r"\d{3}", args.la_code or ""):
        raise ValueError("an LA code has three digits, e.g. 881")
    base, manager = f"/v1/las/{args.la_code}/closures", {"role": "la_manager",
                                                         "la_code": args.la_code}
    if args.action == "list":
        for c in _api(args, "GET", base, **manager)["items"]:
            print(f"{c['id']}  {c['school_urn'] or 'all schools'}  "
                  f"{c['starts_on']} to {c['ends_on']}")
    elif args.action == "add":
        if not (args.starts_on and args.ends_on):
            raise ValueError("closures add needs --from and --to (YYYY-MM-DD)")
        body = _api(args, "POST", base, {"school_urn": args.school_urn,
                                         "starts_on": args.starts_on,
                                         "ends_on": args.ends_on}, **manager)
        print(f"closure {body['id']} saved; {body['recompute_queued']} open cases to recompute")
    else:
        if not args.id:
            raise ValueError("closures remove needs the closure's id (ehcp closures list)")
        body = _api(args, "DELETE", f"{base}/{args.id}", **manager)
        print(f"closure {body['id']} removed; {body['recompute_queued']} open cases to "
              "recompute")


def cmd_recipients(args) -> None:
    """Who gets alerts, through the gateway's API, as a region admin."""
    admin = {"role": "region_admin"}
    if args.action == "list":
        query = f"?la_code={args.la_code}" if args.la_code else ""
        for r in _api(args, "GET", f"/v1/recipients{query}", **admin)["recipients"]:
            print(f"{r['id']}  {r['kind']:<10} {r['la_code']} {r.get('school_urn') or '':<6}  "
                  f"{r['name']}  [{', '.join(r['channels'])}]")
    elif args.action == "add":
        if not (args.kind and args.la_code and args.name):
            raise ValueError("recipients add needs --kind, --la-code and --name")
        body = _api(args, "POST", "/v1/recipients", {
            "kind": args.kind, "la_code": args.la_code, "school_urn": args.school_urn,
            "name": args.name, "emails": args.email or [],
            "webhook_url": args.webhook_url,
            "channels": [c.strip() for c in args.channels.split(",") if c.strip()]}, **admin)
        print(f"recipient {body['id']} saved")
        if body.get("webhook_secret"):
            print(f"webhook secret (shown once): {body['webhook_secret']}")
    else:
        if not args.id:
            raise ValueError("recipients remove needs the recipient's id (ehcp recipients list)")
        _api(args, "DELETE", f"/v1/recipients/{args.id}", **admin)
        print(f"recipient {args.id} removed")


def cmd_sen2(args) -> None:
    """The LA's SEN2 return through the API, as its manager. The XML holds personal data:
    it goes to a file only the caller can read, never to the terminal."""
    if not re.fullmatch(r"\d{3}", args.la_code or ""):
        raise ValueError("an LA code has three digits, e.g. 881")
    body = _api(args, "GET", f"/v1/reports/sen2?la_code={args.la_code}&year={args.year}",
                role="la_manager", la_code=args.la_code)
    out = Path(args.out or f"sen2_{args.la_code}_{args.year}.xml")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(body["xml"])
    counts, incl = body["counts"], body["figures"]["including_exceptions"]
    print(f"SEN2 {body['year']} for LA {body['la_code']} (reference date "
          f"{body['reference_date']}, activity {body['period']['from']} to "
          f"{body['period']['to']}): {counts['persons']} persons written to {out}")
    print(f"  requests decided {counts['requests_decided']} (figures "
          f"{incl['requests_decided']}), plans issued {counts['plans_issued']} (figures "
          f"{incl['plans_issued']}), within 20 weeks {counts['within_20_weeks']} (figures "
          f"{incl['within_20_weeks']}): {'agree' if body['counts_agree'] else 'DISAGREE'}")
    print(f"  validation: {len(body['errors'])} errors")
    for e in body["errors"]:
        print(f"  {e['reference']}  {e['module']}.{e['field']}: {e['message']}")

def cmd_dlq(args) -> None:
    """Dead-letter queues through the gateway's API (which audits each action), as a region
    admin."""
    admin = {"role": "region_admin"}
    if args.action == "list":
        body = _api(args, "GET", "/v1/dead-letters", **admin)
        for q in body["queues"]:
            reasons = ", ".join(f"{k} {n}" for k, n in sorted(q["reasons"].items()))
            print(f"{q['queue']:<28} {q['count']:>6}  {reasons}")
            for m in q["messages"][:args.show]:
                print(f"    {m['event_id']}  {m['type'] or '?':<22} {m['error_kind']:<15} "
                      f"{m['error'][:80]}")
        print(f"total {body['total']}")
        return
    if not args.consumer:
        raise ValueError(f"dlq {args.action} needs the consumer, e.g. deadlines")
    body = _api(args, "POST", f"/v1/dead-letters/{args.consumer}/{args.action}",
                {"event_ids": args.event_id} if args.event_id else None, **admin)
    verb = "replayed" if args.action == "replay" else "purged"
    print(f"{body['count']} dead letters of {args.consumer} {verb}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ehcp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("token", help="issue a bearer token")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--la-code")
    p.add_argument("--school-urn")
    p.add_argument("--sub")
    p.add_argument("--ttl", type=int, default=8 * 3600,
                   help="seconds, at most MAX_TOKEN_SECONDS (default 12 h)")
    p.add_argument("--also-role", action="append", choices=ROLES,
                   help="a further role (e.g. region_admin with an LA role)")
    p.set_defaults(fn=cmd_token)

    p = sub.add_parser("la", help="manage local authorities (by three-digit LA code)")
    p.add_argument("action", choices=["add", "list"])
    p.add_argument("la_code", nargs="?")
    p.add_argument("name", nargs="?")
    p.set_defaults(fn=cmd_la)

    p = sub.add_parser("school", help="manage schools (by URN)")
    p.add_argument("action", choices=["add", "list"])
    p.add_argument("urn", nargs="?")
    p.add_argument("name", nargs="?")
    p.add_argument("--la-code")
    p.set_defaults(fn=cmd_school)

    p = sub.add_parser("schools", help="the school register from a GIAS extract")
    p.add_argument("action", choices=["import"])
    p.add_argument("file", help="edubasealldataYYYYMMDD.csv from Get Information About Schools")
    p.add_argument("--la-code", action="append",
                   help="load only this LA's schools (repeatable); default: every school")
    p.add_argument("--batch", type=int, default=2000, help="schools per transaction")
    p.set_defaults(fn=cmd_schools_import)

    p = sub.add_parser("import", help="an LA's existing caseload from CSV (all or nothing)")
    p.add_argument("file", help="the caseload CSV (columns: README, Importing a caseload)")
    p.add_argument("--la", required=True, help="the LA whose caseload it is, e.g. 881")
    p.add_argument("--as", dest="as_sub", help="who imports (audited; default cli:<user>)")
    p.add_argument("--max-errors", type=int, default=1000, help="errors printed at most")
    p.set_defaults(fn=cmd_import)

    p = sub.add_parser("user", help="manage users (staff) of the region")
    p.add_argument("action", choices=["add", "list", "disable", "enable", "password"])
    p.add_argument("sub", nargs="?")
    p.add_argument("--password", help="password: set (default: asked for)")
    p.add_argument("--role", choices=ROLES)
    p.add_argument("--la-code")
    p.add_argument("--school-urn")
    p.set_defaults(fn=cmd_user)

    p = sub.add_parser("migrate", help="apply migrations of every service")
    p.set_defaults(fn=cmd_migrate)

    p = sub.add_parser("recompute", help="rebuild every open case's deadlines")
    p.add_argument("--la", help="only this LA's cases (three-digit code)")
    p.add_argument("--batch", type=int, default=500, help="cases per transaction")
    p.add_argument("--workers", type=int, default=2, help="processes (one per core)")
    p.set_defaults(fn=cmd_recompute)

    p = sub.add_parser("seed-demo", help="seed the demo region and print tokens")
    p.add_argument("--url", help="gateway URL: also submit demo requests through it")
    p.add_argument("--tokens-file")
    p.set_defaults(fn=cmd_seed_demo)

    p = sub.add_parser("closures", help="school closures (term dates) of an LA, via the API")
    p.add_argument("action", choices=["add", "list", "remove"])
    p.add_argument("la_code")
    p.add_argument("id", nargs="?", help="remove: the closure's id")
    p.add_argument("--from", dest="starts_on", help="first day closed (YYYY-MM-DD)")
    p.add_argument("--to", dest="ends_on", help="last day closed (YYYY-MM-DD)")
    p.add_argument("--school-urn", help="one school; default: every school of the LA")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    p.add_argument("--token", help="bearer token (default: EHCP_TOKEN, else signed here)")
    p.set_defaults(fn=cmd_closures)

    p = sub.add_parser("recipients", help="who gets alerts, and how, via the API")
    p.add_argument("action", choices=["list", "add", "remove"])
    p.add_argument("id", nargs="?", help="the recipient (remove)")
    p.add_argument("--kind", choices=["school", "la_team", "la_manager", "user"])
    p.add_argument("--la-code")
    p.add_argument("--school-urn")
    p.add_argument("--name", help="the team or office, e.g. 'Oakfield SENCo'")
    p.add_argument("--email", action="append", help="repeat for several addresses")
    p.add_argument("--webhook-url")
    p.add_argument("--channels", default="inbox",
                   help="comma-separated: inbox, email, digest, webhook")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    p.add_argument("--token", help="a bearer token (default: EHCP_TOKEN, else signed here)")
    p.set_defaults(fn=cmd_recipients)

    p = sub.add_parser("sen2", help="the LA's SEN2 return (XML and validation), via the API")
    p.add_argument("action", choices=["export"])
    p.add_argument("la_code")
    p.add_argument("--year", type=int, required=True,
                   help="collection year (January's return covers the year before)")
    p.add_argument("--out", help="the XML file (default sen2_<LA>_<year>.xml)")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    p.add_argument("--token", help="an LA manager's bearer token (default: EHCP_TOKEN, else "
                   "signed here)")
    p.set_defaults(fn=cmd_sen2)

    p = sub.add_parser("dlq", help="dead-letter queues: list, replay, purge (via the API)")
    p.add_argument("action", choices=["list", "replay", "purge"])
    p.add_argument("consumer", nargs="?", help="replay/purge: deadlines, notifications, ...")
    p.add_argument("--event-id", action="append", help="only this event (repeat for more)")
    p.add_argument("--show", type=int, default=10, help="list: messages shown per queue")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    p.add_argument("--token", help="a bearer token (default: EHCP_TOKEN, else signed here)")
    p.set_defaults(fn=cmd_dlq)

    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except ValueError as exc:
        sys.exit(f"ehcp: {exc}")


if __name__ == "__main__":
    main()

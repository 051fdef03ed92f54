"""The OpenAPI 3 document of the public API, generated (apispec) from the marshmallow
schemas that validate requests, and a plain HTML page of it for people.

OPERATIONS is the one list of the API's operations: the document, the API page and the
gateway's 404/405 answers are all derived from it, so a route cannot go undocumented
without a test noticing (tests compare it with the routes nameko serves)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from services.gateway import schemas as gs
from services.referrals import schemas as rs

PUBLIC = ()  # roles tuple meaning: no token needed
CASE_ROLES = ("school", "la_caseworker", "la_manager")
LA_ROLES = ("la_caseworker", "la_manager")
ALL_ROLES = ("school", "la_caseworker", "la_manager", "region_admin", "ops")
NOTIFY_ADMINS = ("la_manager", "region_admin")
LA_SETTINGS_READERS = ("la_caseworker", "la_manager", "region_admin")
DLQ_ADMINS = ("region_admin", "ops")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    roles: tuple[str, ...]
    ok: tuple[int, type[Schema] | None] = (200, None)
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    errors: tuple[int, ...] = (401, 503)
    description: str = ""
    headers: tuple[str, ...] = ()
    content_type: str = "application/json"
    extra: dict = field(default_factory=dict)


OPERATIONS: tuple[Operation, ...] = (
    Operation("post", "/v1/referrals", "Submit a request for an EHC needs assessment",
              "cases", ("school",) + LA_ROLES, (201, rs.Referral), body=rs.ReferralRequest,
              errors=(400, 401, 403, 415, 422, 503), headers=("Idempotency-Key",),
              description="A school submits for its own pupils (any home LA); LA staff for "
              "their LA, also to import an open caseload with past dates. The answer has the "
              "case's `id`, its regional `reference` and its `status`."),
    Operation("get", "/v1/referrals", "List the cases you may see", "cases", CASE_ROLES,
              (200, gs.ReferralList), query=gs.ReferralListQuery,
              errors=(401, 403, 422, 503),
              description="Filters by state, school, LA, outstanding adviser and next "
              "deadline; sorted by next due date by default; pages with `cursor`."),
    Operation("get", "/v1/referrals/{id}", "Read a case", "cases", CASE_ROLES,
              (200, rs.Referral), errors=(401, 404, 503)),
    Operation("post", "/v1/referrals/{id}/events", "Record a step of the case", "cases",
              CASE_ROLES, (201, rs.StepRecorded), body=rs.StepRequest,
              errors=(400, 401, 403, 404, 409, 415, 422, 503), headers=("Idempotency-Key",),
              description="409 when the step is not allowed from the case's state (the "
              "problem names the state and the allowed steps); 422 when a field is wrong, "
              "including a date before the request's receipt, in the future or before the "
              "case's last step. A refused step changes nothing. Schools may record only "
              "their own advice (`advice_received`, adviser `school`) and their own reply to a "
              "consultation (`school_response_received`)."),
    Operation("post", "/v1/referrals/{id}/corrections",
              "Correct the date the request was received", "cases", CASE_ROLES,
              (201, rs.Referral), body=rs.ReceiptCorrection,
              errors=(400, 401, 403, 404, 415, 422, 503),
              description="LA staff only. Every recorded step must still fall on or after "
              "the new date (422 otherwise, changing nothing). The 6- and 20-week clocks are "
              "recomputed from it; the audit trail keeps both dates."),
    Operation("post", "/v1/referrals/{id}/events/{step_id}/corrections",
              "Correct the date of a recorded step", "cases", CASE_ROLES,
              (201, rs.StepRecorded), body=rs.StepCorrection,
              errors=(400, 401, 403, 404, 415, 422, 503),
              description="LA staff only. The case's steps are replayed with the new date: a "
              "date that would put them out of order, before the receipt or in the future is "
              "refused with 422 and changes nothing. The deadlines are recomputed as if the "
              "right date had been recorded first; the audit trail keeps both dates."),
    Operation("put", "/v1/referrals/{id}/assignment", "Assign the case to a caseworker",
              "cases", CASE_ROLES, (200, rs.Referral), body=gs.Assignment,
              errors=(400, 401, 403, 404, 415, 422, 503),
              description="LA staff only: the caseworker must be an active user of the LA "
              "with an LA role (422 otherwise); null unassigns. Recorded as a "
              "`caseworker_assigned` step of the case and audited; `assigned_to` shows it."),
    Operation("get", "/v1/referrals/{id}/events", "The case's recorded steps", "cases",
              CASE_ROLES, (200, gs.History), errors=(401, 404, 503)),
    Operation("get", "/v1/referrals/{id}/deadlines", "The case's statutory deadlines", "cases",
              CASE_ROLES, (200, gs.CaseDeadlines), errors=(401, 404, 503),
              description="Computed asynchronously: `deadlines_up_to_date` is false while the "
              "case's latest event is not yet reflected."),
    Operation("get", "/v1/referrals/{id}/audit", "Who read or changed the case", "cases",
              ("la_manager",), (200, gs.AuditTrail), query=gs.AuditQuery,
              errors=(401, 403, 404, 422, 503)),
    Operation("get", "/v1/deadlines", "Deadlines across your cases", "deadlines", CASE_ROLES,
              (200, gs.DeadlineList), query=gs.DeadlineListQuery,
              errors=(401, 403, 422, 503)),
    Operation("get", "/v1/alerts", "Your alerts inbox", "alerts", CASE_ROLES,
              (200, gs.AlertList), query=gs.AlertQuery, errors=(401, 403, 422, 503)),
    Operation("post", "/v1/alerts/{id}/read", "Mark an alert read", "alerts", CASE_ROLES,
              (200, None), errors=(401, 403, 404, 503)),
    Operation("get", "/v1/reports/timeliness", "Timeliness figures of your LA", "reports",
              ("la_manager",), (200, gs.Timeliness), query=gs.TimelinessQuery,
              errors=(401, 403, 422, 503),
              description="SEN2: decisions within 6 weeks, new plans within 20 weeks "
              "(including and excluding exceptions), average weeks to issue, for a calendar "
              "year, from the statutory clock's met milestones."),
    Operation("put", "/v1/referrals/{id}/sen2", "Record the case's SEN2 details", "reports",
              CASE_ROLES, (200, rs.Sen2Answer), body=gs.Sen2Details,
              errors=(400, 401, 403, 404, 415, 422, 503),
              description="What the SEN2 return needs that the case lacks: sex, ethnicity, "
              "postcode, UPN or ULN (or why neither is known), mediation and tribunal, the "
              "plan's residential, work-based and personal-budget details, a setting without "
              "URN, the cease reason. Replaces the whole set. The LA's staff only."),
    Operation("get", "/v1/reports/sen2", "Your LA's SEN2 return", "reports", ("la_manager",),
              (200, gs.Sen2Report), query=gs.Sen2ReturnQuery, errors=(401, 403, 422, 503),
              description="The person-level XML for the DfE (Header, Person, Requests, "
              "Assessment, NamedPlan, ActivePlans), validated against the project's XSD in "
              "tests, with a report of business-rule errors by case reference and its counts "
              "beside the timeliness figures of the same calendar year. Holds personal data: "
              "audited per case, never logged."),
    Operation("get", "/v1/las", "Local authorities of the region", "region", ALL_ROLES,
              (200, gs.LaList), errors=(401, 503)),
    Operation("post", "/v1/las", "Add or rename a local authority", "region",
              ("region_admin",), (201, gs.LocalAuthority), body=gs.LocalAuthority,
              errors=(400, 401, 403, 415, 422, 503)),
    # An LA's statutory-clock settings and school closures (routes_la.py; the deadlines
    # service validates and stores them). 404 for whoever the LA is hidden from.
    Operation("get", "/v1/las/{la_code}/settings", "The LA's statutory-clock settings",
              "region", LA_SETTINGS_READERS, (200, gs.LaSettingsAnswer),
              errors=(401, 404, 503),
              description="Staff of the LA and region admins read; anyone else gets 404."),
    Operation("put", "/v1/las/{la_code}/settings",
              "Replace the LA's statutory-clock settings", "region", ("la_manager",),
              (200, gs.LaSettingsAnswer), body=gs.LaSettings,
              errors=(400, 401, 403, 404, 415, 422, 503),
              description="`next_working_day_receipt`: a request received after "
              "`receipt_cutoff` (default 17:00, London time) or on a non-working day counts "
              "from the next working day (default: off). `alert_offsets`: when alerts go, "
              "relative to each target date; `milestone_alert_offsets` overrides them per "
              "milestone name, prefix or rule id. A key left out takes its default. The LA's "
              "open cases are recomputed shortly after (`recompute_queued` says how many). "
              "Only the LA's managers; its caseworkers and region admins get 403."),
    Operation("get", "/v1/las/{la_code}/closures", "The LA's school closures (term dates)",
              "region", LA_SETTINGS_READERS, (200, gs.ClosureList), errors=(401, 404, 503),
              description="Staff of the LA and region admins read; anyone else gets 404."),
    Operation("post", "/v1/las/{la_code}/closures", "Record a school closure (term dates)",
              "region", ("la_manager",), (201, gs.ClosureAnswer), body=gs.ClosureRequest,
              errors=(400, 401, 403, 404, 415, 422, 503),
              description="For one school (`school_urn`) or, with null, every school of the "
              "LA. School advice asked from one week before a closure of at least 4 weeks to "
              "one week before it re-opens puts the case under exception limb (a), Reg 5(4): "
              "the LA's open cases are recomputed shortly after (`recompute_queued`)."),
    Operation("delete", "/v1/las/{la_code}/closures/{id}", "Remove a school closure",
              "region", ("la_manager",), (200, gs.ClosureRemoved),
              errors=(401, 403, 404, 503),
              description="The LA's open cases are recomputed shortly after."),
    Operation("get", "/v1/schools", "Schools of the region", "region", ALL_ROLES,
              (200, gs.SchoolList), errors=(401, 503)),
    Operation("post", "/v1/schools", "Add or update a school (by URN)", "region",
              ("region_admin",), (201, gs.School), body=gs.School,
              errors=(400, 401, 403, 415, 422, 503)),
    Operation("get", "/v1/users", "Users of the region", "region", ("region_admin",),
              (200, gs.UserList), errors=(401, 403, 503)),
    Operation("post", "/v1/users", "Add or update a user", "region", ("region_admin",),
              (201, gs.User), body=gs.User, errors=(400, 401, 403, 415, 422, 503)),
    Operation("post", "/v1/users/{id}/disable", "Disable a user: their tokens stop working",
              "region", ("region_admin",), (200, gs.User), errors=(401, 403, 404, 503)),
    Operation("post", "/v1/users/{id}/enable", "Enable a user again", "region",
              ("region_admin",), (200, gs.User), errors=(401, 403, 404, 503)),
    Operation("post", "/v1/users/{id}/token", "Issue a token for a user (local signing)",
              "region", ("region_admin",), (201, gs.UserToken), errors=(401, 403, 404, 409, 503)),
    # Notification settings (routes_notifications.py; the notifications service validates
    # the bodies and checks the LA of each recipient).
    Operation("get", "/v1/recipients", "Alert recipients (channels) of your LA", "notifications",
              NOTIFY_ADMINS, (200, None), errors=(401, 403, 422, 503)),
    Operation("post", "/v1/recipients", "Add an alert recipient: email, webhook or calendar",
              "notifications", NOTIFY_ADMINS, (201, None), body=gs.AnyObject,
              errors=(400, 401, 403, 404, 409, 415, 422, 503)),
    Operation("get", "/v1/recipients/{id}", "Read an alert recipient", "notifications",
              NOTIFY_ADMINS, (200, None), errors=(401, 403, 404, 503)),
    Operation("patch", "/v1/recipients/{id}", "Change an alert recipient", "notifications",
              NOTIFY_ADMINS, (200, None), body=gs.AnyObject,
              errors=(400, 401, 403, 404, 409, 415, 422, 503)),
    Operation("delete", "/v1/recipients/{id}", "Remove an alert recipient", "notifications",
              NOTIFY_ADMINS, (204, None), errors=(401, 403, 404, 503)),
    Operation("post", "/v1/recipients/{id}/calendar-secret",
              "New secret calendar feed URL (the old one stops working)", "notifications",
              NOTIFY_ADMINS, (201, None), errors=(401, 403, 404, 409, 503)),
    Operation("delete", "/v1/recipients/{id}/calendar-secret", "Revoke the calendar feed",
              "notifications", NOTIFY_ADMINS, (204, None), errors=(401, 403, 404, 503)),
    Operation("post", "/v1/recipients/{id}/webhook-secret", "New webhook signing secret",
              "notifications", NOTIFY_ADMINS, (201, None), errors=(401, 403, 404, 409, 503)),
    Operation("get", "/v1/deliveries", "Email and webhook deliveries (failed ones to retry)",
              "notifications", NOTIFY_ADMINS, (200, None), errors=(401, 403, 422, 503)),
    Operation("post", "/v1/deliveries/{id}/retry", "Retry a dead delivery", "notifications",
              NOTIFY_ADMINS, (200, None), errors=(401, 403, 404, 409, 503)),
    Operation("get", "/v1/calendar/{secret}.ics", "A recipient's deadlines as a calendar feed",
              "notifications", PUBLIC, (200, None), errors=(404, 503),
              content_type="text/calendar",
              description="No token: calendar apps cannot send one. The secret in the URL "
              "is the credential; its manager can rotate or revoke it."),
    Operation("get", "/v1/metrics", "The gateway's Prometheus metrics", "operations", ("ops",),
              (200, None), errors=(401, 403), content_type="text/plain"),
    # Dead-letter queues (routes_ops.py): each action audited in dead_letter_actions.
    Operation("get", "/v1/dead-letters", "Dead-letter queues: counts, reasons, first messages",
              "operations", DLQ_ADMINS, (200, None), errors=(401, 403, 503),
              description="Per consumer: how many events were dead-lettered, counted by "
              "reason (`invalid`, `undecodable`, `handler_failed`), and the first 100 with "
              "their event id, type and error. Reading leaves every message in place."),
    Operation("post", "/v1/dead-letters/{consumer}/replay",
              "Send dead letters back to their consumer", "operations", DLQ_ADMINS,
              (200, None), body=gs.DeadLetterSelection,
              errors=(400, 401, 403, 404, 415, 422, 503),
              description="All of the queue, or only `event_ids`. Each goes back to the work "
              "queue with a fresh retry ladder; an event already processed is ignored by the "
              "consumer's inbox."),
    Operation("post", "/v1/dead-letters/{consumer}/purge", "Drop dead letters for good",
              "operations", DLQ_ADMINS, (200, None), body=gs.DeadLetterSelection,
              errors=(400, 401, 403, 404, 415, 422, 503)),
    Operation("get", "/v1/dead-letters/actions", "Who listed, replayed or purged dead letters",
              "operations", DLQ_ADMINS, (200, None), errors=(401, 403, 503)),
    Operation("get", "/healthz", "Liveness", "operations", PUBLIC, (200, gs.Health), errors=()),
    Operation("get", "/readyz", "Readiness: broker and database reachable", "operations",
              PUBLIC, (200, gs.Health), errors=(503,)),
    Operation("get", "/v1/openapi.json", "This document", "operations", PUBLIC, (200, None),
              errors=()),
    Operation("get", "/v1/docs", "The API page", "operations", PUBLIC, (200, None), errors=(),
              content_type="text/html"),
)

_ERROR_TEXT = {400: "Malformed request", 401: "Missing, expired or invalid token",
               403: "Your role may not do this", 404: "Not found (or not yours)",
               409: "Not allowed in the current state", 415: "Send application/json",
               422: "Invalid fields (problem+json with an `errors` list)",
               503: "A backing service is down or did not answer in time"}


def _path_regex(template: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


_PATHS = [(_path_regex(op.path), op) for op in OPERATIONS]


def methods_of(path: str) -> set[str]:
    """The methods the API serves at a concrete path (empty: no such path)."""
    return {op.method.upper() for regex, op in _PATHS if regex.match(path)}


# OpenAPI links: what a created resource's id leads to (clients and fuzzers follow them).
LINKS: dict[tuple[str, str], dict[str, tuple[str, str, str]]] = {
    ("post", "/v1/referrals"): {
        "read": ("get", "/v1/referrals/{id}", "id"),
        "record_step": ("post", "/v1/referrals/{id}/events", "id"),
        "history": ("get", "/v1/referrals/{id}/events", "id"),
        "deadlines": ("get", "/v1/referrals/{id}/deadlines", "id"),
        "audit": ("get", "/v1/referrals/{id}/audit", "id"),
        "assign": ("put", "/v1/referrals/{id}/assignment", "id"),
    },
    ("post", "/v1/users"): {
        "disable": ("post", "/v1/users/{id}/disable", "sub"),
        "enable": ("post", "/v1/users/{id}/enable", "sub"),
        "token": ("post", "/v1/users/{id}/token", "sub"),
    },
}


def _operation_id(method: str, path: str) -> str:
    return f"{method}_{re.sub(r'[^a-z0-9]+', '_', path)}".strip("_")


def build_spec(server_url: str = "") -> dict:
    spec = APISpec(
        title="EHCP Tracker API", version="1.0.0", openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": (
            "Requests for EHC needs assessments and the cases that follow them, for the "
            "schools and local authorities of one region. Authenticate with a bearer token "
            "(JWT). A case you may not see answers 404. Every error is problem+json "
            "(RFC 9457).")},
        servers=[{"url": server_url}] if server_url else [])
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Problem", schema=gs.ProblemSchema)
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        operation: dict = {"summary": op.summary, "tags": [op.tag],
                           "operationId": _operation_id(op.method, op.path)}
        if op.description or op.roles:
            roles = ", ".join(op.roles) if op.roles else "anyone (no token)"
            operation["description"] = f"{op.description}\n\nRoles: {roles}.".strip()
        parameters: list = []
        for name in re.findall(r"\{(\w+)\}", op.path):
            uuid_id = name == "id" and "/users/" not in op.path
            schema = {"type": "string", **({"format": "uuid"} if uuid_id else {})}
            if name == "la_code":  # the demo region's LA, as in the bodies' examples
                schema.update(pattern=r"^\d{3}$", example="881")
            parameters.append({"in": "path", "name": name, "required": True,
                               "schema": schema})
        if op.query is not None:
            parameters.append({"in": "query", "schema": op.query})
        for header in op.headers:
            parameters.append({"in": "header", "name": header, "required": False,
                               "schema": {"type": "string", "minLength": 1,
                                          "maxLength": 200}})
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": op.body}}}
        status, schema = op.ok
        ok: dict = {"description": "OK"}
        if schema is not None:
            ok["content"] = {op.content_type: {"schema": schema}}
        elif status == 204:
            ok["description"] = "Done (no content)"
        elif op.content_type != "application/json" or op.path.endswith("openapi.json"):
            ok["content"] = {op.content_type: {"schema": {"type": "string"}
                                               if op.content_type != "application/json"
                                               else {"type": "object"}}}
        else:
            ok["content"] = {"application/json": {"schema": {"type": "object"}}}
        if (op.method, op.path) in LINKS:
            ok["links"] = {
                name: {"operationId": _operation_id(method, path),
                       "parameters": {"id": f"$response.body#/{field}"}}
                for name, (method, path, field) in LINKS[(op.method, op.path)].items()}
        responses = {str(status): ok}
        for code in op.errors:
            responses[str(code)] = {"description": _ERROR_TEXT[code], "content": {
                "application/problem+json": {"schema": "Problem"}}}
        operation["responses"] = responses
        operation["security"] = [{"bearer": []}] if op.roles else []
        paths.setdefault(op.path, {})[op.method] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


# The page's only style, inline; its hash is the one inline style the page's CSP allows.
DOCS_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
              "padding:0 1rem;line-height:1.45}code,pre{background:#f4f4f4;padding:0 .2rem}"
              "h2{margin-top:2rem;border-bottom:1px solid #ccc}.m{font-weight:bold;"
              "text-transform:uppercase;margin-right:.5rem}table{border-collapse:collapse}"
              "td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}")


def api_page(spec: dict) -> str:
    """The human-readable API page: one section per operation, no scripts, no CDN."""
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
           f"<title>{html.escape(spec['info']['title'])}</title><style>{DOCS_STYLE}</style>"
           "</head>"
           f"<body><h1>{html.escape(spec['info']['title'])}</h1>"
           f"<p>{html.escape(spec['info']['description'])}</p>"
           "<p>Machine-readable: <a href='/v1/openapi.json'>/v1/openapi.json</a> "
           "(OpenAPI 3).</p>"]
    schemas = spec.get("components", {}).get("schemas", {})
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            out.append(f"<h2><span class='m'>{method}</span><code>{html.escape(path)}"
                       f"</code></h2><p>{html.escape(op.get('summary', ''))}</p>")
            if op.get("description"):
                out.append(f"<p>{html.escape(op['description'])}</p>")
            params = op.get("parameters", [])
            if params:
                out.append("<table><tr><th>parameter</th><th>in</th><th>type</th>"
                           "<th>about</th></tr>")
                for p in params:
                    s = p.get("schema", {})
                    kind = s.get("type", "") + (f" ({s['format']})" if "format" in s else "")
                    if "enum" in s or "enum" in s.get("items", {}):
                        kind += ": " + ", ".join(s.get("enum") or s["items"]["enum"])
                    out.append(f"<tr><td><code>{html.escape(p['name'])}</code></td>"
                               f"<td>{p['in']}</td><td>{html.escape(kind)}</td>"
                               f"<td>{html.escape(p.get('description', ''))}</td></tr>")
                out.append("</table>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body:
                out.append("<p>Body:</p>" + _schema_table(body["schema"], schemas))
            codes = ", ".join(f"{c} {html.escape(r['description'])}"
                              for c, r in op["responses"].items())
            out.append(f"<p>Answers: {codes}</p>")
    out.append("</body></html>")
    return "".join(out)


def _schema_table(schema: dict, schemas: dict) -> str:
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        if "$ref" in prop:
            kind = prop["$ref"].rsplit("/", 1)[-1]
        else:
            kind = prop.get("type", "") + (f" ({prop['format']})" if "format" in prop else "")
            if "enum" in prop:
                kind += ": " + ", ".join(str(e) for e in prop["enum"])
        about = prop.get("description", "")
        rows.append(f"<tr><td><code>{html.escape(name)}</code>{' *' if name in required else ''}"
                    f"</td><td>{html.escape(kind)}</td><td>{html.escape(about)}</td></tr>")
    return ("<table><tr><th>field</th><th>type</th><th>about</th></tr>" + "".join(rows)
            + "</table>")

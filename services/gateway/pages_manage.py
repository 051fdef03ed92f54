"""Managers' pages (SEN2 timeliness with a month-by-month chart, caseload per caseworker,
a case's audit trail, LA settings and school closures) and the region admin's (LAs,
schools, users, alert recipients)."""

from __future__ import annotations

from markupsafe import Markup

from services.gateway import chart, forms, labels, region, schemas
from services.gateway.http import load_body
from services.gateway.pages import Visit, form_errors, page, redirect
from services.gateway.routes_referrals import valid_id
from services.gateway.routes_region import check_user_claims
from shared.config import today
from shared.problems import Problem

MANAGER = ("la_manager",)
ADMIN = ("region_admin",)
DONE = {"saved": "Saved", "added": "Added", "removed": "Removed", "disabled": "User disabled",
        "enabled": "User enabled", "password": "Password set"}


class ManagePages:
    # LA managers ---------------------------------------------------------------------
    @page("GET", "/manage/timeliness", "timeliness", MANAGER)
    def timeliness_page(self, request, visit: Visit):
        la_code = visit.actor["la_code"]
        year_arg = request.args.get("year", "")
        year = int(year_arg) if year_arg.isdigit() and 2014 <= int(year_arg) <= 2100 \
            else today(self.settings).year
        figures = self._call("deadlines", "timeliness", la_code, year)
        months = chart.monthly(self._call("deadlines", "timeliness_by_month", la_code, year))
        return self._render(request, visit, "timeliness.html", title="Timeliness (SEN2)",
                            figures=figures, months=months, year=year,
                            svg=Markup(chart.svg(months, year)))  # noqa: S704 (numbers only)

    @page("GET", "/manage/caseload", "caseload", MANAGER)
    def caseload_page(self, request, visit: Visit):
        rows = self._call("referrals", "caseload", visit.actor)
        return self._render(request, visit, "caseload.html", title="Caseload", rows=rows)

    @page("GET", "/cases/{case_id}/audit", "audit", MANAGER)
    def audit_page(self, request, visit: Visit, case_id):
        case_id = valid_id(case_id)
        referral = self._call("referrals", "get_referral", visit.actor, case_id)
        trail = self._call("referrals", "audit_trail", visit.actor, case_id, 200, None)
        return self._render(request, visit, "audit.html", title="Audit trail", case=referral,
                            entries=trail["entries"])

    @page("GET", "/manage/settings", "settings", MANAGER)
    def settings_page(self, request, visit: Visit):
        return self._settings(request, visit, done=DONE.get(request.args.get("done", "")))

    def _settings(self, request, visit: Visit, status: int = 200, **extra):
        la_code = visit.actor["la_code"]
        current = self._call("deadlines", "get_la_settings", la_code)
        with self.db.read() as conn:
            schools = region.list_schools(conn, la_code)
        return self._render(request, visit, "settings.html", status, title="LA settings",
                            current=current, schools=schools,
                            **{"errors": [], "by_field": {}, "values": {}, **extra})

    @page("POST", "/manage/settings", "settings", MANAGER)
    def save_settings(self, request, visit: Visit):
        la_code = visit.actor["la_code"]
        current = self._call("deadlines", "get_la_settings", la_code)["settings"] or {}
        body = {**current,
                "next_working_day_receipt": request.form.get("next_working_day_receipt") == "yes",
                "receipt_cutoff": request.form.get("receipt_cutoff", "").strip() or None}
        body = {k: v for k, v in body.items() if v is not None}
        try:
            self._call("deadlines", "set_la_settings", la_code, body)
        except Problem as problem:
            if problem.status != 422:
                raise
            for err in problem.errors:  # the deadlines service names them settings.<field>
                err["field"] = err.get("field", "").removeprefix("settings.")
            errors, by_field = form_errors(problem, labels.FIELD_LABELS)
            return self._settings(request, visit, 422, errors=errors, by_field=by_field)
        return redirect("/manage/settings?done=saved")

    @page("POST", "/manage/closures", "closures", MANAGER)
    def add_closure_page(self, request, visit: Visit):
        values = {"school_urn": request.form.get("school_urn", ""),
                  "starts_on": forms.date_parts(request.form, "starts_on"),
                  "ends_on": forms.date_parts(request.form, "ends_on")}
        try:
            self._call("deadlines", "add_closure", visit.actor["la_code"],
                       values["school_urn"] or None, forms.join_date(values["starts_on"]) or "",
                       forms.join_date(values["ends_on"]) or "")
        except Problem as problem:
            if problem.status != 422:
                raise
            errors, by_field = form_errors(problem, labels.FIELD_LABELS, {
                "starts_on": "starts_on-day", "ends_on": "ends_on-day"})
            return self._settings(request, visit, 422, errors=errors, by_field=by_field,
                                  values=values)
        return redirect("/manage/settings?done=added")

    @page("POST", "/manage/closures/{closure_id}/remove", "closure_remove", MANAGER)
    def remove_closure_page(self, request, visit: Visit, closure_id):
        self._call("deadlines", "remove_closure", visit.actor["la_code"], valid_id(closure_id))
        return redirect("/manage/settings?done=removed")

    # region admins ---------------------------------------------------------------------
    @page("GET", "/admin/las", "admin_las", ADMIN)
    def admin_las(self, request, visit: Visit):
        return self._admin(request, visit, "las")

    @page("POST", "/admin/las", "admin_las", ADMIN)
    def admin_add_la(self, request, visit: Visit):
        return self._admin_save(request, visit, "las", schemas.LocalAuthority,
                                lambda conn, v: region.add_la(conn, v["la_code"], v["name"]))

    @page("GET", "/admin/schools", "admin_schools", ADMIN)
    def admin_schools(self, request, visit: Visit):
        return self._admin(request, visit, "schools")

    @page("POST", "/admin/schools", "admin_schools", ADMIN)
    def admin_add_school(self, request, visit: Visit):
        def save(conn, v):
            if not region.la_exists(conn, v["la_code"]):
                raise Problem(422, "Validation failed", "la_code: unknown LA",
                              [{"field": "la_code", "message": "no such LA in the region"}])
            region.add_school(conn, v["urn"], v["name"], v["la_code"])
        return self._admin_save(request, visit, "schools", schemas.School, save)

    @page("GET", "/admin/users", "admin_users", ADMIN)
    def admin_users(self, request, visit: Visit):
        return self._admin(request, visit, "users")

    @page("POST", "/admin/users", "admin_users", ADMIN)
    def admin_add_user(self, request, visit: Visit):
        def save(conn, v):
            check_user_claims(v)
            region.upsert_user(conn, v["sub"], v["role"], v["la_code"], v["school_urn"])
            self.auth.users.forget(v["sub"])
        return self._admin_save(request, visit, "users", schemas.User, save)

    @page("POST", "/admin/users/{sub}/{action}", "admin_user_action", ADMIN)
    def admin_user_action(self, request, visit: Visit, sub, action):
        if action not in ("disable", "enable"):
            raise Problem(404, "Not found", "No such action.")
        with self.db.unit_of_work() as uow:
            if region.set_active(uow.conn, sub, action == "enable") is None:
                raise Problem(404, "Not found", "No such user.")
        self.auth.users.forget(sub)  # its bearer tokens are refused from the next request
        return redirect(f"/admin/users?done={action}d")

    @page("GET", "/admin/recipients", "admin_recipients", ADMIN)
    def admin_recipients(self, request, visit: Visit):
        return self._admin(request, visit, "recipients")

    @page("POST", "/admin/recipients", "admin_recipients", ADMIN)
    def admin_add_recipient(self, request, visit: Visit):
        f = request.form
        body = {k: v for k, v in {
            "kind": f.get("kind"), "la_code": f.get("la_code", "").strip(),
            "school_urn": f.get("school_urn", "").strip() or None,
            "name": f.get("name", "").strip(),
            "emails": [e.strip() for e in f.get("emails", "").split(",") if e.strip()],
            "channels": f.getlist("channels")}.items() if v not in (None, "", [])}
        try:
            self._call("notifications", "create_recipient", visit.actor, body)
        except Problem as problem:
            if problem.status not in (404, 409, 422):
                raise
            errors, by_field = form_errors(problem, labels.FIELD_LABELS)
            return self._admin(request, visit, "recipients", 422, errors=errors,
                               by_field=by_field, values=dict(f))
        return redirect("/admin/recipients?done=added")

    def _admin(self, request, visit: Visit, what: str, status: int = 200, **extra):
        with self.db.read() as conn:
            data = {"las": region.list_las(conn), "schools": region.list_schools(conn),
                    "users": region.list_users(conn) if what == "users" else []}
        if what == "recipients":
            data["recipients"] = self._call("notifications", "list_recipients", visit.actor, {})
        return self._render(request, visit, f"admin_{what}.html", status,
                            title={"las": "Local authorities", "schools": "Schools",
                                   "users": "Users", "recipients": "Alert recipients"}[what],
                            done=DONE.get(request.args.get("done", "")), roles=labels.WORDS,
                            **{"errors": [], "by_field": {}, "values": {}, **data, **extra})

    def _admin_save(self, request, visit: Visit, what: str, schema, save):
        values = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
        body = {k: v for k, v in values.items() if v}
        if what == "users":
            body.setdefault("la_code", None)
            body.setdefault("school_urn", None)
        try:
            with self.db.unit_of_work() as uow:
                save(uow.conn, load_body(schema, body))
        except Problem as problem:
            if problem.status != 422:
                raise
            errors, by_field = form_errors(problem, labels.FIELD_LABELS)
            return self._admin(request, visit, what, 422, errors=errors, by_field=by_field,
                               values=values)
        return redirect(f"/admin/{what}?done=added")

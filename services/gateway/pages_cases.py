"""Case pages: the SENCo's and the caseworker's (lists, the request form, a case with its
timeline and deadlines, step forms, assignment, date corrections, alerts, calendar)."""

from __future__ import annotations

from services.gateway import forms, labels, region, schemas
from services.gateway.http import load_query
from services.gateway.openapi import CASE_ROLES, LA_ROLES
from services.gateway.pages import Visit, form_errors, page, redirect
from services.gateway.routes_referrals import valid_id
from shared.config import today
from shared.problems import Problem

DONE = {"submitted": "Request submitted", "step": "Step recorded", "assigned": "Case assigned",
        "corrected": "Date corrected", "read": "Alert marked as read"}
PAGE_SIZE = 25


class CasePages:
    # lists ---------------------------------------------------------------------------
    @page("GET", "/cases", "cases", CASE_ROLES)
    def cases_page(self, request, visit: Visit):
        actor = visit.actor
        args = forms.list_args(request.args, actor, PAGE_SIZE)
        try:
            q = load_query(schemas.ReferralListQuery, args)
            answer = self._case_page(actor, q)
            errors = []
        except Problem as problem:
            if problem.status != 422:
                raise
            answer = {"items": [], "count": 0, "next_cursor": None}
            errors, _ = form_errors(problem, labels.FIELD_LABELS)
        caseworkers = self._caseworkers(actor) if actor["role"] in LA_ROLES else []
        title = "Work tray" if actor["role"] in LA_ROLES else "Your school's cases"
        return self._render(request, visit, "cases.html", 422 if errors else 200, title=title,
                            answer=answer, errors=errors, filters=request.args,
                            caseworkers=caseworkers, today=today(self.settings).isoformat(),
                            next_href=forms.next_page_href(request.args,
                                                           answer["next_cursor"]))

    def _caseworkers(self, actor: dict) -> list[dict]:
        with self.db.read() as conn:
            return [u for u in region.list_users(conn)
                    if u["active"] and u["role"] in LA_ROLES and u["la_code"] == actor["la_code"]]

    # the request form --------------------------------------------------------------------
    @page("GET", "/cases/new", "new_request", CASE_ROLES)
    def new_request_form(self, request, visit: Visit):
        defaults = forms.request_defaults(visit.actor, today(self.settings))
        if not defaults["la_code"] and defaults["school_urn"]:
            # a SENCo's request starts with the school's own LA chosen, not the list's first
            with self.db.read() as conn:
                school = region.get_school(conn, defaults["school_urn"])
            defaults["la_code"] = school["la_code"] if school else ""
        return self._request_form(request, visit, defaults)

    @page("POST", "/cases/new", "new_request", CASE_ROLES)
    def new_request(self, request, visit: Visit):
        values = forms.request_values(request.form)
        try:
            referral = self._submit(visit.actor, forms.request_body(values), None)
        except Problem as problem:
            if problem.status not in (403, 422):
                raise
            errors, by_field = form_errors(problem, labels.FIELD_LABELS, forms.DATE_ANCHORS)
            return self._request_form(request, visit, values, errors, by_field, 422)
        return redirect(f"/cases/{referral['id']}?done=submitted")

    def _request_form(self, request, visit, values, errors=(), by_field=None, status=200):
        with self.db.read() as conn:
            las = region.list_las(conn)
            schools = region.list_schools(conn, visit.actor.get("la_code")
                                          if visit.role in LA_ROLES else None)
        return self._render(request, visit, "request_form.html", status,
                            title="Request an EHC needs assessment", values=values,
                            errors=list(errors), by_field=by_field or {}, las=las,
                            schools=schools)

    # a case ----------------------------------------------------------------------------
    @page("GET", "/cases/{case_id}", "case", CASE_ROLES)
    def case_page(self, request, visit: Visit, case_id):
        case_id = valid_id(case_id)
        referral = self._call("referrals", "get_referral", visit.actor, case_id)
        history = self._call("referrals", "history", visit.actor, case_id)
        deadlines = self._deadlines_of([case_id]).get(case_id, [])
        return self._render(request, visit, "case.html", title=f"Case {referral['reference']}",
                            case=referral, steps=history["steps"],
                            deadlines=sorted(deadlines, key=forms.deadline_order),
                            recordable=forms.recordable_steps(visit.actor, referral),
                            caseworkers=(self._caseworkers(visit.actor)
                                         if visit.role in LA_ROLES else []),
                            done=DONE.get(request.args.get("done", "")),
                            today=today(self.settings).isoformat())

    @page("GET", "/cases/{case_id}/steps/{step_type}", "step_form", CASE_ROLES)
    def step_form(self, request, visit: Visit, case_id, step_type):
        referral = self._call("referrals", "get_referral", visit.actor, valid_id(case_id))
        self._check_step(visit, referral, step_type)
        return self._step_form(request, visit, referral, step_type,
                               {"on": forms.split_date(today(self.settings).isoformat()),
                                **forms.step_defaults(visit.actor, step_type)})

    @page("POST", "/cases/{case_id}/steps/{step_type}", "step_form", CASE_ROLES)
    def record_step_page(self, request, visit: Visit, case_id, step_type):
        case_id = valid_id(case_id)
        referral = self._call("referrals", "get_referral", visit.actor, case_id)
        self._check_step(visit, referral, step_type)
        values = forms.step_values(request.form, step_type)
        try:
            self._call("referrals", "record_step", visit.actor, case_id,
                       forms.step_body(step_type, values), None)
        except Problem as problem:
            if problem.status not in (403, 409, 422):
                raise
            errors, by_field = form_errors(problem, labels.FIELD_LABELS, forms.DATE_ANCHORS)
            return self._step_form(request, visit, referral, step_type, values, errors,
                                   by_field, problem.status)
        return redirect(f"/cases/{case_id}?done=step")

    def _check_step(self, visit: Visit, referral: dict, step_type: str) -> None:
        if step_type not in labels.STEP_FIELDS and step_type not in referral["allowed_steps"]:
            raise Problem(404, "Not found", "No such step.")

    def _step_form(self, request, visit, referral, step_type, values, errors=(), by_field=None,
                   status=200):
        return self._render(request, visit, "step_form.html", status,
                            title=labels.label(step_type), case=referral, step_type=step_type,
                            fields=labels.step_fields(step_type), values=values,
                            errors=list(errors), by_field=by_field or {},
                            choices=forms.step_choices(step_type, referral))

    # assignment ------------------------------------------------------------------------
    @page("POST", "/cases/{case_id}/assignment", "assign", LA_ROLES)
    def assign_page(self, request, visit: Visit, case_id):
        case_id = valid_id(case_id)
        caseworker = request.form.get("caseworker") or None
        try:
            self._assign(visit.actor, case_id, {"caseworker": caseworker})
        except Problem as problem:
            if problem.status != 422:
                raise
            return self._error_page(request, visit, 422, problem.detail)
        return redirect(f"/cases/{case_id}?done=assigned")

    # date corrections ------------------------------------------------------------------
    @page("GET", "/cases/{case_id}/corrections/{step_id}", "correction", LA_ROLES)
    def correction_form(self, request, visit: Visit, case_id, step_id):
        referral = self._call("referrals", "get_referral", visit.actor, valid_id(case_id))
        step = self._step_of(visit, referral, step_id)
        return self._render(request, visit, "correction_form.html", title="Correct a date",
                            case=referral, step=step, values={"on": forms.split_date(step["on"])},
                            by_field={})

    @page("POST", "/cases/{case_id}/corrections/{step_id}", "correction", LA_ROLES)
    def correct_page(self, request, visit: Visit, case_id, step_id):
        case_id = valid_id(case_id)
        referral = self._call("referrals", "get_referral", visit.actor, case_id)
        step = self._step_of(visit, referral, step_id)
        values = {"on": forms.date_parts(request.form, "on"),
                  "note": request.form.get("note", "")}
        body = {"on": forms.join_date(values["on"]), "note": values["note"] or None}
        try:
            if step["id"] is None:
                self._call("referrals", "correct_receipt", visit.actor, case_id,
                           {"received_on": body["on"], "note": body["note"]})
            else:
                self._call("referrals", "correct_step", visit.actor, case_id, step["id"], body)
        except Problem as problem:
            if problem.status not in (403, 422):
                raise
            for err in problem.errors:
                if err.get("field") == "received_on":
                    err["field"] = "on"
            errors, by_field = form_errors(problem, labels.FIELD_LABELS, forms.DATE_ANCHORS)
            return self._render(request, visit, "correction_form.html", 422,
                                title="Correct a date", case=referral, step=step, values=values,
                                errors=errors, by_field=by_field)
        return redirect(f"/cases/{case_id}?done=corrected")

    def _step_of(self, visit: Visit, referral: dict, step_id: str) -> dict:
        history = self._call("referrals", "history", visit.actor, referral["id"])
        for step in history["steps"]:
            if (step["id"] or "receipt") == step_id:
                return step
        raise Problem(404, "Not found", "No such step.")

    # alerts and the calendar ---------------------------------------------------------
    @page("GET", "/alerts", "alerts", CASE_ROLES)
    def alerts_page(self, request, visit: Visit):
        unread = request.args.get("unread") == "1"
        alerts = self._call("notifications", "list_alerts", visit.actor, unread)
        return self._render(request, visit, "alerts.html", title="Alerts", alerts=alerts,
                            unread=unread, done=DONE.get(request.args.get("done", "")))

    @page("POST", "/alerts/{alert_id}/read", "alert_read", CASE_ROLES)
    def alert_read_page(self, request, visit: Visit, alert_id):
        self._call("notifications", "mark_read", visit.actor, valid_id(alert_id))
        return redirect("/alerts?done=read")

    @page("GET", "/calendar", "calendar", ("school",))
    def calendar_page(self, request, visit: Visit):
        return self._calendar(request, visit, rotate=False)

    @page("POST", "/calendar", "calendar", ("school",))
    def calendar_rotate(self, request, visit: Visit):
        return self._calendar(request, visit, rotate=True)

    def _calendar(self, request, visit: Visit, rotate: bool):
        try:
            feed = self._call("notifications", "school_calendar", visit.actor, rotate)
        except Problem as problem:
            if problem.status != 404:
                raise
            feed = None
        return self._render(request, visit, "calendar.html", title="Calendar feed", feed=feed)

"""The gateway's pages for people: server-rendered HTML (Jinja2, GOV.UK Design System
macros from govuk-frontend-jinja, its compiled assets under /assets/), signed in through a
browser session instead of a bearer token.

Each page is declared once with `@page(method, path, name, roles)`: that registers the
nameko route, the roles that may open it, its metrics (by route template), CSRF checking of
its form posts and the error pages. Pages call the same RPCs as the API, so tenancy, audit
and validation are the API's: a problem becomes an error summary on the form, a case the
caller may not see is a 404 page. Pages work without JavaScript."""

from __future__ import annotations

import functools
import hmac
import logging
import mimetypes
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from jinja2 import (
    ChainableUndefined,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    select_autoescape,
)
from nameko.exceptions import RemoteError
from werkzeug.wrappers import Response

from services.gateway import labels, sessions
from services.gateway.openapi import ALL_ROLES
from services.gateway.wsgi import http
from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS
from shared.problems import Problem
from shared.rpc import ServiceUnavailable

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PUBLIC_PAGE = ()  # roles tuple meaning: no sign-in needed


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    name: str
    roles: tuple[str, ...]


PAGES: list[Page] = []  # every page, in declaration order (tests open each one)

ENV = Environment(
    loader=ChoiceLoader([
        FileSystemLoader(HERE / "templates"),
        PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
    ]),
    autoescape=select_autoescape(("html",)),
    undefined=ChainableUndefined,  # the design system's macros read optional params freely
    trim_blocks=True, lstrip_blocks=True,
)
ENV.globals.update(labels=labels)
ENV.filters.update(label=labels.label, long_date=labels.long_date)


@dataclass
class Visit:
    """Who is looking at a page: their actor (as for the API), CSRF token, and the cookie
    to (re)set, if any."""

    actor: dict | None
    csrf: str
    session: dict | None = None
    set_cookies: tuple = ()

    @property
    def role(self) -> str | None:
        return self.actor["role"] if self.actor else None


def page(method: str, path: str, name: str, roles: tuple[str, ...] = ALL_ROLES):
    """Declare a page: route, roles, metrics, CSRF on POST, error pages."""

    def wrap(fn):
        nameko_path = path.replace("{", "<string:").replace("}", ">")
        for m in method.split(","):
            PAGES.append(Page(m, path, name, roles))

        @functools.wraps(fn)
        def handler(self, request, *args, **kwargs):
            started = time.perf_counter()
            try:
                response = self._serve(request, fn, roles, args, kwargs)
            except Exception:
                log.exception("page failed", extra={"route": path})
                response = self._error_page(request, None, 500)
            response.headers.setdefault("Cache-Control", "no-store")
            HTTP_REQUESTS.labels(path, request.method, str(response.status_code)).inc()
            HTTP_SECONDS.labels(path, request.method).observe(time.perf_counter() - started)
            return response

        return http(method, nameko_path)(handler)

    return wrap


def redirect(location: str, status: int = 303) -> Response:
    return Response("", status=status, headers={"Location": location})


def form_errors(problem: Problem, fields_labels: dict[str, str], anchors: dict[str, str] | None
                = None) -> tuple[list[dict], dict[str, str]]:
    """The API's problem as the design system's error summary (list) and per-field
    messages. Each message is the API's, prefixed by the field's label."""
    anchors = anchors or {}
    summary, by_field = [], {}
    for err in problem.errors or [{"field": "", "message": problem.detail or problem.title}]:
        field = err.get("field") or ""
        label = fields_labels.get(field)
        text = f"{label}: {err['message']}" if label else (
            f"{field}: {err['message']}" if field else err["message"])
        by_field.setdefault(field, text)
        target = anchors.get(field, labels.field_id(field)) if field in fields_labels else None
        summary.append({"text": text, **({"href": f"#{target}"} if target else {})})
    if not problem.errors and problem.status not in (422,):
        summary = [{"text": problem.detail or problem.title}]
    return summary, by_field


class PageSupport:
    """Helpers of every page (mixed into the gateway service)."""

    def _serve(self, request, fn, roles, args, kwargs) -> Response:
        visit = self._visit(request)
        if roles != PUBLIC_PAGE:
            if visit.actor is None:
                target = request.full_path.rstrip("?") if request.method == "GET" else "/"
                return redirect(f"/sign-in?next={quote(target, safe='')}")
            if not set(visit.actor["roles"]) & set(roles):
                return self._error_page(request, visit, 403)
        if request.method == "POST":
            sent = request.form.get("csrf_token", "")
            if not (sent and hmac.compare_digest(sent, visit.csrf)):
                return self._error_page(request, visit, 400, "The form had expired. Go back, "
                                        "reload the page and try again.")
        try:
            response = fn(self, request, visit, *args, **kwargs)
        except Problem as problem:
            response = self._error_page(request, visit, problem.status, problem.detail)
        except ServiceUnavailable:
            response = self._error_page(request, visit, 503)
        except RemoteError as exc:
            log.error("remote error", extra={"route": request.path, "error": exc.exc_type})
            response = self._error_page(request, visit, 500)
        for cookie in visit.set_cookies:
            response.set_cookie(**cookie)
        return response

    def _visit(self, request) -> Visit:
        """The caller's session, if any (an idle or disabled one is gone)."""
        secure = sessions.secure_cookie(request.host)
        token = request.cookies.get(sessions.COOKIE)
        if token:
            with self.db.unit_of_work() as uow:
                found = sessions.resume(uow, token, self._page_settings.idle_seconds)
            if found is not None:
                actor = sessions.actor_of(found)
                actor["source"] = request.remote_addr
                return Visit(actor, found["csrf_token"], found)
        # Signed out: a CSRF token for the sign-in form, in a cookie of its own.
        pre = request.cookies.get(sessions.PRE_COOKIE)
        if pre and sessions.plausible_token(pre):
            return Visit(None, pre)
        pre = sessions.new_token()
        return Visit(None, pre, set_cookies=(sessions.cookie(sessions.PRE_COOKIE, pre,
                                                             secure),))

    def _render(self, request, visit: Visit, template: str, status: int = 200,
                **context) -> Response:
        body = ENV.get_template(template).render(
            visit=visit, actor=visit.actor if visit else None,
            csrf_token=visit.csrf if visit else "", request_path=request.path,
            nav=labels.navigation(visit.actor if visit else None, request.path), **context)
        return Response(body, status=status, mimetype="text/html")

    def _error_page(self, request, visit: Visit | None, status: int,
                    detail: str | None = None) -> Response:
        status = status if status in labels.ERROR_PAGES else 500
        title, default = labels.ERROR_PAGES[status]
        return self._render(request, visit or Visit(None, ""), "error.html", status,
                            title=title, detail=detail if status in (400, 409) and detail
                            else default)

    def _static(self, path: str) -> Response:
        """A file under static/: the design system's build (govuk/) or the app's own."""
        base = STATIC / ("app" if path.startswith("app/") else "govuk")
        rel = path[4:] if path.startswith("app/") else path
        target = (base / rel).resolve()
        if not target.is_file() or base.resolve() not in target.parents:
            return Response("Not found", status=404, mimetype="text/plain")
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix in (".js", ".mjs"):
            mime = "text/javascript"
        return Response(target.read_bytes(), status=200, mimetype=mime,
                        headers={"Cache-Control": "public, max-age=3600"})

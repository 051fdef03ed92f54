"""Pages of signing in and out (local passwords; OIDC in pages_oidc.py) and the assets."""

from __future__ import annotations

from urllib.parse import urlparse

from services.gateway import labels, sessions
from services.gateway.openapi import ALL_ROLES
from services.gateway.pages import PUBLIC_PAGE, Visit, page, redirect
from services.gateway.wsgi import http
from shared.problems import Problem


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site (no scheme, no host, no //evil.example)."""
    if not target:
        return default
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


class AuthPages:
    @http("GET", "/assets/<path:path>")
    def assets(self, request, path):
        return self._static(path)

    @page("GET", "/", "home", PUBLIC_PAGE)
    def home(self, request, visit: Visit):
        if visit.actor is None:
            return redirect("/sign-in")
        return redirect(labels.HOME[visit.role])

    @page("GET", "/sign-in", "sign_in", PUBLIC_PAGE)
    def sign_in_form(self, request, visit: Visit):
        if visit.actor is not None:
            return redirect(labels.HOME[visit.role])
        return self._render(request, visit, "sign_in.html", title="Sign in",
                            next_path=safe_next(request.args.get("next")),
                            oidc=self._oidc_enabled(), values={},
                            done=("You were signed out after a period of inactivity."
                                  if request.args.get("idle") else None))

    @page("POST", "/sign-in", "sign_in", PUBLIC_PAGE)
    def sign_in(self, request, visit: Visit):
        sub = request.form.get("sub", "").strip()
        password = request.form.get("password", "")
        next_path = safe_next(request.form.get("next"))
        errors = []
        if not sub:
            errors.append({"text": "Enter your username", "href": "#sub"})
        if not password:
            errors.append({"text": "Enter your password", "href": "#password"})
        user = None
        if not errors:
            with self.db.read() as conn:
                user = sessions.check_password(conn, sub, password)
            if user is None:
                errors.append({"text": "The username or password is not right", "href": "#sub"})
        if errors:
            return self._render(request, visit, "sign_in.html", 401 if sub and password else 422,
                                title="Sign in", errors=errors, next_path=next_path,
                                oidc=self._oidc_enabled(), values={"sub": sub})
        return self._signed_in(request, visit, {
            "sub": user["sub"], "role": user["role"], "roles": [user["role"]],
            "la_code": user["la_code"], "school_urn": user["school_urn"]}, "password",
            next_path)

    def _signed_in(self, request, visit: Visit, actor: dict, via: str, next_path: str):
        with self.db.unit_of_work() as uow:
            token, _ = sessions.start(uow, actor, via)
        secure = sessions.secure_cookie(request.host)
        response = redirect(next_path if next_path != "/" else labels.HOME[actor["role"]])
        response.set_cookie(**sessions.cookie(sessions.COOKIE, token, secure))
        response.set_cookie(**sessions.clear(sessions.PRE_COOKIE, secure))
        return response

    @page("POST", "/sign-out", "sign_out", ALL_ROLES)
    def sign_out(self, request, visit: Visit):
        token = request.cookies.get(sessions.COOKIE, "")
        with self.db.unit_of_work() as uow:
            sessions.end(uow, token)
        response = redirect("/sign-in")
        response.set_cookie(**sessions.clear(sessions.COOKIE, sessions.secure_cookie(
            request.host)))
        return response

    @page("GET", "/account", "account", ALL_ROLES)
    def account(self, request, visit: Visit):
        return self._render(request, visit, "account.html", title="Your account")

    def _oidc_enabled(self) -> bool:
        return self.auth.settings.mode in ("oidc", "both") and bool(
            self._page_settings.oidc_client_id)

    def _require(self, visit: Visit, *roles: str) -> None:
        if visit.role not in roles:
            raise Problem(403, "Forbidden", "Your role may not do this.")

"""Pages of signing in and out (local passwords; OIDC in pages_oidc.py) and the assets."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from services.gateway import labels, oidc, sessions
from services.gateway.auth import reconcile
from services.gateway.openapi import ALL_ROLES
from services.gateway.pages import PUBLIC_PAGE, Visit, page, redirect
from services.gateway.wsgi import http
from shared.problems import Problem

log = logging.getLogger(__name__)


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

    @page("GET", "/sign-in/oidc", "oidc_start", PUBLIC_PAGE)
    def oidc_start(self, request, visit: Visit):
        """Off to the issuer with a fresh state, nonce and PKCE challenge."""
        if not self._oidc_enabled():
            raise Problem(404, "Not found", "No such page.")
        meta = self._oidc_meta()
        state, nonce = sessions.new_token(), sessions.new_token()
        verifier, challenge = oidc.pkce_pair()
        with self.db.unit_of_work() as uow:
            uow.execute("DELETE FROM oidc_logins WHERE created_at < now() - interval '10 min'")
            uow.execute("INSERT INTO oidc_logins (state, code_verifier, nonce, next_path) "
                        "VALUES (%s, %s, %s, %s)",
                        (state, verifier, nonce, safe_next(request.args.get("next"))))
        return redirect(oidc.authorize_url(meta, self._page_settings.oidc_client_id,
                                           self._callback_url(), state, nonce, challenge),
                        302)

    @page("GET", "/sign-in/oidc/callback", "oidc_callback", PUBLIC_PAGE)
    def oidc_callback(self, request, visit: Visit):
        if not self._oidc_enabled():
            raise Problem(404, "Not found", "No such page.")
        state, code = request.args.get("state", ""), request.args.get("code", "")
        with self.db.unit_of_work() as uow:  # each state is used once
            login = uow.execute("DELETE FROM oidc_logins WHERE state = %s AND created_at > "
                                "now() - interval '10 min' RETURNING *", (state,)).fetchone()
        if login is None or not code:
            raise Problem(400, "Bad request", "The sign-in had expired. Try again.")
        s, ps = self.auth.settings, self._page_settings
        meta = self._oidc_meta()
        try:
            tokens = oidc.exchange(meta, ps.oidc_client_id, ps.oidc_client_secret,
                                   self._callback_url(), code, login["code_verifier"])
            claims = oidc.verify_id_token(meta, tokens["id_token"], s.oidc_issuer,
                                          ps.oidc_client_id, login["nonce"],
                                          s.oidc_algorithms)
            actor = self.auth._actor(claims, oidc=True)  # the bearer path's claim rules
        except Problem:
            raise Problem(400, "Bad request", "Your council account has no role here.") \
                from None
        except Exception as exc:
            log.warning("oidc sign-in failed", extra={"error": type(exc).__name__})
            raise Problem(400, "Bad request", "The sign-in could not be completed.") \
                from None
        try:  # the users table has the last word, as for bearer tokens
            actor = reconcile(actor, self._account(actor["sub"]))
        except Problem:
            raise Problem(403, "Forbidden", "This account is disabled.") from None
        return self._signed_in(request, visit, actor, "oidc", login["next_path"])

    def _oidc_meta(self) -> dict:
        return oidc.discover(self.auth.settings.oidc_issuer)

    def _callback_url(self) -> str:
        return f"{self.settings.public_url.rstrip('/')}/sign-in/oidc/callback"

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

"""Signing in and out, the pages' home, and their static files."""

from __future__ import annotations

import hmac
import mimetypes
from urllib.parse import urlencode

import falcon

from gateway.web.site import (
    HERE,
    LOGIN_CSRF_COOKIE,
    SIGN_IN,
    Page,
    Site,
    form_value,
    session_of,
)

STATIC = HERE / "static"


def home_of(principal) -> str:
    return "/app/a-traiter" if principal.member_id else "/app/admin"


def safe_next(target: str | None) -> str | None:
    """``target`` if it is one of the pages (never another site, nor the API)."""
    if target and target.startswith("/app/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


class RootPage(Page):
    role = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = req.context.web_session
        raise falcon.HTTPSeeOther(home_of(session.principal) if session else SIGN_IN)


class SignInPage(Page):
    role = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = req.context.web_session
        if session is not None:
            raise falcon.HTTPSeeOther(home_of(session.principal))
        self.show(req, resp, errors=[], siret="", mode=req.get_param("mode") or "mot-de-passe")

    def show(self, req, resp, errors: list[str], siret: str, mode: str) -> None:
        self.site.render(
            req,
            resp,
            "connexion.html",
            errors=errors,
            siret=siret,
            mode=mode if mode in ("cle", "mot-de-passe") else "mot-de-passe",
            login_token=self.site.new_login_token(resp),
            suite=safe_next(req.get_param("suite")) or "",
            signed_out=req.get_param("au-revoir") is not None,
            expired=req.get_param("expiree") is not None,
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = req.get_media()
        mode = form_value(form, "mode")
        siret = form_value(form, "siret")
        cookie = req.get_cookie_values(LOGIN_CSRF_COOKIE)
        given = form_value(form, "jeton")
        if not cookie or not given or not hmac.compare_digest(cookie[0], given):
            resp.status = falcon.HTTP_403
            return self.show(
                req,
                resp,
                ["Le formulaire a expiré : recommencez (les cookies doivent être permis)."],
                siret,
                mode,
            )
        who = f"{req.remote_addr}|{siret if mode == 'mot-de-passe' else 'cle'}"
        wait = self.site.sign_in_limiter.wait(who)
        if wait:
            resp.status = falcon.HTTP_429
            resp.set_header("Retry-After", str(int(wait) + 1))
            return self.show(
                req,
                resp,
                [f"Trop d'essais : réessayez dans {int(wait) + 1} seconde(s)."],
                siret,
                mode,
            )
        sessions = self.services.sessions
        if mode == "cle":
            opened = sessions.sign_in_with_key(form_value(form, "cle"))
            refused = "Clé d'API inconnue, révoquée ou expirée."
        else:
            opened = sessions.sign_in_with_password(siret, form_value(form, "mot_de_passe"))
            refused = "SIRET ou mot de passe incorrect."
        if opened is not None and opened[1].principal.is_auditor:
            sessions.sign_out(opened[1])
            opened, refused = (
                None,
                (
                    "Une clé d'auditeur consulte l'archive par l'API (GET /v1/archive/export), "
                    "pas par ces pages."
                ),
            )
        if opened is None:
            resp.status = falcon.HTTP_401
            resp.set_header("WWW-Authenticate", 'Bearer realm="facture-gateway"')
            return self.show(req, resp, [refused], siret, mode)
        token, session = opened
        self.site.set_session_cookie(resp, token)
        resp.unset_cookie(LOGIN_CSRF_COOKIE, path=SIGN_IN)
        target = safe_next(form_value(form, "suite")) or home_of(session.principal)
        resp.status = falcon.HTTP_303
        resp.location = target


class SignOutPage(Page):
    role = "any"

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.services.sessions.sign_out(session_of(req))
        self.site.clear_session_cookie(resp)
        resp.status = falcon.HTTP_303
        resp.location = f"{SIGN_IN}?{urlencode({'au-revoir': ''})}"


class StaticFile(Page):
    """The pages' CSS and script: only the files shipped in ``static/``."""

    role = None

    def __init__(self, site: Site):
        super().__init__(site)
        self.files = {path.name: path for path in STATIC.iterdir() if path.is_file()}

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        path = self.files.get(name)
        if path is None:
            raise falcon.HTTPNotFound()
        resp.content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        resp.data = path.read_bytes()
        resp.cache_control = ["public", "max-age=3600"]


def routes(site: Site) -> list[tuple[str, object]]:
    return [
        ("/app", RootPage(site)),
        (SIGN_IN, SignInPage(site)),
        ("/app/deconnexion", SignOutPage(site)),
        ("/app/static/{name}", StaticFile(site)),
    ]

"""What every page shares: the templates, the session, CSRF, redirects and errors.

A page is a Falcon resource whose class derives from :class:`Page`. The API's key check
lets it through (``auth_required = False``); :class:`SessionMiddleware` puts the browser's
session on ``req.context`` instead, sends a visitor without one to the sign-in page, keeps
each page to its role, and refuses any form posted without the session's CSRF token.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import quote, urlencode

import falcon
import jinja2
from markupsafe import Markup

from gateway import lifecycle
from gateway.errors import DomainError, Finding
from gateway.french import euros, french_number
from gateway.logs import get_logger
from gateway.ratelimit import RateLimiter
from gateway.services import Services
from gateway.services.sessions import WebSession
from gateway.times import PARIS

log = get_logger(__name__)

HERE = Path(__file__).parent
#: Pages load their own CSS and scripts and nothing else: no CDN, no inline script.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'self'; frame-src 'self'; base-uri 'none'"
)
CSRF_FIELD = "csrf"
URLENCODED = "application/x-www-form-urlencoded"
#: An urlencoded form is a few fields: its body is read whole, so it is bounded.
FORM_LIMIT = 256 * 1024
#: Where a visitor signs in (and is sent back from, with ``?suite=``).
SIGN_IN = "/app/connexion"
LOGIN_CSRF_COOKIE = "fg_login"

#: Each corrective action's page, under its invoice's (``/app/factures/{id}/<page>``).
ACTION_PAGES = {
    lifecycle.RETRY: "renvoyer",
    lifecycle.RECYCLE: "recycler",
    lifecycle.COMPLETE: "completer",
    lifecycle.CORRECT: "corriger",
    lifecycle.CREDIT_NOTE: "avoir",
    lifecycle.MANUAL_DEPOSIT: "depot-manuel",
}

MONTHS = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


def paris_time(value: datetime | str | None, with_time: bool = True) -> str:
    """``3 déc. 2026 à 10 h 05`` (Paris time), from a datetime or an ISO 8601 string."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(PARIS)
    day = f"{local.day} {MONTHS[local.month - 1]} {local.year}"
    return f"{day} à {local.hour} h {local.minute:02d}" if with_time else day


def money(value: str | Decimal | None, currency: str = "EUR") -> str:
    if value in (None, ""):
        return ""
    try:
        return euros(Decimal(value), currency)
    except InvalidOperation:
        return str(value)


def siret(value: str | None) -> str:
    """``213 100 017 00013``: a SIRET grouped as the portal prints it."""
    if not value or len(value) != 14:
        return value or ""
    return f"{value[:3]} {value[3:6]} {value[6:9]} {value[9:]}"


def build_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        paris_time=paris_time,
        day=lambda value: paris_time(value, with_time=False),
        money=money,
        number=lambda value: french_number(Decimal(value)) if value not in (None, "") else "",
        siret=siret,
        status_label=lambda status: lifecycle.STATUS_LABELS.get(status, status),
        action_label=lambda action: lifecycle.ACTION_BUTTONS.get(action, action),
        action_path=lambda action: ACTION_PAGES.get(action, action),
        urlquote=lambda value: quote(str(value), safe=""),
    )
    env.globals.update(urlencode=urlencode, Markup=Markup)
    return env


class Site:
    """The pages' shared parts, built once per process with the services."""

    def __init__(self, services: Services):
        self.services = services
        self.config = services.config
        self.templates = build_templates()
        web = services.config.web
        self.sign_in_limiter = RateLimiter(
            web.sign_in_per_minute, web.sign_in_burst, services.clock
        )
        self.cookie_name = "__Host-fg_session" if web.secure_cookie else "fg_session"

    def render(self, req: falcon.Request, resp: falcon.Response, template: str, **context):
        """Answer the page ``template`` with the session's parts (menu, CSRF token, the
        message left by the last form) and ``context``."""
        session: WebSession | None = getattr(req.context, "web_session", None)
        member = None
        if session is not None and session.principal.member_id:
            member = self.services.members.row(session.principal.member_id)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self.templates.get_template(template).render(
            session=session,
            principal=session.principal if session else None,
            member=member,
            csrf_token=session.csrf_token if session else None,
            flash=self.services.sessions.take_flash(session) if session else None,
            path=req.path,
            **context,
        )

    def redirect(
        self, resp: falcon.Response, location: str, flash: str | None = None, req=None
    ) -> None:
        """See-other to ``location`` (after a form), leaving ``flash`` for that page."""
        if flash and req is not None and getattr(req.context, "web_session", None):
            self.services.sessions.flash(req.context.web_session, flash)
        raise falcon.HTTPSeeOther(location)

    def set_session_cookie(self, resp: falcon.Response, token: str) -> None:
        resp.set_cookie(
            self.cookie_name,
            token,
            path="/",
            secure=self.config.web.secure_cookie,
            http_only=True,
            same_site="Strict",
        )

    def clear_session_cookie(self, resp: falcon.Response) -> None:
        resp.unset_cookie(self.cookie_name, path="/", same_site="Strict")

    def new_login_token(self, resp: falcon.Response) -> str:
        """The sign-in form's CSRF token: no session exists yet, so it is double-submitted
        (a cookie, and the same value in the form)."""
        token = secrets.token_urlsafe(24)
        resp.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            path=SIGN_IN,
            secure=self.config.web.secure_cookie,
            http_only=True,
            same_site="Strict",
            max_age=3600,
        )
        return token


class Page:
    """A web page: ``role`` is who may see it (``member``: a bookshop; ``admin``: the
    association; ``any``: whoever is signed in; None: anyone, signed in or not)."""

    auth_required = False
    content_security_policy = PAGE_POLICY
    role: str | None = "member"

    def __init__(self, site: Site):
        self.site = site
        self.services = site.services


def session_of(req: falcon.Request) -> WebSession:
    return req.context.web_session


def member_of(req: falcon.Request) -> str:
    return session_of(req).principal.member_id


def findings_by_field(findings: list[Finding] | list[dict]) -> dict[str, list[str]]:
    """The messages of ``findings`` under their field ("" for those of no field), for a
    form that shows each beside its input."""
    shown: dict[str, list[str]] = {}
    for finding in findings:
        item = finding if isinstance(finding, dict) else finding.as_dict()
        shown.setdefault(item.get("field") or "", []).append(item["message"])
    return shown


class SessionMiddleware:
    """Resolve the browser's session for pages; guard their roles and their forms."""

    def __init__(self, site: Site):
        self.site = site

    def process_resource(self, req, resp, resource, params) -> None:
        if not isinstance(resource, Page):
            return
        if req.method == "POST" and (req.content_type or "").startswith(URLENCODED):
            # Without a length, Falcon reads no body (bounded_stream): nothing to bound.
            if (req.content_length or 0) > FORM_LIMIT:
                raise falcon.HTTPContentTooLarge(
                    title="request.too_large", description="Formulaire trop volumineux."
                )
        token = req.get_cookie_values(self.site.cookie_name)
        session = self.site.services.sessions.current(token[0] if token else None)
        req.context.web_session = session
        if session is not None:
            req.context.principal = session.principal
        if resource.role is None:
            return
        if session is None:
            if req.method == "GET":
                raise falcon.HTTPSeeOther(f"{SIGN_IN}?{urlencode({'suite': req.relative_uri})}")
            raise falcon.HTTPSeeOther(SIGN_IN)
        principal = session.principal
        if resource.role == "admin" and principal.role != "admin":
            raise PageNotFound()
        if resource.role == "member" and principal.member_id is None:
            raise falcon.HTTPSeeOther("/app/admin")
        if req.method == "POST" and not session.csrf_matches(self.form_token(req)):
            raise CsrfRefused()

    @staticmethod
    def form_token(req: falcon.Request) -> str | None:
        """The token a form carries: its field in an urlencoded form (bounded above), else
        the form's address (``?csrf=``: multipart uploads, whose body the page reads within
        its own limit), else the ``X-CSRF-Token`` header."""
        if req.content_type and req.content_type.startswith(URLENCODED):
            value = req.get_media().get(CSRF_FIELD)
            return value if isinstance(value, str) else None
        return req.get_param(CSRF_FIELD) or req.get_header("X-CSRF-Token")

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        if isinstance(resource, Page) and getattr(req.context, "web_session", None):
            resp.set_header("Cache-Control", "no-store")


class PageNotFound(Exception):
    """A page that does not exist for this visitor (another member's, or an admin page)."""


class CsrfRefused(Exception):
    """A form posted without the session's token."""


class PageErrors:
    """The error handlers of pages: French pages, never JSON."""

    def __init__(self, site: Site, status_of: dict[type[DomainError], int]):
        self.site = site
        self.status_of = status_of

    def refused(self, req, resp, ex, params) -> None:
        """A refusal, with the status the API would answer (``status_of``)."""
        if isinstance(ex, PageNotFound):
            status, title, messages = (
                404,
                "Page introuvable",
                ["Cette page n'existe pas, ou n'est pas la vôtre."],
            )
        elif isinstance(ex, CsrfRefused):
            status, title, messages = (
                403,
                "Formulaire refusé",
                [
                    "Ce formulaire a expiré ou ne vient pas de la passerelle : rechargez la page "
                    "et recommencez."
                ],
            )
        else:
            status = next(code for kind, code in self.status_of.items() if isinstance(ex, kind))
            title = "Page introuvable" if status == 404 else "Opération refusée"
            messages = [finding.message for finding in ex.findings]
        resp.status = falcon.code_to_http_status(status)
        self.site.render(req, resp, "erreur.html", title=title, messages=messages)

    def unexpected(self, req, resp, ex, params) -> None:
        """A fault of the gateway's own: a French page naming the request's id, as the API's
        answer does (the error and its trace go to the log). Rendered without the session,
        which may be what failed."""
        log.exception("http.unexpected_error")
        resp.status = falcon.HTTP_500
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self.site.templates.get_template("erreur.html").render(
            title="Erreur interne",
            messages=[
                "Erreur interne de la passerelle ; elle est journalisée sous l'identifiant de "
                f"requête {req.context.request_id}. Réessayez, ou prévenez l'administrateur."
            ],
            session=None,
            principal=None,
            member=None,
            csrf_token=None,
            flash=None,
            path=req.path,
        )


def form_value(form: dict, name: str) -> str:
    """A form field's text, trimmed ("" when absent or given twice)."""
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""

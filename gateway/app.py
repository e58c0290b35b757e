"""The Falcon application factory: the HTTP layer over the services.

``create_app(config)`` is what gunicorn serves (through ``gateway.wsgi``); tests build
it with their own store, clock or plugins injected, without monkeypatching.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import falcon
import structlog

from gateway import web
from gateway.auth import Principal, authenticate
from gateway.config import Config
from gateway.errors import (
    Conflict,
    Damaged,
    DomainError,
    Finding,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    Unavailable,
    UnsupportedFormat,
)
from gateway.logs import get_logger
from gateway.openapi import build_spec, operation_of
from gateway.ratelimit import RateLimiter
from gateway.resources import (
    actions,
    admin,
    archive,
    audit,
    corrections,
    costs,
    customers,
    deposits,
    directory,
    events,
    health,
    inbound,
    invoices,
    members,
    print_batches,
    webhooks,
)
from gateway.services import Services, build_services
from gateway.services.audit import AuditService
from gateway.store import Store

log = get_logger(__name__)

#: The HTTP status of each kind of refusal; the body is always {"errors", "warnings"}.
STATUS_OF: dict[type[DomainError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    UnsupportedFormat: 415,
    TooLarge: 413,
    Forbidden: 403,
    Unavailable: 503,
    Damaged: 500,
}


class RequestContextMiddleware:
    """Give every request an id (echoed in ``X-Request-Id``) bound to every log line."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header("X-Request-Id") or ""
        request_id = (
            given if 0 < len(given) <= 64 and given.replace("-", "").isalnum() else uuid.uuid4().hex
        )
        req.context.request_id = request_id
        req.context.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        resp.set_header("X-Request-Id", req.context.request_id)
        log.info(
            "http.request",
            method=req.method,
            path=req.path,
            status=resp.status_code if hasattr(resp, "status_code") else resp.status,
            duration_ms=round((time.perf_counter() - req.context.started) * 1000, 1),
        )
        structlog.contextvars.clear_contextvars()


#: On every answer, refusals included: JSON is never sniffed, framed, nor leaks a referrer.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


class SecurityHeadersMiddleware:
    """Add :data:`SECURITY_HEADERS` (a web page has its own content policy, and may frame
    its own documents); an answer to a request carrying a key is a member's data: no cache
    may keep it."""

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        resp.set_headers(SECURITY_HEADERS)
        policy = getattr(resource, "content_security_policy", None)
        if policy:
            resp.set_header("Content-Security-Policy", policy)
            resp.set_header("X-Frame-Options", "SAMEORIGIN")
        if req.auth:
            resp.set_header("Cache-Control", "no-store")


class AuthMiddleware:
    """Authenticate ``Authorization: Bearer <key>``; resources opt out with ``auth_required``.

    Every request an auditor key makes, served or refused, is journaled once answered; an
    answer that cannot be journaled is not served (503)."""

    def __init__(
        self,
        store: Store,
        config: Config,
        clock: Callable[[], datetime],
        audit: AuditService,
    ):
        self.store = store
        self.config = config
        self.clock = clock
        self.audit = audit

    def authenticate(self, req) -> Principal | None:
        return authenticate(
            self.store, req.get_header("Authorization"), self.clock(), self.config.admin_api_key
        )

    def process_resource(self, req, resp, resource, params) -> None:
        if resource is None:
            return
        if not getattr(resource, "auth_required", True):
            if getattr(resource, "auth_optional", False):  # a key may show more, none is needed
                req.context.principal = self.authenticate(req)
            return
        principal = self.authenticate(req)
        if principal is None:
            raise falcon.HTTPUnauthorized(
                title="auth.required",
                description=(
                    "Clé d'API absente, inconnue ou expirée (en-tête Authorization: Bearer <clé>)."
                ),
                challenges=["Bearer"],
            )
        req.context.principal = principal
        req.context.invoice_id = params.get("invoice_id")
        structlog.contextvars.bind_contextvars(
            member_id=principal.member_id, key_id=principal.key_id
        )
        if req.method not in ("GET", "HEAD"):
            principal.require_write()

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        principal = getattr(req.context, "principal", None)
        if resource is None:  # no such path: process_resource was not called
            principal = self.authenticate(req)
        if principal is None or not principal.is_auditor:
            return
        try:
            self.audit.record_auditor_request(
                principal,
                method=req.method,
                path=req.path,
                query=req.query_string,
                status=resp.status_code,
                invoice_id=getattr(req.context, "invoice_id", None),
            )
        except Exception:
            # A read that is not journaled must not happen: nothing of the answer leaves.
            log.exception("audit.journal_failed", path=req.path)
            resp.text = resp.data = resp.stream = None
            resp.content_type = falcon.MEDIA_JSON
            for header in ("Content-Disposition", "X-Content-SHA256"):
                resp.delete_header(header)
            unjournaled = Unavailable.of(
                "journal.unavailable",
                "Le journal de l'archive ne peut pas être écrit : la consultation n'est pas "
                "servie, car toute lecture d'un auditeur doit y être inscrite. Réessayez plus "
                "tard.",
            )
            handle_domain_error(req, resp, unjournaled, {})


class RateLimitMiddleware:
    """Answer 429 ``rate.limited`` to a member over its rate; the admin and unauthenticated
    routes (health, the OpenAPI document) are not counted."""

    def __init__(self, limiter: RateLimiter):
        self.limiter = limiter

    def process_resource(self, req, resp, resource, params) -> None:
        principal = getattr(req.context, "principal", None)
        if principal is None or principal.member_id is None:
            return
        if not getattr(resource, "auth_required", True):  # health, even with a key
            return
        wait = self.limiter.wait(principal.member_id)
        if wait:
            raise falcon.HTTPTooManyRequests(
                title="rate.limited",
                description=(
                    "Trop de requêtes pour ce membre : réessayez dans "
                    f"{math.ceil(wait)} seconde(s) (en-tête Retry-After)."
                ),
                retry_after=math.ceil(wait),
            )


class QueryMiddleware:
    """Refuse query parameters the operation does not take, as its ``@operation`` declares
    them (the OpenAPI document lists the same): a misspelt filter must not return all."""

    def process_resource(self, req, resp, resource, params) -> None:
        described = operation_of(resource, req.method) if resource is not None else None
        if described is None:
            return
        refused = [
            Finding(
                code="field.unknown",
                field=name,
                message=f"Paramètre « {name} » inconnu sur cette route (paramètres acceptés : "
                + (", ".join(sorted(described.query)) or "aucun")
                + ").",
            )
            for name in sorted(req.params)
            if name not in described.query
        ]
        if refused:
            raise InvalidInput(refused)


HTTP_MESSAGES = {
    404: ("not_found", "Ressource introuvable."),
    405: ("method_not_allowed", "Méthode non permise sur cette ressource."),
    415: ("format.unsupported", "Type de contenu non pris en charge."),
}


def handle_domain_error(req, resp, ex: DomainError, params) -> None:
    status = next(code for kind, code in STATUS_OF.items() if isinstance(ex, kind))
    resp.status = falcon.code_to_http_status(status)
    resp.media = ex.answer()
    if ex.retry_after is not None:
        resp.set_header("Retry-After", str(ex.retry_after))


def serialize_http_error(req, resp, ex: falcon.HTTPError) -> None:
    code, message = HTTP_MESSAGES.get(
        ex.status_code, (ex.title or "http.error", ex.description or ex.title)
    )
    if ex.status_code == 401:
        code, message = "auth.required", ex.description
    elif ex.status_code not in HTTP_MESSAGES and ex.description:
        message = ex.description
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {
        "errors": [{"code": code, "field": None, "message": message, "severity": "error"}]
    }


def handle_unexpected(req, resp, ex: Exception, params) -> None:
    if isinstance(ex, falcon.HTTPError):
        raise ex
    log.exception("http.unexpected_error")
    resp.status = falcon.HTTP_500
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {
        "errors": [
            {
                "code": "internal.error",
                "field": None,
                "message": (
                    "Erreur interne de la passerelle ; elle est journalisée sous l'identifiant "
                    f"de requête {req.context.request_id}."
                ),
            }
        ]
    }


def create_app(config: Config, services: Services | None = None) -> falcon.App:
    """Return the WSGI application serving the REST contract v1."""
    services = services or build_services(config)
    limit = config.max_body_bytes
    site = web.Site(services)
    middleware = [
        RequestContextMiddleware(),
        SecurityHeadersMiddleware(),
        AuthMiddleware(services.store, config, services.clock, services.audit),
        web.SessionMiddleware(site),
    ]
    if config.rate_limit_per_minute:
        limiter = RateLimiter(config.rate_limit_per_minute, config.rate_limit_burst, services.clock)
        middleware.append(RateLimitMiddleware(limiter))
    app = falcon.App(middleware=[*middleware, QueryMiddleware()])
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = True
    pages = web.PageErrors(site, STATUS_OF)

    def unexpected(req, resp, ex, params) -> None:
        on_app = req.path.startswith("/app") and not isinstance(ex, falcon.HTTPError)
        (pages.unexpected if on_app else handle_unexpected)(req, resp, ex, params)

    app.add_error_handler(Exception, unexpected)

    def domain_error(req, resp, ex, params) -> None:
        (pages.refused if req.path.startswith("/app") else handle_domain_error)(
            req, resp, ex, params
        )

    app.add_error_handler(DomainError, domain_error)
    app.add_error_handler((web.PageNotFound, web.CsrfRefused), pages.refused)
    app.set_error_serializer(serialize_http_error)

    for path, resource in [*route_table(services, limit), *web.routes(site)]:
        app.add_route(path, resource)
    return app


def route_table(services: Services, limit: int) -> list[tuple[str, object]]:
    """Return every route, declared once: ``create_app`` mounts them, the OpenAPI document
    describes them, and the access matrix test walks them."""
    openapi = health.OpenApiResource()
    routes = [
        ("/v1/health", health.HealthResource(services.health)),
        ("/v1/openapi.json", openapi),
        ("/v1/members", members.MembersResource(services.members, limit)),
        ("/v1/members/{member_id}", members.MemberResource(services.members, limit)),
        (
            "/v1/members/{member_id}/password",
            members.MemberPasswordResource(services.members, limit),
        ),
        ("/v1/members/{member_id}/keys", members.MemberKeysResource(services.members, limit)),
        ("/v1/members/{member_id}/keys/{key_id}", members.MemberKeyResource(services.members)),
        (
            "/v1/members/{member_id}/keys/{key_id}/rotate",
            members.MemberKeyRotateResource(services.members),
        ),
        ("/v1/customers", customers.CustomersResource(services.customers)),
        ("/v1/customers/{siret}", customers.CustomerResource(services.customers, limit)),
        ("/v1/customers/{siret}/route", customers.CustomerRouteResource(services.customers)),
        ("/v1/invoices", invoices.InvoicesResource(services.invoices, limit)),
        ("/v1/invoices/validate", invoices.ValidateResource(services.invoices, limit)),
        ("/v1/invoices/{invoice_id}", invoices.InvoiceResource(services.invoices)),
        ("/v1/invoices/{invoice_id}/retry", invoices.RetryResource(services.invoices)),
        ("/v1/invoices/{invoice_id}/recycle", actions.RecycleResource(services.actions, limit)),
        ("/v1/invoices/{invoice_id}/complete", actions.CompleteResource(services.actions, limit)),
        (
            "/v1/invoices/{invoice_id}/correct",
            corrections.CorrectResource(services.corrections, limit),
        ),
        (
            "/v1/invoices/{invoice_id}/credit-note",
            corrections.CreditNoteResource(services.corrections, limit),
        ),
        (
            "/v1/invoices/{invoice_id}/documents/{name}",
            invoices.DocumentResource(services.invoices),
        ),
        ("/v1/invoices/{invoice_id}/audit", audit.InvoiceAuditResource(services.audit)),
        ("/v1/events", events.EventsResource(services.events)),
        ("/v1/webhooks", webhooks.WebhooksResource(services.webhooks, limit)),
        ("/v1/webhooks/{webhook_id}", webhooks.WebhookResource(services.webhooks)),
        (
            "/v1/webhooks/{webhook_id}/deliveries",
            webhooks.WebhookDeliveriesResource(services.webhooks),
        ),
        (
            "/v1/webhooks/{webhook_id}/redeliver",
            webhooks.WebhookRedeliverResource(services.webhooks),
        ),
        ("/v1/admin/events", admin.AdminEventsResource(services.alerts)),
        ("/v1/directory/{siret}", directory.DirectoryResource(services.structures)),
        ("/v1/costs", costs.CostsResource(services.costs)),
        ("/v1/archive/export", archive.ArchiveExportResource(services.archive)),
        # The manual deposit and paper outlets (docs/outlets/manual_pdf.md, paper.md).
        (
            "/v1/invoices/{invoice_id}/manual-deposit",
            deposits.ManualDepositResource(services.deposits, limit),
        ),
        (
            "/v1/print-batches/{date}",
            print_batches.PrintBatchResource(services.print_batches),
        ),
        (
            "/v1/print-batches/{date}/pdf",
            print_batches.PrintBatchPdfResource(services.print_batches),
        ),
        (
            "/v1/print-batches/{date}/confirm",
            print_batches.PrintBatchConfirmResource(services.print_batches),
        ),
        # Suppliers' invoices received through the platform (docs/inbound.md).
        ("/v1/inbound-invoices", inbound.InboundInvoicesResource(services.inbound)),
        ("/v1/inbound-invoices/{inbound_id}", inbound.InboundInvoiceResource(services.inbound)),
        (
            "/v1/inbound-invoices/{inbound_id}/original",
            inbound.InboundOriginalResource(services.inbound),
        ),
        ("/v1/inbound-invoices/{inbound_id}/pdf", inbound.InboundPdfResource(services.inbound)),
        (
            "/v1/inbound-invoices/{inbound_id}/status",
            inbound.InboundStatusResource(services.inbound, limit),
        ),
        (
            "/v1/inbound/notify/{member_id}/{outlet}",
            inbound.InboundNotifyResource(services.inbound),
        ),
    ]
    openapi.spec = build_spec(routes)
    return routes

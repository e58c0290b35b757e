"""The way in: parse → enrich → validate → route → persist.

Nothing is written unless every invoice of a submission is valid; then each invoice, its
first history entry, its documents (the original as received, the rendering that will be
sent), its event and the idempotency key's answer are written in one transaction. The key
itself is claimed first, in a transaction of its own, so that concurrent requests see it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway import budget, lifecycle, mentions, routing
from gateway.auth import new_id
from gateway.codec import invoice_to_data
from gateway.config import Config
from gateway.copies import by_email
from gateway.directory import (
    COMPANY,
    OUT_OF_SCOPE,
    PUBLIC,
    UNKNOWN,
    DirectoryEntry,
    DirectoryService,
)
from gateway.errors import (
    Conflict,
    Finding,
    FormatError,
    InvalidInput,
    TooLarge,
    Unavailable,
    UnsupportedFormat,
)
from gateway.formats import MAX_INVOICES, FormatHandler, TooManyInvoices
from gateway.logs import get_logger
from gateway.model import Invoice, InvoiceType
from gateway.outlets import Document
from gateway.plugins import Registry, call_each
from gateway.routing import AUTO, CHORUS, PA, PAPER, Customer, Route, default_route
from gateway.schemas import dump_invoice
from gateway.secretbox import SecretBox
from gateway.store import IDEMPOTENCY_IN_PROGRESS, AlreadyExists, Store, utcnow
from gateway.tenancy import seller_findings
from gateway.validation import (
    decimal_findings,
    errors_of,
    of_invoice,
    validate,
    warnings_of,
    without_overlaps,
)

log = get_logger(__name__)

#: The status kept with an idempotency record: an accepted submission is the only answer
#: recorded (the store's column holds the HTTP code it is replayed with).
ACCEPTED = 202
#: How long a request holds its idempotency key: beyond the web server's time-out (60 s),
#: after which the request is dead (its worker killed) and the key free again.
CLAIM_SECONDS = 120
#: Seconds a caller waits before asking again while the key's first request runs.
RETRY_AFTER = 1


@dataclass(frozen=True)
class Claim:
    """An idempotency key, and the token of the request that claimed it."""

    key: str
    token: str


def in_progress() -> Conflict:
    return Conflict.of(
        "idempotency.in_progress",
        "Une requête avec cette clé d'idempotence est en cours de traitement : renvoyez-la "
        "dans un instant pour obtenir sa réponse.",
        field="Idempotency-Key",
        retry_after=RETRY_AFTER,
    )


def replayed(held: dict, digest: str) -> dict:
    """Answer with the idempotency record that holds the key: its answer, or a refusal
    (another request's key, or its first request still running)."""
    if held["request_hash"] != digest:
        raise Conflict.of(
            "idempotency.conflict",
            "Cette clé d'idempotence a déjà servi pour une autre requête : utilisez une "
            "nouvelle clé pour un nouveau document.",
            field="Idempotency-Key",
        )
    if held["state"] == IDEMPOTENCY_IN_PROGRESS:
        raise in_progress()
    return held["response"]


@dataclass(frozen=True)
class Accepted:
    """A document taken into the outbox: the answer, one invoice's receipt, or
    ``{"invoices": [...]}`` for a document that holds several."""

    body: dict

    @property
    def receipts(self) -> list[dict]:
        return self.body.get("invoices", [self.body])


@dataclass
class RoutePlan:
    """A route and what the directory says of the buyer: ``entry`` is what the rule sets
    judge (None when the route does not go through the platform's directory), ``seen``
    what the directory said whatever the route (the route preview shows it)."""

    route: Route | None
    entry: DirectoryEntry | None
    seen: DirectoryEntry | None
    findings: list[Finding]


@dataclass
class Prepared:
    """An invoice ready to be accepted: its route, its rendering and what validation found."""

    invoice: Invoice
    customer: Customer | None
    route: Route | None
    document: Document | None
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return errors_of(self.findings)

    @property
    def warnings(self) -> list[Finding]:
        return warnings_of(self.findings)


def request_hash(body: bytes, media_type: str, format_name: str | None) -> str:
    digest = hashlib.sha256()
    for part in (media_type.encode(), (format_name or "").encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


#: Media types that name no format (none, curl's default, bytes, text, XML): the document
#: is recognised by its content. Any other must be one a format declares.
GENERIC_MEDIA_TYPES = frozenset(
    {
        "",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/xml",
        "text/xml",
    }
)


def says_no_format(media_type: str) -> bool:
    """Whether ``media_type`` leaves the format to sniffing (``+xml``, ``+json`` too)."""
    return media_type in GENERIC_MEDIA_TYPES or media_type.endswith(("+xml", "+json"))


def too_many_invoices() -> TooLarge:
    return TooLarge.of(
        "request.too_large",
        f"Le document contient plus de {MAX_INVOICES} factures : envoyez-les en plusieurs "
        f"fois ({MAX_INVOICES} au plus par document).",
    )


def lines_finding(number: str | None, count: int, limit: int, field: str) -> Finding:
    named = f"La facture « {number} »" if number else "La facture"
    return Finding(
        code="request.too_large",
        field=field,
        message=f"{named} compte {count} lignes, {limit} au plus : scindez-la en plusieurs "
        "factures.",
    )


def over_budget(ex: budget.BudgetExceeded, heavy_lines: int) -> TooLarge | Unavailable:
    """The refusal of a document that would cost more than its budget."""
    if isinstance(ex, budget.TooManyLines):
        return TooLarge([lines_finding(ex.number, ex.count, ex.limit, ex.field)])
    if isinstance(ex, budget.Busy):
        return Unavailable.of(
            "server.busy",
            f"La passerelle traite déjà d'autres documents de plus de {heavy_lines} lignes : "
            f"renvoyez celui-ci dans {ex.retry_after} secondes (en-tête Retry-After), il sera "
            "traité sans retenir les autres requêtes.",
            retry_after=ex.retry_after,
        )
    return TooLarge.of(
        "request.over_time",
        f"Le document n'a pas pu être lu et contrôlé dans le temps accordé à un document "
        f"({ex.seconds:g} secondes) ; rien n'a été enregistré. Scindez-le en documents plus "
        "petits.",
    )


def original_document(handler: FormatHandler, data: bytes) -> Document:
    """Return the document as received, named and typed after its format."""
    extension = handler.extensions[0] if handler.extensions else ".bin"
    media_type = handler.media_types[0] if handler.media_types else "application/octet-stream"
    return Document(name=f"original{extension}", media_type=media_type, content=data)


def lines_required_finding(route: Route) -> Finding:
    return Finding(
        code="invoice.lines_required",
        field="lines",
        message=(
            f"La facture ne détaille aucune ligne : le canal « {route.channel} » exige le "
            "détail des lignes (au moins une, règle BR-16 d'EN 16931). Si elle vient d'un "
            "Factur-X MINIMUM ou BASIC WL, exportez-la au profil EN 16931 (ou BASIC) depuis "
            "votre logiciel."
        ),
    )


#: The code of a number another invoice of the member's holds.
DUPLICATE = "invoice.duplicate"


def duplicate_finding(number: str) -> Finding:
    return Finding(
        code=DUPLICATE,
        field="number",
        message=(
            f"Le numéro de facture « {number} » a déjà été utilisé par ce fournisseur : chaque "
            "facture doit porter un numéro unique. Seule une facture refusée avant d'atteindre "
            "l'acheteur libère son numéro (corrigez-la plutôt : action « correct »)."
        ),
    )


def unknown_invoice_finding(number: str) -> Finding:
    return Finding(
        code="credit_note.unknown_invoice",
        severity="warning",
        field="preceding_invoice.number",
        message=(
            f"L'avoir annule la facture « {number} », qui n'est pas passée par la passerelle "
            "pour ce fournisseur : vérifiez ce numéro, qui doit être celui de la facture "
            "déposée sur Chorus Pro."
        ),
    )


def amounts_finding(invoice: Invoice) -> Finding | None:
    """Return a refusal when the invoice's amounts are too large to be computed to the cent
    (``Decimal`` refuses to round beyond its precision)."""
    try:
        invoice.with_computed_amounts()
        return None
    except ArithmeticError:
        pass
    field = "totals"
    for index, line in enumerate(invoice.lines):
        try:
            line.computed_amount()
        except ArithmeticError:
            field = f"lines[{index}]"
            break
    return Finding(
        code="field.invalid",
        field=field,
        message="Quantité, prix ou montant trop grand : il ne peut pas être calculé au centime.",
    )


#: Characters XML 1.0 cannot carry: no rendering of the invoice could hold them.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _text_fault(value: Any, path: str = "") -> tuple[str, str] | None:
    """Return (field, character) of the first text holding a character XML refuses."""
    if isinstance(value, str):
        found = NOT_XML.search(value)
        return (path, found.group()) if found else None
    children = (
        ((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
        if isinstance(value, dict)
        else ((f"{path}[{index}]", item) for index, item in enumerate(value))
        if isinstance(value, list)
        else ()
    )
    return next(filter(None, (_text_fault(item, child) for child, item in children)), None)


def _texts(value: Any) -> Iterator[str]:
    """Every text of the model's ``value``, dataclasses and containers walked through."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from _texts(getattr(value, field.name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def text_finding(invoice: Invoice) -> Finding | None:
    """Return a refusal naming the first field that holds a control character."""
    if not any(NOT_XML.search(text) for text in _texts(invoice)):
        return None  # the common case: no need to name the field the way clients do
    fault = _text_fault(dump_invoice(invoice))
    if fault is None:
        return None
    field, character = fault
    return Finding(
        code="field.invalid",
        field=field,
        message=f"Caractère de contrôle interdit (U+{ord(character):04X}) : retirez-le du texte.",
    )


def read_faults(invoice: Invoice) -> list[Finding]:
    """What refuses an invoice as read, before it is judged: amounts that can't be computed
    to the cent, text XML can't carry, amounts of more decimals than EN 16931 allows."""
    fault = amounts_finding(invoice) or text_finding(invoice)
    return [fault] if fault else decimal_findings(invoice)


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        config: Config,
        secretbox: SecretBox,
        directory: DirectoryService,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.registry = registry
        self.pm = registry.pm
        self.config = config
        self.secretbox = secretbox
        self.directory = directory
        self.clock = clock
        self.slots = (
            budget.HeavySlots(config.var_dir / "heavy", config.heavy_documents)
            if config.heavy_documents > 0
            else None
        )

    @contextlib.contextmanager
    def budgeted(self) -> Iterator[None]:
        """Read and judge one document within its budget (``gateway.budget``); a document
        over it is refused with the domain error that says which limit."""
        config = self.config
        limits = budget.Budget(
            max_lines=config.max_invoice_lines,
            seconds=config.max_document_seconds or None,
            heavy_lines=config.heavy_lines,
            slots=self.slots,
        )
        try:
            with budget.within(limits):
                yield
        except budget.BudgetExceeded as ex:
            log.info("document.over_budget", reason=type(ex).__name__, lines=limits.lines)
            raise over_budget(ex, config.heavy_lines) from ex

    # --- parse -----------------------------------------------------------------------------

    def choose_format(self, data: bytes, media_type: str, format_name: str | None) -> FormatHandler:
        if format_name:
            handler = self.registry.format_named(format_name)
            if handler is None:
                raise UnsupportedFormat.of(
                    "format.unsupported",
                    f"Format « {format_name} » inconnu. Formats disponibles : "
                    + ", ".join(sorted(self.registry.formats))
                    + ".",
                    field="format",
                )
            return handler
        media_type = media_type.split(";")[0].strip().lower()
        handler = self.registry.format_for_media_type(media_type) if media_type else None
        if handler is None and not says_no_format(media_type):
            raise UnsupportedFormat.of(
                "format.unsupported",
                f"Le type de contenu « {media_type} » ne correspond à aucun format installé. "
                "Indiquez celui du document, ou le paramètre ?format= (formats disponibles : "
                + ", ".join(sorted(self.registry.formats))
                + ").",
                field="Content-Type",
            )
        handler = handler or self.registry.sniff(data)
        if handler is None:
            raise UnsupportedFormat.of(
                "format.unsupported",
                "Format de document non reconnu. Indiquez-le par l'en-tête Content-Type ou le "
                "paramètre ?format= (formats disponibles : "
                + ", ".join(sorted(self.registry.formats))
                + ").",
                field="Content-Type",
            )
        return handler

    def read(
        self, data: bytes, media_type: str, format_name: str | None
    ) -> tuple[FormatHandler, list[Invoice]]:
        """Return the format handler and the invoices the document holds."""
        handler = self.choose_format(data, media_type, format_name)
        try:
            invoices = handler.parse(data)
        except TooManyInvoices as ex:
            raise too_many_invoices() from ex
        except FormatError as ex:
            raise InvalidInput(ex.as_findings()) from ex
        except budget.BudgetExceeded:
            raise
        except Exception as ex:  # a plugin bug must read as a refusal, not a 500
            log.exception("format.parse_crashed", format=handler.name)
            raise InvalidInput.of(
                "format.unreadable",
                f"Le document n'a pas pu être lu par le format « {handler.name} ».",
            ) from ex
        if not invoices:
            raise InvalidInput.of("format.unreadable", "Le document ne contient aucune facture.")
        if len(invoices) > MAX_INVOICES:
            raise too_many_invoices()
        self.check_line_counts(invoices)
        for invoice in invoices:  # formats that did not count them early: counted now
            budget.check_lines(len(invoice.lines), invoice.number)
        faults = [read_faults(invoice) for invoice in invoices]
        if any(faults):
            count = len(invoices)
            raise InvalidInput(
                [
                    finding
                    for index, found in enumerate(faults)
                    for finding in of_invoice(found, index, count)
                ],
            )
        return handler, invoices

    def check_line_counts(self, invoices: list[Invoice]) -> None:
        """Refuse invoices of more lines than ``max_invoice_lines`` before any validation,
        the part of the work that grows with the lines."""
        limit = self.config.max_invoice_lines
        several = len(invoices) > 1
        findings = [
            lines_finding(
                invoice.number,
                len(invoice.lines),
                limit,
                f"invoices[{index}].lines" if several else "lines",
            )
            for index, invoice in enumerate(invoices)
            if len(invoice.lines) > limit
        ]
        if findings:
            raise TooLarge(findings)

    # --- enrich, route, render, validate ----------------------------------------------------------

    def member_settings(self, member_id: str) -> dict:
        member = self.store.get_member(member_id)
        return self.secretbox.open(member["settings_encrypted"]) if member else {}

    def member_siret(self, member_id: str) -> str | None:
        member = self.store.get_member(member_id)
        return member["siret"] if member else None

    def customer(self, member_id: str | None, siret: str | None) -> Customer | None:
        row = self.store.get_customer(member_id, siret) if siret and member_id else None
        if row is None:
            return None
        return Customer(
            siret=row["siret"],
            name=row["name"],
            channel=row["channel"],
            copies=row["copies"],
            member_id=member_id,
        )

    def lookup_directory(
        self, route: Route | None, siret: str | None, fresh: bool = False
    ) -> tuple[DirectoryEntry | None, list[Finding]]:
        """Look the buyer up when its route goes through the platform's directory."""
        outlet = self.registry.outlets.get(route.outlet) if route else None
        if not siret or outlet is None or "directory" not in outlet.capabilities:
            return None, []
        return self.read_directory(siret, fresh)

    def read_directory(
        self, siret: str, fresh: bool = False
    ) -> tuple[DirectoryEntry | None, list[Finding]]:
        """What the Chorus Pro directory says of ``siret``; a warning when it cannot say."""
        try:
            return self.directory.lookup(siret, fresh=fresh), []
        except budget.BudgetExceeded:
            raise
        except Exception as ex:
            log.warning("directory.unreachable", siret=siret, error=repr(ex))
            return None, [
                Finding(
                    code="directory.unreachable",
                    severity="warning",
                    field="buyer.siret",
                    message=(
                        "L'annuaire Chorus Pro n'a pas pu être consulté ; le destinataire sera "
                        "vérifié de nouveau juste avant l'envoi."
                    ),
                )
            ]

    def enrich(
        self,
        invoice: Invoice,
        customer: Customer | None,
        entry: DirectoryEntry | None,
        route: Route | None = None,
    ) -> list[Finding]:
        findings = []
        for plugin, result in call_each(
            self.pm,
            "gateway_enrich_invoice",
            invoice=invoice,
            customer=customer,
            directory_entry=entry,
            route=route,
        ):
            if isinstance(result, Exception):
                findings.append(
                    Finding(
                        code="validation.unavailable",
                        rule=plugin,
                        message=(
                            f"L'extension « {plugin} » n'a pas pu compléter la facture ; "
                            "elle n'est pas envoyée tant qu'elle n'est pas réparée "
                            "(voir les journaux)."
                        ),
                    )
                )
            else:
                findings.extend(result or [])
        return findings

    def route(
        self,
        invoice: Invoice | None,
        customer: Customer | None,
        member_id: str | None = None,
        siret: str | None = None,
    ) -> tuple[Route | None, list[Finding]]:
        channel = customer.channel if customer else self.config.default_channel
        route, findings = None, []
        if channel == AUTO:
            country = invoice.buyer.address.country if invoice else "FR"  # a SIRET is French
            route, findings = self.auto_route(member_id, customer, siret, country)
            channel = route.channel
        if channel not in self.config.channels:
            return None, [
                Finding(
                    code="route.unavailable",
                    field="channel",
                    message=f"Aucune sortie n'est configurée pour le canal « {channel} ».",
                )
            ]
        if route is None:
            route = default_route(customer, self.config.channels, self.config.default_channel)
        try:
            chosen = self.pm.hook.gateway_choose_route(
                invoice=invoice, customer=customer, route=route
            )
        except Exception:
            log.exception("route.plugin_failed")
            return None, [
                Finding(
                    code="route.unavailable",
                    field="channel",
                    message=(
                        "Une extension de routage a échoué : la facture n'est pas acceptée "
                        "tant qu'elle n'est pas réparée (voir les journaux)."
                    ),
                )
            ]
        route = chosen or route
        if route.outlet not in self.registry.outlets:
            return None, [
                Finding(
                    code="route.unavailable",
                    field="channel",
                    message=(
                        f"La sortie « {route.outlet} » du canal « {route.channel} » "
                        "n'est pas installée."
                    ),
                )
            ]
        return route, findings

    def auto_route(
        self, member_id: str | None, customer: Customer | None, siret: str | None, country: str
    ) -> tuple[Route, list[Finding]]:
        """Decide the scope of an invoice to a buyer whose channel is ``auto`` (the 2026
        reform), by the buyer and the directories, in this order:

        - no SIRET (a consumer) or a country other than France: out of the e-invoicing
          scope, the member's ``out_of_scope_channel`` (paper by default);
        - a structure active in the Chorus Pro directory, or one the reform's directory
          names as public: Chorus Pro;
        - a company the reform's directory lists: its approved platform (PA), the route
          carrying the platform and the electronic address (scheme 0225);
        - a directory that cannot be read: the PA, with a warning (checked again before
          sending); a company no directory knows: the out-of-scope channel, with a warning.
        """
        copies = list(customer.copies) if customer else []
        settings = self.member_settings(member_id) if member_id else {}
        elsewhere = routing.out_of_scope_channel(settings)

        def way(channel: str, scope: str, **fields) -> Route:
            outlet = self.config.channels.get(channel, "")
            return Route(channel, outlet, copies, requested_channel=AUTO, scope=scope, **fields)

        if not siret or (country or "FR") != "FR":
            reason = routing.out_of_scope_reason(siret, country, elsewhere)
            return way(elsewhere, OUT_OF_SCOPE, reason=reason), []
        public, findings = self.read_directory(siret)
        if public is not None and public.status != UNKNOWN:
            # An inactive one too: plan_route falls back to paper or refuses, as for chorus.
            return way(CHORUS, PUBLIC, reason=routing.public_reason(public, siret)), findings
        try:
            entry = self.directory.reform_lookup(siret)
        except budget.BudgetExceeded:
            raise
        except Exception as ex:
            log.warning("reform_directory.unreachable", siret=siret, error=repr(ex))
            reason = routing.unreachable_company_reason(siret)
            return way(PA, COMPANY, reason=reason), [*findings, routing.reform_unreachable()]
        if entry is not None and entry.active and entry.kind == PUBLIC:
            return way(CHORUS, PUBLIC, reason=routing.public_reason(entry, siret)), findings
        if entry is not None and entry.active and entry.electronic_address:
            return way(PA, COMPANY, **routing.company_fields(entry)), findings
        reason, warning = routing.recipient_unknown(siret, elsewhere)
        return way(elsewhere, COMPANY, reason=reason), [*findings, warning]

    def plan_route(
        self,
        member_id: str | None,
        invoice: Invoice | None,
        customer: Customer | None,
        siret: str | None,
        outlet: tuple[str, str] | None = None,
    ) -> RoutePlan:
        """Route to ``siret`` (``invoice`` is None for a preview), then let the directory
        have its say: paper instead of a structure Chorus Pro cannot deliver to, when the
        member allows it; a warning for a public buyer routed to paper. ``outlet`` forces
        the way (a credit note follows its invoice): no fallback then."""
        route, findings = self.route(invoice, customer, member_id, siret)
        if route is not None and outlet is not None and outlet[1] in self.registry.outlets:
            route = dataclasses.replace(route, channel=outlet[0], outlet=outlet[1])
        entry, directory_findings = self.lookup_directory(route, siret)
        findings += [f for f in directory_findings if f not in findings]  # auto looked already
        if route is None or outlet is not None:
            return RoutePlan(route, entry, entry, findings)
        if entry is not None and not entry.active:
            settings = self.member_settings(member_id) if member_id else {}
            paper_outlet = self.config.channels.get(PAPER)
            if paper_outlet in self.registry.outlets and routing.paper_fallback_allowed(
                settings, self.config.paper_fallback
            ):
                route, warning = routing.to_paper(route, entry, paper_outlet)
                return RoutePlan(route, None, entry, [*findings, warning])
            route = dataclasses.replace(route, reason=routing.blocked_reason(entry))
            return RoutePlan(route, entry, entry, findings)
        seen = entry
        if route.channel == PAPER and siret:
            seen = self.peek_directory(siret)
            if seen is not None and seen.active:
                findings.append(routing.public_buyer_on_paper(seen))
        return RoutePlan(route, entry, seen, findings)

    def peek_directory(self, siret: str) -> DirectoryEntry | None:
        """What the directory says of ``siret``, for information only: None when it cannot
        say (not installed, unreachable)."""
        try:
            return self.directory.lookup(siret)
        except budget.BudgetExceeded:
            raise
        except Exception as ex:
            log.warning("directory.unreachable", siret=siret, error=repr(ex))
            return None

    def render_for(
        self, route: Route, invoice: Invoice, settings: dict
    ) -> tuple[Document | None, list[Finding]]:
        outlet = self.registry.outlets[route.outlet]
        wanted = outlet.document_format(settings.get(outlet.name, {}))
        if wanted is None:
            return None, []
        renderer_name, profile = wanted
        renderer = self.registry.renderers.get(renderer_name)
        if renderer is None:
            return None, [
                Finding(
                    code="render.unavailable",
                    message=(
                        f"Le rendu « {renderer_name} » demandé par la sortie « {outlet.name} » "
                        "n'est pas installé."
                    ),
                )
            ]
        try:
            content = renderer.render(
                invoice, profile=profile, mentions=mentions.of_settings(settings)
            )
        except budget.BudgetExceeded:
            raise
        except Exception as ex:
            log.exception("render.failed", renderer=renderer_name)
            return None, [
                Finding(
                    code="render.failed",
                    message=f"La facture n'a pas pu être mise au format « {renderer_name} » : {ex}",
                )
            ]
        return Document(
            name=f"facture{renderer.extension}",
            media_type=renderer.media_type,
            content=content,
            profile=profile,
        ), []

    def prepare(
        self,
        member_id: str,
        invoice: Invoice,
        rule_sets: frozenset[str] | None = None,
        original: Document | None = None,
        outlet: tuple[str, str] | None = None,
    ) -> Prepared:
        """Route, render and judge ``invoice``; ``outlet`` (channel, outlet) is the way it
        must take whatever the customer's route says (a credit note follows its invoice)."""
        customer = self.customer(member_id, invoice.buyer.siret)
        plan = self.plan_route(member_id, invoice, customer, invoice.buyer.siret, outlet)
        route, entry, findings = plan.route, plan.entry, plan.findings
        findings += self.enrich(invoice, customer, entry, route)
        budget.checkpoint()
        document = None
        if not invoice.lines and route is not None and not self.takes_lineless(route):
            findings.append(lines_required_finding(route))  # and nothing to render
        elif route is not None:
            document, render_findings = self.render_for(
                route, invoice, self.member_settings(member_id) if member_id else {}
            )
            findings += render_findings
        budget.checkpoint()
        findings += validate(
            self.pm,
            invoice,
            customer=customer,
            directory_entry=entry,
            document=document,
            original=original,
            rule_sets=rule_sets,
        )
        if route is not None and rule_sets is None:
            findings += self.outlet_findings(route, invoice, customer, entry, document, findings)
        if member_id is not None and rule_sets is None:  # chosen rule sets: their codes only
            findings += seller_findings(self.member_siret(member_id), invoice)
        return Prepared(
            invoice=invoice,
            customer=customer,
            route=route,
            document=document,
            findings=without_overlaps(findings, rule_sets),
        )

    def number_taken(self, conn, member_id: str, number: str) -> bool:
        """Whether another invoice of the member holds ``number`` (``lifecycle.holds_number``:
        one refused before any buyer had it leaves it free)."""
        return any(
            lifecycle.holds_number(row)
            for row in self.store.invoices_numbered(conn, member_id, number)
        )

    def outlet_findings(
        self,
        route: Route,
        invoice: Invoice,
        customer: Customer | None,
        entry: DirectoryEntry | None,
        document: Document | None,
        found: list[Finding],
    ) -> list[Finding]:
        """What the rule sets the route's outlet asks for (``Outlet.rule_sets``) find besides
        those that ran already (a rule set that ignores the choice is not counted twice)."""
        asked = getattr(self.registry.outlets.get(route.outlet), "rule_sets", None)
        if not asked:
            return []
        more = validate(
            self.pm,
            invoice,
            customer=customer,
            directory_entry=entry,
            document=document,
            rule_sets=frozenset(asked),
        )
        return [finding for finding in more if finding not in found]

    def takes_lineless(self, route: Route) -> bool:
        return "lineless" in self.registry.outlets[route.outlet].capabilities

    def prepare_all(
        self,
        member_id: str,
        handler: FormatHandler,
        data: bytes,
        invoices: list[Invoice],
        rule_sets: frozenset[str] | None = None,
        outlet: tuple[str, str] | None = None,
    ) -> list[Prepared]:
        """Prepare every invoice of a document; a lone invoice is also judged as received."""
        original = original_document(handler, data) if len(invoices) == 1 else None
        prepared = [
            self.prepare(member_id, invoice, rule_sets, original, outlet) for invoice in invoices
        ]
        numbers = [p.invoice.number for p in prepared]
        cancelled = {
            p.invoice.preceding_invoice.number
            for p in prepared
            if p.invoice.type is InvoiceType.CREDIT_NOTE and p.invoice.preceding_invoice
        }
        taken = set()
        if member_id is not None:
            with self.store.read() as conn:
                taken = {n for n in {*numbers, *cancelled} if self.number_taken(conn, member_id, n)}
        for item in prepared:
            number = item.invoice.number
            if numbers.count(number) > 1 or number in taken:
                item.findings.append(duplicate_finding(number))
            preceding = item.invoice.preceding_invoice
            if (
                member_id is not None
                and item.invoice.type is InvoiceType.CREDIT_NOTE
                and preceding
                and preceding.number not in taken | set(numbers)
            ):
                item.findings.append(unknown_invoice_finding(preceding.number))
        return prepared

    # --- the two entry points -----------------------------------------------------------------

    def dry_run(
        self,
        member_id: str,
        data: bytes,
        media_type: str,
        format_name: str | None,
        rule_sets: frozenset[str] | None = None,
    ) -> dict:
        """Return what ``POST /v1/invoices`` would do, without storing anything."""
        with self.budgeted():
            handler, invoices = self.read(data, media_type, format_name)
            prepared = self.prepare_all(member_id, handler, data, invoices, rule_sets)
        results = []
        for item in prepared:
            results.append(
                {
                    "number": item.invoice.number,
                    "valid": not item.errors,
                    "errors": [f.as_dict() for f in item.errors],
                    "warnings": [f.as_dict() for f in item.warnings],
                    "route": item.route.as_dict() if item.route else None,
                    "totals": dump_invoice(item.invoice.with_computed_amounts())["totals"],
                }
            )
        if len(results) == 1:
            return results[0]
        return {"valid": all(r["valid"] for r in results), "invoices": results}

    def submit(
        self,
        member_id: str,
        data: bytes,
        media_type: str,
        format_name: str | None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """Accept a document into the outbox; raise a DomainError when it is refused.

        With an ``idempotency_key``, the key is claimed before anything else: the same key
        and the same document get the first answer again (nothing is stored twice), or
        ``idempotency.in_progress`` while the first request runs; the same key and another
        document are a Conflict. A refusal is not kept: the key can serve again.
        """
        if not idempotency_key:
            return self._submit(member_id, data, media_type, format_name)
        claim = Claim(idempotency_key, new_id("claim"))
        digest = request_hash(data, media_type, format_name)
        now = self.clock()
        held = self.store.claim_idempotent(
            member_id, claim.key, digest, claim.token, now, now + timedelta(seconds=CLAIM_SECONDS)
        )
        if held is not None:
            return self._replay(held, digest)
        try:
            return self._submit(member_id, data, media_type, format_name, claim)
        except Exception:
            self.store.release_idempotent(member_id, claim.key, claim.token)
            raise

    def _submit(
        self,
        member_id: str,
        data: bytes,
        media_type: str,
        format_name: str | None,
        claim: Claim | None = None,
    ) -> Accepted:
        with self.budgeted():
            handler, invoices = self.read(data, media_type, format_name)
            prepared = self.prepare_all(member_id, handler, data, invoices)
            budget.checkpoint()  # the last one: nothing below stops half-way
        count = len(prepared)
        errors = [
            finding
            for index, item in enumerate(prepared)
            for finding in of_invoice(item.errors, index, count)
        ]
        if errors:
            warnings = [
                w
                for index, item in enumerate(prepared)
                for w in of_invoice(item.warnings, index, count)
            ]
            raise InvalidInput(errors + warnings)
        try:
            return self._persist(member_id, handler, data, prepared, claim)
        except AlreadyExists as ex:
            # A concurrent request took one of these numbers first.
            raise InvalidInput([duplicate_finding(p.invoice.number) for p in prepared]) from ex

    @staticmethod
    def _replay(held: dict, digest: str) -> Accepted:
        return Accepted(replayed(held, digest))

    def _persist(self, member_id, handler, data, prepared, claim: Claim | None) -> Accepted:
        now = self.clock()  # read before the transaction: never while holding its lock
        original = original_document(handler, data)
        recorder = lifecycle.Recorder(self.store, self.pm)
        accepted = []
        self.store.keep_blobs(
            [original.content] + [item.document.content for item in prepared if item.document]
        )
        with self.store.begin() as conn:
            # The feed's lock first, before any row: taken after an invoice row, it could
            # deadlock with a concurrent upload of the same numbers.
            self.store.lock_feed(conn, member_id)
            for item in prepared:
                row = self.insert_prepared(
                    conn,
                    recorder,
                    member_id,
                    item,
                    handler.name,
                    [original, item.document],
                    "Reçue et validée par la passerelle",
                    now,
                )
                accepted.append(
                    {
                        "id": row["id"],
                        "number": row["number"],
                        "status": lifecycle.RECU,
                        "channel": item.route.channel,
                        "totals": row["data"]["totals"],
                        "warnings": row["warnings"],
                    }
                )
            response = accepted[0] if len(accepted) == 1 else {"invoices": accepted}
            if claim and not self.store.complete_idempotent(
                conn, member_id, claim.key, claim.token, ACCEPTED, response
            ):
                # This request outlived its claim and another took the key: it stores nothing.
                raise in_progress()
        recorder.notify()
        for item in accepted:
            log.info(
                "invoice.accepted",
                invoice_id=item["id"],
                number=item["number"],
                channel=item["channel"],
            )
        return Accepted(response)

    def insert_prepared(
        self,
        conn,
        recorder: lifecycle.Recorder,
        member_id: str,
        item: Prepared,
        source_format: str,
        documents: list[Document | None],
        comment: str,
        now: datetime,
    ) -> dict:
        """Store a prepared invoice in the outbox (``RECU``), in ``conn``'s transaction
        (the member's feed locked first): its number, first history entry, event,
        documents and information copies, at ``now``. Return its row.

        An invoice refused before any buyer had it gives its number up: it becomes
        ``REMPLACEE``, linked to this one. A number still held is refused (duplicate)."""
        invoice = item.invoice.with_computed_amounts()
        replaced = []
        for other in self.store.invoices_numbered(conn, member_id, invoice.number):
            if lifecycle.holds_number(other):
                raise InvalidInput([duplicate_finding(invoice.number)])
            if other["status"] != lifecycle.REMPLACEE:
                replaced.append(other)
        row = {
            "id": new_id("inv"),
            "member_id": member_id,
            "number": invoice.number,
            "type": invoice.type.value,
            "buyer_siret": invoice.buyer.siret,
            "status": lifecycle.RECU,
            "channel": item.route.channel,
            "outlet": item.route.outlet,
            "route": item.route.as_dict(),
            "line_count": len(invoice.lines),
            "source_format": source_format,
            "data": invoice_to_data(invoice),
            "warnings": [w.as_dict() for w in item.warnings],
            "created_at": now,
            "updated_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for other in replaced:  # first: the number is unique among invoices not replaced
            recorder.change(
                conn,
                other,
                lifecycle.REMPLACEE,
                now,
                f"Remplacée par la facture {row['id']}, déposée sous le même numéro",
            )
        row["seq"] = self.store.insert_invoice(conn, **row)
        recorder.created(conn, row, now, comment)
        # Due only once the original has left (Worker._sent).
        self.store.add_copies(conn, member_id, row["seq"], by_email(item.route.copies), now)
        for other in replaced:
            self.store.add_link(conn, row["seq"], lifecycle.REPLACES, other["seq"])
        for document in documents:
            if document is not None:
                self.store.add_document(
                    conn, row["seq"], document.name, document.media_type, document.content
                )
        return row

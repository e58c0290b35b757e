"""What an outlet plugin provides: a way out for invoices (Chorus Pro, Dilifac, PDF, paper)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from gateway.directory import DirectoryEntry
from gateway.errors import Finding
from gateway.model import Invoice


@dataclass(frozen=True)
class Document:
    """A file attached to an invoice: the original, a rendering, a receipt, an attachment."""

    name: str
    media_type: str
    content: bytes
    #: The mapping profile a rendering was written in (``chorus``, ``fr-2026``…); None for
    #: a document the gateway did not write.
    profile: str | None = None


@dataclass(frozen=True)
class ConfigField:
    """One setting of an outlet. ``secret`` values are stored encrypted and never shown;
    a relative ``path`` is taken from the gateway's home directory; a ``url`` given by a
    member must name a host the administrator allows (``gateway.outbound``)."""

    description: str
    secret: bool = False
    required: bool = False
    default: Any = None
    path: bool = False
    url: bool = False


@dataclass(frozen=True)
class PriceBand:
    """The price of one invoice of at most ``max_lines`` lines (None: any number)."""

    max_lines: int | None
    price: Decimal


@dataclass(frozen=True)
class CostItem:
    """One line of a cost computation, as ``GET /v1/costs`` shows it (label in French)."""

    label: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price": str(self.unit_price),
            "amount": str(self.amount),
        }


@dataclass(frozen=True)
class Cost:
    """What an outlet bills, in euros excluding VAT, and what it costs the bookseller in
    time, so that a member can compare routes.

    ``bands`` price an invoice by its number of lines (the first band holding it), instead
    of the flat ``per_invoice``; ``archive_price`` is billed per started block of
    ``archive_lines`` lines; ``per_year`` is a subscription; ``minutes_per_invoice`` the
    bookseller's own time (a manual upload, printing and posting).
    """

    per_invoice: Decimal = Decimal("0")
    bands: tuple[PriceBand, ...] = ()
    per_year: Decimal = Decimal("0")
    archive_price: Decimal = Decimal("0")
    archive_lines: int = 100
    minutes_per_invoice: Decimal = Decimal("0")
    note: str = ""

    def __post_init__(self):
        amounts = (self.per_invoice, self.per_year, self.archive_price, self.minutes_per_invoice)
        if any(amount < 0 for amount in amounts) or self.archive_lines < 1:
            raise ValueError("costs are positive amounts and a block holds one line at least")
        closed = [band.max_lines for band in self.bands if band.max_lines is not None]
        open_last = all(band.max_lines is not None for band in self.bands[:-1])
        if not open_last or closed != sorted(set(closed)):
            raise ValueError("price bands go by increasing number of lines, the open one last")
        prices = [band.price for band in self.bands]
        if prices != sorted(prices) or any(price < 0 for price in prices):
            raise ValueError("an invoice of fewer lines never costs more")

    def invoice_price(self, line_count: int) -> Decimal:
        for band in self.bands:
            if band.max_lines is None or line_count <= band.max_lines:
                return band.price
        if self.bands:  # beyond the last closed band: its price, never less
            return self.bands[-1].price
        return self.per_invoice

    def archive_blocks(self, line_count: int) -> int:
        return -(-max(line_count, 1) // self.archive_lines)

    def items(self, line_count: int) -> list[CostItem]:
        """The computation of one invoice's cost, line by line (no subscription share)."""
        items = []
        price = self.invoice_price(line_count)
        if price:
            band = next(
                (b for b in self.bands if b.max_lines is None or line_count <= b.max_lines), None
            )
            label = "Envoi de la facture"
            if band is not None:
                label += (
                    f" ({line_count} ligne(s), tranche jusqu'à {band.max_lines} lignes)"
                    if band.max_lines is not None
                    else f" ({line_count} ligne(s), dernière tranche)"
                )
            items.append(CostItem(label, Decimal(1), "facture", price, price))
        if self.archive_price:
            blocks = self.archive_blocks(line_count)
            items.append(
                CostItem(
                    f"Archivage ({line_count} ligne(s), par tranche de {self.archive_lines} "
                    "lignes commencée)",
                    Decimal(blocks),
                    f"tranche de {self.archive_lines} lignes",
                    self.archive_price,
                    self.archive_price * blocks,
                )
            )
        return items

    def for_invoice(self, line_count: int) -> Decimal:
        """What one invoice costs, subscription excluded."""
        return sum((item.amount for item in self.items(line_count)), Decimal("0"))


@dataclass
class Receipt:
    """What an outlet returns once it has taken an invoice.

    ``reference`` is the outlet's own identifier (Chorus ``numeroFluxDepot``, a Dilifac
    id…); ``data`` keeps whatever the outlet needs to poll later; ``documents`` are the
    platform's acknowledgements, archived with the invoice.
    """

    outlet: str
    reference: str
    status: str = "DEPOSEE"
    #: Set by the core when it hands receipts back to :meth:`Outlet.poll`.
    invoice_id: str | None = None
    comment: str | None = None
    at: datetime | None = None
    data: dict = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)


@dataclass
class StatusUpdate:
    """What the outlet saw of an invoice it sent (status codes as the platform spells them).

    ``history`` lists every (status, time, comment) the platform reports, oldest first; the
    core records those it does not have yet, so that no intermediate status is lost between
    two polls. ``data`` is merged into the receipt's data (e.g. the platform's invoice id
    once known). ``findings`` explain a refusal in business terms (field to fix).
    """

    invoice_id: str
    status: str
    at: datetime | None = None
    comment: str | None = None
    data: dict = field(default_factory=dict)
    history: list[tuple[str, datetime, str | None]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class PollContext:
    """What the core passes to :meth:`Outlet.poll`: whose invoices, with which settings."""

    member_id: str
    settings: dict


@dataclass
class SendContext:
    """What the core passes to :meth:`Outlet.send` besides the invoice.

    ``invoice_id`` is stable across retries: an outlet uses it (or the invoice number) to
    make sure an invoice is never deposited twice after an uncertain failure.
    """

    invoice_id: str
    member_id: str
    attempt: int
    settings: dict
    render: Callable[[str, Invoice], bytes]
    #: What the outlet asked to keep after an earlier failed attempt (``OutletError.state``),
    #: e.g. when an uncertain deposit happened; shared by every worker process.
    state: dict = field(default_factory=dict)
    #: Commit a new ``state`` right away, before a call whose outcome may never be known
    #: (a worker may die during it): the next attempt, in any process, finds it.
    remember: Callable[[dict], None] = lambda state: None
    #: The buyer as the directory described it just now (outlets with the ``directory``
    #: capability: the core's check right before sending), None otherwise.
    directory_entry: DirectoryEntry | None = None
    #: The route the invoice takes (``Route.as_dict()``): to a company's approved platform,
    #: its ``electronic_address`` (scheme 0225, BT-49) and ``recipient_platform``, as the
    #: reform's directory said at acceptance or just now.
    route: dict | None = None


@dataclass
class InboundFlow:
    """An invoice (or credit note) a supplier sent to the member, as its platform holds it.

    ``reference`` is the platform's flow id (the key the member's answers are sent about);
    ``content`` the original document, byte for byte (CII, UBL or Factur-X); ``data`` what
    the platform says of it (syntax, profile, sender, tracking id…).
    """

    reference: str
    content: bytes
    filename: str
    media_type: str
    received_at: datetime | None = None
    data: dict = field(default_factory=dict)


@dataclass
class ReceiveContext:
    """What the core passes to :meth:`Outlet.receive` and :meth:`Outlet.answer`.

    ``state`` is what the outlet returned from its last :meth:`Outlet.receive` for this
    member (a cursor such as the last ``updatedAfter``), kept by the core; empty at first.
    """

    member_id: str
    settings: dict
    state: dict = field(default_factory=dict)
    #: In :meth:`Outlet.answer`: the core's id of this answer, the same on every attempt
    #: (the platform-side idempotency key: one status may be answered twice, 204 → 208 → 204).
    answer_id: str | None = None


@dataclass
class PrintContext:
    """What the core passes to :meth:`Outlet.print_batch`: whose batch, which day, the
    member's settings of the outlet, and the renderers (``render("pdf", invoice)``)."""

    member_id: str
    day: date
    settings: dict
    render: Callable[[str, Invoice], bytes]


@dataclass(frozen=True)
class Printout:
    """A print-ready document and its number of pages (the core reads no PDF itself)."""

    document: Document
    pages: int


class OutletError(Exception):
    """The outlet could not take the invoice. ``transient`` errors are retried.

    ``attempted`` says whether the call could have deposited the invoice: only those count
    among the ``[worker] max_attempts``. ``waiting`` says the gateway only waits for the
    platform (it shows ``EN_ATTENTE_PLATEFORME``, not ``EN_ERREUR``).
    """

    transient: ClassVar[bool] = True
    attempted: ClassVar[bool] = True
    waiting: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        findings: list[Finding] | None = None,
        state: dict | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.findings = findings or []
        #: Seconds the platform asked to wait before the next try (HTTP ``Retry-After``):
        #: the worker waits at least that long, within its ``backoff_max``.
        self.retry_after = retry_after
        #: Handed back in ``SendContext.state`` on the next attempt: a non-empty dict
        #: replaces what was kept; None keeps what the outlet last remembered; an empty dict
        #: ("certainly not taken this time") keeps what was kept before this attempt.
        self.state = state


class TransientOutletError(OutletError):
    """A fault worth retrying: time-out, 5xx, 429, connection refused."""


class UnavailableOutletError(TransientOutletError):
    """Nothing left this time, for certain: the platform is unavailable (connection refused,
    503 before accepting, token endpoint down), or not ready yet to say what became of an
    earlier uncertain deposit. Not an attempt: retried with backoff until the platform comes
    back, for ``[worker] max_wait_seconds`` at most."""

    attempted = False
    waiting = True


class UncertainOutletError(TransientOutletError):
    """The call may have deposited the invoice, no answer says whether (time-out after
    sending, lost or illegible answer). It counts as an attempt; the next one must look for
    that deposit before making another (keep what it needs in ``state``)."""

    waiting = True


class PermanentOutletError(OutletError):
    """A refusal that retrying will not change: the invoice or the settings must be fixed."""

    transient = False


#: What ``Outlet.capabilities`` may hold, and the method each capability promises (None:
#: a property of the outlet the core reads, such as ``directory``: it checks buyers in the
#: directory before sending).
CAPABILITIES: dict[str, str | None] = {
    "send": "send",
    "batch": "send_batch",
    "poll": "poll",
    "recycle": "recycle",
    "complete": "complete",
    "directory": None,
    "attachments": None,
    "lineless": None,
    "print": "print_batch",
    "receive": "receive",
}


class Outlet:
    """Base class of outlets, returned (as classes) by ``gateway_register_outlets``.

    Subclasses declare their metadata as class attributes and implement :meth:`send`;
    outlets that follow invoices after sending also implement :meth:`poll`.
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    #: Some of :data:`CAPABILITIES`.
    capabilities: ClassVar[frozenset[str]] = frozenset({"send"})
    config_fields: ClassVar[dict[str, ConfigField]] = {}
    cost: ClassVar[Cost] = Cost()
    #: Rule sets that judge the invoices routed here even when the caller chose none, such as
    #: ``fr-ctc`` (the BR-FR rules, which run only when asked for).
    rule_sets: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: dict | None = None):
        self.config = {key: spec.default for key, spec in self.config_fields.items()}
        self.config.update(config or {})

    def price_list(self) -> Cost:
        """What this outlet costs as configured (the class's ``cost`` unless its settings
        say otherwise, e.g. a subscriber's tariff)."""
        return self.cost

    def send_batch(
        self, items: list[tuple[Invoice, list[Document], SendContext]]
    ) -> list[Receipt | OutletError]:
        """Deliver several invoices of one member at once (one flux); only for outlets with
        the ``batch`` capability. Return one result per item, in order: a receipt, or the
        error of that invoice. Raising fails every item with that error."""
        raise NotImplementedError

    def print_batch(self, invoices: list[Invoice], context: PrintContext) -> Printout:
        """Assemble one print-ready document of ``invoices`` (a member's day, in order),
        each starting on a new sheet; only for outlets with the ``print`` capability."""
        raise NotImplementedError

    def document_format(self, settings: dict) -> tuple[str, str] | None:
        """Return (renderer name, mapping profile) of the document this outlet sends.

        The core renders that document when it accepts the invoice, validates it, archives
        it and hands it to :meth:`send`: what was checked is exactly what leaves. None
        means the outlet sends no structured document (paper, memory).
        """
        return None

    def send(self, invoice: Invoice, documents: list[Document], context: SendContext) -> Receipt:
        """Deliver the invoice; raise :class:`OutletError` subclasses on failure."""
        raise NotImplementedError

    def poll(self, receipts: list[Receipt], context: PollContext) -> list[StatusUpdate]:
        """Return what the platform says now of the invoices behind ``receipts``.

        All receipts belong to ``context.member_id``. Return one update per invoice whose
        status or data changed (or all of them; unchanged ones are ignored). Raise
        :class:`TransientOutletError` when the platform cannot be reached.
        """
        return []

    def recycle(self, receipt: Receipt, invoice: Invoice, context: SendContext) -> Receipt:
        """Send an ``A_RECYCLER`` invoice again, same number, to the corrected recipient.

        ``invoice`` carries the corrected buyer SIRET, service code and engagement number.
        Only for outlets with the ``recycle`` capability.
        """
        raise NotImplementedError

    def complete(
        self, receipt: Receipt, attachments: list[Document], comment: str, context: SendContext
    ) -> Receipt:
        """Add the missing documents to a ``SUSPENDUE`` invoice and send it back.

        Only for outlets with the ``complete`` capability.
        """
        raise NotImplementedError

    def completion_findings(self, attachments: list[Document], comment: str) -> list[Finding]:
        """Return what the platform would refuse in these attachments and comment (extension,
        name length, size…), before anything is stored or uploaded; ``[]`` when all is well.

        The core asks before it accepts a ``complete`` action; :meth:`complete` may check
        again. ``field`` names the part at fault (``attachments[0]``, ``comment``).
        """
        return []

    def receive(self, context: ReceiveContext) -> tuple[list[InboundFlow], dict]:
        """Return the flows addressed to ``context.member_id`` since ``context.state``, and
        the new state to keep. Only for outlets with the ``receive`` capability.

        A flow may come again (the core ignores a reference it already holds); raise
        :class:`TransientOutletError` when the platform cannot be reached.
        """
        raise NotImplementedError

    def answer(
        self,
        reference: str,
        status: str,
        reason: str | None,
        comment: str | None,
        context: ReceiveContext,
    ) -> str:
        """Send the member's lifecycle status about an inbound flow to the platform (a CDAR
        message: ``status`` is its code, ``"205"`` Approuvée…, ``reason`` the reason code
        that ``"210"`` Refusée carries); return the platform's reference of that message.
        Only for outlets with the ``receive`` capability.
        """
        raise NotImplementedError

    def health(self, settings: dict | None = None) -> dict:
        """Return ``{"ok": bool, ...}`` for a member's ``settings`` (or the outlet's own):
        credentials valid, expiry dates (e.g. the technical account's password), reachability.
        """
        return {"ok": True}

"""The canonical invoice: the EN 16931 semantic model a bookseller needs.

Every format plugin parses into these classes and every renderer starts from them.
Money, quantities, prices and rates are ``Decimal``; amounts follow EN 16931 rounding:
a line's net amount is quantity x net price rounded to the cent, and every total is a
sum of rounded amounts (BR-CO-10 and following).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_amount(value: Decimal) -> Decimal:
    """Round a monetary amount to the cent, half away from zero (as Chorus Pro does)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class InvoiceType(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    CORRECTED_INVOICE = "corrected_invoice"
    SELF_BILLED = "self_billed"
    PREPAYMENT = "prepayment"


#: UNTDID 1001 codes (BT-3) for each invoice type; 381 makes a UBL ``CreditNote``.
TYPE_CODES: dict[InvoiceType, str] = {
    InvoiceType.INVOICE: "380",
    InvoiceType.CREDIT_NOTE: "381",
    InvoiceType.CORRECTED_INVOICE: "384",
    InvoiceType.SELF_BILLED: "389",
    InvoiceType.PREPAYMENT: "386",
}
TYPES_BY_CODE: dict[str, InvoiceType] = {code: kind for kind, code in TYPE_CODES.items()}


def default_vat_category(rate: Decimal) -> str:
    """Return the UNCL 5305 category implied by a rate: S when taxed, E (exempt) at zero."""
    return "S" if rate > ZERO else "E"


@dataclass
class Address:
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    postcode: str | None = None
    city: str | None = None
    country_subdivision: str | None = None
    country: str = "FR"


@dataclass
class Party:
    """Seller (BG-4) or buyer (BG-7). ``siret`` is the French legal id (scheme 0009)."""

    name: str
    siret: str | None = None
    vat_id: str | None = None
    address: Address = field(default_factory=Address)
    email: str | None = None
    #: Registration name used on documents when it differs from ``name`` (BT-28 / BT-45).
    trading_name: str | None = None


@dataclass
class References:
    """Chorus Pro routing data kept apart from the other references.

    ``service_code`` is BT-10 (buyer reference, the "service exécutant"), ``engagement`` is
    BT-13 (the "engagement juridique", case-sensitive), ``purchase_order`` is the buyer's
    order number as the bookseller knows it (it may differ from the engagement number),
    ``contract`` is BT-12 (the "numéro de marché").
    """

    service_code: str | None = None
    engagement: str | None = None
    purchase_order: str | None = None
    contract: str | None = None
    #: BT-19, the buyer's accounting reference, passed through.
    buyer_accounting_reference: str | None = None


@dataclass
class PrecedingInvoice:
    """BG-3: the invoice a credit note or corrected invoice refers to (BT-25, BT-26)."""

    number: str
    issue_date: date | None = None


@dataclass
class LineAdjustment:
    """A line-level allowance (BG-27) or charge (BG-28): a discount or a cost on one line,
    taxed with the line. ``amount`` is positive in both cases."""

    amount: Decimal
    reason: str | None = None
    reason_code: str | None = None
    percent: Decimal | None = None
    base_amount: Decimal | None = None


@dataclass
class Line:
    """One invoice line (BG-25).

    ``net_price`` (BT-146) is the price of one ``base_quantity`` of the item net of the
    price discount; ``gross_price`` (BT-148) and ``price_discount`` (BT-147) are optional
    and, when given, ``gross_price - price_discount == net_price``.
    """

    name: str
    quantity: Decimal
    net_price: Decimal
    vat_rate: Decimal
    id: str | None = None
    item_id: str | None = None
    unit_code: str = "C62"
    base_quantity: Decimal | None = None
    gross_price: Decimal | None = None
    price_discount: Decimal | None = None
    vat_category: str | None = None
    description: str | None = None
    seller_item_id: str | None = None
    note: str | None = None
    allowances: list[LineAdjustment] = field(default_factory=list)
    charges: list[LineAdjustment] = field(default_factory=list)
    #: Given by the client; checked against the computed value.
    line_amount: Decimal | None = None
    #: Line business terms the model does not interpret (see :attr:`Invoice.other_terms`).
    other_terms: dict[str, Any] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.vat_category or default_vat_category(self.vat_rate)

    def computed_amount(self) -> Decimal:
        """Return BT-131: quantity x net price / base quantity rounded to the cent, less the
        line's allowances, plus its charges (each rounded to the cent)."""
        base = self.base_quantity or Decimal(1)
        amount = round_amount(self.quantity * self.net_price / base)
        amount -= sum((round_amount(a.amount) for a in self.allowances), ZERO)
        return amount + sum((round_amount(c.amount) for c in self.charges), ZERO)


@dataclass
class AllowanceCharge:
    """A document-level allowance (BG-20) or charge (BG-21), e.g. shipping costs."""

    amount: Decimal
    vat_rate: Decimal
    reason: str | None = None
    reason_code: str | None = None
    vat_category: str | None = None
    base_amount: Decimal | None = None
    percent: Decimal | None = None

    @property
    def category(self) -> str:
        return self.vat_category or default_vat_category(self.vat_rate)


@dataclass
class VatBreakdown:
    """One VAT breakdown row (BG-23), always computed by the gateway."""

    category: str
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal
    exemption_reason: str | None = None
    exemption_reason_code: str | None = None


@dataclass
class Totals:
    """Document totals (BG-22). In client-given totals, None means "not given"."""

    lines: Decimal | None = ZERO
    allowances: Decimal | None = ZERO
    charges: Decimal | None = ZERO
    tax_exclusive: Decimal | None = ZERO
    vat: Decimal | None = ZERO
    tax_inclusive: Decimal | None = ZERO
    prepaid: Decimal | None = ZERO
    rounding: Decimal | None = ZERO
    payable: Decimal | None = ZERO

    def mismatches(self, computed: Totals) -> list[tuple[str, Decimal, Decimal]]:
        """Return (name, given, expected) for every given total its own inputs contradict.

        Each total is checked against the totals it is made of, as given when given (as the
        BR-CO rules do), the base ones against the computation from the lines: one wrong
        figure gives one mismatch, not one per total derived from it.
        """

        def value(name: str) -> Decimal:
            given = getattr(self, name)
            return getattr(computed, name) if given is None else given

        expected = {
            "lines": computed.lines,
            "allowances": computed.allowances,
            "charges": computed.charges,
            "tax_exclusive": value("lines") - value("allowances") + value("charges"),
            "vat": computed.vat,
            "tax_inclusive": value("tax_exclusive") + value("vat"),
            "prepaid": computed.prepaid,
            "rounding": computed.rounding,
            "payable": value("tax_inclusive") - value("prepaid") + value("rounding"),
        }
        return [
            (name, given, wanted)
            for name, wanted in expected.items()
            if (given := getattr(self, name)) is not None and given != wanted
        ]


@dataclass
class Payment:
    """Payment instructions (BG-16) and terms (BT-20).

    ``means_code`` is UNTDID 4461 (30 credit transfer, 58 SEPA credit transfer, 49 direct
    debit, 42 payment to bank account, 20 cheque, 10 cash, 97 clearing between partners).
    """

    means_code: str | None = None
    iban: str | None = None
    bic: str | None = None
    account_name: str | None = None
    remittance_information: str | None = None
    terms: str | None = None


@dataclass
class Invoice:
    number: str
    issue_date: date
    seller: Party
    buyer: Party
    lines: list[Line]
    type: InvoiceType = InvoiceType.INVOICE
    currency: str = "EUR"
    due_date: date | None = None
    references: References = field(default_factory=References)
    preceding_invoice: PrecedingInvoice | None = None
    delivery_notes: list[str] = field(default_factory=list)
    delivery_date: date | None = None
    allowances: list[AllowanceCharge] = field(default_factory=list)
    charges: list[AllowanceCharge] = field(default_factory=list)
    payment: Payment | None = None
    notes: list[str] = field(default_factory=list)
    #: BT-120 / BT-121, used when lines are exempt (category E), e.g. "art. 293 B du CGI".
    vat_exemption_reason: str | None = None
    vat_exemption_reason_code: str | None = None
    prepaid_amount: Decimal = ZERO
    rounding_amount: Decimal = ZERO
    #: Given by the client; compared with :meth:`computed_totals` (``totals.mismatch``).
    totals: Totals | None = None
    vat_breakdown: list[VatBreakdown] = field(default_factory=list)
    #: EN 16931 business terms the model does not interpret (invoicing period, payee,
    #: contacts, electronic addresses, other identifiers, attachments…), read from a UBL or
    #: CII document and written back into its renderings. Keyed like the ``factur-x``
    #: package's dictionaries (``"BT-73"``, ``"BG-4": {"contacts": [...]}``), JSON-safe
    #: (dates as ISO strings, binary objects in base64).
    other_terms: dict[str, Any] = field(default_factory=dict)

    @property
    def type_code(self) -> str:
        return TYPE_CODES[self.type]

    def computed_vat_breakdown(self) -> list[VatBreakdown]:
        """Group lines, allowances and charges by (category, rate) and tax each group.

        An invoice without lines (Factur-X MINIMUM, BASIC WL) keeps the breakdown it came with.
        """
        if not self.lines:
            return list(self.vat_breakdown)
        groups: dict[tuple[str, Decimal], Decimal] = {}

        def add(category: str, rate: Decimal, amount: Decimal) -> None:
            key = (category, rate)
            groups[key] = groups.get(key, ZERO) + amount

        for line in self.lines:
            add(line.category, line.vat_rate, line.computed_amount())
        for charge in self.charges:
            add(charge.category, charge.vat_rate, round_amount(charge.amount))
        for allowance in self.allowances:
            add(allowance.category, allowance.vat_rate, -round_amount(allowance.amount))
        breakdown = []
        for (category, rate), taxable in sorted(groups.items()):
            # Exemption reasons belong to exempt categories only (BR-Z-10, BR-S-10…).
            exempt = category in ("E", "AE", "K", "G", "O")
            breakdown.append(
                VatBreakdown(
                    category=category,
                    rate=rate,
                    taxable_amount=taxable,
                    tax_amount=round_amount(taxable * rate / 100),
                    exemption_reason=self.vat_exemption_reason if exempt else None,
                    exemption_reason_code=self.vat_exemption_reason_code if exempt else None,
                )
            )
        return breakdown

    def computed_totals(self) -> Totals:
        """Return the totals as EN 16931 defines them: sums of rounded amounts.

        An invoice without lines has nothing to sum: the totals it came with stand.
        """
        if not self.lines and self.totals is not None:
            given = dataclasses.asdict(self.totals)
            return Totals(
                **{name: ZERO if value is None else value for name, value in given.items()}
            )
        lines = sum((line.computed_amount() for line in self.lines), ZERO)
        allowances = sum((round_amount(a.amount) for a in self.allowances), ZERO)
        charges = sum((round_amount(c.amount) for c in self.charges), ZERO)
        tax_exclusive = lines - allowances + charges
        vat = sum((row.tax_amount for row in self.computed_vat_breakdown()), ZERO)
        tax_inclusive = tax_exclusive + vat
        prepaid = round_amount(self.prepaid_amount)
        rounding = round_amount(self.rounding_amount)
        return Totals(
            lines=lines,
            allowances=allowances,
            charges=charges,
            tax_exclusive=tax_exclusive,
            vat=vat,
            tax_inclusive=tax_inclusive,
            prepaid=prepaid,
            rounding=rounding,
            payable=tax_inclusive - prepaid + rounding,
        )

    def with_computed_amounts(self) -> Invoice:
        """Return a copy whose line amounts, VAT breakdown and totals are the computed ones."""
        lines = [
            dataclasses.replace(
                line, id=line.id or str(position), line_amount=line.computed_amount()
            )
            for position, line in enumerate(self.lines, start=1)
        ]
        return dataclasses.replace(
            self,
            lines=lines,
            vat_breakdown=self.computed_vat_breakdown(),
            totals=self.computed_totals(),
        )

"""Hypothesis strategies: canonical invoices every renderer and parser must round-trip."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import strategies as st

from gateway.model import (
    Address,
    AllowanceCharge,
    Invoice,
    InvoiceType,
    Line,
    LineAdjustment,
    Party,
    Payment,
    PrecedingInvoice,
    References,
)

SIRETS = ("81234567600017", "79345612000013", "22760540900019", "22100005200011")
ISBNS = ("9782070360024", "9782070413119", "9791024021317", "9782226092717", None)
WORDS = st.from_regex(r"[A-Za-zÀ-ÿ0-9][A-Za-zÀ-ÿ0-9 '’,.()-]{0,24}[A-Za-zÀ-ÿ0-9.)]", fullmatch=True)
RATES = st.sampled_from([Decimal("5.5"), Decimal("20"), Decimal("2.1"), Decimal("10"), Decimal(0)])


def money(low: str, high: str, places: int = 2):
    return st.decimals(Decimal(low), Decimal(high), places=places)


@st.composite
def lines(draw) -> Line:
    net = draw(money("0.50", "250", places=draw(st.sampled_from([2, 4]))))
    discount = draw(st.none() | money("0.01", "5"))
    return Line(
        name=draw(WORDS),
        quantity=draw(money("1", "40", places=draw(st.sampled_from([0, 2])))),
        net_price=net,
        vat_rate=draw(RATES),
        item_id=draw(st.sampled_from(ISBNS)),
        unit_code=draw(st.sampled_from(["C62", "H87"])),
        base_quantity=draw(st.sampled_from([None, Decimal(10), Decimal(100)])),
        gross_price=None if discount is None else net + discount,
        price_discount=discount,
        description=draw(st.none() | WORDS),
        seller_item_id=draw(st.none() | WORDS),
        note=draw(st.none() | WORDS),
        allowances=draw(line_adjustments("Remise sur la ligne")),
        charges=draw(line_adjustments("Frais de ligne")),
    )


def line_adjustments(reason: str):
    """Small line allowances or charges (BG-27/28); a given percentage carries its base."""
    percent = st.builds(
        lambda base, rate: LineAdjustment(
            amount=(base * rate / 100).quantize(Decimal("0.01")),
            reason=reason,
            percent=rate,
            base_amount=base,
        ),
        money("1", "10"),
        st.sampled_from([Decimal(1), Decimal("2.5")]),
    )
    plain = st.builds(
        LineAdjustment,
        amount=money("0.01", "0.40"),
        reason=st.just(reason),
        reason_code=st.none() | st.sampled_from(["95", "100"] if "Remise" in reason else ["FC"]),
    )
    return st.lists(percent | plain, max_size=2)


@st.composite
def parties(draw, *, seller: bool = False) -> Party:
    vat_ids = st.just("FR19812345676")  # BR-S-02: a taxed sale names the seller's VAT id
    return Party(
        name=draw(WORDS),
        siret=draw(st.sampled_from(SIRETS)),
        vat_id=draw(vat_ids if seller else st.none() | vat_ids),
        email=draw(st.none() | st.just("compta@exemple.fr")),
        trading_name=draw(st.none() | WORDS),
        address=Address(
            line1=draw(st.none() | WORDS),
            line2=draw(st.none() | WORDS),
            postcode=draw(st.none() | st.from_regex(r"[0-9]{5}", fullmatch=True)),
            city=draw(WORDS),
        ),
    )


@st.composite
def invoices(draw) -> Invoice:
    kind = draw(st.sampled_from([InvoiceType.INVOICE, InvoiceType.CREDIT_NOTE]))
    invoice_lines = draw(st.lists(lines(), min_size=1, max_size=4))
    rates = sorted({line.vat_rate for line in invoice_lines})

    def adjustments(reason: str):
        return st.lists(
            st.builds(
                AllowanceCharge,
                amount=money("0.10", "0.50"),
                vat_rate=st.sampled_from(rates),
                reason=st.just(reason),
            ),
            max_size=2,
        )

    means = draw(st.sampled_from([None, "30", "58", "49", "20"]))
    terms = draw(st.none() | WORDS)
    payment = None
    if means or terms:
        transfer = means in ("30", "58")
        payment = Payment(
            means_code=means,
            iban="FR7630006000011234567890189" if transfer else None,
            bic=draw(st.none() | st.just("AGRIFRPP")) if transfer else None,
            terms=terms,
        )
    due_date = draw(st.none() | st.dates(date(2027, 1, 1), date(2027, 3, 31)))
    if kind == InvoiceType.CREDIT_NOTE and not means:
        due_date = None  # a UBL CreditNote holds BT-9 in PaymentMeans only (mapping.md)
    return Invoice(
        number=draw(st.from_regex(r"[A-Z]{2}-2026-[0-9]{1,5}", fullmatch=True)),
        issue_date=draw(st.dates(date(2026, 1, 1), date(2026, 12, 31))),
        due_date=due_date,
        type=kind,
        seller=draw(parties(seller=True)),
        buyer=draw(parties()),
        lines=invoice_lines,
        references=References(
            service_code=draw(st.none() | st.sampled_from(["DFCG", "SERV-01"])),
            engagement=draw(st.none() | st.sampled_from(["EJ2026000815", "Ej-Aube-4417"])),
            purchase_order=draw(st.none() | st.just("BC-4471")),
            contract=draw(st.none() | st.just("MAPA-2026-03")),
            buyer_accounting_reference=draw(st.none() | st.just("6065-LIVRES")),
        ),
        preceding_invoice=(
            PrecedingInvoice("FA-2026-0142", date(2026, 1, 5))
            if kind == InvoiceType.CREDIT_NOTE
            else None
        ),
        delivery_notes=draw(
            st.lists(st.sampled_from(["BL-1", "BL-2", "BL-3"]), max_size=3, unique=True)
        ),
        allowances=draw(adjustments("Remise")),
        charges=draw(adjustments("Frais de port")),
        payment=payment,
        notes=draw(st.lists(WORDS, max_size=2)),
        delivery_date=draw(st.none() | st.dates(date(2025, 12, 1), date(2026, 12, 31))),
        # BR-E-10: exempt (zero-rated) amounts need a reason
        vat_exemption_reason="Exonération de TVA, art. 261 du CGI" if Decimal(0) in rates else None,
        prepaid_amount=draw(st.sampled_from([Decimal(0), Decimal("1.00")])),
        rounding_amount=draw(st.sampled_from([Decimal(0), Decimal("0.01")])),
    )

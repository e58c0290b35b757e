"""EN 16931 arithmetic of the canonical invoice."""

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gateway.model import AllowanceCharge, Invoice, Line, Party, round_amount
from gateway.schemas import load_invoice
from tests.conftest import example
from tests.invoices import seine_maritime


def invoice_with(lines, charges=(), allowances=()):
    return Invoice(
        number="T-1",
        issue_date=date(2026, 11, 20),
        seller=Party(name="S"),
        buyer=Party(name="B"),
        lines=list(lines),
        charges=list(charges),
        allowances=list(allowances),
    )


def line(quantity, price, rate="5.5", **extra):
    return Line(
        name="Livre",
        quantity=Decimal(quantity),
        net_price=Decimal(price),
        vat_rate=Decimal(rate),
        **extra,
    )


def test_seine_maritime_totals_as_the_readme_gives_them():
    totals = seine_maritime().computed_totals()
    assert (
        totals.lines,
        totals.charges,
        totals.tax_exclusive,
        totals.vat,
        totals.tax_inclusive,
        totals.payable,
    ) == (
        Decimal("87.56"),
        Decimal("5.00"),
        Decimal("92.56"),
        Decimal("5.09"),
        Decimal("97.65"),
        Decimal("97.65"),
    )


def test_line_amount_is_rounded_half_up_to_the_cent():
    assert line("3", "0.335").computed_amount() == Decimal("1.01")  # 1.005 -> 1.01
    assert line("1", "2.345").computed_amount() == Decimal("2.35")
    assert round_amount(Decimal("-1.005")) == Decimal("-1.01")


def test_base_quantity_divides_the_price():
    assert line("250", "12.00", base_quantity=Decimal("100")).computed_amount() == Decimal("30.00")


def test_vat_is_computed_per_rate_on_rounded_amounts():
    invoice = invoice_with(
        [line("3", "7.68"), line("1", "19.99", rate="20")],
        charges=[AllowanceCharge(amount=Decimal("5.00"), vat_rate=Decimal("5.5"), reason="Port")],
        allowances=[
            AllowanceCharge(amount=Decimal("2.00"), vat_rate=Decimal("20"), reason="Remise")
        ],
    )
    breakdown = {
        (row.category, row.rate): (row.taxable_amount, row.tax_amount)
        for row in invoice.computed_vat_breakdown()
    }
    assert breakdown == {
        ("S", Decimal("5.5")): (Decimal("28.04"), Decimal("1.54")),
        ("S", Decimal("20")): (Decimal("17.99"), Decimal("3.60")),
    }
    totals = invoice.computed_totals()
    assert totals.tax_exclusive == Decimal("46.03")
    assert totals.vat == Decimal("5.14")
    assert totals.payable == Decimal("51.17")


def test_zero_rate_is_exempt_and_carries_the_reason():
    invoice = invoice_with([line("2", "10.00", rate="0")])
    invoice.vat_exemption_reason = "TVA non applicable, art. 293 B du CGI"
    (row,) = invoice.computed_vat_breakdown()
    assert row.category == "E" and row.tax_amount == Decimal("0.00")
    assert row.exemption_reason == "TVA non applicable, art. 293 B du CGI"


def test_with_computed_amounts_numbers_lines_and_fills_totals():
    invoice = load_invoice(example("invoice-aube")).with_computed_amounts()
    assert [item.id for item in invoice.lines] == ["1", "2"]
    assert [item.line_amount for item in invoice.lines] == [Decimal("62.00"), Decimal("23.99")]
    assert invoice.totals.payable == Decimal("90.72")


def test_given_totals_mismatches():
    invoice = load_invoice(
        {**example("invoice-aube"), "totals": {"payable": "90.70", "vat": "4.73"}}
    )
    assert invoice.totals.mismatches(invoice.computed_totals()) == [
        ("payable", Decimal("90.70"), Decimal("90.72"))
    ]


prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("999.99"), places=2)
quantities = st.integers(min_value=1, max_value=500).map(Decimal)
rates = st.sampled_from([Decimal("5.5"), Decimal("20"), Decimal("2.1"), Decimal("10")])


@given(st.lists(st.tuples(quantities, prices, rates), min_size=1, max_size=15))
def test_totals_are_sums_of_rounded_amounts(rows):
    invoice = invoice_with([line(q, p, r) for q, p, r in rows])
    totals = invoice.computed_totals()
    assert totals.lines == sum(item.computed_amount() for item in invoice.lines)
    assert totals.vat == sum(row.tax_amount for row in invoice.computed_vat_breakdown())
    assert totals.payable == totals.tax_exclusive + totals.vat
    assert all(value == round_amount(value) for value in (totals.lines, totals.vat, totals.payable))


def test_line_allowances_and_charges_change_the_line_amount():
    from gateway.model import LineAdjustment

    discounted = line(
        "10",
        "6.20",
        allowances=[LineAdjustment(amount=Decimal("5.58"), reason="Remise")],
        charges=[LineAdjustment(amount=Decimal("1.005"), reason="Équipement")],
    )
    assert discounted.computed_amount() == Decimal("62.00") - Decimal("5.58") + Decimal("1.01")
    assert invoice_with([discounted]).computed_totals().tax_exclusive == Decimal("57.43")

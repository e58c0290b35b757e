"""Renderings round amounts as the model does (half away from zero), so that what is sent
adds up to the totals the gateway computed."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from gateway.errors import FormatError
from gateway.schemas import load_invoice
from plugins.en16931.formats import CiiFormat, UblFormat
from plugins.en16931.renderers import CiiRenderer, PdfRenderer, UblRenderer
from tests.conftest import DATA, example


@pytest.mark.parametrize(
    "renderer, parser", [(CiiRenderer(), CiiFormat()), (UblRenderer(), UblFormat())]
)
def test_half_cent_charges_and_allowances_round_up_in_the_rendering(renderer, parser):
    document = example("invoice-seine-maritime")
    document["charges"][0]["amount"] = "4.125"
    document["allowances"] = [{"reason": "Remise", "amount": "0.605", "vat_rate": "5.5"}]
    invoice = load_invoice(document)
    assert invoice.computed_totals().charges == Decimal("4.13")
    assert invoice.computed_totals().allowances == Decimal("0.61")
    (back,) = parser.parse(renderer.render(invoice))
    assert [c.amount for c in back.charges] == [Decimal("4.13")]
    assert [a.amount for a in back.allowances] == [Decimal("0.61")]
    assert back.computed_totals() == invoice.computed_totals()


def test_the_human_readable_pdf_shows_the_same_cents():
    document = example("invoice-seine-maritime")
    document["charges"][0]["amount"] = "4.125"
    pdf = PdfRenderer().render(load_invoice(document))
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "4,13" in text and "4,12" not in text


def test_such_an_amount_is_refused_through_the_api_not_rounded(gateway, member):
    """Rounding stays the renderers' rule for computed amounts: a given amount of three
    decimals is refused (BR-DEC-05), since the bookseller's books would show another figure."""
    document = example("invoice-seine-maritime")
    document["charges"][0]["amount"] = "4.125"
    result = gateway.client.simulate_post(
        "/v1/invoices/validate", json=document, headers=member["headers"]
    )
    assert result.status_code == 422
    assert [(e["code"], e["field"]) for e in result.json["errors"]] == [
        ("en16931.BR-DEC-05", "charges[0].amount")
    ]


@pytest.mark.parametrize("quantity", ["1E+30", "9" * 40, "1_000", "0x10"])
def test_a_quantity_that_is_no_xsd_decimal_of_invoice_size_is_refused_on_its_field(quantity):
    document = (DATA / "xml" / "ubl-invoice-mediatheque.xml").read_bytes()
    document = document.replace(
        b'<cbc:InvoicedQuantity unitCode="C62">6<',
        f'<cbc:InvoicedQuantity unitCode="C62">{quantity}<'.encode(),
    )
    with pytest.raises(FormatError) as refused:
        UblFormat().parse(document)
    assert refused.value.field == "lines[0].quantity"
    assert quantity in refused.value.message

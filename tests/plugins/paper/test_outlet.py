"""The ``paper`` outlet on its own: the print batch's sheets (address in the window, page
numbers, duplex padding), the refusal of an invoice the post could not deliver, and cost."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from gateway.config import ConfigError
from gateway.model import Line
from gateway.outlets import PermanentOutletError, PrintContext, SendContext
from gateway.schemas import load_invoice
from gateway.testing.outlets import render
from plugins.paper.outlet import PaperOutlet
from tests.conftest import example
from tests.pdfs import save_pages, text_of, text_within

WINDOW = (90, 45, 100, 50)


def long_invoice():
    """The Aube invoice with enough lines to take two pages, and a buyer name too long."""
    invoice = load_invoice(example("invoice-aube"))
    line = invoice.lines[0]
    lines = [dataclasses.replace(line, name=f"{line.name} ({n})") for n in range(60)]
    buyer = dataclasses.replace(
        invoice.buyer,
        name="MÉDIATHÈQUE DÉPARTEMENTALE DE L'AUBE — SERVICE DES ACQUISITIONS, DU PRÊT ET "
        "DES ANIMATIONS CULTURELLES EN MILIEU RURAL",
    )
    return dataclasses.replace(invoice, lines=lines, buyer=buyer, number="PA-LONG")


def print_batch(invoices, **settings):
    outlet = PaperOutlet(settings)
    return outlet.print_batch(invoices, PrintContext("mem_1", date(2026, 12, 1), {}, render))


def test_duplex_pads_each_invoice_to_an_even_count_and_numbers_its_pages():
    seine = load_invoice(example("invoice-seine-maritime"))
    printout = print_batch([long_invoice(), seine])
    # Address sheet + 2 invoice pages + a blank page; then address sheet + 1 page.
    assert printout.pages == 6
    assert printout.document.name == "lot-impression-2026-12-01.pdf"
    save_pages(printout.document.content, "lot-recto-verso")
    text = text_of(printout.document.content)
    for number in (1, 2, 3):
        assert f"Facture PA-LONG — page {number}/3" in text
    assert "Facture PA-LONG — page 4" not in text
    assert "Page laissée blanche (impression recto verso)" in text
    assert f"Facture {seine.number} — page 1/2" in text
    window = text_within(printout.document.content, 0, WINDOW)
    assert window.count("\n") <= 6 and "10000 TROYES" in window
    # A long name takes two lines, then is cut to the window, not written past it.
    assert "SERVICE DES ACQUISITIONS" in window and "…" in window
    assert "10000 TROYES" not in text_within(printout.document.content, 0, (0, 92.5, 210, 205))


def test_simplex_leaves_no_blank_page():
    assert print_batch([long_invoice()], duplex=False).pages == 3


def test_an_invoice_without_a_postal_address_is_refused_for_good():
    invoice = load_invoice(example("invoice-aube"))
    no_city = dataclasses.replace(
        invoice,
        buyer=dataclasses.replace(
            invoice.buyer, address=dataclasses.replace(invoice.buyer.address, city=None)
        ),
    )
    context = SendContext("inv_1", "mem_1", 1, {}, render)
    with pytest.raises(PermanentOutletError) as refused:
        PaperOutlet({}).send(no_city, [], context)
    assert refused.value.findings[0].field == "buyer.address"
    assert "la ville" in refused.value.message
    receipt = PaperOutlet({}).send(invoice, [], context)
    assert (receipt.status, receipt.documents) == ("A_IMPRIMER", [])


def test_settings_and_cost():
    cost = PaperOutlet({"postage": "1.29", "minutes_per_invoice": 4}).price_list()
    assert (cost.per_invoice, cost.minutes_per_invoice) == (Decimal("1.29"), Decimal(4))
    assert cost.for_invoice(3) == Decimal("1.29")
    assert PaperOutlet({}).price_list().for_invoice(3) == 0
    for settings, key in (({"postage": "-1"}, "postage"), ({"duplex": "oui"}, "duplex")):
        with pytest.raises(ConfigError, match=key):
            PaperOutlet(settings)


def test_lines_are_required_on_paper_too():
    assert "lineless" not in PaperOutlet.capabilities
    assert isinstance(long_invoice().lines[0], Line)

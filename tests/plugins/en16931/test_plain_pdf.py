"""The ``pdf`` renderer is what the Chorus Pro portal's single-invoice upload takes since
August 2026: PDF/A-2b, no embedded file, no XML; the ``facturx`` renderer keeps PDF/A-3b
with its CII. Checked with pikepdf (metadata, attachments) and pypdf (text)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.french import euros
from gateway.schemas import load_invoice
from gateway.testing.outlets import render
from tests.conftest import example
from tests.pdfs import pdfa_and_attachments, plain, save_pages, text_of


@pytest.fixture(scope="module")
def aube():
    return load_invoice(example("invoice-aube"))


def test_the_plain_pdf_is_pdfa_2b_without_attachment_and_holds_the_portal_facts(aube):
    content = render("pdf", aube)
    assert pdfa_and_attachments(content) == (("2", "B"), False)
    assert b"CrossIndustryInvoice" not in content
    text = text_of(content)
    totals = aube.with_computed_amounts().totals
    for expected in [
        aube.buyer.siret,
        "DFCG",
        "Ej-Aube-2026-4417",
        aube.number,
        *(plain(euros(value)) for value in (totals.tax_exclusive, totals.vat, totals.payable)),
    ]:
        assert expected in text, expected
    assert totals.payable == Decimal("90.72")
    assert len(save_pages(content, "plain-pdf-aube")) == 1


def test_the_facturx_keeps_pdfa_3b_with_its_cii(aube):
    content = render("facturx", aube)
    assert pdfa_and_attachments(content) == (("3", "B"), True)
    assert aube.number in text_of(content)

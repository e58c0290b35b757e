"""The ``pdf-copy`` renderer: the human PDF stamped « COPIE — ne pas payer » on every page,
with nothing embedded, so that no reader can take it for an original; the plain ``pdf``
renderer stays unstamped."""

from __future__ import annotations

import io

import pikepdf
import pytest
from pypdf import PdfReader

from gateway.plugin_api import FormatError
from gateway.schemas import load_invoice
from plugins.en16931.formats import FacturxFormat
from plugins.en16931.renderers import PdfCopyRenderer, PdfRenderer
from tests.conftest import example


def long_invoice():
    document = example("invoice-seine-maritime")
    return load_invoice({**document, "lines": document["lines"] * 30})


def test_every_page_of_the_copy_is_stamped():
    pdf = PdfCopyRenderer().render(long_invoice())
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) > 1
    for page in pages:
        text = page.extract_text()
        assert "COPIE — ne pas payer" in text
        assert "COPIE POUR INFORMATION — NE PAS PAYER" in text
        assert "FA-2026-0142" in text


def test_the_copy_embeds_nothing_and_reads_as_no_invoice():
    pdf = PdfCopyRenderer().render(long_invoice())
    with pikepdf.open(io.BytesIO(pdf)) as document:
        assert len(document.attachments) == 0
        assert "/AF" not in document.Root
        assert "COPIE" in document.open_metadata()["dc:title"]
    with pytest.raises(FormatError):
        FacturxFormat().parse(pdf)


def test_the_plain_pdf_carries_no_stamp():
    text = PdfReader(io.BytesIO(PdfRenderer().render(long_invoice()))).pages[0].extract_text()
    assert "COPIE" not in text and "ne pas payer" not in text

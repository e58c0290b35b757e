"""Renderers out: UBL 2.1, CII D16B, Factur-X PDF/A-3b, the plain human PDF/A-2b and its
copy.

Every renderer writes the invoice's computed amounts (``Invoice.with_computed_amounts``)
in the mapping profile it is given (``chorus``, ``fr-2026`` or ``fr-2026-extended``, see
docs/formats/mapping.md), with the member's legal mentions.
"""

from __future__ import annotations

from gateway.plugin_api import (
    Invoice,
    Mentions,
    Renderer,
)
from plugins.en16931.mapping import FRENCH_LEVELS, check_profile, render_xml
from plugins.en16931.pdf import (
    COPY_STAMP,
    FACTURX_LEVEL,
    render_facturx_pdf,
    render_invoice_pdf,
)


class XmlRenderer(Renderer):
    """An EN 16931 XML syntax, written by :func:`plugins.en16931.render_xml`."""

    media_type = "application/xml"
    extension = ".xml"

    def render(
        self, invoice: Invoice, *, profile: str = "chorus", mentions: Mentions | None = None
    ) -> bytes:
        return render_xml(invoice, syntax=self.name, profile=profile, mentions=mentions)


class UblRenderer(XmlRenderer):
    name = "ubl"
    description = "UBL 2.1 Invoice, or CreditNote for a credit note (EN 16931)"


class CiiRenderer(XmlRenderer):
    name = "cii"
    description = "UN/CEFACT Cross Industry Invoice D16B, EN 16931 profile"


class PdfRenderer(Renderer):
    name = "pdf"
    media_type = "application/pdf"
    extension = ".pdf"
    description = "Human-readable invoice, PDF/A-2b without XML nor attachment (portal upload)"

    def render(
        self, invoice: Invoice, *, profile: str = "chorus", mentions: Mentions | None = None
    ) -> bytes:
        check_profile(profile)  # the page is the same in every profile
        return render_invoice_pdf(invoice, mentions=mentions)


class PdfCopyRenderer(Renderer):
    """The human PDF stamped as a copy: what the customer's copy addresses receive. Never
    Factur-X and no XML inside, so that it can never pass for a second original."""

    name = "pdf-copy"
    media_type = "application/pdf"
    extension = ".pdf"
    description = "Information copy: the human PDF stamped « COPIE — ne pas payer », no XML"

    def render(
        self, invoice: Invoice, *, profile: str = "chorus", mentions: Mentions | None = None
    ) -> bytes:
        check_profile(profile)
        return render_invoice_pdf(invoice, stamp=COPY_STAMP, mentions=mentions)


class FacturxRenderer(Renderer):
    name = "facturx"
    media_type = "application/pdf"
    extension = ".pdf"
    description = "Factur-X EN 16931: the human PDF/A-3b with its CII embedded"

    def render(
        self, invoice: Invoice, *, profile: str = "chorus", mentions: Mentions | None = None
    ) -> bytes:
        cii = render_xml(invoice, syntax="cii", profile=profile, mentions=mentions)
        level = FRENCH_LEVELS.get(profile, FACTURX_LEVEL)
        return render_facturx_pdf(invoice, cii, mentions=mentions, level=level)

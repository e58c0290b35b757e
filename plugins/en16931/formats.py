"""The EN 16931 syntaxes in: UBL 2.1 (Invoice, CreditNote), UN/CEFACT CII D16B (Factur-X
profiles included) and Factur-X / ZUGFeRD 2 PDF.

Chorus Pro syntaxes: ``IN_DP_E1_UBL_INVOICE``, ``IN_DP_E1_CII_16B``, ``IN_DP_E2_CII_FACTURX``.
A MINIMUM or BASIC WL document has no lines: it parses to an invoice whose ``lines`` is
empty and whose ``totals`` carry the document's figures; the caller decides whether the
chosen outlet takes it (see docs/formats/mapping.md). The PDF of a Factur-X stays the
human-readable original that the core archives.
"""

from __future__ import annotations

import logging

from facturx import get_xml_from_pdf

from gateway.plugin_api import FormatError, FormatHandler, Invoice, parse_xml
from plugins.en16931.mapping import (
    CII_NS,
    UBL_CREDIT_NOTE_NS,
    UBL_INVOICE_NS,
    XmlInvoiceFormat,
    parse_with_rules,
)

#: Largest PDF accepted (bytes): Chorus Pro refuses larger invoice files anyway.
MAX_PDF_BYTES = 20 * 1024 * 1024

# pypdf warns at length about the odd PDFs management software produces; they still parse.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class UblFormat(XmlInvoiceFormat):
    name = "ubl"
    # Generic XML types are left to sniffing: UBL and CII both arrive as application/xml.
    media_types = ("application/ubl+xml",)
    extensions = (".xml", ".ubl")
    description = "UBL 2.1 Invoice or CreditNote (EN 16931)"
    roots = frozenset({f"{{{UBL_INVOICE_NS}}}Invoice", f"{{{UBL_CREDIT_NOTE_NS}}}CreditNote"})


class CiiFormat(XmlInvoiceFormat):
    name = "cii"
    # Generic XML types are left to sniffing: UBL and CII both arrive as application/xml.
    media_types = ("application/cii+xml",)
    extensions = (".xml", ".cii")
    description = "UN/CEFACT Cross Industry Invoice D16B (EN 16931, Factur-X MINIMUM to EXTENDED)"
    roots = frozenset({f"{{{CII_NS}}}CrossIndustryInvoice"})


class FacturxFormat(FormatHandler):
    name = "facturx"
    media_types = ("application/pdf",)
    extensions = (".pdf",)
    description = "Factur-X / ZUGFeRD 2 PDF (CII D16B XML embedded in a PDF/A-3)"

    def sniff(self, data: bytes) -> bool:
        return data[:1024].lstrip().startswith(b"%PDF-")

    def parse(self, data: bytes) -> list[Invoice]:
        if len(data) > MAX_PDF_BYTES:
            raise FormatError(f"PDF trop volumineux ({len(data)} octets, maximum {MAX_PDF_BYTES}).")
        try:
            # XSD checked later by the validation engine, which says what is wrong;
            # here a schema error would only turn into "no XML found".
            _filename, xml = get_xml_from_pdf(data, check_xsd=False, check_schematron=False)
        except Exception as ex:  # pypdf raises many kinds on broken files
            raise FormatError(f"PDF illisible : {ex}") from ex
        if not xml:
            raise FormatError(
                "Ce PDF ne contient pas de facture Factur-X : aucun fichier XML CII n'y est "
                "joint. Un PDF simple se dépose à la main sur le portail Chorus Pro."
            )
        return [parse_with_rules(parse_xml(xml), xml)]

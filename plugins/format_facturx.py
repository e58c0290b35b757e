"""Factur-X / ZUGFeRD 2 PDF in (Chorus Pro syntax ``IN_DP_E2_CII_FACTURX``).

The CII XML is extracted with the ``factur-x`` package and read like a bare CII document;
the PDF itself stays the human-readable original that the core archives.
"""

from __future__ import annotations

import logging

from facturx import get_xml_from_pdf

from gateway.errors import FormatError
from gateway.formats import FormatHandler
from gateway.hookspecs import hookimpl
from gateway.model import Invoice
from gateway.xmlsafe import parse_xml
from plugins.en16931 import parse_with_rules

#: Largest PDF accepted (bytes): Chorus Pro refuses larger invoice files anyway.
MAX_PDF_BYTES = 20 * 1024 * 1024

# pypdf warns at length about the odd PDFs management software produces; they still parse.
logging.getLogger("pypdf").setLevel(logging.ERROR)


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


@hookimpl
def gateway_register_formats() -> list[FacturxFormat]:
    return [FacturxFormat()]

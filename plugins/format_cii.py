"""UN/CEFACT CII D16B in (Chorus Pro syntax ``IN_DP_E1_CII_16B``), Factur-X profiles included.

A MINIMUM or BASIC WL document has no lines: it parses to an invoice whose ``lines`` is
empty and whose ``totals`` carry the document's figures; the caller decides whether the
chosen outlet takes it (see docs/formats/mapping.md).
"""

from __future__ import annotations

from gateway.hookspecs import hookimpl
from plugins.en16931 import CII_NS, XmlInvoiceFormat


class CiiFormat(XmlInvoiceFormat):
    name = "cii"
    # Generic XML types are left to sniffing: UBL and CII both arrive as application/xml.
    media_types = ("application/cii+xml",)
    extensions = (".xml", ".cii")
    description = "UN/CEFACT Cross Industry Invoice D16B (EN 16931, Factur-X MINIMUM to EXTENDED)"
    roots = frozenset({f"{{{CII_NS}}}CrossIndustryInvoice"})


@hookimpl
def gateway_register_formats() -> list[CiiFormat]:
    return [CiiFormat()]

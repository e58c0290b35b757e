"""UBL 2.1 Invoice and CreditNote in (Chorus Pro syntax ``IN_DP_E1_UBL_INVOICE``)."""

from __future__ import annotations

from gateway.hookspecs import hookimpl
from plugins.en16931 import UBL_CREDIT_NOTE_NS, UBL_INVOICE_NS, XmlInvoiceFormat


class UblFormat(XmlInvoiceFormat):
    name = "ubl"
    # Generic XML types are left to sniffing: UBL and CII both arrive as application/xml.
    media_types = ("application/ubl+xml",)
    extensions = (".xml", ".ubl")
    description = "UBL 2.1 Invoice or CreditNote (EN 16931)"
    roots = frozenset({f"{{{UBL_INVOICE_NS}}}Invoice", f"{{{UBL_CREDIT_NOTE_NS}}}CreditNote"})


@hookimpl
def gateway_register_formats() -> list[UblFormat]:
    return [UblFormat()]

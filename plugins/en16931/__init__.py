"""EN 16931 in every syntax: UBL, CII and Factur-X in; UBL, CII, Factur-X and PDF out; and
the ``en16931`` (and ``fr-ctc``) rule sets, the official XSD and schematron.

``mapping`` maps the canonical invoice to and from EN 16931 business terms, ``formats``
reads documents, ``renderers`` and ``pdf`` write them, ``rules`` and ``fields`` judge them.
"""

from gateway.plugin_api import (
    Document,
    Finding,
    FormatHandler,
    Invoice,
    Renderer,
    Route,
    hookimpl,
)
from plugins.en16931.formats import CiiFormat, FacturxFormat, UblFormat
from plugins.en16931.identifiers import SCHEME_FR_ADDRESS
from plugins.en16931.mapping import siren_of
from plugins.en16931.renderers import (
    CiiRenderer,
    FacturxRenderer,
    PdfCopyRenderer,
    PdfRenderer,
    UblRenderer,
)
from plugins.en16931.rules import RULE_SET, conversion_losses, judge_documents


@hookimpl
def gateway_register_formats() -> list[FormatHandler]:
    return [UblFormat(), CiiFormat(), FacturxFormat()]


@hookimpl
def gateway_register_renderers() -> list[Renderer]:
    return [UblRenderer(), CiiRenderer(), FacturxRenderer(), PdfRenderer(), PdfCopyRenderer()]


@hookimpl
def gateway_enrich_invoice(invoice: Invoice, route: Route | None) -> list[Finding]:
    """A company's platform receives at the address the reform's directory gives (BT-49):
    the French profiles write it rather than the bare SIREN."""
    address = route.electronic_address if route is not None else None
    # The French profiles write the bare SIREN themselves: only another address is kept.
    if address and address != siren_of(invoice.buyer.siret):
        invoice.other_terms["BG-7"] = {
            **(invoice.other_terms.get("BG-7") or {}),
            "einvoicing_addr": address,
            "einvoicing_addr_schemeid": SCHEME_FR_ADDRESS,
        }
    return []


@hookimpl
def gateway_validate_invoice(
    invoice: Invoice,
    document: Document | None,
    original: Document | None,
    rule_sets: frozenset[str] | None,
) -> list[Finding]:
    """The documents judged by the EN 16931 rules, and what the one to be sent cannot carry
    of the invoice."""
    findings = judge_documents(document=document, original=original, rule_sets=rule_sets)
    if document is not None and (rule_sets is None or RULE_SET in rule_sets):
        findings += conversion_losses(invoice, document.content)
    return findings

"""The mandatory EN 16931 elements a UBL or CII document lacks, each named by its rule.

A missing element can be found by the parser (no invoice number), by factur-x (no
currency), by the XSD (CII requires most of them) or by the schematron: whichever stage
finds it first, the bookseller reads the same ``en16931.BR-…`` finding on the same field.
Factur-X MINIMUM and BASIC WL documents, which lack lines and addresses by design, are
left to their own schematron.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway.plugin_api import Finding
from plugins.en16931.fields import RULES

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}

_UBL_SELLER = "cac:AccountingSupplierParty/cac:Party"
_UBL_BUYER = "cac:AccountingCustomerParty/cac:Party"
_UBL_TOTALS = "cac:LegalMonetaryTotal"
_CII_AGREEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
_CII_SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
_CII_TOTALS = f"{_CII_SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"

#: Where each group of checks applies (its context elements), in UBL and in CII.
CONTEXTS = {
    "document": (".", "."),
    "line": (
        "cac:InvoiceLine|cac:CreditNoteLine",
        "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem",
    ),
    "vat": ("cac:TaxTotal/cac:TaxSubtotal", f"{_CII_SETTLEMENT}/ram:ApplicableTradeTax"),
    "seller_address": (
        f"{_UBL_SELLER}/cac:PostalAddress",
        f"{_CII_AGREEMENT}/ram:SellerTradeParty/ram:PostalTradeAddress",
    ),
    "buyer_address": (
        f"{_UBL_BUYER}/cac:PostalAddress",
        f"{_CII_AGREEMENT}/ram:BuyerTradeParty/ram:PostalTradeAddress",
    ),
}

#: Rule -> (context, UBL path, CII path): the path must give an element in each context.
MANDATORY: dict[str, tuple[str, str, str]] = {
    "BR-01": (
        "document",
        "cbc:CustomizationID",
        "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
    ),
    "BR-02": ("document", "cbc:ID", "rsm:ExchangedDocument/ram:ID"),
    "BR-03": (
        "document",
        "cbc:IssueDate",
        "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString",
    ),
    "BR-04": (
        "document",
        "cbc:InvoiceTypeCode|cbc:CreditNoteTypeCode",
        "rsm:ExchangedDocument/ram:TypeCode",
    ),
    "BR-05": ("document", "cbc:DocumentCurrencyCode", f"{_CII_SETTLEMENT}/ram:InvoiceCurrencyCode"),
    "BR-06": (
        "document",
        f"{_UBL_SELLER}/cac:PartyLegalEntity/cbc:RegistrationName",
        f"{_CII_AGREEMENT}/ram:SellerTradeParty/ram:Name",
    ),
    "BR-07": (
        "document",
        f"{_UBL_BUYER}/cac:PartyLegalEntity/cbc:RegistrationName",
        f"{_CII_AGREEMENT}/ram:BuyerTradeParty/ram:Name",
    ),
    "BR-08": ("document", *CONTEXTS["seller_address"]),
    "BR-09": ("seller_address", "cac:Country/cbc:IdentificationCode", "ram:CountryID"),
    "BR-10": ("document", *CONTEXTS["buyer_address"]),
    "BR-11": ("buyer_address", "cac:Country/cbc:IdentificationCode", "ram:CountryID"),
    "BR-12": (
        "document",
        f"{_UBL_TOTALS}/cbc:LineExtensionAmount",
        f"{_CII_TOTALS}/ram:LineTotalAmount",
    ),
    "BR-13": (
        "document",
        f"{_UBL_TOTALS}/cbc:TaxExclusiveAmount",
        f"{_CII_TOTALS}/ram:TaxBasisTotalAmount",
    ),
    "BR-14": (
        "document",
        f"{_UBL_TOTALS}/cbc:TaxInclusiveAmount",
        f"{_CII_TOTALS}/ram:GrandTotalAmount",
    ),
    "BR-15": (
        "document",
        f"{_UBL_TOTALS}/cbc:PayableAmount",
        f"{_CII_TOTALS}/ram:DuePayableAmount",
    ),
    "BR-16": ("document", *CONTEXTS["line"]),
    "BR-CO-18": ("document", *CONTEXTS["vat"]),
    "BR-21": ("line", "cbc:ID", "ram:AssociatedDocumentLineDocument/ram:LineID"),
    "BR-22": (
        "line",
        "cbc:InvoicedQuantity|cbc:CreditedQuantity",
        "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity",
    ),
    "BR-24": (
        "line",
        "cbc:LineExtensionAmount",
        "ram:SpecifiedLineTradeSettlement/"
        "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
    ),
    "BR-25": ("line", "cac:Item/cbc:Name", "ram:SpecifiedTradeProduct/ram:Name"),
    "BR-26": (
        "line",
        "cac:Price/cbc:PriceAmount",
        "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount",
    ),
    "BR-CO-04": (
        "line",
        "cac:Item/cac:ClassifiedTaxCategory/cbc:ID",
        "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode",
    ),
    "BR-45": ("vat", "cbc:TaxableAmount", "ram:BasisAmount"),
    "BR-46": ("vat", "cbc:TaxAmount", "ram:CalculatedAmount"),
    "BR-47": ("vat", "cac:TaxCategory/cbc:ID", "ram:CategoryCode"),
}


@dataclass(frozen=True)
class Missing:
    """A mandatory element absent, and the element names an XSD error about it would cite."""

    finding: Finding
    tags: frozenset[str]


def _absent_tags(element: etree._Element, path: str) -> frozenset[str]:
    """Return the Clark names of the steps of ``path`` missing under ``element``, from the
    first absent one on (``a/b|c`` alternatives included)."""
    tags = set()
    for alternative in path.split("|"):
        node, steps = element, alternative.split("/")
        for index, step in enumerate(steps):
            found = node.xpath(step, namespaces=NS)
            if not found:
                tags.update(_clark(rest) for rest in steps[index:])
                break
            node = found[0]
    return frozenset(tags)


def _clark(step: str) -> str:
    prefix, _, local = step.partition(":")
    return f"{{{NS[prefix]}}}{local}"


#: BT-24 of the Factur-X profiles without lines or addresses.
HEADER_ONLY_PROFILES = frozenset({"urn:factur-x.eu:1p0:minimum", "urn:factur-x.eu:1p0:basicwl"})


def missing_terms(root: etree._Element) -> list[Missing]:
    """Return the mandatory elements a UBL or CII document lacks."""
    cii = root.tag == f"{{{NS['rsm']}}}CrossIndustryInvoice"
    column = 2 if cii else 1
    if cii and root.xpath(f"string({MANDATORY['BR-01'][2]})", namespaces=NS).strip() in (
        HEADER_ONLY_PROFILES
    ):
        return []
    found = []
    for rule, entry in MANDATORY.items():
        context, path = entry[0], entry[column]
        contexts = root.xpath(CONTEXTS[context][column - 1], namespaces=NS)
        for position, element in enumerate(contexts):
            if element.xpath(path, namespaces=NS):
                continue
            template, message = RULES[rule]
            groups = {"line": f"lines[{position}]", "vat": f"vat_breakdown[{position}]"}
            found.append(
                Missing(
                    Finding(
                        code=f"en16931.{rule}",
                        message=message,
                        field=template.format_map(groups) if template else None,
                        rule=rule,
                        xpath=element.getroottree().getpath(element),
                        line=element.sourceline,
                    ),
                    _absent_tags(element, path),
                )
            )
    return found

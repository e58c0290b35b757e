"""Every missing mandatory element is refused with its EN 16931 rule, on its canonical field.

Each mandatory business term (BR-01 to BR-16, the line and VAT breakdown ones) is removed in
turn from valid UBL and CII documents (two of tests/data/interop/, and official samples when
the cache holds them) and sent to POST /v1/invoices/validate: whichever stage finds the gap
(the parser, factur-x, the XSD or the schematron), the answer carries ``en16931.<rule>`` on
the term's field, in French, and no ``format.unreadable`` nor raw XSD message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway.xmlsafe import parse_xml
from tests.official.sources import FACTUR_X, MOCK_EINVOICE, Source, cached

INTEROP = Path(__file__).parents[2] / "data" / "interop"
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}

_SELLER = "cac:AccountingSupplierParty/cac:Party"
_BUYER = "cac:AccountingCustomerParty/cac:Party"
_LINE = "cac:InvoiceLine[1]"
_SUBTOTAL = "cac:TaxTotal/cac:TaxSubtotal"
#: Rule, field, what to remove from a UBL invoice.
UBL = [
    ("BR-01", None, "cbc:CustomizationID"),
    ("BR-02", "number", "cbc:ID"),
    ("BR-03", "issue_date", "cbc:IssueDate"),
    ("BR-04", "type", "cbc:InvoiceTypeCode"),
    ("BR-05", "currency", "cbc:DocumentCurrencyCode"),
    ("BR-06", "seller.name", f"{_SELLER}/cac:PartyLegalEntity/cbc:RegistrationName"),
    ("BR-07", "buyer.name", f"{_BUYER}/cac:PartyLegalEntity/cbc:RegistrationName"),
    ("BR-08", "seller.address", f"{_SELLER}/cac:PostalAddress"),
    ("BR-09", "seller.address.country", f"{_SELLER}/cac:PostalAddress/cac:Country"),
    ("BR-10", "buyer.address", f"{_BUYER}/cac:PostalAddress"),
    ("BR-11", "buyer.address.country", f"{_BUYER}/cac:PostalAddress/cac:Country"),
    ("BR-12", "totals.lines", "cac:LegalMonetaryTotal/cbc:LineExtensionAmount"),
    ("BR-13", "totals.tax_exclusive", "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount"),
    ("BR-14", "totals.tax_inclusive", "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"),
    ("BR-15", "totals.payable", "cac:LegalMonetaryTotal/cbc:PayableAmount"),
    ("BR-16", "lines", "cac:InvoiceLine"),
    ("BR-21", "lines[0].id", f"{_LINE}/cbc:ID"),
    ("BR-22", "lines[0].quantity", f"{_LINE}/cbc:InvoicedQuantity"),
    ("BR-23", "lines[0].unit_code", f"{_LINE}/cbc:InvoicedQuantity/@unitCode"),
    ("BR-24", "lines[0].line_amount", f"{_LINE}/cbc:LineExtensionAmount"),
    ("BR-25", "lines[0].name", f"{_LINE}/cac:Item/cbc:Name"),
    ("BR-26", "lines[0].net_price", f"{_LINE}/cac:Price/cbc:PriceAmount"),
    ("BR-CO-04", "lines[0].vat_category", f"{_LINE}/cac:Item/cac:ClassifiedTaxCategory/cbc:ID"),
    ("BR-CO-18", "vat_breakdown", _SUBTOTAL),
    ("BR-45", "vat_breakdown[0].taxable_amount", f"{_SUBTOTAL}[1]/cbc:TaxableAmount"),
    ("BR-46", "vat_breakdown[0].tax_amount", f"{_SUBTOTAL}[1]/cbc:TaxAmount"),
    ("BR-47", "vat_breakdown[0].category", f"{_SUBTOTAL}[1]/cac:TaxCategory/cbc:ID"),
]

_AGREEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
_SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
_TOTALS = f"{_SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
_ITEMS = "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem"
_ITEM = f"{_ITEMS}[1]"
_TAX = f"{_SETTLEMENT}/ram:ApplicableTradeTax"
#: Rule, field, what to remove from a CII invoice.
CII = [
    ("BR-01", None, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter"),
    ("BR-02", "number", "rsm:ExchangedDocument/ram:ID"),
    ("BR-03", "issue_date", "rsm:ExchangedDocument/ram:IssueDateTime"),
    ("BR-04", "type", "rsm:ExchangedDocument/ram:TypeCode"),
    ("BR-05", "currency", f"{_SETTLEMENT}/ram:InvoiceCurrencyCode"),
    ("BR-06", "seller.name", f"{_AGREEMENT}/ram:SellerTradeParty/ram:Name"),
    ("BR-07", "buyer.name", f"{_AGREEMENT}/ram:BuyerTradeParty/ram:Name"),
    ("BR-08", "seller.address", f"{_AGREEMENT}/ram:SellerTradeParty/ram:PostalTradeAddress"),
    ("BR-09", "seller.address.country",
     f"{_AGREEMENT}/ram:SellerTradeParty/ram:PostalTradeAddress/ram:CountryID"),
    ("BR-10", "buyer.address", f"{_AGREEMENT}/ram:BuyerTradeParty/ram:PostalTradeAddress"),
    ("BR-11", "buyer.address.country",
     f"{_AGREEMENT}/ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID"),
    ("BR-12", "totals.lines", f"{_TOTALS}/ram:LineTotalAmount"),
    ("BR-13", "totals.tax_exclusive", f"{_TOTALS}/ram:TaxBasisTotalAmount"),
    ("BR-14", "totals.tax_inclusive", f"{_TOTALS}/ram:GrandTotalAmount"),
    ("BR-15", "totals.payable", f"{_TOTALS}/ram:DuePayableAmount"),
    ("BR-16", "lines", _ITEMS),
    ("BR-21", "lines[0].id", f"{_ITEM}/ram:AssociatedDocumentLineDocument/ram:LineID"),
    ("BR-22", "lines[0].quantity", f"{_ITEM}/ram:SpecifiedLineTradeDelivery/ram:BilledQuantity"),
    ("BR-23", "lines[0].unit_code",
     f"{_ITEM}/ram:SpecifiedLineTradeDelivery/ram:BilledQuantity/@unitCode"),
    ("BR-24", "lines[0].line_amount", f"{_ITEM}/ram:SpecifiedLineTradeSettlement/"
     "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"),
    ("BR-25", "lines[0].name", f"{_ITEM}/ram:SpecifiedTradeProduct/ram:Name"),
    ("BR-26", "lines[0].net_price",
     f"{_ITEM}/ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice"),
    ("BR-CO-04", "lines[0].vat_category",
     f"{_ITEM}/ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode"),
    ("BR-CO-18", "vat_breakdown", _TAX),
    ("BR-45", "vat_breakdown[0].taxable_amount", f"{_TAX}[1]/ram:BasisAmount"),
    ("BR-46", "vat_breakdown[0].tax_amount", f"{_TAX}[1]/ram:CalculatedAmount"),
    ("BR-47", "vat_breakdown[0].category", f"{_TAX}[1]/ram:CategoryCode"),
]  # fmt: skip

#: Valid documents: (label, where it comes from, relative path, cases).
DOCUMENTS = [
    ("interop-ubl", None, "ubl-chorus-0009.xml", UBL),
    ("interop-cii", None, "cii-facturx-globalid-0009.xml", CII),
    ("official-ubl", MOCK_EINVOICE, "en16931/ubl-tc434-example4.xml", UBL),
    ("official-cii", FACTUR_X, "factur-x-en16931.xml", CII),
]
CASES = [
    pytest.param(source, path, rule, field, removed, id=f"{label}-{rule}")
    for label, source, path, cases in DOCUMENTS
    for rule, field, removed in cases
]


def _document(source: Source | None, path: str) -> etree._Element:
    if source is None:
        return parse_xml((INTEROP / path).read_bytes())
    try:
        return parse_xml((cached(source) / path).read_bytes())
    except RuntimeError as ex:
        pytest.skip(f"official samples unavailable: {ex}")


def _remove(root: etree._Element, path: str) -> None:
    element_path, _, attribute = path.partition("/@")
    found = root.xpath(element_path, namespaces=NS)
    assert found, f"nothing to remove at {path}"
    for element in found:
        if attribute:
            del element.attrib[attribute]
        else:
            element.getparent().remove(element)


def _dry_run(gateway, member, body: bytes, **params: str) -> dict:
    result = gateway.client.simulate_post(
        "/v1/invoices/validate",
        body=body,
        headers={**member["headers"], "Content-Type": ""},
        params={"rules": "en16931", **params},
    )
    assert result.status_code in (200, 422), result.json
    return {"valid": False, **result.json} if result.status_code == 422 else result.json


@pytest.mark.parametrize(("source", "path", "rule", "field", "removed"), CASES)
def test_a_missing_mandatory_term_is_refused_with_its_rule(
    gateway, member, source, path, rule, field, removed
):
    root = _document(source, path)
    assert _dry_run(gateway, member, etree.tostring(root))["valid"] is True
    _remove(root, removed)
    report = _dry_run(gateway, member, etree.tostring(root))
    assert report["valid"] is False
    errors = report["errors"]
    assert (f"en16931.{rule}", field) in {(e["code"], e["field"]) for e in errors}, errors
    assert not {"format.unreadable", "en16931.xsd"} & {e["code"] for e in errors}, errors
    assert not any("absent(e)" in e["message"] for e in errors), errors


def test_a_document_that_cannot_be_read_stays_unreadable(gateway, member):
    root = _document(None, "ubl-chorus-0009.xml")
    root.tag = "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Order"
    for body in (etree.tostring(root), b"Facture n\xc2\xb0 12, pas du XML"):
        report = _dry_run(gateway, member, body, format="ubl")
        assert [e["code"] for e in report["errors"]][:1] == ["format.unreadable"], report

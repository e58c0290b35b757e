"""A third party's EN 16931 CII, written by hand from the semantic model (no official CII
sample ships in any package the gateway may use): a Belgian distributor's invoice with
line allowances and charges, three VAT rates and an exemption, a prepaid amount and a
rounding amount, attachments (URI and embedded file), object identifiers, a payee, a
deliver-to party, periods, contacts and electronic addresses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree

from gateway.codec import invoice_from_data, invoice_to_data
from gateway.model import LineAdjustment
from gateway.xmlsafe import parse_xml
from plugins.en16931.mapping import parse_document, render_xml
from plugins.en16931.rules import validate_document
from tests.conftest import DATA
from tests.official.test_official_samples import LOSSES, dry_run, terms

DOCUMENT = DATA / "xml" / "cii-third-party-bruxelles.xml"
NS = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
LINE_ONE = "//ram:IncludedSupplyChainTradeLineItem[1]/ram:SpecifiedLineTradeSettlement/"
ADJUSTMENT = LINE_ONE + "ram:SpecifiedTradeAllowanceCharge"


def test_it_is_valid_and_accepted(official_gateway, official_member):
    assert validate_document(DOCUMENT.read_bytes()) == []
    report = dry_run(official_gateway, official_member, DOCUMENT.read_bytes())
    assert (report["valid"], report["errors"]) == (True, [])


def test_it_reads_into_the_canonical_invoice():
    invoice = parse_document(parse_xml(DOCUMENT.read_bytes()))
    line = invoice.lines[0]
    assert line.allowances == [
        LineAdjustment(
            amount=Decimal("5.70"),
            reason="Remise de collection",
            reason_code="95",
            percent=Decimal(5),
            base_amount=Decimal("114.00"),
        )
    ]
    assert line.charges == [
        LineAdjustment(amount=Decimal("1.50"), reason="Emballage renforcé", reason_code="ABL")
    ]
    assert line.computed_amount() == line.line_amount == Decimal("109.80")
    assert (invoice.prepaid_amount, invoice.rounding_amount) == (Decimal(100), Decimal("-0.42"))
    assert invoice.computed_totals() == invoice.totals
    assert invoice.vat_exemption_reason_code == "VATEX-EU-132"
    assert invoice.other_terms["BT-73"] == "2026-10-01"
    assert invoice.other_terms["BG-24"][0]["BT-125-2"] == "colis.csv"
    assert line.other_terms["BT-159"] == "BE"


@pytest.mark.parametrize(("syntax", "profile"), [("cii", "chorus"), ("ubl", "chorus")])
def test_it_renders_valid_and_whole_even_after_storage(syntax, profile):
    invoice = parse_document(parse_xml(DOCUMENT.read_bytes()))
    stored = invoice_from_data(invoice_to_data(invoice))
    rendered = render_xml(stored, syntax=syntax, profile=profile)
    assert validate_document(rendered) == []
    lost = terms(DOCUMENT.read_bytes()) - terms(rendered) - set(LOSSES)
    # The project name (BT-11-0) is a CII element without a UBL place.
    assert lost == (set() if syntax == "cii" else {"/BT-11-0"})
    assert parse_document(parse_xml(rendered)).lines[0].allowances == invoice.lines[0].allowances


def remove(root, path):
    for element in root.xpath(path, namespaces=NS):
        element.getparent().remove(element)


def replace(value):
    def change(root, path):
        for element in root.xpath(path, namespaces=NS):
            element.text = value

    return change


#: (change, where, code, field): one rule broken, named on the field a bookseller fixes.
BROKEN = [
    (remove, f"{ADJUSTMENT}[1]/ram:Reason|{ADJUSTMENT}[1]/ram:ReasonCode", "BR-42",
     "lines[0].allowances[0].reason"),
    (remove, f"{ADJUSTMENT}[2]/ram:Reason|{ADJUSTMENT}[2]/ram:ReasonCode", "BR-44",
     "lines[0].charges[0].reason"),
    (replace("5.701"), f"{ADJUSTMENT}[1]/ram:ActualAmount", "BR-DEC-24",
     "lines[0].allowances[0].amount"),
    (replace("114.001"), f"{ADJUSTMENT}[1]/ram:BasisAmount", "BR-DEC-25",
     "lines[0].allowances[0].base_amount"),
    (replace("1.501"), f"{ADJUSTMENT}[2]/ram:ActualAmount", "BR-DEC-27",
     "lines[0].charges[0].amount"),
    (replace("420.00"), "//ram:DuePayableAmount", "BR-CO-16", "totals.payable"),
    (remove, "//ram:ApplicableTradeTax[ram:CategoryCode='E']/ram:ExemptionReason"
     "|//ram:ApplicableTradeTax[ram:CategoryCode='E']/ram:ExemptionReasonCode", "BR-E-10",
     "vat_exemption_reason"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "where", "rule", "field"), BROKEN, ids=[b[2] for b in BROKEN])
def test_one_broken_rule_is_named_on_its_field(
    official_gateway, official_member, change, where, rule, field
):
    root = parse_xml(DOCUMENT.read_bytes())
    change(root, where)
    report = dry_run(official_gateway, official_member, etree.tostring(root))
    assert report["valid"] is False
    assert (f"en16931.{rule}", field) in {(e["code"], e.get("field")) for e in report["errors"]}


def test_a_line_charge_fault_in_ubl_is_named_on_its_field():
    invoice = parse_document(parse_xml(DOCUMENT.read_bytes()))
    root = parse_xml(render_xml(invoice, syntax="ubl", profile="chorus"))
    charge = "//cac:InvoiceLine[1]/cac:AllowanceCharge[2]/"
    remove(root, f"{charge}cbc:AllowanceChargeReason|{charge}cbc:AllowanceChargeReasonCode")
    found = {(f.code, f.field) for f in validate_document(etree.tostring(root))}
    assert ("en16931.BR-44", "lines[0].charges[0].reason") in found

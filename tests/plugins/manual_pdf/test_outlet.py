"""The ``manual_pdf`` outlet on its own: what it gives the bookseller for each directory
situation, its settings and what it costs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.config import ConfigError
from gateway.directory import DirectoryEntry, Service
from gateway.outlets import Document, SendContext
from gateway.schemas import load_invoice
from gateway.testing.outlets import render
from plugins.manual_pdf.outlet import ManualPdfOutlet
from tests.conftest import example
from tests.pdfs import pdfa_and_attachments, save_pages, text_of

AUBE = DirectoryEntry(
    siret="22100005200011",
    name="DEPARTEMENT DE L'AUBE",
    service_required=True,
    engagement_required=True,
    services=[
        Service("DFCG", "Direction des finances", engagement_required=True),
        Service("DGAEC", "Service de la Musique", status="SUPPRIME"),
    ],
    checked_at=datetime(2026, 12, 1, 16, 5, tzinfo=UTC),
)


def send(invoice, documents=(), entry=AUBE):
    context = SendContext(
        invoice_id="inv_1",
        member_id="mem_1",
        attempt=1,
        settings={},
        render=render,
        directory_entry=entry,
    )
    return ManualPdfOutlet({}).send(invoice, list(documents), context)


def sheet_of(receipt) -> bytes:
    return next(d.content for d in receipt.documents if d.name == "fiche-de-depot.pdf")


def test_the_receipt_waits_for_the_upload_with_the_portal_pdf_and_the_sheet():
    invoice = load_invoice(example("invoice-aube"))
    receipt = send(
        invoice, [Document("piece-jointe.bon-de-livraison.pdf", "application/pdf", b"%")]
    )
    assert (receipt.outlet, receipt.status, receipt.reference) == (
        "manual_pdf",
        "A_DEPOSER",
        invoice.number,
    )
    assert [d.name for d in receipt.documents] == ["facture-portail.pdf", "fiche-de-depot.pdf"]
    for document in receipt.documents:
        assert document.media_type == "application/pdf"
        assert pdfa_and_attachments(document.content) == (("2", "B"), False)
    sheet = sheet_of(receipt)
    assert len(save_pages(sheet, "fiche-de-depot-aube")) == 1
    text = text_of(sheet)
    for expected in [
        "Destinataire : SIRET 22100005200011",
        "Code service DFCG",
        "N° d'engagement Ej-Aube-2026-4417",
        "Montant TTC 90,72 €",
        "• bon-de-livraison.pdf",
        "vérifié le 01/12/2026 à 17:05, heure de Paris",
        "Service obligatoire : oui ; engagement obligatoire : oui",
        "Service « DFCG » (Direction des finances) : ACTIF ; engagement obligatoire pour ce "
        "service : oui",
    ]:
        assert expected in text, expected


def test_a_removed_service_and_an_unread_directory_are_said():
    invoice = load_invoice(example("invoice-aube"))
    removed = dataclasses.replace(
        invoice, references=dataclasses.replace(invoice.references, service_code="DGAEC")
    )
    text = text_of(sheet_of(send(removed)))
    assert "Service « DGAEC » (Service de la Musique) : SUPPRIME" in text
    unknown = dataclasses.replace(
        invoice, references=dataclasses.replace(invoice.references, service_code="NOPE")
    )
    assert "Service « NOPE » : absent de l'annuaire" in text_of(sheet_of(send(unknown)))
    unread = text_of(sheet_of(send(invoice, entry=None)))
    assert "Annuaire Chorus Pro : non consulté" in unread
    assert "« Rechercher structure publique »" in unread


def test_a_credit_note_sheet_names_an_avoir():
    credit = load_invoice(example("credit-note-seine-maritime"))
    text = text_of(sheet_of(send(credit, entry=None)))
    assert "Type de document Avoir" in text and f"N° d'avoir {credit.number}" in text
    assert f"N° de la facture d'origine {credit.preceding_invoice.number}" in text


def test_settings_and_cost():
    outlet = ManualPdfOutlet({"minutes_per_invoice": "7.5"})
    cost = outlet.price_list()
    assert cost.minutes_per_invoice == Decimal("7.5") and cost.for_invoice(12) == 0
    assert "gratuit" in cost.note and "temps du libraire" in cost.note
    assert ManualPdfOutlet.cost.minutes_per_invoice == 5
    assert outlet.document_format({}) == ("cii", "chorus")
    with pytest.raises(ConfigError, match="minutes_per_invoice"):
        ManualPdfOutlet({"minutes_per_invoice": "cinq"})

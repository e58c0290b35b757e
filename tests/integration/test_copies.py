"""Information copies by e-mail, received by a real SMTP server (aiosmtpd) on loopback: none
before the original leaves, exactly one after, with the PDF stamped « COPIE — ne pas payer »
and nothing embedded; a refusal retried later, then parked; never sent twice; none for a
refused invoice; the invoice's status never touched."""

from __future__ import annotations

import io
from datetime import timedelta

import pikepdf
import pytest
from pypdf import PdfReader

from gateway.config import CopyConfig, SmtpConfig
from tests.conftest import Clock, Gateway, example, make_config

BUYER = "22760540900019"
DELIVERY = "livraisons.bibliotheques@seinemaritime.example"
LABEL = "Bibliothèque départementale — réception des livraisons"


@pytest.fixture
def clock():
    return Clock()


def start(tmp_path, database_url, port, clock, **copies) -> Gateway:
    smtp = SmtpConfig(host="127.0.0.1", port=port, sender="passerelle@asso-libraires.example")
    config = make_config(tmp_path, database_url, smtp=smtp, copies=CopyConfig(**copies))
    return Gateway(config, clock=clock)


def with_copy(gateway: Gateway) -> dict:
    """A member whose customer, the Seine-Maritime, gets its invoices by Chorus Pro and a
    copy for its delivery service."""
    member = gateway.new_member()
    answer = gateway.client.simulate_put(
        f"/v1/customers/{BUYER}",
        headers=member["headers"],
        json={
            "name": "DEPARTEMENT DE LA SEINE MARITIME",
            "channel": "chorus",
            "copies": [{"channel": "email", "to": DELIVERY, "label": LABEL}],
        },
    )
    assert answer.status_code in (200, 201), answer.json
    return member


def posted(gateway: Gateway, member: dict, number: str = "FA-2026-0142") -> str:
    answer = gateway.post_invoice(member, {**example("invoice-seine-maritime"), "number": number})
    assert answer.status_code == 202, answer.json
    return answer.json["id"]


def copy_events(gateway: Gateway, member: dict) -> list[dict]:
    feed = gateway.client.simulate_get("/v1/events", headers=member["headers"]).json["events"]
    return [event for event in feed if event["type"].startswith("invoice.copy_")]


def test_the_copy_leaves_once_after_the_original_with_the_stamped_pdf(
    tmp_path, database_url, smtp, clock
):
    port, inbox = smtp
    gateway = start(tmp_path, database_url, port, clock)
    try:
        member = with_copy(gateway)
        invoice_id = posted(gateway, member)
        worker = gateway.worker(clock=clock)

        worker.scheduler.run_due()
        assert inbox.messages == []  # the original has not left
        [copy] = gateway.get_invoice(member, invoice_id)["copies"]
        assert copy == {
            "to": DELIVERY,
            "label": LABEL,
            "status": "pending",
            "attempts": 0,
            "sent_at": None,
            "last_error": None,
        }

        assert worker.run_once() == 1
        status = gateway.get_invoice(member, invoice_id)["status"]
        worker.scheduler.run_due()
        worker.scheduler.run_due()
        clock.advance(days=2)
        worker.scheduler.run_due()

        assert len(inbox.messages) == 1
        message = inbox.messages[0]
        assert inbox.recipients == [[DELIVERY]]
        assert message["From"] == "passerelle@asso-libraires.example"
        assert message["Subject"] == (
            "Copie pour information — facture N° FA-2026-0142 de Librairie des Quais — ne pas payer"
        )
        assert message["Message-ID"].startswith("<copie.")
        text = message.get_body(("plain",)).get_content()
        assert "DEPARTEMENT DE LA SEINE MARITIME" in text
        assert "le portail public de facturation Chorus Pro" in text
        assert "ne doit pas être payée" in text
        assert "d'un montant de 97,65\u00a0€" in text and LABEL in text
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == "copie-FA-2026-0142.pdf"
        pdf = attachment.get_content()
        reader = PdfReader(io.BytesIO(pdf))
        for page in reader.pages:
            page_text = page.extract_text()
            assert "COPIE" in page_text and "ne pas payer" in page_text
        assert "FA-2026-0142" in reader.pages[0].extract_text()
        with pikepdf.open(io.BytesIO(pdf)) as document:
            assert len(document.attachments) == 0  # no XML: never a second original
            assert "/EmbeddedFiles" not in document.Root.get("/Names", {})
            assert "/AF" not in document.Root

        view = gateway.get_invoice(member, invoice_id)
        assert view["status"] == status  # a copy never changes the invoice's status
        [copy] = view["copies"]
        assert copy["status"] == "sent" and copy["attempts"] == 1 and copy["sent_at"]
        [event] = copy_events(gateway, member)
        assert event["type"] == "invoice.copy_sent"
        assert event["invoice_id"] == invoice_id
        assert event["data"]["to"] == DELIVERY
        assert event["data"]["message_id"] == message["Message-ID"]
    finally:
        gateway.store.dispose()


def test_a_refused_copy_is_tried_again_later_and_arrives_once(tmp_path, sqlite_url, smtp, clock):
    port, inbox = smtp
    gateway = start(tmp_path, sqlite_url, port, clock, backoff_base=60, backoff_max=600)
    try:
        member = with_copy(gateway)
        invoice_id = posted(gateway, member)
        worker = gateway.worker(clock=clock)
        worker.run_once()
        inbox.refusals = 1

        worker.scheduler.run_due()
        [copy] = gateway.get_invoice(member, invoice_id)["copies"]
        assert copy["status"] == "pending" and copy["attempts"] == 1
        assert "451" in copy["last_error"] and "Try again later" in copy["last_error"]
        worker.scheduler.run_due()  # not due again yet: backoff
        assert inbox.messages == []
        assert gateway.get_invoice(member, invoice_id)["copies"][0]["attempts"] == 1

        clock.advance(seconds=600)
        worker.scheduler.run_due()
        worker.scheduler.run_due()
        assert len(inbox.messages) == 1
        [copy] = gateway.get_invoice(member, invoice_id)["copies"]
        assert copy["status"] == "sent" and copy["attempts"] == 2 and copy["last_error"] is None
    finally:
        gateway.store.dispose()


def test_a_copy_refused_past_retry_for_is_parked_and_said(tmp_path, sqlite_url, smtp, clock):
    port, inbox = smtp
    gateway = start(
        tmp_path, sqlite_url, port, clock, retry_for=1800, backoff_base=60, backoff_max=300
    )
    try:
        member = with_copy(gateway)
        invoice_id = posted(gateway, member)
        worker = gateway.worker(clock=clock)
        worker.run_once()
        inbox.refusals = 1000
        for _ in range(40):
            worker.scheduler.run_due()
            if gateway.get_invoice(member, invoice_id)["copies"][0]["status"] != "pending":
                break
            clock.advance(seconds=300)
        [copy] = gateway.get_invoice(member, invoice_id)["copies"]
        assert copy["status"] == "parked" and copy["attempts"] > 2
        assert "451" in copy["last_error"]
        [event] = copy_events(gateway, member)
        assert event["type"] == "invoice.copy_parked"
        assert event["data"]["attempts"] == copy["attempts"]
        inbox.refusals = 0
        clock.advance(days=1)
        worker.scheduler.run_due()
        assert inbox.messages == []  # parked: left alone
    finally:
        gateway.store.dispose()


def test_a_copy_leased_by_another_worker_is_not_sent_twice(tmp_path, sqlite_url, smtp, clock):
    port, inbox = smtp
    gateway = start(tmp_path, sqlite_url, port, clock)
    try:
        member = with_copy(gateway)
        invoice_id = posted(gateway, member)
        worker = gateway.worker(clock=clock, owner="worker-a")
        worker.run_once()
        # Another worker took the copy and is sending it (or died while sending it).
        lease = timedelta(minutes=10)
        assert len(gateway.store.claim_copies("worker-b", clock.now, lease, 10)) == 1
        worker.scheduler.run_due()
        assert inbox.messages == []
        clock.advance(minutes=11)  # its lease ran out: worker-a takes the copy over
        worker.scheduler.run_due()
        worker.scheduler.run_due()
        assert len(inbox.messages) == 1
        assert gateway.get_invoice(member, invoice_id)["copies"][0]["status"] == "sent"
        # worker-b comes back: its lease is gone, its outcome is not recorded.
        assert not gateway.store.finish_copy(1, "worker-b", status="parked")
        assert gateway.get_invoice(member, invoice_id)["copies"][0]["status"] == "sent"
    finally:
        gateway.store.dispose()


def test_a_refused_invoice_queues_no_copy(tmp_path, sqlite_url, smtp, clock):
    port, inbox = smtp
    gateway = start(tmp_path, sqlite_url, port, clock)
    try:
        member = with_copy(gateway)
        refused = {**example("invoice-seine-maritime"), "number": ""}
        assert gateway.post_invoice(member, refused).status_code == 422
        worker = gateway.worker(clock=clock)
        worker.run_once()
        worker.scheduler.run_due()
        assert gateway.store.count_copies() == {"pending": 0, "parked": 0}
        assert inbox.messages == []
    finally:
        gateway.store.dispose()

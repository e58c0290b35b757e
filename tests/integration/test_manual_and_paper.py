"""The manual deposit (``manual_pdf``) and paper (``paper``) outlets through the REST API,
with a real worker, the directory of the Chorus Pro sandbox over HTTP, and the follow-up of
a portal upload through the sandbox's API: each invoice goes to its first settled status
(``A_DEPOSER``, ``IMPRIMEE``) and the PDFs say what the bookseller needs."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from gateway import outbound
from gateway.french import euros
from tests.conftest import Clock, Gateway, example, make_config
from tests.pdfs import pdfa_and_attachments, plain, save_pages, text_of, text_within

SEINE_MARITIME = "22760540900019"
AUBE = "22100005200011"
#: The window of a French window envelope on the sheet (x, y, width, height in mm).
WINDOW = (90, 45, 100, 50)
DAY = "2026-12-01"  # the test clock's day in Paris


@pytest.fixture
def shop(tmp_path, sqlite_url, sandbox):
    """The gateway with its manual_pdf and paper channels, the directory on the sandbox."""
    port = urlsplit(sandbox.url).port
    config = make_config(tmp_path, sqlite_url, outbound_hosts=(f"127.0.0.1:{port}",))
    config.channels = {
        **config.channels,
        "chorus": "chorus",
        "manual_pdf": "manual_pdf",
        "paper": "paper",
    }
    config.plugins = {
        **config.plugins,
        "chorus": {"environment": "sandbox", "timeout": 5.0},
        "directory_chorus": sandbox.settings(),
        "manual_pdf": {},
        "paper": {},
    }
    clock = Clock()
    gateway = Gateway(config, clock=clock)
    gateway.worker_ = gateway.worker(clock=clock)
    yield gateway
    gateway.store.dispose()
    outbound.configure(None)


def customer(gateway: Gateway, member: dict, siret: str, name: str, channel: str) -> None:
    put = gateway.client.simulate_put(
        f"/v1/customers/{siret}",
        json={"name": name, "channel": channel},
        headers=member["headers"],
    )
    assert put.status_code in (200, 201), put.json


def submit(gateway: Gateway, member: dict, name: str, number: str) -> str:
    answer = gateway.post_invoice(member, {**example(name), "number": number})
    assert answer.status_code == 202, answer.json
    return answer.json["id"]


def download(gateway: Gateway, member: dict, path: str) -> bytes:
    answer = gateway.client.simulate_get(path, headers=member["headers"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    return answer.content


def amounts(*values: str) -> list[str]:
    return [plain(euros(Decimal(value))) for value in values]


def test_a_manual_deposit_invoice_waits_with_its_pdf_and_sheet_then_is_followed_on_chorus(
    shop, sandbox
):
    gateway = shop
    member = gateway.new_member()
    customer(gateway, member, SEINE_MARITIME, "Département de la Seine-Maritime", "manual_pdf")
    invoice_id = submit(gateway, member, "invoice-seine-maritime", "MP-0001")
    assert gateway.worker_.run_once() == 1

    view = gateway.get_invoice(member, invoice_id)
    assert view["status"] == "A_DEPOSER"
    assert view["channel"] == "manual_pdf"
    assert view["next_actions"] == ["manual-deposit"]
    names = {document["name"] for document in view["documents"]}
    assert {"facture.xml", "facture-portail.pdf", "fiche-de-depot.pdf"} <= names

    base = f"/v1/invoices/{invoice_id}/documents"
    portal_pdf = download(gateway, member, f"{base}/facture-portail.pdf")
    sheet = download(gateway, member, f"{base}/fiche-de-depot.pdf")
    save_pages(portal_pdf, "facture-portail")
    assert len(save_pages(sheet, "fiche-de-depot")) == 1  # one page
    # What the portal takes: PDF/A-2b, nothing embedded.
    for content in (portal_pdf, sheet):
        assert pdfa_and_attachments(content) == (("2", "B"), False)
    invoice_text, sheet_text = text_of(portal_pdf), text_of(sheet)
    for expected in [SEINE_MARITIME, "EJ2026000815", "MP-0001", *amounts("92.56", "97.65")]:
        assert expected in invoice_text, expected
    for expected in [
        f"Destinataire : SIRET {SEINE_MARITIME}",
        "N° d'engagement EJ2026000815",
        "Code service ne rien saisir (non demandé)",
        "N° de facture MP-0001",
        "Date 20/11/2026",
        *(
            f"Montant {label} {amount}"
            for label, amount in zip(
                ("HT", "TVA", "TTC"), amounts("92.56", "5.09", "97.65"), strict=True
            )
        ),
        "« + Déposer une facture »",
        "Annuaire Chorus Pro (vérifié le 01/12/2026 à 10:00, heure de Paris)",
        f"Structure {SEINE_MARITIME} : ACTIF",
        "engagement obligatoire : oui",
    ]:
        assert expected in sheet_text, expected

    other = gateway.new_member("Librairie La Page Blanche", "79345612000013")
    for path in (f"/v1/invoices/{invoice_id}", f"{base}/fiche-de-depot.pdf"):
        assert gateway.client.simulate_get(path, headers=other["headers"]).status_code == 404
    refused = gateway.client.simulate_post(
        f"/v1/invoices/{invoice_id}/manual-deposit", json={}, headers=other["headers"]
    )
    assert refused.status_code == 404

    # The bookseller uploads it on the portal, with Chorus Pro credentials saved.
    patched = gateway.client.simulate_patch(
        f"/v1/members/{member['id']}",
        json={"settings": {"chorus": sandbox.settings()}},
        headers=gateway.admin(),
    )
    assert patched.status_code == 200, patched.json
    uploaded = sandbox.control.post(
        "/invoices",
        json={
            "supplier": member["siret"],
            "recipient": SEINE_MARITIME,
            "numero": "MP-0001",
            "engagement": "EJ2026000815",
            "total_without_vat": "92.56",
            "total_vat": "5.09",
            "total_with_vat": "97.65",
        },
    )
    assert uploaded.status_code == 201, uploaded.text
    platform_id = uploaded.json()["id"]
    deposited = gateway.client.simulate_post(
        f"/v1/invoices/{invoice_id}/manual-deposit",
        json={"platform_invoice_id": str(platform_id), "comment": "Déposée par Claire"},
        headers=member["headers"],
    )
    assert deposited.status_code == 200, deposited.json
    assert deposited.json["status"] == "DEPOSEE"
    assert deposited.json["next_actions"] == []
    comment = deposited.json["history"][-1]["comment"]
    assert comment.startswith("Déposée à la main sur le portail Chorus Pro par le libraire")
    assert "suivi par l'API Chorus Pro" in comment and "Déposée par Claire" in comment
    again = gateway.client.simulate_post(
        f"/v1/invoices/{invoice_id}/manual-deposit", json={}, headers=member["headers"]
    )
    assert again.status_code == 409
    assert again.json["errors"][0]["code"] == "invoice.action_not_allowed"

    moved = sandbox.control.post(
        f"/invoices/{platform_id}/status", json={"status": "MISE_A_DISPOSITION"}
    )
    assert moved.status_code == 200, moved.text
    assert gateway.worker_.follow_once() == 1
    view = gateway.get_invoice(member, invoice_id)
    assert view["status"] == "MISE_A_DISPOSITION"
    assert [entry["status"] for entry in view["history"]][-2:] == ["DEPOSEE", "MISE_A_DISPOSITION"]
    events = gateway.client.simulate_get("/v1/events", headers=member["headers"]).json
    deposit = [e for e in events["events"] if e["data"].get("action") == "manual-deposit"]
    assert deposit and deposit[0]["data"]["platform_invoice_id"] == str(platform_id)


def test_without_credentials_a_manual_deposit_is_recorded_and_not_followed(shop):
    gateway = shop
    member = gateway.new_member()
    customer(gateway, member, SEINE_MARITIME, "Département de la Seine-Maritime", "manual_pdf")
    invoice_id = submit(gateway, member, "invoice-seine-maritime", "MP-0002")
    gateway.worker_.run_once()
    deposited = gateway.client.simulate_post(
        f"/v1/invoices/{invoice_id}/manual-deposit",
        json={"platform_invoice_id": "4242", "deposited_at": "2026-12-01T11:30:00+01:00"},
        headers=member["headers"],
    )
    assert deposited.status_code == 200, deposited.json
    last = deposited.json["history"][-1]
    assert last["status"] == "DEPOSEE"
    assert last["at"].startswith("2026-12-01T10:30:00")
    assert "n'est pas suivi" in last["comment"]
    row = gateway.store.get_invoice(invoice_id)
    assert (row["outlet"], row["next_poll_at"]) == ("manual_pdf", None)
    bad = gateway.client.simulate_post(
        f"/v1/invoices/{invoice_id}/manual-deposit",
        json={"platform_invoice_id": "CPP-12"},
        headers=member["headers"],
    )
    assert bad.status_code == 422
    assert bad.json["errors"][0]["field"] == "platform_invoice_id"


def test_paper_invoices_join_the_days_batch_printed_for_a_window_envelope_then_confirmed(shop):
    gateway = shop
    member = gateway.new_member()
    customer(gateway, member, SEINE_MARITIME, "Département de la Seine-Maritime", "paper")
    customer(gateway, member, AUBE, "Département de l'Aube", "paper")
    first = submit(gateway, member, "invoice-seine-maritime", "PA-0001")
    second = submit(gateway, member, "invoice-aube", "PA-0002")
    batch_path = f"/v1/print-batches/{DAY}"
    headers = member["headers"]
    assert gateway.client.simulate_get(batch_path, headers=headers).status_code == 404
    assert gateway.worker_.run_once() == 2
    for invoice_id in (first, second):
        view = gateway.get_invoice(member, invoice_id)
        assert (view["status"], view["needs_action"]) == ("A_IMPRIMER", True)

    batch = gateway.client.simulate_get(batch_path, headers=headers).json
    assert batch["date"] == DAY and batch["pdf"] == f"{batch_path}/pdf"
    assert [(i["number"], i["status"]) for i in batch["invoices"]] == [
        ("PA-0001", "A_IMPRIMER"),
        ("PA-0002", "A_IMPRIMER"),
    ]
    assert (batch["fetched_at"], batch["pages"], batch["confirmed_at"]) == (None, None, None)
    early = gateway.client.simulate_post(f"{batch_path}/confirm", headers=headers)
    assert early.status_code == 409
    assert early.json["errors"][0]["code"] == "print_batch.not_fetched"
    assert "téléchargé" in early.json["errors"][0]["message"]

    other = gateway.new_member("Librairie La Page Blanche", "79345612000013")
    for method, path in (("GET", batch_path), ("GET", f"{batch_path}/pdf")):
        assert (
            gateway.client.simulate_request(method, path, headers=other["headers"]).status_code
            == 404
        )
    assert (
        gateway.client.simulate_post(f"{batch_path}/confirm", headers=other["headers"]).status_code
        == 404
    )

    printed = download(gateway, member, f"{batch_path}/pdf")
    save_pages(printed, "lot-impression")
    text = text_of(printed)
    for expected in [
        "PA-0001", "PA-0002", SEINE_MARITIME, AUBE, "EJ2026000815", "Ej-Aube-2026-4417",
        "Code service : DFCG", *amounts("97.65", "90.72"),
        "Facture PA-0001 — page 1/2", "Facture PA-0001 — page 2/2",
        "Facture PA-0002 — page 1/2", "Facture PA-0002 — page 2/2",
    ]:  # fmt: skip
        assert expected in text, expected
    # Each invoice on sheets of its own (an address sheet, its page), the address in the window.
    batch = gateway.client.simulate_get(batch_path, headers=headers).json
    assert batch["pages"] == 4 and batch["fetched_at"] is not None
    seine = text_within(printed, 0, WINDOW)
    assert "DEPARTEMENT DE LA SEINE MARITIME" in seine and "76100 ROUEN" in seine
    aube = text_within(printed, 2, WINDOW)
    assert "DEPARTEMENT DE L'AUBE" in aube and "10000 TROYES" in aube
    assert "Librairie des Quais" in text_within(printed, 0, (10, 10, 75, 35))

    # An invoice that arrives after the fetch is not in the printed PDF: not confirmed.
    late = submit(gateway, member, "invoice-seine-maritime", "PA-0003")
    gateway.worker_.run_once()
    refused = gateway.client.simulate_post(
        f"/v1/invoices/{late}/manual-deposit", json={}, headers=headers
    )
    assert refused.status_code == 409
    confirmed = gateway.client.simulate_post(f"{batch_path}/confirm", headers=headers)
    assert confirmed.status_code == 200, confirmed.json
    assert sorted(confirmed.json["confirmed"]) == sorted([first, second])
    assert confirmed.json["confirmed_at"] is not None
    statuses = {i["number"]: (i["status"], i["in_fetched_pdf"]) for i in confirmed.json["invoices"]}
    assert statuses == {
        "PA-0001": ("IMPRIMEE", True),
        "PA-0002": ("IMPRIMEE", True),
        "PA-0003": ("A_IMPRIMER", False),
    }
    view = gateway.get_invoice(member, first)
    assert view["needs_action"] is False
    assert view["history"][-1]["comment"].startswith("Imprimée pour un envoi papier")

    # The next fetch holds what is still to print.
    reprint = text_of(download(gateway, member, f"{batch_path}/pdf"))
    assert "PA-0003" in reprint and "PA-0001" not in reprint
    gateway.client.simulate_post(f"{batch_path}/confirm", headers=headers)
    assert gateway.get_invoice(member, late)["status"] == "IMPRIMEE"

"""An invoice's page and every corrective action, performed in the browser against the
running gateway and the Chorus Pro sandbox playing the buyer."""

from __future__ import annotations

import re

from tests.web.conftest import check_page, sign_in, sign_in_demo

AUBE = "22100005200011"
#: A SIRET with a valid key that no directory knows.
UNKNOWN = "12345678200010"
#: The smallest PDF a buyer asked for: a purchase order.
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"  # noqa: E501


def chip_of(page) -> str:
    return page.locator("h1 .puce").inner_text()


def open_invoice(page, site, invoice_id: str) -> None:
    sign_in_demo(page, site)
    page.goto(f"/app/factures/{invoice_id}")


def test_the_invoice_page_shows_its_status_history_documents_and_audit_trail(page, site):
    reason = "Mauvais destinataire : facturer le département de l'Aube"
    invoice_id, number = site.sent_back("A_RECYCLER", reason)
    open_invoice(page, site, invoice_id)
    main = page.locator("main")
    assert page.locator("h1").inner_text().startswith(f"Facture {number}")
    assert chip_of(page) == "À recycler"
    assert reason in main.inner_text() and "DEPARTEMENT DE LA SEINE MARITIME" in main.inner_text()
    assert "227 605 409 00019" in main.inner_text()
    timeline = page.locator(".chronologie li")
    assert [line.split(" · ")[0] for line in timeline.all_inner_texts()] == [
        "Reçue, en attente d'envoi",
        "Déposée",
        "À recycler",
    ]
    assert page.get_by_role("link", name="Recycler").get_attribute("href") == (
        f"/app/factures/{invoice_id}/recycler"
    )
    assert "Journal intact" in page.locator("#t-audit + p").inner_text()
    assert page.get_by_role("row", name=re.compile("Facture reçue et validée")).count() == 1
    check_page(page, "facture-a-recycler")

    # The PDF is previewed in the page and downloaded from it, its reading journaled.
    frame = page.locator("iframe.apercu")
    source = frame.get_attribute("src")
    assert source == f"/app/factures/{invoice_id}/documents/facture.pdf"
    shown = page.request.get(source)
    assert shown.status == 200 and shown.body().startswith(b"%PDF")
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"] == 'inline; filename="facture.pdf"'
    assert shown.headers["x-frame-options"] == "SAMEORIGIN"
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger facture.pdf").click()
    assert download.value.suggested_filename == "facture.pdf"
    page.reload()
    assert page.get_by_role("row", name=re.compile("Document consulté")).count() >= 1


def test_another_member_s_invoice_and_its_documents_are_not_found(browser, page, site):
    invoice_id, _ = site.submit()
    other = site.new_member("Librairie des Remparts", "44306184100047")
    sign_in(page, key=other["api_key"])
    assert page.goto(f"/app/factures/{invoice_id}").status == 404
    assert page.goto(f"/app/factures/{invoice_id}/documents/facture.pdf").status == 404
    assert page.goto(f"/app/factures/{invoice_id}/recycler").status == 404
    check_page(page, "facture-introuvable")


def test_recycling_to_another_structure_picked_from_the_directory(page, site):
    invoice_id, number = site.sent_back("A_RECYCLER", "Facturer le département de l'Aube")
    open_invoice(page, site, invoice_id)
    page.get_by_role("link", name="Recycler").click()
    page.wait_for_url(f"**/app/factures/{invoice_id}/recycler")
    assert page.get_by_label("SIRET du destinataire").input_value() == "22760540900019"
    check_page(page, "facture-recycler")

    page.get_by_label("SIRET du destinataire").fill(AUBE)
    page.get_by_role("button", name="Vérifier dans l'annuaire").click()
    page.wait_for_url(f"**/recycler?siret={AUBE}")
    services = page.get_by_label("Service destinataire")
    options = services.locator("option").all_inner_texts()
    assert any("(DFCG)" in option for option in options)
    assert not any("(DGAEC)" in option for option in options)  # deleted: not offered
    assert "Code service : obligatoire" in page.locator("main").inner_text()
    services.select_option("DFCG")
    assert page.get_by_label("Numéro d'engagement").input_value() == "EJ2026000815"
    check_page(page, "facture-recycler-aube")
    page.get_by_role("button", name="Recycler la facture").click()
    page.wait_for_url(f"**/app/factures/{invoice_id}")
    assert "Recyclage demandé" in page.get_by_role("status").inner_text()
    site.wait_status(invoice_id, "DEPOSEE")
    page.reload()
    assert chip_of(page) == "Déposée"
    check_page(page, "facture-recyclee")
    on_platform = site.platform_invoice(number)
    assert (on_platform["recipient"], on_platform["service"]) == (AUBE, "DFCG")


def test_a_recycling_to_an_unknown_structure_is_refused_beside_its_field(page, site):
    invoice_id, _ = site.sent_back("A_RECYCLER", "Mauvais destinataire")
    open_invoice(page, site, invoice_id)
    page.goto(f"/app/factures/{invoice_id}/recycler?siret={UNKNOWN}")
    siret = page.get_by_label("SIRET du destinataire")
    assert siret.get_attribute("aria-invalid") == "true"
    assert "n'est pas inscrite dans l'annuaire" in page.locator("#f-siret-erreur").inner_text()
    with page.expect_navigation() as answer:
        page.get_by_role("button", name="Recycler la facture").click()
    assert answer.value.status == 422
    assert UNKNOWN in page.locator("#f-siret-erreur").inner_text()
    check_page(page, "facture-recycler-refuse")
    assert site.status(invoice_id) == "A_RECYCLER"


def test_completing_a_suspended_invoice_with_an_upload(page, site):
    invoice_id, _ = site.sent_back("SUSPENDUE", "Joindre le bon de commande signé")
    open_invoice(page, site, invoice_id)
    assert "Joindre le bon de commande signé" in page.locator("main").inner_text()
    page.get_by_role("link", name="Compléter").click()
    page.wait_for_url(f"**/app/factures/{invoice_id}/completer")
    assert "10 Mo" in page.locator("main").inner_text()
    check_page(page, "facture-completer")
    page.get_by_label("Pièces jointes").set_input_files(
        [{"name": "bon-de-commande.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.get_by_label("Commentaire pour le destinataire").fill("Voici le bon de commande.")
    page.get_by_role("button", name="Envoyer les pièces jointes").click()
    page.wait_for_url(f"**/app/factures/{invoice_id}")
    assert "Pièces jointes envoyées" in page.get_by_role("status").inner_text()
    assert (
        page.get_by_role("cell", name="complement.1.bon-de-commande.pdf", exact=True).count() == 1
    )
    site.wait_status(invoice_id, "COMPLETEE")
    page.reload()
    assert chip_of(page) == "Complétée"
    check_page(page, "facture-completee")

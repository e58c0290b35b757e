"""An invoice's page and every corrective action, performed in the browser against the
running gateway and the Chorus Pro sandbox playing the buyer."""

from __future__ import annotations

import re

from tests.integration.test_server import wait_for
from tests.web.conftest import check_page, sign_in, sign_in_demo

AUBE = "22100005200011"
#: A SIRET with a valid key that no directory knows.
UNKNOWN = "12345678200010"
#: The smallest PDF a buyer asked for: a purchase order.
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"  # noqa: E501


def chip_of(page) -> str:
    return page.locator("main .puce").first.inner_text()


def open_invoice(page, site, invoice_id: str) -> None:
    sign_in_demo(page, site)
    page.goto(f"/app/factures/{invoice_id}")


def open_action(page, site, invoice_id: str, button: str, slug: str) -> None:
    """Sign in, open the invoice and follow its action's button to the action's page."""
    open_invoice(page, site, invoice_id)
    page.get_by_role("link", name=button).click()
    page.wait_for_url(f"**/app/factures/{invoice_id}/{slug}")


def perform(page, invoice_id: str, button: str, message: str) -> None:
    """Submit the action's form: back on the invoice's page, with the action's message."""
    page.get_by_role("button", name=button).click()
    page.wait_for_url(f"**/app/factures/{invoice_id}")
    assert message in page.get_by_role("status").inner_text()


def see_status(page, site, invoice_id: str, status: str, label: str, screenshot: str) -> None:
    """Wait for the worker to take the invoice to ``status``; the page then shows it."""
    site.wait_status(invoice_id, status)
    page.reload()
    assert chip_of(page) == label
    check_page(page, screenshot)


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
    open_action(page, site, invoice_id, "Recycler", "recycler")
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
    perform(page, invoice_id, "Recycler la facture", "Recyclage demandé")
    see_status(page, site, invoice_id, "DEPOSEE", "Déposée", "facture-recyclee")
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
    open_action(page, site, invoice_id, "Compléter", "completer")
    assert "Joindre le bon de commande signé" in page.locator("main").inner_text()
    assert "10 Mo" in page.locator("main").inner_text()
    check_page(page, "facture-completer")
    files = page.get_by_label("Pièces jointes")
    files.set_input_files(
        [{"name": "programme.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}]
    )
    with page.expect_navigation() as answer:
        page.get_by_role("button", name="Envoyer les pièces jointes").click()
    assert answer.value.status == 422
    assert files.get_attribute("aria-invalid") == "true"
    assert "programme.exe" in page.locator("#f-file-erreur").inner_text()
    check_page(page, "facture-completer-refuse")
    page.get_by_label("Pièces jointes").set_input_files(
        [{"name": "bon-de-commande.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.get_by_label("Commentaire pour le destinataire").fill("Voici le bon de commande.")
    perform(page, invoice_id, "Envoyer les pièces jointes", "Pièces jointes envoyées")
    assert (
        page.get_by_role("cell", name="complement.1.bon-de-commande.pdf", exact=True).count() == 1
    )
    see_status(page, site, invoice_id, "COMPLETEE", "Complétée", "facture-completee")


def test_a_rejected_invoice_is_cancelled_by_a_credit_note_and_reissued(page, site):
    invoice_id, number = site.sent_back("REJETEE", "Quantités erronées : 4 exemplaires livrés")
    open_action(page, site, invoice_id, "Émettre l'avoir", "avoir")
    assert "avoir total" in page.locator("main").inner_text()
    check_page(page, "facture-avoir")
    page.get_by_label("Motif de l'avoir").fill("Quantités erronées")
    page.get_by_label("Réémettre la facture corrigée avec l'avoir").check()
    with page.expect_navigation() as answer:
        page.get_by_role("button", name="Émettre l'avoir").click()
    assert answer.value.status == 422  # the reissue needs a number of its own
    number_field = page.get_by_label("Numéro de la nouvelle facture")
    assert number_field.get_attribute("aria-invalid") == "true"
    assert "nouveau numéro" in page.locator("#f-reissue\\.number-erreur").inner_text()
    assert page.get_by_label("Motif de l'avoir").input_value() == "Quantités erronées"
    check_page(page, "facture-avoir-refuse")
    reissued = f"{number}-R"
    number_field.fill(reissued)
    perform(page, invoice_id, "Émettre l'avoir", "Avoir émis")
    links = page.locator(".liens").inner_text()
    assert "Avoir qui l'annule" in links and f"Facture réémise à sa place : {reissued}" in links
    assert "avoir total a annulé" in page.locator(".explication").inner_text()
    assert page.locator(".carte .actions").count() == 0  # nothing more to do
    check_page(page, "facture-avoir-emis")
    page.get_by_role("link", name=reissued).click()
    assert page.locator("h1").inner_text().startswith(f"Facture {reissued}")
    assert f"Réémise à la place de : {number}" in page.locator(".liens").inner_text()
    check_page(page, "facture-reemise")
    assert wait_for(lambda: site.platform_invoice(reissued), 30, "the reissue on the platform")


ST_AUBIN = "21450123100184"


def refused_by_the_platform(site, count: int) -> list[tuple[str, str]]:
    """Invoices the platform rejects before any buyer sees them: their service closes on
    Chorus Pro while the gateway's directory (looked up just before) still has it open."""
    site.get(f"/v1/directory/{ST_AUBIN}", site.demo_key)
    closed = site.sandbox.patch(
        f"/structures/{ST_AUBIN}/services/FINANCES", json={"status": "SUPPRIME"}
    )
    assert closed.status_code == 200, closed.text
    buyer = {
        "name": "COMMUNE DE SAINT-AUBIN-DES-ORMES",
        "siret": ST_AUBIN,
        "address": {"line1": "1 place de la Mairie", "postcode": "45210", "city": "Saint-Aubin"},
    }
    references = {"service_code": "FINANCES", "engagement": None, "purchase_order": "BC-88"}
    try:
        invoices = [site.submit(buyer=buyer, references=references) for _ in range(count)]
        for invoice_id, _ in invoices:
            site.wait_status(invoice_id, "EN_ERREUR")
    except BaseException:
        site.sandbox.patch(f"/structures/{ST_AUBIN}/services/FINANCES", json={"status": "ACTIF"})
        raise
    return invoices


def test_an_invoice_the_platform_refused_is_corrected_or_sent_again(page, site):
    (corrected_id, number), (retried_id, _) = refused_by_the_platform(site, 2)
    try:
        open_invoice(page, site, corrected_id)
        assert chip_of(page) == "Envoi en erreur"
        actions = page.locator(".carte .actions a").all_inner_texts()
        assert actions == ["Renvoyer", "Corriger et renvoyer"]
        check_page(page, "facture-en-erreur")
        page.get_by_role("link", name="Corriger et renvoyer").click()
        page.wait_for_url(f"**/app/factures/{corrected_id}/corriger")
        assert page.get_by_label("Code service").input_value() == "FINANCES"
        check_page(page, "facture-corriger")
        page.get_by_label("Code service").fill("MAIRIE")
        perform(page, corrected_id, "Corriger et renvoyer", "Facture corrigée")
        see_status(page, site, corrected_id, "DEPOSEE", "Déposée", "facture-corrigee")
        assert "version 2" in page.locator(".fiche").inner_text()
        assert page.get_by_role("cell", name="v1-original.json", exact=True).count() == 1
        assert site.platform_invoice(number)["service"] == "MAIRIE"
    finally:
        site.sandbox.patch(f"/structures/{ST_AUBIN}/services/FINANCES", json={"status": "ACTIF"})

    # The service open again, the other invoice is simply sent again.
    page.goto(f"/app/factures/{retried_id}/renvoyer")
    assert "Chorus Pro a refusé" in page.locator("main").inner_text()
    check_page(page, "facture-renvoyer")
    perform(page, retried_id, "Renvoyer la facture", "Renvoi demandé")
    see_status(page, site, retried_id, "DEPOSEE", "Déposée", "facture-renvoyee")
    # Already sent again: the action's page says why it is no longer possible.
    answer = page.goto(f"/app/factures/{retried_id}/renvoyer")
    assert answer.status == 409
    assert "n'est pas possible" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("button", name="Renvoyer la facture").count() == 0
    check_page(page, "facture-renvoyer-impossible")


LYCEE = "19450042700019"


def test_a_manual_deposit_is_downloaded_then_confirmed(page, site):
    buyer = {
        "name": "LYCEE POLYVALENT JULES VERNE",
        "siret": LYCEE,
        "address": {"line1": "1 rue des Écoles", "postcode": "45000", "city": "Orléans"},
    }
    invoice_id, _ = site.submit(buyer=buyer)
    site.wait_status(invoice_id, "A_DEPOSER")
    open_action(page, site, invoice_id, "Confirmer le dépôt", "depot-manuel")
    assert chip_of(page) == "À déposer sur le portail"
    check_page(page, "facture-depot-manuel")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger fiche-de-depot.pdf").click()
    assert download.value.suggested_filename == "fiche-de-depot.pdf"
    assert page.get_by_role("link", name="Télécharger facture-portail.pdf").count() == 1
    page.get_by_label("Commentaire").fill("Déposée au comptoir par Claire")
    perform(page, invoice_id, "Confirmer le dépôt", "Dépôt confirmé")
    assert chip_of(page) == "Déposée"
    assert "Déposée au comptoir par Claire" in page.locator(".chronologie").inner_text()
    check_page(page, "facture-deposee")

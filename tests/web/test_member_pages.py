"""The member's customers, the directory, its settings and its costs, in the browser."""

from __future__ import annotations

import re

from tests.web.conftest import check_page, sign_in_demo

AUBE = "22100005200011"
SEINE_MARITIME = "22760540900019"
INACTIVE = "21450877200016"
HOOK = "http://127.0.0.1:9/hook"


def test_the_customers_with_their_directory_facts(page, site):
    sign_in_demo(page, site)
    page.get_by_role("link", name="Clients").click()
    rows = page.locator("table.clients tbody tr")
    assert rows.count() == 5  # the demo member's customers
    aube = rows.filter(has_text="DEPARTEMENT DE L'AUBE")
    text = aube.inner_text()
    assert "221 000 052 00011" in text and "Chorus Pro" in text
    assert "Active" in text and "Code service obligatoire : oui" in text
    assert "Engagement obligatoire : oui" in text and "11 service(s)" in text
    lycee = rows.filter(has_text="LYCEE POLYVALENT JULES VERNE").inner_text()
    assert "PDF à déposer sur le portail" in lycee
    private = rows.filter(has_text="ECOLE PRIVEE SAINTE-ANNE").inner_text()
    # A company for the reform: Chorus Pro does not list it, its approved platform receives.
    assert "Automatique (selon les annuaires)" in private
    assert "n'est pas inscrite dans l'annuaire" in private
    assert "Plateforme agréée (PA)" in private
    check_page(page, "clients-liste")

    aube.get_by_role("link", name="DEPARTEMENT DE L'AUBE").click()
    page.wait_for_url(re.compile(rf".*/app/clients/{AUBE}$"))
    facts = page.locator(".portail").inner_text()
    assert re.search(r"Code service obligatoire\s+Oui", facts)
    assert re.search(r"Numéro d'engagement obligatoire\s+Oui", facts)
    services = page.get_by_role("table", name=re.compile("Services"))
    assert services.locator("tbody tr").count() == 11
    removed = services.locator("tr", has_text="DGAEC").inner_text()
    assert "Service de la Musique" in removed and "SUPPRIME" in removed
    assert "Canal choisi pour ce client : Chorus Pro" in page.locator("#contenu").inner_text()
    check_page(page, "clients-fiche")


def test_a_customer_s_channel_and_copies_are_changed(page, site):
    sign_in_demo(page, site)
    page.goto(f"/app/clients/{SEINE_MARITIME}")
    page.get_by_label("Canal des factures").select_option(label="Papier")
    page.get_by_label("Copies d'information par e-mail").fill("cdi@seine-maritime.example")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(rf".*/app/clients/{SEINE_MARITIME}$"))
    assert page.get_by_role("status").inner_text() == "Client enregistré."
    assert page.get_by_label("Canal des factures").input_value() == "paper"
    assert "Copies d'information : cdi@seine-maritime.example" in page.content()
    check_page(page, "clients-fiche-enregistree")
    saved = site.get(f"/v1/customers/{SEINE_MARITIME}", site.demo_key)
    assert saved["channel"] == "paper" and saved["copies"][0]["to"] == "cdi@seine-maritime.example"
    # Back as it was, for the other tests.
    page.get_by_label("Canal des factures").select_option(label="Chorus Pro")
    page.get_by_label("Copies d'information par e-mail").fill("")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(rf".*/app/clients/{SEINE_MARITIME}$"))
    assert site.get(f"/v1/customers/{SEINE_MARITIME}", site.demo_key)["channel"] == "chorus"


def test_a_customer_is_added_and_a_bad_siret_is_said_beside_its_field(page, site):
    sign_in_demo(page, site)
    page.goto("/app/clients")
    page.get_by_label("SIRET").fill("2145087720001")
    page.get_by_label("Nom").fill("COMMUNE DE VAL-DES-ORMES")
    page.get_by_role("button", name="Ajouter le client").click()
    problem = page.locator("#f-siret-erreur")
    assert "n'est pas valide" in problem.inner_text()
    assert page.get_by_label("SIRET").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Nom").input_value() == "COMMUNE DE VAL-DES-ORMES"  # kept
    check_page(page, "clients-ajout-refuse")
    page.get_by_label("SIRET").fill("214 508 772 00016")
    page.get_by_label("Canal des factures").select_option(label="Papier")
    page.get_by_role("button", name="Ajouter le client").click()
    page.wait_for_url(re.compile(rf".*/app/clients/{INACTIVE}$"))
    assert "Client COMMUNE DE VAL-DES-ORMES ajouté." in page.get_by_role("status").inner_text()
    assert "n'est pas active sur Chorus Pro" in page.content()
    check_page(page, "clients-ajoute")
    names = [item["name"] for item in site.get("/v1/customers", site.demo_key)["customers"]]
    assert "COMMUNE DE VAL-DES-ORMES" in names


def test_the_directory_shows_what_the_portal_shows(page, site):
    sign_in_demo(page, site)
    page.goto("/app/annuaire")
    check_page(page, "annuaire-vide")
    page.get_by_label("SIRET de la structure").fill("227 605 409 00019")
    page.get_by_role("button", name="Chercher").click()
    page.wait_for_url(re.compile(r".*siret=227"))
    assert page.get_by_role("heading", name="DEPARTEMENT DE LA SEINE MARITIME").is_visible()
    facts = page.locator(".portail").inner_text()
    assert re.search(r"Statut\s+ACTIF", facts)
    assert re.search(r"Code service obligatoire\s+Non", facts)
    assert re.search(r"Numéro d'engagement obligatoire\s+Oui", facts)
    assert re.search(r"Service ou engagement obligatoire\s+Non", facts)
    assert "FACTURES_PUBLIQUES" in page.get_by_role("table").inner_text()
    assert page.get_by_role("link", name="voir sa fiche").is_visible()  # a demo customer
    check_page(page, "annuaire-seine-maritime")

    page.goto(f"/app/annuaire?siret={INACTIVE}")
    assert re.search(r"Statut\s+INACTIF", page.locator(".portail").inner_text())
    assert "doit s'y inscrire" in page.content()
    check_page(page, "annuaire-inactive")

    page.goto("/app/annuaire?siret=12345678900000")
    assert "n'est pas valide" in page.locator("#f-siret-erreur").inner_text()
    check_page(page, "annuaire-siret-invalide")
    answer = page.goto("/app/annuaire?siret=13002526500013")
    assert answer.status == 404
    assert "n'est pas inscrite dans l'annuaire" in page.locator("#f-siret-erreur").inner_text()
    check_page(page, "annuaire-inconnue")

    page.goto(f"/app/annuaire?siret={AUBE}")
    assert page.get_by_role("table").locator("tbody tr").count() == 11
    check_page(page, "annuaire-aube")


def test_the_directory_adds_a_structure_as_a_customer(page, site):
    sign_in_demo(page, site)
    page.goto("/app/annuaire?siret=20004123400010")
    name = page.locator(".portail dd").first.inner_text()
    page.get_by_role("link", name="Ajouter comme client").click()
    assert page.get_by_label("SIRET").input_value() == "20004123400010"
    assert page.get_by_label("Nom").input_value() == name
    page.get_by_role("button", name="Ajouter le client").click()
    page.wait_for_url(re.compile(r".*/app/clients/20004123400010$"))
    check_page(page, "clients-ajoute-depuis-annuaire")


def test_the_settings_show_the_chorus_account_s_expiry_never_its_secrets(page, site):
    written = site.sandbox_credentials  # its expiry set as the gateway started
    sign_in_demo(page, site)
    page.get_by_role("link", name="Réglages").click()
    check_page(page, "reglages")
    html = page.content()
    for secret in (written["password"], written["client_secret"]):
        assert secret not in html
    chorus = page.locator(".carte", has=page.get_by_role("heading", name="Chorus Pro (API PISTE)"))
    text = chorus.inner_text()
    assert "Compte vérifié" in text and "expire le" in text and "dans 20 jour(s)" in text
    assert chorus.get_by_label("Identifiant du compte").input_value() == written["login"]
    assert chorus.get_by_label("Mot de passe du compte").input_value() == ""
    # Saved with the secrets left empty: they keep their values (the account still works).
    chorus.get_by_role("button", name=re.compile("Enregistrer le compte")).click()
    page.wait_for_url(re.compile(r".*/app/reglages$"))
    assert "Compte Chorus Pro (API PISTE) enregistré." in page.get_by_role("status").inner_text()
    assert written["password"] not in page.content()
    site.submit()  # the account still deposits (its secrets were kept)


def test_a_webhook_is_added_shown_once_and_removed(page, site):
    sign_in_demo(page, site)
    page.goto("/app/reglages")
    page.get_by_label("Adresse (URL) à appeler").fill(HOOK)
    page.get_by_label("Facture reçue et validée").check()
    page.get_by_role("button", name="Ajouter le webhook").click()
    secret = page.locator("code.secret").inner_text()
    assert secret.startswith("whsec_")
    row = page.locator("tr", has_text=HOOK)
    assert "Facture reçue et validée" in row.inner_text() and "aucune" in row.inner_text()
    check_page(page, "reglages-webhook-ajoute")
    site.submit()  # its event is queued for the webhook as the invoice is accepted
    page.goto("/app/reglages")
    assert secret not in page.content()
    last = row.locator("td").nth(2).inner_text()
    assert re.match(r"(en attente|livrée|abandonnée) · \d", last), last
    check_page(page, "reglages-webhook-livraison")
    page.get_by_role("button", name=f"Supprimer le webhook {HOOK}").click()
    page.wait_for_url(re.compile(r".*/app/reglages$"))
    assert page.get_by_role("status").inner_text() == "Webhook supprimé."
    assert page.locator("td.adresse", has_text=HOOK).count() == 0
    assert site.get("/v1/webhooks", site.demo_key)["webhooks"] == []
    check_page(page, "reglages-webhook-supprime")


def test_the_digest_settings_are_changed_and_checked(page, site):
    sign_in_demo(page, site)
    page.goto("/app/reglages")
    page.get_by_label("un résumé chaque semaine").check()
    page.get_by_label("Destinataires").fill("compta@, direction@librairie.example")
    page.get_by_role("button", name="Enregistrer les résumés").click()
    assert "adresses e-mail" in page.locator("#f-digests\\.recipients-erreur").inner_text()
    check_page(page, "reglages-resumes-refuses")
    page.get_by_label("Destinataires").fill("compta@librairie.example")
    page.get_by_role("button", name="Enregistrer les résumés").click()
    page.wait_for_url(re.compile(r".*/app/reglages$"))
    assert page.get_by_role("status").inner_text() == "Résumés enregistrés."
    assert page.get_by_label("un résumé chaque semaine").is_checked()
    assert not page.get_by_label("un résumé chaque jour").is_checked()
    assert page.get_by_label("Destinataires").input_value() == "compta@librairie.example"
    settings = site.get(f"/v1/members/{site.demo['id']}", site.admin_key)["settings"]
    assert settings["digests"] == {
        "daily": False,
        "weekly": True,
        "recipients": ["compta@librairie.example"],
    }


def test_the_costs_page_draws_the_month_s_invoices(page, site):
    for _ in range(2):
        invoice_id, _number = site.submit()
        site.wait_status(invoice_id, "DEPOSEE")
    sign_in_demo(page, site)
    page.get_by_role("link", name="Coûts").click()
    charts = page.locator("svg[role=img]")
    assert charts.count() == 2
    assert "Factures envoyées par sortie" in charts.first.locator("title").text_content()
    assert "Coût de ces factures selon la sortie" in charts.nth(1).locator("title").text_content()
    used = page.get_by_role("table", name="Par sortie empruntée")
    chorus = used.get_by_role("row", name=re.compile(r"^Chorus Pro \(API PISTE\)")).inner_text()
    count = int(re.findall(r"\t(\d+)\t", chorus)[0])
    assert count >= 2
    costs = site.get("/v1/costs", site.demo_key)
    assert count == next(o["count"] for o in costs["outlets"] if o["outlet"] == "chorus")
    compared = page.get_by_role("table", name="Les mêmes factures par une autre sortie")
    assert compared.locator("tbody tr").count() == len(costs["alternatives"])
    assert "Dilifac" in compared.inner_text()
    check_page(page, "couts")
    page.get_by_label("Période (mois)").fill("2020-01")
    page.get_by_role("button", name="Afficher").click()
    assert "Aucune facture envoyée sur cette période" in page.content()
    check_page(page, "couts-vide")

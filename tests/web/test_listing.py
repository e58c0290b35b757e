"""The invoices list and the upload page in the browser: filters, search, pages, and a
document checked then sent, or refused."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from tests.conftest import example
from tests.web.conftest import SAMPLE, check_page, sign_in, sign_in_demo

MEMBER = ("Librairie des Listes", "73282932000074")
AUBE = "22100005200011"


def rows(page) -> list[str]:
    return page.locator("table.factures tbody tr td:first-child").all_inner_texts()


def search(page, text: str) -> None:
    page.goto("/app/factures")
    page.get_by_label("Rechercher").fill(text)
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_url(re.compile(r".*/app/factures\?.*q="))


def french(amount: str) -> str:
    return f"{Decimal(amount):.2f}".replace(".", ",")


def test_the_status_chips_narrow_the_list(page, site):
    rejected_id, rejected = site.sent_back("REJETEE", "Montant erroné : le devis disait moins")
    _, fresh = site.submit()
    sign_in_demo(page, site)
    page.goto("/app/factures")
    assert rows(page).index(fresh) < rows(page).index(rejected)  # the newest first
    assert page.get_by_role("link", name=rejected).get_attribute("href") == (
        f"/app/factures/{rejected_id}"
    )
    check_page(page, "factures")
    page.get_by_role("checkbox", name=re.compile("^Rejetée")).check()
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_url(re.compile(r".*statut=REJETEE"))
    assert rejected in rows(page) and fresh not in rows(page)
    statuses = page.locator("table.factures tbody tr td:nth-child(5)").all_inner_texts()
    assert statuses and set(statuses) == {"Rejetée"}
    check_page(page, "factures-rejetees")
    page.get_by_role("link", name="Tout afficher").click()
    page.get_by_role("checkbox", name="À traiter").check()
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_url(re.compile(r".*a_traiter=1"))
    assert rejected in rows(page) and fresh not in rows(page)
    check_page(page, "factures-a-traiter")


def test_search_by_number_amount_and_buyer_and_pages(page, site):
    member = site.new_member(*MEMBER)
    key = member["api_key"]
    seller = {**json.loads(SAMPLE.read_text())["seller"], "siret": MEMBER[1]}
    numbers = [site.submit(key, seller=seller)[1] for _ in range(10)]
    aube = example("invoice-aube")
    _, to_aube = site.submit(key, seller=seller, buyer=aube["buyer"], references=aube["references"])
    lines = json.loads(SAMPLE.read_text())["lines"][:1]
    cheaper_id, cheaper = site.submit(key, seller=seller, lines=lines)
    customer = {"name": "Département de l'Aube", "channel": "chorus", "copies": []}
    put = site.api.put(
        f"/v1/customers/{AUBE}", json=customer, headers={"Authorization": f"Bearer {key}"}
    )
    assert put.status_code in (200, 201), put.text
    sign_in(page, key=key)

    search(page, numbers[3])
    assert rows(page) == [numbers[3]]
    check_page(page, "factures-recherche-numero")

    payable = site.get(f"/v1/invoices/{cheaper_id}", key)["totals"]["payable"]
    search(page, french(payable))
    assert rows(page) == [cheaper]
    assert french(payable) in page.locator("table.factures tbody").inner_text()

    search(page, "aube")
    assert rows(page) == [to_aube]
    buyer = page.locator("table.factures tbody tr td:nth-child(3)").inner_text()
    assert "Département de l'Aube" in buyer and "221 000 052 00011" in buyer
    check_page(page, "factures-recherche-acheteur")

    search(page, "pas-une-facture")
    assert rows(page) == [] and "Aucune facture ne correspond" in page.inner_text("main")
    check_page(page, "factures-recherche-vide")

    # Ten a page: the twelve invoices on two pages, none twice, the newest first.
    page.goto("/app/factures")
    page.get_by_label("Factures par page").select_option("10")
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_url(re.compile(r".*par=10"))
    first = rows(page)
    assert first == [cheaper, to_aube, *reversed(numbers[2:])]
    page.get_by_role("link", name="Suivantes").click()
    page.wait_for_url(re.compile(r".*suite="))
    assert rows(page) == [numbers[1], numbers[0]]
    assert page.get_by_role("link", name="Suivantes").count() == 0
    check_page(page, "factures-page-2")


def test_upload_checks_then_sends_the_guide_s_sample(page, site):
    document = json.loads(SAMPLE.read_text())
    document["number"] = "DEPOT-WEB-0001"
    before = len(site.get("/v1/invoices", site.demo_key, limit=200)["items"])
    sign_in_demo(page, site)
    page.goto("/app/deposer")
    check_page(page, "deposer")
    upload = {"name": "facture.json", "mimeType": "application/json"}
    page.get_by_label("Document de votre logiciel").set_input_files(
        {**upload, "buffer": json.dumps(document).encode()}
    )
    page.get_by_role("button", name="Vérifier").click()
    checked = page.locator("section.verification")
    assert "Facture DEPOT-WEB-0001 : prête à partir" in checked.inner_text()
    assert "Envoi : par Chorus Pro, par l'API" in checked.inner_text()
    assert "Aucune erreur" in checked.inner_text() and "Net à payer" in checked.inner_text()
    assert len(site.get("/v1/invoices", site.demo_key, limit=200)["items"]) == before
    check_page(page, "deposer-verifie")
    page.get_by_role("button", name="Envoyer").click()
    page.wait_for_url(re.compile(r".*/app/factures/inv_[^/]+$"))
    invoice_id = page.url.rsplit("/", 1)[1]
    sent = site.get(f"/v1/invoices/{invoice_id}", site.demo_key)
    assert sent["number"] == "DEPOT-WEB-0001"
    assert len(site.get("/v1/invoices", site.demo_key, limit=200)["items"]) == before + 1


def test_a_wrong_buyer_siret_is_shown_on_its_field_and_nothing_is_stored(page, site):
    document = json.loads(SAMPLE.read_text())
    document["number"] = "DEPOT-WEB-0002"
    document["buyer"]["siret"] = "22760540900018"
    before = len(site.get("/v1/invoices", site.demo_key, limit=200)["items"])
    sign_in_demo(page, site)
    page.goto("/app/deposer")
    # Dropped on the frame: the script fills the file input.
    dropped = page.evaluate_handle(
        """text => { const dt = new DataTransfer();
        dt.items.add(new File([text], "mauvais-siret.json", {type: "application/json"}));
        return dt; }""",
        json.dumps(document),
    )
    page.dispatch_event("[data-depot]", "drop", {"dataTransfer": dropped})
    chosen = page.eval_on_selector("#f-fichier", "input => input.files[0].name")
    assert chosen == "mauvais-siret.json"
    page.get_by_role("button", name="Vérifier").click()
    checked = page.locator("section.verification")
    assert "à corriger avant l'envoi" in checked.inner_text()
    label = checked.locator("dl.constats-erreur dt", has_text="SIRET de l'acheteur")
    assert "22760540900018" in label.locator("xpath=following-sibling::dd[1]").inner_text()
    assert page.get_by_role("button", name="Envoyer").count() == 0
    check_page(page, "deposer-refuse")
    assert len(site.get("/v1/invoices", site.demo_key, limit=200)["items"]) == before

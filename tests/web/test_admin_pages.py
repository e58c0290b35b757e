"""The association admin's pages in the browser, on the running gateway and its sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta

from tests.gateway.test_web_admin import ADMIN_PAGES
from tests.integration.test_server import wait_for
from tests.web.conftest import ROOT, SAMPLE, check_page, sign_in, sign_in_demo

#: Bookshops of these tests (SIRET, and the VAT number it gives).
CHAT = ("Le Chat Lettré", "41234567000019")
REVOKED = ("Librairie Révoquée", "41234568800011")
REFUSED = ("Librairie Refusée", "41234569600014", "FR77412345696")
PASSWORD = "rayon-jeunesse-2026"


def as_admin(page, site) -> None:
    sign_in(page, key=site.admin_key)


def api_status(site, path: str, key: str) -> int:
    return site.api.get(path, headers={"Authorization": f"Bearer {key}"}).status_code


def test_the_dashboard_draws_the_volumes_and_the_worker(page, site):
    for _ in range(2):
        site.submit()
    as_admin(page, site)
    chart = page.locator("svg[role=img]")
    assert chart.count() == 1 and "par semaine" in chart.locator("title").text_content()
    table = page.locator("table", has_text="Factures reçues par semaine")
    this_week = table.locator("tbody tr").last
    assert int(this_week.locator("td").last.inner_text()) >= 2
    assert "Le processus d'envoi tourne" in page.locator("main").inner_text()
    check_page(page, "admin-tableau-de-bord")
    page.get_by_role("link", name="Par mois").click()
    assert "par mois" in page.locator("svg[role=img] title").text_content()
    check_page(page, "admin-tableau-de-bord-mois")


def test_the_members_list_shows_each_member_s_volumes(page, site):
    site.submit()
    as_admin(page, site)
    page.get_by_role("link", name="Membres", exact=True).click()
    row = page.locator("tbody tr", has_text=site.demo["name"])
    cells = row.locator("td")
    assert int(cells.nth(cells.count() - 2).inner_text()) >= 1  # the total
    assert "jamais" not in cells.last.inner_text()  # when it last sent
    check_page(page, "admin-membres")


def test_a_new_member_s_key_is_shown_once_and_its_password_opens_its_pages(browser, page, site):
    as_admin(page, site)
    page.goto("/app/admin/membres")
    page.get_by_label("Nom de la librairie").fill(CHAT[0])
    page.get_by_label("SIRET").fill("123")
    page.get_by_role("button", name="Inscrire la librairie").click()
    assert "14 chiffres" in page.locator("#f-siret-erreur").inner_text()
    check_page(page, "admin-membres-refuse")

    page.get_by_label("SIRET").fill(CHAT[1])
    page.get_by_label("Adresse électronique").fill("contact@chat-lettre.example")
    page.get_by_role("button", name="Inscrire la librairie").click()
    assert page.locator("h1").inner_text() == f"Librairie inscrite : {CHAT[0]}"
    key = page.get_by_label("Clé", exact=True).input_value()
    assert key.startswith("fgw_") and api_status(site, "/v1/invoices", key) == 200
    check_page(page, "admin-membre-cree")

    page.get_by_role("link", name="Voir sa fiche").click()
    assert key not in page.content() and key[:12] in page.content()
    page.get_by_label("Nouveau mot de passe").fill("court")
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    assert "au moins" in page.locator("#f-password-erreur").inner_text()
    check_page(page, "admin-membre-mot-de-passe-refuse")
    page.get_by_label("Nouveau mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    assert "Mot de passe enregistré" in page.get_by_role("status").inner_text()
    assert PASSWORD not in page.content()
    check_page(page, "admin-membre")

    context = browser.new_context(base_url=site.base_url, viewport={"width": 1024, "height": 768})
    try:
        bookshop = context.new_page()
        sign_in(bookshop, siret=CHAT[1], password=PASSWORD)
        assert bookshop.url.endswith("/app/a-traiter")
        assert CHAT[0] in bookshop.locator(".compte").inner_text()
    finally:
        context.close()


def test_a_key_revoked_on_the_member_s_page_is_refused_by_the_api(page, site):
    member = site.new_member(*REVOKED)
    assert api_status(site, "/v1/invoices", member["api_key"]) == 200
    as_admin(page, site)
    page.goto(f"/app/admin/membres/{member['id']}")
    page.get_by_role("button", name=f"Révoquer la clé {member['api_key'][:12]}").click()
    assert "révoquée" in page.get_by_role("status").inner_text()
    assert page.url.endswith(f"/app/admin/membres/{member['id']}")
    assert "Révoquée le" in page.locator("tbody tr", has_text=member["api_key"][:12]).inner_text()
    assert api_status(site, "/v1/invoices", member["api_key"]) == 401
    check_page(page, "admin-membre-cle-revoquee")


def test_the_keys_page_creates_an_admin_key_shown_once_and_revokes_it(page, site):
    as_admin(page, site)
    page.goto("/app/admin/cles")
    assert "Clé de cette session" in page.locator("tbody").inner_text()
    assert site.demo["name"] in page.locator("tbody").inner_text()
    page.get_by_label("Libellé").fill("supervision")
    page.get_by_role("button", name="Créer la clé").click()
    key = page.get_by_label("Clé", exact=True).input_value()
    assert api_status(site, "/v1/members", key) == 200
    check_page(page, "admin-cles-nouvelle")
    page.goto("/app/admin/cles")
    assert key not in page.content()
    page.get_by_role("button", name=f"Révoquer la clé {key[:12]}").click()
    assert "révoquée" in page.get_by_role("status").inner_text()
    assert api_status(site, "/v1/members", key) == 401
    check_page(page, "admin-cles")


def test_the_outlets_page_shows_chorus_and_the_worker_alive(page, site):
    as_admin(page, site)
    page.goto("/app/admin/sorties")
    assert page.get_by_role("heading", name="chorus").count() == 1
    assert "En vie" in page.locator(".indicateurs").inner_text()
    chorus = page.locator("section", has=page.get_by_role("heading", name="chorus"))
    assert site.demo["name"] in chorus.inner_text()  # its own credentials, probed
    check_page(page, "admin-sorties")


def test_an_invoice_refused_by_chorus_is_listed_as_given_up_with_its_reason(page, site):
    credentials = json.loads((site.home / "var" / "sandbox-credentials.json").read_text())
    settings = {
        "environment": "sandbox",
        **{key: credentials[key] for key in ("client_id", "login", "password", "api_url")},
        "token_url": credentials["token_url"],
        "client_secret": "pas-le-bon-secret",
        # Within [digests] expiry_warning_days: listed among the credentials to renew.
        "password_expires": (date.today() + timedelta(days=10)).isoformat(),
    }
    made = site.api.post(
        "/v1/members",
        json={"name": REFUSED[0], "siret": REFUSED[1], "settings": {"chorus": settings}},
        headers={"Authorization": f"Bearer {site.admin_key}"},
    )
    assert made.status_code == 201, made.text
    member = made.json()
    seller = {
        **json.loads(SAMPLE.read_text())["seller"],
        "name": REFUSED[0],
        "siret": REFUSED[1],
        "vat_id": REFUSED[2],
    }
    invoice_id, number = site.submit(member["api_key"], seller=seller)
    wait_for(
        lambda: site.get(f"/v1/invoices/{invoice_id}", member["api_key"])["status"] == "EN_ERREUR",
        30,
        "the refused invoice",
        interval=0.2,
    )
    as_admin(page, site)
    page.goto("/app/admin/abandonnees")
    assert page.get_by_role("heading", name=REFUSED[0]).count() == 1
    reason = page.locator("tbody tr", has_text=number).locator("td").last.inner_text()
    assert "PISTE refuse l'application (client_id / client_secret)" in reason
    check_page(page, "admin-abandonnees")
    page.goto("/app/admin")
    assert number in page.locator(".alertes").inner_text()
    page.goto("/app/admin/sorties")
    chorus = page.locator("section", has=page.get_by_role("heading", name="chorus"))
    assert "Refusé" in chorus.locator("tr", has_text=REFUSED[0]).inner_text()
    expiring = page.locator("table", has_text="proches de l'expiration")
    assert "password_expires" in expiring.locator("tr", has_text=REFUSED[0]).inner_text()
    check_page(page, "admin-sorties-identifiants")


def test_the_archive_page_shows_the_last_checkpoint_and_the_last_verification(page, site):
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update(GATEWAY_HOME=str(site.home), GATEWAY_CONFIG=str(site.home / "gateway.toml"))

    def archive(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "gateway", "archive", command],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    signed = archive("checkpoint")
    assert signed.returncode == 0, signed.stderr
    seq, hash_ = re.search(r"entrée (\d+), empreinte ([0-9a-f]{64})", signed.stdout).groups()
    as_admin(page, site)
    page.goto("/app/admin/archive")
    text = page.locator("main").inner_text()
    assert f"n° {seq}" in text and hash_ in text
    assert "pas encore été vérifiée" in text and "facture-gateway archive verify" in text
    verified = archive("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    page.reload()
    shown = page.locator("dl", has_text="Lancée le").inner_text()
    assert verified.stdout.strip().splitlines()[-1] in shown  # its verdict: "Archive intègre…"
    check_page(page, "admin-archive")


def test_a_member_s_session_never_opens_the_admin_pages(page, site):
    sign_in_demo(page, site)
    for path in ADMIN_PAGES:
        answer = page.goto(path)
        assert answer.status == 404, path
        assert page.locator("h1").inner_text() == "Page introuvable"
    check_page(page, "admin-introuvable")

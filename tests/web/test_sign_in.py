"""Signing in and out in the browser, what a member may see, and forms without their token."""

from __future__ import annotations

import re

from tests.web.conftest import check_page, sign_in, sign_in_demo

OTHER = ("Librairie du Marché", "79345612000013")
REASON = "Mauvais destinataire : facturer le département de l'Aube"


def test_run_tells_where_the_pages_are_and_how_to_sign_in(site):
    welcome = site.log.read_text()  # whole: tests run before this one log too
    assert f"Tableau de bord : {site.base_url}/app/" in welcome
    password_file = site.home / "var" / "demo-password"
    assert f"SIRET {site.demo['siret']}, mot de passe dans {password_file}" in welcome
    assert site.demo_password not in welcome  # the file holds it, not the terminal


def test_the_sign_in_page_and_a_wrong_password(page, site):
    page.goto("/app/a-traiter")
    page.wait_for_url(re.compile(r".*/app/connexion\?suite="))
    check_page(page, "connexion")
    page.get_by_label("SIRET de la librairie").fill(site.demo["siret"])
    page.get_by_label("Mot de passe").fill("pas-le-bon-mot-de-passe")
    page.get_by_role("button", name="Se connecter").click()
    assert page.get_by_role("alert").inner_text().count("SIRET ou mot de passe incorrect") == 1
    check_page(page, "connexion-refusee")
    page.get_by_label("Mot de passe").fill(site.demo_password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(r".*/app/a-traiter$"))  # back where it was going


def test_a_member_sees_what_needs_doing_and_signs_out(page, site):
    invoice_id, number = site.sent_back("A_RECYCLER", REASON)
    sign_in_demo(page, site)
    card = page.locator(".carte", has_text=f"Facture {number}")
    assert "À recycler" in card.inner_text() and REASON in card.inner_text()
    assert card.get_by_role("link", name="Recycler").get_attribute("href") == (
        f"/app/factures/{invoice_id}/recycler"
    )
    check_page(page, "a-traiter")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(re.compile(r".*/app/connexion\?au-revoir="))
    page.goto("/app/a-traiter")
    assert "/app/connexion" in page.url


def test_a_member_never_sees_another_member_s_pages(browser, page, site):
    invoice_id, number = site.submit()
    other = site.new_member(*OTHER)
    sign_in(page, key=other["api_key"])
    assert number not in page.content()
    answer = page.goto(f"/app/factures/{invoice_id}")
    assert answer.status == 404 and number not in page.content()
    assert page.goto("/app/admin").status == 404


def test_a_form_posted_without_its_token_is_refused(page, site):
    sign_in_demo(page, site)
    # Another site's form would post without the token (and, SameSite=Strict, without the
    # cookie); even from the page itself, a form without the session's token is refused.
    with page.expect_navigation() as answer:
        page.evaluate(
            """() => {
                const form = document.createElement('form');
                form.method = 'post';
                form.action = '/app/deconnexion';
                const token = document.createElement('input');
                token.type = 'hidden'; token.name = 'csrf'; token.value = 'forged';
                form.appendChild(token);
                document.body.appendChild(form);
                form.submit();
            }"""
        )
    assert answer.value.status == 403
    assert "Formulaire refusé" in page.locator("h1").inner_text()
    assert page.goto("/app/a-traiter").status == 200  # still signed in


def test_the_admin_signs_in_with_its_key(page, site):
    sign_in(page, key=site.admin_key)
    assert page.url.endswith("/app/admin")
    assert site.demo["name"] in page.locator("main").inner_text()
    check_page(page, "admin-accueil")

"""Signing in to the web pages: sessions, CSRF, expiry and roles, through the real app."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from tests.conftest import Clock, Gateway, make_config

PASSWORD = "rayon-jeunesse-2026"
COOKIE = "__Host-fg_session"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def site(tmp_path, sqlite_url, clock):
    instance = Gateway(make_config(tmp_path, sqlite_url), clock=clock)
    yield instance
    instance.store.dispose()


def login_form(site) -> tuple[str, dict]:
    """The sign-in page's token, and its cookie."""
    page = site.client.simulate_get("/app/connexion")
    assert page.status_code == 200
    token = re.search(r'name="jeton" value="([^"]+)"', page.text).group(1)
    return token, {"fg_login": page.cookies["fg_login"].value}


def sign_in(site, **fields):
    token, cookies = login_form(site)
    return site.client.simulate_post(
        "/app/connexion",
        params=None,
        body=_form(jeton=token, **fields),
        cookies=cookies,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _form(**fields) -> str:
    from urllib.parse import urlencode

    return urlencode(fields)


def with_key(site, key: str) -> dict:
    result = sign_in(site, mode="cle", cle=key)
    assert result.status_code == 303, result.text
    return {COOKIE: result.cookies[COOKIE].value}


def csrf_of(site, cookies: dict, path="/app/a-traiter") -> str:
    page = site.client.simulate_get(path, cookies=cookies)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def post_form(site, path: str, cookies: dict, **fields):
    return site.client.simulate_post(
        path,
        body=_form(**fields),
        cookies=cookies,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_a_key_opens_a_session_in_a_secure_httponly_strict_cookie(site):
    member = site.new_member()
    result = sign_in(site, mode="cle", cle=member["api_key"])
    assert result.status_code == 303 and result.headers["location"].endswith("/app/a-traiter")
    cookie = result.cookies[COOKIE]
    assert cookie.secure and cookie.http_only and cookie.same_site == "Strict"
    assert cookie.path == "/" and cookie.value not in (member["api_key"], "")
    page = site.client.simulate_get("/app/a-traiter", cookies={COOKIE: cookie.value})
    assert page.status_code == 200 and "Librairie des Quais" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    # Only the token's hash is kept: the cookie's value is nowhere in the database.
    assert not site.store.find_web_session(cookie.value, site.services.clock())


def test_a_visitor_without_a_session_is_sent_to_sign_in_and_back(site):
    result = site.client.simulate_get("/app/a-traiter", params={"x": "1"})
    assert result.status_code == 303
    assert result.headers["location"] == "/app/connexion?suite=%2Fapp%2Fa-traiter%3Fx%3D1"
    member = site.new_member()
    back = sign_in(site, mode="cle", cle=member["api_key"], suite="/app/a-traiter?x=1")
    assert back.headers["location"] == "/app/a-traiter?x=1"
    # Never elsewhere than the pages.
    for target in ("//evil.example/", "https://evil.example/", "/v1/invoices", "/app/\\evil"):
        away = sign_in(site, mode="cle", cle=member["api_key"], suite=target)
        assert away.headers["location"] == "/app/a-traiter", target


def test_the_sign_in_form_needs_its_own_token(site):
    member = site.new_member()
    result = site.client.simulate_post(
        "/app/connexion",
        body=_form(mode="cle", cle=member["api_key"], jeton="forged"),
        cookies={"fg_login": "other"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert result.status_code == 403 and COOKIE not in result.cookies
    assert "Le formulaire a expiré" in result.text


def test_forms_without_the_session_s_csrf_token_are_refused(site):
    cookies = with_key(site, site.new_member()["api_key"])
    for fields in ({}, {"csrf": "forged"}):
        refused = post_form(site, "/app/deconnexion", cookies, **fields)
        assert refused.status_code == 403 and "Formulaire refusé" in refused.text
    assert site.client.simulate_get("/app/a-traiter", cookies=cookies).status_code == 200
    signed_out = post_form(site, "/app/deconnexion", cookies, csrf=csrf_of(site, cookies))
    assert signed_out.status_code == 303 and "au-revoir" in signed_out.headers["location"]
    assert site.client.simulate_get("/app/a-traiter", cookies=cookies).status_code == 303


def test_a_member_signs_in_with_its_siret_and_the_password_its_admin_set(site):
    member = site.new_member()
    path = f"/v1/members/{member['id']}/password"
    short = site.client.simulate_put(path, json={"password": "court"}, headers=site.admin())
    assert short.status_code == 422 and short.json["errors"][0]["code"] == "password.too_short"
    by_member = site.client.simulate_put(
        path, json={"password": PASSWORD}, headers=member["headers"]
    )
    assert by_member.status_code == 403
    assert (
        sign_in(site, mode="mot-de-passe", siret=member["siret"], mot_de_passe=PASSWORD).status_code
        == 401
    )
    done = site.client.simulate_put(path, json={"password": PASSWORD}, headers=site.admin())
    assert done.status_code == 204
    view = site.client.simulate_get(f"/v1/members/{member['id']}", headers=site.admin()).json
    assert view["password_set"] is True and PASSWORD not in str(view)

    wrong = sign_in(site, mode="mot-de-passe", siret=member["siret"], mot_de_passe="x" * 14)
    assert wrong.status_code == 401 and "SIRET ou mot de passe incorrect" in wrong.text
    spaced = "812 345 676 00017"  # as printed on the Kbis
    right = sign_in(site, mode="mot-de-passe", siret=spaced, mot_de_passe=PASSWORD)
    assert right.status_code == 303
    cookies = {COOKIE: right.cookies[COOKIE].value}
    assert site.client.simulate_get("/app/a-traiter", cookies=cookies).status_code == 200
    # A new password signs the member's browsers out.
    site.client.simulate_put(path, json={"password": PASSWORD + "!"}, headers=site.admin())
    assert site.client.simulate_get("/app/a-traiter", cookies=cookies).status_code == 303


def test_a_session_ends_when_idle_when_too_old_and_with_its_key(site, clock):
    member = site.new_member()
    cookies = with_key(site, member["api_key"])
    clock.advance(minutes=119)
    assert site.client.simulate_get("/app/a-traiter", cookies=cookies).status_code == 200
    clock.advance(minutes=119)  # seen 119 minutes ago: still alive
    assert site.client.simulate_get("/app/a-traiter", cookies=cookies).status_code == 200
    clock.advance(minutes=121)
    assert site.client.simulate_get("/app/a-traiter", cookies=cookies).status_code == 303

    busy = with_key(site, member["api_key"])
    for _ in range(12):  # a page every 59 minutes: 11 h 48 min
        clock.advance(minutes=59)
        assert site.client.simulate_get("/app/a-traiter", cookies=busy).status_code == 200
    clock.advance(minutes=13)
    assert site.client.simulate_get("/app/a-traiter", cookies=busy).status_code == 303

    revoked = with_key(site, member["api_key"])
    keys = site.client.simulate_get(f"/v1/members/{member['id']}/keys", headers=site.admin())
    (key,) = keys.json["keys"]
    gone = site.client.simulate_delete(
        f"/v1/members/{member['id']}/keys/{key['id']}", headers=site.admin()
    )
    assert gone.status_code in (200, 204), gone.json
    assert site.client.simulate_get("/app/a-traiter", cookies=revoked).status_code == 303


def test_each_page_keeps_to_its_role(site):
    member = site.new_member()
    as_member = with_key(site, member["api_key"])
    hidden = site.client.simulate_get("/app/admin", cookies=as_member)
    assert hidden.status_code == 404 and "Page introuvable" in hidden.text
    as_admin = with_key(site, site.admin()["Authorization"].removeprefix("Bearer "))
    assert site.client.simulate_get("/app/admin", cookies=as_admin).status_code == 200
    to_admin_home = site.client.simulate_get("/app/a-traiter", cookies=as_admin)
    assert to_admin_home.status_code == 303
    assert to_admin_home.headers["location"] == "/app/admin"


def test_auditor_keys_and_unknown_keys_do_not_open_the_pages(site, clock):
    member = site.new_member()
    until = (clock() + timedelta(days=30)).isoformat()
    auditor = site.client.simulate_post(
        f"/v1/members/{member['id']}/keys",
        json={"role": "auditor", "expires_at": until},
        headers=member["headers"],
    )
    assert auditor.status_code == 201, auditor.json
    refused = sign_in(site, mode="cle", cle=auditor.json["api_key"])
    assert refused.status_code == 401 and "auditeur" in refused.text
    assert COOKIE not in refused.cookies
    assert sign_in(site, mode="cle", cle="fgw_unknown").status_code == 401


def test_guessing_passwords_is_slowed_down(site):
    member = site.new_member()
    answers = [
        sign_in(site, mode="mot-de-passe", siret=member["siret"], mot_de_passe=f"essai-{n}-xxxxx")
        for n in range(11)
    ]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    assert answers[10].status_code == 429 and "Trop d'essais" in unescape(answers[10].text)
    assert int(answers[10].headers["retry-after"]) >= 1


def test_a_fault_of_the_gateway_on_a_page_is_a_french_page_with_the_request_id(site):
    member = site.new_member()
    cookies = with_key(site, member["api_key"])
    with site.store.engine.begin() as conn:  # a store broken under the page
        conn.execute(sa.text("DROP TABLE customers"))
    broken = site.client.simulate_get(
        "/app/clients", cookies=cookies, headers={"X-Request-Id": "panne-42"}
    )
    assert broken.status_code == 500 and broken.headers["content-type"].startswith("text/html")
    assert "Erreur interne" in broken.text and "panne-42" in broken.text
    # The API's answer to the same fault stays JSON.
    api = site.client.simulate_get("/v1/customers", headers=member["headers"])
    assert api.status_code == 500 and api.json["errors"][0]["code"] == "internal.error"

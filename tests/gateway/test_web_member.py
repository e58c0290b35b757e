"""The member's customers, settings and costs pages, through the real app (no browser)."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

from tests.conftest import ADMIN_KEY
from tests.gateway.test_web_sessions import csrf_of, post_form, site, with_key  # noqa: F401

PAGES = ("/app/clients", "/app/annuaire", "/app/reglages", "/app/couts")


def test_the_pages_need_a_member_s_session(site):  # noqa: F811
    for path in PAGES:
        result = site.client.simulate_get(path)
        assert result.status_code == 303 and result.headers["location"].startswith(
            "/app/connexion?suite="
        ), path
    admin = with_key(site, ADMIN_KEY)
    for path in PAGES:
        assert site.client.simulate_get(path, cookies=admin).headers["location"] == "/app/admin"


def test_a_customer_is_added_refused_when_its_siret_is_wrong_and_changed(site):  # noqa: F811
    member = site.new_member()
    cookies = with_key(site, member["api_key"])
    token = csrf_of(site, cookies, "/app/clients")

    def add(**fields):
        return post_form(site, "/app/clients", cookies, csrf=token, name="Aube", **fields)

    refused = add(siret="2210000520001")
    assert refused.status_code == 422
    assert 'id="f-siret-erreur"' in refused.text and "n'est pas valide" in unescape(refused.text)
    bad_copy = add(siret="221 000 052 00011", channel="paper", copies="pas-une-adresse")
    assert bad_copy.status_code == 422 and 'id="f-copies-erreur"' in bad_copy.text
    added = add(
        siret="221 000 052 00011",
        channel="paper",
        copies="mediatheque@aube.example\ncdi@aube.example",
    )
    assert added.status_code == 303 and added.headers["location"] == "/app/clients/22100005200011"
    shown = site.client.simulate_get("/v1/customers/22100005200011", headers=member["headers"])
    assert shown.json["channel"] == "paper"
    assert [copy["to"] for copy in shown.json["copies"]] == [
        "mediatheque@aube.example",
        "cdi@aube.example",
    ]
    twice = add(siret="22100005200011")
    assert twice.status_code == 422 and "déjà l'un de vos clients" in unescape(twice.text)
    changed = post_form(
        site,
        "/app/clients/22100005200011",
        cookies,
        csrf=token,
        name="Département de l'Aube",
        channel="manual_pdf",
        copies="",
    )
    assert changed.status_code == 303
    page = site.client.simulate_get("/app/clients/22100005200011", cookies=cookies)
    assert "Client enregistré." in page.text and "PDF à déposer sur le portail" in page.text
    assert "Département de l&#39;Aube" in page.text
    other = site.new_member(name="Autre librairie", siret="73282932000074")
    theirs = with_key(site, other["api_key"])
    assert (
        site.client.simulate_get("/app/clients/22100005200011", cookies=theirs).status_code == 404
    )


def test_a_webhook_s_secret_is_shown_once_and_digests_are_checked(site):  # noqa: F811
    member = site.new_member()
    cookies = with_key(site, member["api_key"])
    token = csrf_of(site, cookies, "/app/reglages")
    created = post_form(
        site,
        "/app/reglages/webhooks",
        cookies,
        csrf=token,
        url="http://127.0.0.1:9/hook",
        events="invoice.status_changed",
    )
    assert created.status_code == 200
    secret = created.text.split('<code class="secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    hooks = site.client.simulate_get("/v1/webhooks", headers=member["headers"]).json["webhooks"]
    assert [hook["events"] for hook in hooks] == [["invoice.status_changed"]]
    again = site.client.simulate_get("/app/reglages", cookies=cookies)
    assert "http://127.0.0.1:9/hook" in again.text and secret not in again.text
    refused = post_form(
        site,
        "/app/reglages/resumes",
        cookies,
        csrf=token,
        **{
            "digests.daily": "oui",
            "digests.recipients": "compta@, x",
        },
    )
    assert refused.status_code == 422 and 'id="f-digests.recipients-erreur"' in refused.text
    saved = post_form(
        site,
        "/app/reglages/resumes",
        cookies,
        csrf=token,
        **{
            "digests.weekly": "oui",
            "digests.recipients": "compta@librairie.example",
        },
    )
    assert saved.status_code == 303
    settings = site.services.members.settings(member["id"])
    assert settings["digests"] == {
        "daily": False,
        "weekly": True,
        "recipients": ["compta@librairie.example"],
    }


def test_a_period_the_costs_page_cannot_read_is_said_beside_its_field(site):  # noqa: F811
    cookies = with_key(site, site.new_member()["api_key"])
    refused = site.client.simulate_get("/app/couts", params={"periode": "2026-13"}, cookies=cookies)
    assert refused.status_code == 422 and 'id="f-periode-erreur"' in refused.text
    empty = site.client.simulate_get("/app/couts", params={"periode": "2026-11"}, cookies=cookies)
    assert empty.status_code == 200 and "Aucune facture envoyée sur cette période" in unescape(
        empty.text
    )


def test_a_member_s_own_outlets_are_checked_with_their_dated_settings(site):  # noqa: F811
    member = site.new_member()
    soon = (site.services.clock() + timedelta(days=5)).date().isoformat()
    later = (site.services.clock() + timedelta(days=400)).date().isoformat()
    site.services.members.update(
        member["id"],
        {"settings": {"memory": {"contract_expires": soon, "licence_expires": later}}},
        by_admin=True,
    )
    outlets = site.services.health.member_outlets(member["id"])
    assert list(outlets) == ["memory"] and outlets["memory"]["ok"]
    assert outlets["memory"]["expiring"] == [
        {"outlet": "memory", "setting": "contract_expires", "date": soon, "days": 5}
    ]
    assert site.services.health.member_outlets(site.new_member(siret="73282932000074")["id"]) == {}

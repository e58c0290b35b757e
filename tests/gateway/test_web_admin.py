"""The admin's pages in process: their queries on both databases, their forms, their role."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from gateway.services.members import ERRORS, MONTH, NEEDS_ACTION, PAID, SENT, WEEK
from gateway.web.admin import ago, back_to
from gateway.worker import ABANDONED
from tests.conftest import Clock, Gateway, make_config
from tests.gateway.store.test_store import add_invoice
from tests.gateway.test_web_sessions import csrf_of, post_form, with_key

OTHER = ("Librairie du Marché", "79345612000013")
#: A Tuesday: its Paris week began on Monday 30 November at 00:00 (23:00 UTC the day before).
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ADMIN_PAGES = (
    "/app/admin",
    "/app/admin/membres",
    "/app/admin/sorties",
    "/app/admin/abandonnees",
    "/app/admin/archive",
    "/app/admin/cles",
)


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def both(tmp_path, database_url, clock):
    """The gateway on an SQLite file, then on PostgreSQL."""
    instance = Gateway(make_config(tmp_path, database_url), clock=clock)
    yield instance
    instance.store.dispose()


@pytest.fixture
def site(tmp_path, sqlite_url, clock):
    instance = Gateway(make_config(tmp_path, sqlite_url), clock=clock)
    yield instance
    instance.store.dispose()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_volumes_are_counted_per_paris_week_or_month_and_status_group(both):
    quais, marche = both.new_member(), both.new_member(*OTHER)
    for number, member, status, created in (
        ("1", quais, "MISE_EN_PAIEMENT", "2026-11-16 10:00"),  # first week shown
        ("2", quais, "EN_ERREUR", "2026-11-29 22:30"),  # Sunday 23:30 in Paris
        ("3", marche, "A_RECYCLER", "2026-11-29 23:30"),  # Monday 00:30 in Paris
        ("4", marche, "DEPOSEE", "2026-12-01 08:00"),
        ("5", marche, "REJETEE", "2026-11-30 23:30"),  # 1 December in Paris
        ("6", quais, "DEPOSEE", "2026-11-15 12:00"),  # before the weeks shown
    ):
        created_at = at(created)
        add_invoice(
            both.store,
            member["id"],
            number,
            status=status,
            created_at=created_at,
            updated_at=created_at,
            next_attempt_at=None,
        )
    members = both.services.members

    weeks = members.volumes_over_time(WEEK, 3)
    assert [item["start"] for item in weeks] == [
        at("2026-11-15 23:00"),
        at("2026-11-22 23:00"),
        at("2026-11-29 23:00"),
    ]
    empty = dict.fromkeys((SENT, PAID, NEEDS_ACTION, ERRORS), 0)
    assert [item["counts"] for item in weeks] == [
        {**empty, PAID: 1},
        {**empty, ERRORS: 1},
        {**empty, NEEDS_ACTION: 2, SENT: 1},
    ]
    months = members.volumes_over_time(MONTH, 2)
    assert [item["start"] for item in months] == [at("2026-10-31 23:00"), at("2026-11-30 23:00")]
    assert [sum(item["counts"].values()) for item in months] == [4, 2]

    activity = members.activity()
    assert activity[quais["id"]]["statuses"] == {
        "MISE_EN_PAIEMENT": 1,
        "EN_ERREUR": 1,
        "DEPOSEE": 1,
    }
    assert activity[quais["id"]]["groups"] == {SENT: 1, PAID: 1, NEEDS_ACTION: 0, ERRORS: 1}
    assert activity[marche["id"]]["total"] == 3
    assert activity[marche["id"]]["last_at"] == at("2026-12-01 08:00")
    assert members.activity(marche["id"]) == {marche["id"]: activity[marche["id"]]}


def test_invoices_given_up_are_those_in_error_with_nothing_planned(both):
    quais = both.new_member()
    for number, values in (
        ("G1", {"last_error": "Chorus Pro refuse les identifiants"}),
        ("G2", {"next_attempt_at": NOW + timedelta(minutes=5)}),
        ("G3", {"action": "retry", "action_due_at": NOW}),
    ):
        add_invoice(
            both.store,
            quais["id"],
            number,
            **{"status": "EN_ERREUR", "next_attempt_at": None, "attempts": 8, **values},
        )
    (given_up,) = both.services.alerts.given_up()
    assert (given_up["number"], given_up["member"], given_up["attempts"]) == (
        "G1",
        "Librairie des Quais",
        8,
    )
    assert given_up["last_error"] == "Chorus Pro refuse les identifiants"


def test_every_key_is_listed_the_admin_s_first_and_revoked_by_id(both):
    quais = both.new_member()
    members = both.services.members
    admin = members.create_key(None, "admin", label="trésorière")
    keys = members.all_keys()
    assert [(key["role"], key["member"]) for key in keys] == [
        ("admin", None),
        ("member", "Librairie des Quais"),
    ]
    assert "api_key" not in keys[0] and "key_hash" not in keys[0]
    assert keys[1]["member_id"] == quais["id"]
    assert members.revoke_any_key(admin["id"])["revoked_at"] is not None
    refused = both.client.simulate_get(
        "/v1/members", headers={"Authorization": f"Bearer {admin['api_key']}"}
    )
    assert refused.status_code == 401


def admin_cookies(site) -> dict:
    return with_key(site, site.admin()["Authorization"].removeprefix("Bearer "))


def test_each_admin_page_answers_the_admin_and_hides_from_members(site):
    member = site.new_member()
    as_admin, as_member = admin_cookies(site), with_key(site, member["api_key"])
    for path in (*ADMIN_PAGES, f"/app/admin/membres/{member['id']}"):
        shown = site.client.simulate_get(path, cookies=as_admin)
        assert shown.status_code == 200, (path, shown.text)
        assert 'aria-current="page"' in shown.text
        hidden = site.client.simulate_get(path, cookies=as_member)
        assert hidden.status_code == 404 and "Page introuvable" in hidden.text, path
    assert (
        site.client.simulate_get("/app/admin/membres/mem_nobody", cookies=as_admin).status_code
        == 404
    )


def test_the_dashboard_draws_volumes_as_a_chart_and_a_table(site):
    member = site.new_member()
    add_invoice(
        site.store, member["id"], "1", status="EN_ERREUR", created_at=NOW - timedelta(days=8)
    )
    page = site.client.simulate_get("/app/admin", cookies=admin_cookies(site))
    assert page.status_code == 200
    assert '<svg class="chart" role="img"' in page.text
    text = unescape(page.text)
    assert "23 nov." in text and "Librairie des Quais" in text
    monthly = site.client.simulate_get(
        "/app/admin", params={"periode": "mois"}, cookies=admin_cookies(site)
    )
    assert "nov. 2026" in unescape(monthly.text)


def test_creating_a_member_shows_its_key_once_and_refuses_what_is_wrong(site):
    cookies = admin_cookies(site)
    token = csrf_of(site, cookies, "/app/admin/membres")
    wrong = post_form(
        site, "/app/admin/membres", cookies, csrf=token, name="Le Chat Lettré", siret="123"
    )
    assert wrong.status_code == 422
    assert 'id="f-siret-erreur"' in wrong.text and 'value="Le Chat Lettré"' in unescape(wrong.text)

    made = post_form(
        site,
        "/app/admin/membres",
        cookies,
        csrf=token,
        name="Le Chat Lettré",
        siret="79345612000013",
        email="contact@chat-lettre.fr",
    )
    assert made.status_code == 201
    key = re.search(r'value="(fgw_[^"]+)"', made.text).group(1)
    member_id = re.search(r'href="/app/admin/membres/(mem_[^"]+)"', made.text).group(1)
    assert (
        site.client.simulate_get(
            "/v1/invoices", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 200
    )
    again = site.client.simulate_get(f"/app/admin/membres/{member_id}", cookies=cookies)
    assert again.status_code == 200 and key not in again.text and key[:12] in again.text

    taken = post_form(
        site, "/app/admin/membres", cookies, csrf=token, name="Autre", siret="79345612000013"
    )
    assert taken.status_code == 409 and "déjà celui d'un autre membre" in unescape(taken.text)


def test_the_admin_sets_a_member_s_password_never_shown_back(site):
    member = site.new_member()
    cookies = admin_cookies(site)
    path = f"/app/admin/membres/{member['id']}"
    token = csrf_of(site, cookies, path)
    short = post_form(site, path + "/mot-de-passe", cookies, csrf=token, password="court")
    assert short.status_code == 422 and 'id="f-password-erreur"' in short.text
    assert 'value="court"' not in short.text
    done = post_form(
        site, path + "/mot-de-passe", cookies, csrf=token, password="rayon-jeunesse-2026"
    )
    assert done.status_code == 303 and done.headers["location"] == path
    page = site.client.simulate_get(path, cookies=cookies)
    assert "Mot de passe enregistré" in page.text and "rayon-jeunesse-2026" not in page.text
    assert site.services.members.get(member["id"])["password_set"] is True


def test_the_admin_revokes_a_key_and_creates_its_own_shown_once(site):
    member = site.new_member()
    cookies = admin_cookies(site)
    token = csrf_of(site, cookies, "/app/admin/cles")
    (key,) = site.services.members.keys(member["id"])
    back = f"/app/admin/membres/{member['id']}"
    revoked = post_form(
        site, f"/app/admin/cles/{key['id']}/revoquer", cookies, csrf=token, retour=back
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == back
    assert site.client.simulate_get("/v1/invoices", headers=member["headers"]).status_code == 401
    elsewhere = post_form(
        site, f"/app/admin/cles/{key['id']}/revoquer", cookies, csrf=token, retour="//evil"
    )
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/app/admin/cles"
    unknown = post_form(site, "/app/admin/cles/key_nobody/revoquer", cookies, csrf=token)
    assert unknown.status_code == 404
    forged = post_form(site, f"/app/admin/cles/{key['id']}/revoquer", cookies, csrf="forged")
    assert forged.status_code == 403

    past = post_form(
        site, "/app/admin/cles", cookies, csrf=token, label="supervision", expires_at="2020-01-01"
    )
    assert past.status_code == 422 and 'id="f-expires_at-erreur"' in past.text
    made = post_form(
        site, "/app/admin/cles", cookies, csrf=token, label="supervision", expires_at="2027-01-31"
    )
    assert made.status_code == 201
    new_key = re.search(r'value="(fgw_[^"]+)"', made.text).group(1)
    listing = site.client.simulate_get("/app/admin/cles", cookies=cookies)
    assert new_key not in listing.text and new_key[:12] in listing.text
    assert "supervision" in listing.text
    admin_view = site.client.simulate_get(
        "/v1/members", headers={"Authorization": f"Bearer {new_key}"}
    )
    assert admin_view.status_code == 200


def test_the_last_alerts_come_newest_first_across_members(both):
    quais, marche = both.new_member(), both.new_member(*OTHER)
    with both.store.begin() as conn:
        for member, number in ((quais, "A1"), (marche, "B1"), (quais, "A2")):
            both.store.add_event(conn, member["id"], ABANDONED, {"number": number, "reason": "x"})
        both.store.add_event(conn, quais["id"], "invoice.status_changed", {"number": "A3"})
    recent = both.services.alerts.recent(2)
    assert [(alert["data"]["number"], alert["member_id"]) for alert in recent] == [
        ("A2", quais["id"]),
        ("B1", marche["id"]),
    ]
    oldest_first = both.services.alerts.feed(limit=2)["events"]
    assert [alert["data"]["number"] for alert in oldest_first] == ["A1", "B1"]


def test_heartbeats_are_told_in_words_and_forms_return_to_admin_pages_only():
    def seconds(n: int) -> str:
        return (NOW - timedelta(seconds=n)).isoformat()

    assert [ago(seconds(n), NOW) for n in (4, 119, 180, 7200, 200000)] == [
        "il y a 4 s",
        "il y a 119 s",
        "il y a 3 min",
        "il y a 2 h",
        "il y a 2 jours",
    ]
    assert ago(None, NOW) == "jamais"
    assert back_to("/app/admin/membres/mem_1", "/app/admin/cles") == "/app/admin/membres/mem_1"
    for elsewhere in (None, "https://evil.example/", "/app/admin//evil", "/app/a-traiter"):
        assert back_to(elsewhere, "/app/admin/cles") == "/app/admin/cles", elsewhere

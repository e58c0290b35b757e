"""Seller identity: a member invoices only under the SIRET the administrator gave it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from gateway.store import MIGRATIONS, Store
from tests.conftest import example, sold_by

QUAIS = "81234567600017"
MARCHE = "79345612000013"


def patch_member(gateway, member: dict, headers: dict, **changes):
    return gateway.client.simulate_patch(
        f"/v1/members/{member['id']}", headers=headers, json=changes
    )


def errors(result) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in result.json["errors"]]


# --- the SIRET belongs to the admin ----------------------------------------------------------


def test_a_member_cannot_change_its_siret(gateway, member):
    result = patch_member(gateway, member, member["headers"], siret=MARCHE)
    assert result.status_code == 403
    assert errors(result) == [("member.siret_admin_only", "siret")]
    assert "administrateur" in result.json["errors"][0]["message"]
    assert (
        gateway.client.simulate_get(f"/v1/members/{member['id']}", headers=member["headers"]).json[
            "siret"
        ]
        == QUAIS
    )


def test_a_member_may_send_its_own_siret_back_with_other_changes(gateway, member):
    result = patch_member(gateway, member, member["headers"], siret=QUAIS, email="a@quais.fr")
    assert result.status_code == 200
    assert (result.json["siret"], result.json["email"]) == (QUAIS, "a@quais.fr")


def test_the_admin_sets_a_members_siret(gateway):
    newcomer = gateway.new_member("Librairie Nouvelle", siret=None)
    result = patch_member(gateway, newcomer, gateway.admin(), siret=MARCHE)
    assert result.status_code == 200
    assert result.json["siret"] == MARCHE
    invoice = sold_by(example("invoice-aube"), MARCHE)
    assert gateway.post_invoice(newcomer, invoice).status_code == 202


def test_two_members_cannot_hold_the_same_siret(gateway, member):
    created = gateway.client.simulate_post(
        "/v1/members", headers=gateway.admin(), json={"name": "Copie", "siret": QUAIS}
    )
    assert created.status_code == 409
    assert errors(created) == [("member.siret_taken", "siret")]
    other = gateway.new_member("Librairie du Marché", MARCHE)
    moved = patch_member(gateway, other, gateway.admin(), siret=QUAIS)
    assert moved.status_code == 409
    assert errors(moved) == [("member.siret_taken", "siret")]
    assert (
        len(gateway.client.simulate_get("/v1/members", headers=gateway.admin()).json["members"])
        == 2
    )


# --- invoices only in the member's own name --------------------------------------------------


def test_an_invoice_in_another_members_name_is_refused_and_not_stored(gateway, member):
    other = gateway.new_member("Librairie du Marché", MARCHE)
    result = gateway.post_invoice(other, example("invoice-aube"))  # sold by QUAIS
    assert result.status_code == 422
    assert ("seller.not_member", "seller.siret") in errors(result)
    refusal = next(e for e in result.json["errors"] if e["code"] == "seller.not_member")
    assert QUAIS in refusal["message"] and MARCHE in refusal["message"]
    listing = gateway.client.simulate_get("/v1/invoices", headers=other["headers"])
    assert listing.json["items"] == []
    assert (
        gateway.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"] == []
    )


def test_the_dry_run_refuses_it_too(gateway, member):
    other = gateway.new_member("Librairie du Marché", MARCHE)
    result = gateway.client.simulate_post(
        "/v1/invoices/validate", headers=other["headers"], json=example("invoice-aube")
    )
    assert result.status_code == 200
    assert result.json["valid"] is False
    assert ("seller.not_member", "seller.siret") in [
        (e["code"], e["field"]) for e in result.json["errors"]
    ]
    own = gateway.client.simulate_post(
        "/v1/invoices/validate", headers=member["headers"], json=example("invoice-aube")
    )
    assert "seller.not_member" not in [e["code"] for e in own.json["errors"]]


def test_a_member_without_siret_is_told_to_ask_the_administrator(gateway):
    newcomer = gateway.new_member("Librairie Nouvelle", siret=None)
    result = gateway.post_invoice(newcomer, example("invoice-aube"))
    assert result.status_code == 422
    refusal = next(e for e in result.json["errors"] if e["code"] == "seller.not_member")
    assert refusal["field"] == "seller.siret"
    assert "administrateur" in refusal["message"]


def test_an_invoice_without_seller_siret_is_refused(gateway, member):
    invoice = sold_by(example("invoice-aube"), QUAIS)
    del invoice["seller"]["siret"]
    result = gateway.post_invoice(member, invoice)
    assert result.status_code == 422
    # One explanation: the French rules' (siret.required) when they fault it first.
    assert [field for _, field in errors(result)] == ["seller.siret"]


def test_a_dry_run_on_chosen_rule_sets_judges_by_those_only(gateway, member):
    other = gateway.new_member("Librairie du Marché", MARCHE)
    result = gateway.client.simulate_post(
        "/v1/invoices/validate",
        headers=other["headers"],
        json=example("invoice-aube"),
        params={"rules": "en16931"},
    )
    assert "seller.not_member" not in [e["code"] for e in result.json["errors"]]


# --- the migration ---------------------------------------------------------------------------


def test_the_migration_stops_on_members_sharing_a_siret(database_url):
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    store = Store(database_url)
    try:
        with store.migrating() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
        now = datetime.now(UTC)
        with store.begin() as conn:
            for member_id in ("mem_a", "mem_b"):
                store.insert_member(conn, id=member_id, name=member_id, siret=QUAIS, created_at=now)
        with pytest.raises(RuntimeError, match=QUAIS):
            store.migrate()
        with store.read() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert version == "0003"
    finally:
        store.dispose()

"""The Dilifac outlet wired into the gateway, end to end: the real gateway (app, store,
plugins from their entry points, a worker) sending through zeep to the Dilifac sandbox over
HTTP, allowed to reach the two sandboxes' ports only, the buyer checked in the Chorus Pro
sandbox's directory. The test plays the bookseller through the REST API, and Dilifac and
the buyer through the Dilifac sandbox's control API.
"""

from __future__ import annotations

import hashlib
import itertools
from urllib.parse import urlsplit

import pytest

from gateway import outbound
from tests.conftest import Gateway, example, make_config
from tests.integration.test_server import wait_for
from tests.plugins.dilifac.sandbox import dilifac  # noqa: F401 (fixture)

SEINE_MARITIME = "22760540900019"
NUMBERS = itertools.count(1)


class Bookshop:
    """The gateway sending through Dilifac for one member whose settings hold the
    sandbox's URL and credentials."""

    def __init__(self, tmp_path, sqlite_url, chorus, dilifac, timeout: float = 5.0):  # noqa: F811
        ports = [urlsplit(server.url).port for server in (chorus, dilifac)]
        config = make_config(
            tmp_path, sqlite_url, outbound_hosts=tuple(f"127.0.0.1:{port}" for port in ports)
        )
        config.channels = {**config.channels, "dilifac": "dilifac"}
        config.plugins = {
            **config.plugins,
            "chorus": {"environment": "sandbox", "timeout": 5.0},
            "directory_chorus": chorus.settings(),
            "dilifac": {"timeout": timeout},
        }
        config.worker.poll_fast = config.worker.poll_slow = 0.001  # polls due at once
        self.dilifac = dilifac
        self.gateway = Gateway(config)
        self.member = self.gateway.new_member()
        patched = self.gateway.client.simulate_patch(
            f"/v1/members/{self.member['id']}",
            json={"settings": {"dilifac": dilifac.settings()}},
            headers=self.gateway.admin(),
        )
        assert patched.status_code == 200, patched.json
        assert patched.json["settings"]["dilifac"]["password"] != dilifac.settings()["password"]
        put = self.gateway.client.simulate_put(
            f"/v1/customers/{SEINE_MARITIME}",
            json={"name": "DEPARTEMENT DE LA SEINE MARITIME", "channel": "dilifac"},
            headers=self.member["headers"],
        )
        assert put.status_code in (200, 201), put.json
        self.worker = self.gateway.worker()

    def close(self) -> None:
        self.gateway.store.dispose()

    def submit(self) -> tuple[str, str]:
        document = example("invoice-seine-maritime")
        document["number"] = f"DLF-IT-{next(NUMBERS):04d}"
        accepted = self.gateway.post_invoice(self.member, document)
        assert accepted.status_code == 202, accepted.json
        assert accepted.json["channel"] == "dilifac"
        return accepted.json["id"], document["number"]

    def view(self, invoice_id: str) -> dict:
        return self.gateway.get_invoice(self.member, invoice_id)

    def send_until(self, invoice_id: str, status: str) -> dict:
        return self.until(invoice_id, status, self.worker.run_once)

    def follow_until(self, invoice_id: str, status: str) -> dict:
        return self.until(invoice_id, status, self.worker.follow_once)

    def until(self, invoice_id: str, status: str, work) -> dict:
        def reached():
            work()
            return self.view(invoice_id)["status"] == status

        wait_for(reached, 20, f"the invoice to be {status}")
        return self.view(invoice_id)

    def deposit_id(self, invoice_id: str) -> str:
        return self.gateway.store.get_invoice(invoice_id)["outlet_reference"]

    def document(self, invoice_id: str, name: str) -> bytes:
        got = self.gateway.client.simulate_get(
            f"/v1/invoices/{invoice_id}/documents/{name}", headers=self.member["headers"]
        )
        assert got.status_code == 200, got.text
        return got.content


@pytest.fixture
def bookshop(tmp_path, sqlite_url, sandbox, dilifac):  # noqa: F811
    shops = []

    def build(**options) -> Bookshop:
        shops.append(Bookshop(tmp_path / str(len(shops)), sqlite_url, sandbox, dilifac, **options))
        return shops[-1]

    yield build
    for shop in shops:
        shop.close()
    outbound.configure(None)  # as outside a gateway, for the tests that follow


def test_an_invoice_reaches_a_chorus_status_through_dilifac(bookshop, dilifac):  # noqa: F811
    shop = bookshop()
    invoice_id, number = shop.submit()

    deposited = shop.send_until(invoice_id, "DEPOSEE")
    deposit_id = shop.deposit_id(invoice_id)
    assert deposited["history"][-1]["comment"] == f"Reçue par Dilifac, dépôt N° {deposit_id}"
    (held,) = dilifac.deposits(number)
    assert held["id"] == deposit_id and held["client_ref"] == invoice_id
    # the archive receipt, archived with the invoice, names the very bytes that left
    names = {document["name"] for document in deposited["documents"]}
    assert "accuse-archivage-dilifac.xml" in names
    sent = shop.document(invoice_id, "facture.xml")
    assert hashlib.sha256(sent).hexdigest() == held["sha256"]
    assert held["sha256"].encode() in shop.document(invoice_id, "accuse-archivage-dilifac.xml")

    for _ in range(3):  # forwarded, deposited on Chorus Pro, made available: between polls
        dilifac.move(deposit_id)
    followed = shop.follow_until(invoice_id, "MISE_A_DISPOSITION")
    statuses = [entry["status"] for entry in followed["history"]]
    assert statuses[-3:] == ["DEPOSEE", "EN_COURS_ACHEMINEMENT", "MISE_A_DISPOSITION"]
    flux = dilifac.deposits(number)[0]["flux"]
    forwarded = followed["history"][-2]["comment"]
    assert forwarded == f"Transmise à Chorus Pro par Dilifac (flux {flux})"
    data = shop.gateway.store.get_invoice(invoice_id)["receipt_data"]
    assert data["numeroFluxDepot"] == flux and data["dilifac_status"] == "MISE_A_DISPOSITION"

    dilifac.move(deposit_id, "SERVICE_FAIT")
    dilifac.move(deposit_id, "MANDATEE")
    statuses = [entry["status"] for entry in shop.follow_until(invoice_id, "MANDATEE")["history"]]
    assert statuses[-2:] == ["SERVICE_FAIT", "MANDATEE"]


def test_a_refusal_by_dilifac_is_an_error_naming_its_reason(bookshop, dilifac):  # noqa: F811
    shop = bookshop()
    invoice_id, _ = shop.submit()
    shop.send_until(invoice_id, "DEPOSEE")
    dilifac.move(shop.deposit_id(invoice_id), "REFUSEE", "Le SIRET du destinataire est inconnu.")
    refused = shop.follow_until(invoice_id, "EN_ERREUR")
    assert refused["history"][-1]["comment"] == (
        "Refusée par Dilifac : Le SIRET du destinataire est inconnu."
    )
    assert "Dilifac a refusé la facture" in refused["last_error"]
    shop.worker.follow_once()  # no more polls once refused
    assert len(shop.view(invoice_id)["history"]) == len(refused["history"])


def test_an_uncertain_deposit_is_not_made_twice(bookshop, dilifac):  # noqa: F811
    shop = bookshop(timeout=1.0)
    invoice_id, number = shop.submit()
    deposits_before = dilifac.calls("DeposerFacture")
    dilifac.faults("lost", 2.5, ("DeposerFacture",))
    try:  # the next attempt looks first, and finds it
        deposited = shop.send_until(invoice_id, "DEPOSEE")
    finally:
        dilifac.clear_faults()
    waited, found = deposited["history"][-2:]
    assert waited["status"] == "EN_ATTENTE_PLATEFORME"
    assert "Dilifac n'a pas répondu à temps" in waited["comment"]
    assert "pas de second dépôt" in found["comment"]
    assert len(dilifac.deposits(number)) == 1
    assert dilifac.calls("DeposerFacture") == deposits_before + 1
    assert shop.deposit_id(invoice_id) == dilifac.deposits(number)[0]["id"]


def test_wrong_credentials_stop_the_invoice_with_a_reason(bookshop, dilifac):  # noqa: F811
    shop = bookshop()
    shop.gateway.client.simulate_patch(
        f"/v1/members/{shop.member['id']}",
        json={"settings": {"dilifac": {**dilifac.settings(), "password": "faux"}}},
        headers=shop.gateway.admin(),
    )
    invoice_id, number = shop.submit()
    refused = shop.send_until(invoice_id, "EN_ERREUR")
    assert "login et password" in refused["last_error"]
    assert refused["retry_at"] is None and refused["needs_action"]  # not retried: fix first
    assert dilifac.deposits(number) == []


def test_what_a_dilifac_invoice_costs_is_shown_from_its_tariff(bookshop, dilifac):  # noqa: F811
    shop = bookshop()
    invoice_id, number = shop.submit()
    shop.send_until(invoice_id, "DEPOSEE")
    costs = shop.gateway.client.simulate_get("/v1/costs", headers=shop.member["headers"]).json
    (outlet,) = costs["outlets"]
    assert outlet["outlet"] == "dilifac" and outlet["label"].startswith("Dilifac")
    (invoice,) = outlet["invoices"]
    assert invoice["number"] == number and invoice["lines"] <= 20
    assert invoice["amount"] == "0.17"  # the first band, 0.14, and one block of archiving
    assert [item["unit_price"] for item in invoice["items"]] == ["0.14", "0.03"]
    assert outlet["subscription"]["amount"] == "12.00"  # 144 € a year, a month of it
    assert "supposées" in outlet["note"]

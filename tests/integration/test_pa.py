"""The ``pa`` outlet wired into the gateway, end to end: the real gateway (app, store, plugins
from their entry points, a worker) depositing through the XP Z12-013 Flow Service of the PA
sandbox over HTTP, allowed to reach the sandbox's port only. The test plays the bookseller
through the REST API, and the platforms and the buyer through the sandbox's control API.
"""

from __future__ import annotations

import hashlib
import itertools
from urllib.parse import urlsplit

import pytest

from gateway import outbound
from plugins.pa.outlet import tracking_id
from tests.conftest import Gateway, example, make_config
from tests.integration.test_server import wait_for
from tests.plugins.pa.sandbox import pa_sandbox  # noqa: F401 (fixture)

BUYER = "22760540900019"
CHANNEL = "pa"
NUMBERS = itertools.count(1)


class Bookshop:
    """The gateway sending through the PA sandbox for one member whose settings hold the
    sandbox's URLs and credentials."""

    def __init__(self, tmp_path, sqlite_url, platform, timeout: float = 5.0):
        port = urlsplit(platform.base_url).port
        config = make_config(tmp_path, sqlite_url, outbound_hosts=(f"127.0.0.1:{port}",))
        config.channels = {**config.channels, CHANNEL: "pa"}
        config.plugins = {**config.plugins, "pa": {"timeout": timeout}}
        config.worker.poll_fast = config.worker.poll_slow = 0.001  # polls due at once
        self.platform = platform
        self.gateway = Gateway(config)
        self.member = self.gateway.new_member()
        patched = self.gateway.client.simulate_patch(
            f"/v1/members/{self.member['id']}",
            json={"settings": {"pa": platform.settings(syntax="CII")}},
            headers=self.gateway.admin(),
        )
        assert patched.status_code == 200, patched.json
        secret = platform.settings()["client_secret"]
        assert patched.json["settings"]["pa"]["client_secret"] != secret
        put = self.gateway.client.simulate_put(
            f"/v1/customers/{BUYER}",
            json={"name": "DEPARTEMENT DE LA SEINE MARITIME", "channel": CHANNEL},
            headers=self.member["headers"],
        )
        assert put.status_code in (200, 201), put.json
        self.worker = self.gateway.worker()

    def close(self) -> None:
        self.gateway.store.dispose()

    def submit(self) -> str:
        document = example("invoice-seine-maritime")
        document["number"] = f"PA-IT-{next(NUMBERS):04d}"
        accepted = self.gateway.post_invoice(self.member, document)
        assert accepted.status_code == 202, accepted.json
        assert accepted.json["channel"] == CHANNEL
        assert self.gateway.store.get_invoice(accepted.json["id"])["outlet"] == "pa"
        return accepted.json["id"]

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

    def flow_id(self, invoice_id: str) -> str:
        return self.gateway.store.get_invoice(invoice_id)["outlet_reference"]

    def deposited(self) -> tuple[str, str]:
        """An invoice deposited and acknowledged Ok (status 200 given): its id, its flow."""
        invoice_id = self.submit()
        self.send_until(invoice_id, "DEPOSEE")
        self.platform.step()
        return invoice_id, self.flow_id(invoice_id)

    def status(self, flow_id: str, code: str, reason: str | None = None) -> None:
        """Play the buyer (or the platforms) a minute later on the sandbox's clock."""
        self.platform.control.post("/clock", json={"advance": 60}).raise_for_status()
        body = {"code": code, **({"reason": reason} if reason else {})}
        self.platform.control.post(f"/flows/{flow_id}/status", json=body).raise_for_status()

    def post(self, invoice_id: str, action: str, **kwargs):
        return self.gateway.client.simulate_post(
            f"/v1/invoices/{invoice_id}/{action}", headers=self.member["headers"], **kwargs
        )


@pytest.fixture
def bookshop(tmp_path, sqlite_url, pa_sandbox):  # noqa: F811
    shops = []

    def build(**options) -> Bookshop:
        shops.append(Bookshop(tmp_path / str(len(shops)), sqlite_url, pa_sandbox, **options))
        return shops[-1]

    yield build
    for shop in shops:
        shop.close()
    pa_sandbox.clear_faults()
    outbound.configure(None)  # as outside a gateway, for the tests that follow


def test_an_invoice_is_deposited_as_one_flow_of_the_document_validated(bookshop, pa_sandbox):  # noqa: F811
    shop = bookshop()
    invoice_id = shop.submit()
    deposited = shop.send_until(invoice_id, "DEPOSEE")
    flow_id = shop.flow_id(invoice_id)
    assert deposited["history"][-1]["comment"] == (
        f"Déposée sur la plateforme agréée, flux N° {flow_id}"
    )
    held = pa_sandbox.flow(flow_id)
    assert held["tracking_id"] == tracking_id(invoice_id)
    assert (held["syntax"], held["profile"], held["processing_rule"]) == ("CII", "CIUS", "B2B")
    sent = shop.gateway.client.simulate_get(
        f"/v1/invoices/{invoice_id}/documents/facture.xml", headers=shop.member["headers"]
    )
    assert hashlib.sha256(sent.content).hexdigest() == held["sha256"]
    assert pa_sandbox.deposits(invoice_id) == 1


def test_a_lost_answer_is_settled_without_a_second_deposit(bookshop, pa_sandbox):  # noqa: F811
    shop = bookshop(timeout=1.0)
    invoice_id = shop.submit()
    pa_sandbox.faults(
        timeout_rate=1.0,
        timeout_seconds=2.5,
        timeout_mode="after",
        paths=["/flow-service/v1/flows"],
    )
    try:
        shop.worker.run_once()  # deposited, the answer lost
        waiting = shop.view(invoice_id)
    finally:
        pa_sandbox.clear_faults()
    assert waiting["status"] == "EN_ATTENTE_PLATEFORME"
    assert "n'a pas répondu à temps" in waiting["history"][-1]["comment"]
    found = shop.send_until(invoice_id, "DEPOSEE")["history"][-1]
    assert "pas de second dépôt" in found["comment"]
    assert pa_sandbox.deposits(invoice_id) == 1


def test_too_many_requests_and_an_outage_are_waited_out(bookshop, pa_sandbox):  # noqa: F811
    shop = bookshop()
    invoice_id = shop.submit()
    pa_sandbox.faults(fail_next=1, error_statuses=[429])
    shop.worker.run_once()
    busy = shop.view(invoice_id)
    assert busy["status"] == "EN_ATTENTE_PLATEFORME"
    assert "HTTP 429" in busy["history"][-1]["comment"]
    pa_sandbox.faults(fail_next=1, error_statuses=[503])
    shop.send_until(invoice_id, "DEPOSEE")
    assert pa_sandbox.deposits(invoice_id) == 1


def test_the_french_rules_judge_what_goes_to_a_platform(bookshop):
    shop = bookshop()
    document = example("invoice-seine-maritime")
    document["number"] = f"PA-IT-{next(NUMBERS):04d}"
    document["due_date"] = "2100-01-15"  # BR-FR-03: years 2000 to 2099
    refused = shop.gateway.post_invoice(shop.member, document)
    assert refused.status_code == 422, refused.json
    codes = {error["code"] for error in refused.json["errors"]}
    assert "fr-ctc.BR-FR-03" in codes
    # the same invoice to a buyer on Chorus Pro: the BR-FR rules are not asked for there
    put = shop.gateway.client.simulate_put(
        f"/v1/customers/{BUYER}",
        json={"name": "DEPARTEMENT DE LA SEINE MARITIME", "channel": "manual_pdf"},
        headers=shop.member["headers"],
    )
    assert put.status_code == 200, put.json
    accepted = shop.gateway.post_invoice(shop.member, document)
    assert accepted.status_code == 202, accepted.json


def test_the_lifecycle_up_to_encaissee_is_kept_step_by_step(bookshop):
    shop = bookshop()
    invoice_id, flow_id = shop.deposited()
    shop.status(flow_id, "202")
    shop.follow_until(invoice_id, "EN_COURS_ACHEMINEMENT")
    for code in ("204", "205"):  # two statuses between polls: both kept
        shop.status(flow_id, code)
    shop.follow_until(invoice_id, "SERVICE_FAIT")
    shop.status(flow_id, "212")
    paid = shop.follow_until(invoice_id, "ENCAISSEE")
    steps = [(e["status"], e["comment"], e["at"]) for e in paid["history"]]
    platform = steps[[s for s, _, _ in steps].index("DEPOSEE") :]
    assert [(status, comment) for status, comment, _ in platform[1:]] == [
        ("EN_COURS_ACHEMINEMENT", "Reçue (202)"),
        ("PRISE_EN_CHARGE", "Prise en charge (204)"),
        ("SERVICE_FAIT", "Approuvée (205)"),
        ("ENCAISSEE", "Encaissée (212)"),
    ]
    times = [at for _, _, at in platform]
    assert times == sorted(times) and len(set(times[1:])) == 4  # each its own time
    data = shop.gateway.store.get_invoice(invoice_id)["receipt_data"]
    assert data["cdar_status"] == "212" and data["ack_status"] == "Ok"
    assert paid["next_actions"] == ["credit-note"] and paid["needs_action"] is False
    shop.worker.follow_once()  # final: no more polls
    assert shop.gateway.store.get_invoice(invoice_id)["next_poll_at"] is None


def test_a_refusal_is_answered_by_a_credit_note_and_a_reissue_as_on_chorus(bookshop):
    shop = bookshop()
    invoice_id, flow_id = shop.deposited()
    shop.status(flow_id, "203")
    shop.status(flow_id, "210", "TX_TVA_ERR")
    refused = shop.follow_until(invoice_id, "REJETEE")
    assert refused["history"][-1]["comment"] == "Refusée (210) : motif TX_TVA_ERR"
    data = shop.gateway.store.get_invoice(invoice_id)["receipt_data"]
    assert (data["cdar_status"], data["cdar_reason_code"]) == ("210", "TX_TVA_ERR")
    # the very actions a Chorus Pro REJETEE offers
    assert refused["next_actions"] == ["credit-note"] and refused["needs_action"] is True
    assert shop.post(invoice_id, "correct", json={}).status_code == 409
    document = refused["invoice"]
    answer = shop.post(
        invoice_id,
        "credit-note",
        json={
            "reason": "Refusée par l'acheteur : taux de TVA",
            "reissue": {"number": f"PA-IT-{next(NUMBERS):04d}"},
        },
    )
    assert answer.status_code == 202, answer.json
    rels = {link["rel"]: link["invoice_id"] for link in answer.json["links"]}
    credit_id, reissue_id = rels["credit_note"], rels["reissue"]
    for made in (credit_id, reissue_id):
        shop.send_until(made, "DEPOSEE")
        assert shop.platform.deposits(made) == 1
    credit = shop.view(credit_id)
    assert credit["invoice"]["type"] == "credit_note"
    assert credit["invoice"]["preceding_invoice"]["number"] == document["number"]
    assert shop.view(invoice_id)["next_actions"] == []

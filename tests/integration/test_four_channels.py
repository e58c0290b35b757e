"""One member, four customers on the four channels, one invoice each, end to end: Chorus Pro
through its API (the Chorus Pro sandbox), Dilifac through its web service (the Dilifac
sandbox, which forwards to a Chorus status), a manual deposit on the portal, and paper. The
information copy arrives at a real SMTP server; the costs of the period show each outlet
and what the others would have cost. Every server runs on loopback; the worker is driven
step by step."""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from gateway import outbound
from gateway.config import SmtpConfig
from gateway.times import paris
from tests.conftest import Gateway, example, make_config
from tests.integration.test_server import wait_for
from tests.pdfs import text_of
from tests.plugins.dilifac.sandbox import dilifac  # noqa: F401 (fixture)

SEINE_MARITIME = "22760540900019"
AUBE = "22100005200011"
#: A public library that asks for no service code nor engagement number.
LIBRARY = "25450102600028"
#: A buyer Chorus Pro does not know (a private school, say): paper.
SCHOOL = "73282932000074"
DELIVERY = "livraisons@seinemaritime.example"


class Bookshop:
    """The gateway with every channel on its real outlet, for one member whose settings
    hold the two sandboxes' credentials."""

    def __init__(self, tmp_path, sqlite_url, chorus, dilifac, smtp_port: int):  # noqa: F811
        ports = [urlsplit(server.url).port for server in (chorus, dilifac)]
        smtp = SmtpConfig(host="127.0.0.1", port=smtp_port, sender="passerelle@asso.example")
        config = make_config(
            tmp_path,
            sqlite_url,
            outbound_hosts=tuple(f"127.0.0.1:{port}" for port in ports),
            smtp=smtp,
        )
        config.channels = {channel: channel for channel in config.channels}
        config.plugins = {
            **config.plugins,
            "chorus": {"environment": "sandbox", "timeout": 5.0},
            "directory_chorus": chorus.settings(),
            "dilifac": {"timeout": 5.0},
            "manual_pdf": {},
            "paper": {},
        }
        config.worker.poll_fast = config.worker.poll_slow = 0.001  # polls due at once
        self.chorus, self.dilifac = chorus, dilifac
        self.gateway = Gateway(config)
        self.member = self.gateway.new_member()
        settings = {"chorus": chorus.settings(), "dilifac": dilifac.settings()}
        patched = self.gateway.client.simulate_patch(
            f"/v1/members/{self.member['id']}",
            json={"settings": settings},
            headers=self.gateway.admin(),
        )
        assert patched.status_code == 200, patched.json
        self.worker = self.gateway.worker()

    def customer(self, siret: str, channel: str, **extra) -> None:
        put = self.gateway.client.simulate_put(
            f"/v1/customers/{siret}",
            json={"name": f"Client {siret}", "channel": channel, **extra},
            headers=self.member["headers"],
        )
        assert put.status_code == 201, put.json

    def submit(self, document: dict) -> dict:
        accepted = self.gateway.post_invoice(self.member, document)
        assert accepted.status_code == 202, accepted.json
        return accepted.json

    def view(self, invoice_id: str) -> dict:
        return self.gateway.get_invoice(self.member, invoice_id)

    def call(self, method: str, path: str, **kwargs):
        return self.gateway.client.simulate_request(
            method, path, headers=self.member["headers"], **kwargs
        )

    def until(self, invoice_id: str, status: str) -> dict:
        def reached():
            self.chorus.process_flux()
            self.worker.run_once()
            self.worker.follow_once()
            return self.view(invoice_id)["status"] == status

        wait_for(reached, 20, f"the invoice to be {status}")
        return self.view(invoice_id)


@pytest.fixture
def shop(tmp_path, sqlite_url, sandbox, dilifac, smtp):  # noqa: F811
    bookshop = Bookshop(tmp_path, sqlite_url, sandbox, dilifac, smtp[0])
    yield bookshop
    bookshop.gateway.store.dispose()
    outbound.configure(None)


def invoice(name: str, number: str, buyer: str | None = None, lines: int | None = None) -> dict:
    document = example(name)
    document["number"] = number
    if buyer:
        document["buyer"]["siret"] = buyer
    if lines:
        document["lines"] = [copy.deepcopy(document["lines"][0]) for _ in range(lines)]
    return document


def statuses(view: dict) -> list[str]:
    return [entry["status"] for entry in view["history"]]


def test_four_customers_on_four_channels_each_reach_their_first_settled_status(
    shop,
    dilifac,  # noqa: F811
    smtp,
):
    shop.customer(SEINE_MARITIME, "chorus", copies=[{"channel": "email", "to": DELIVERY}])
    shop.customer(AUBE, "dilifac")
    shop.customer(LIBRARY, "manual_pdf")
    shop.customer(SCHOOL, "paper")
    for_library = invoice("invoice-seine-maritime", "QC-0003", LIBRARY)
    for_library["references"]["engagement"] = None  # the library asks for none

    chorus = shop.submit(invoice("invoice-seine-maritime", "QC-0001"))
    via_dilifac = shop.submit(invoice("invoice-aube", "QC-0002"))
    manual = shop.submit(for_library)
    on_paper = shop.submit(invoice("invoice-seine-maritime", "QC-0004", SCHOOL))

    assert [item["channel"] for item in (chorus, via_dilifac, manual, on_paper)] == [
        "chorus",
        "dilifac",
        "manual_pdf",
        "paper",
    ]
    assert on_paper["warnings"] == []  # not a public buyer: paper is its channel
    assert shop.worker.run_once() == 4
    assert shop.view(chorus["id"])["status"] == "DEPOSEE"
    assert shop.view(via_dilifac["id"])["status"] == "DEPOSEE"
    assert shop.view(manual["id"])["status"] == "A_DEPOSER"
    assert shop.view(on_paper["id"])["status"] == "A_IMPRIMER"

    # Dilifac forwards to Chorus Pro, where the buyer then has it.
    deposit = shop.gateway.store.get_invoice(via_dilifac["id"])["outlet_reference"]
    for _ in range(3):
        dilifac.move(deposit)
    followed = shop.until(via_dilifac["id"], "MISE_A_DISPOSITION")
    assert statuses(followed)[-3:] == ["DEPOSEE", "EN_COURS_ACHEMINEMENT", "MISE_A_DISPOSITION"]

    # The manual deposit: its portal PDF and deposit sheet, then the bookseller's word.
    sheet = shop.call("GET", f"/v1/invoices/{manual['id']}/documents/fiche-de-depot.pdf")
    assert sheet.status_code == 200 and LIBRARY in text_of(sheet.content)
    confirmed = shop.call("POST", f"/v1/invoices/{manual['id']}/manual-deposit", json={})
    assert confirmed.status_code == 200, confirmed.json
    assert shop.view(manual["id"])["status"] == "DEPOSEE"

    # Paper: the day's batch, fetched then confirmed.
    queued = shop.view(on_paper["id"])["history"][-1]["at"]
    day = paris(datetime.fromisoformat(queued)).date().isoformat()
    printed = shop.call("GET", f"/v1/print-batches/{day}/pdf")
    assert printed.status_code == 200 and "QC-0004" in text_of(printed.content)
    assert shop.call("POST", f"/v1/print-batches/{day}/confirm").status_code == 200
    assert shop.view(on_paper["id"])["status"] == "IMPRIMEE"

    # The copy of the Chorus Pro invoice, once, at the SMTP server.
    shop.worker.scheduler.run_due()
    (message,) = smtp[1].messages
    assert message["To"] == DELIVERY
    assert "facture N° QC-0001" in message["Subject"] and "ne pas payer" in message["Subject"]
    (attachment,) = message.iter_attachments()
    assert "COPIE" in text_of(attachment.get_content())
    [copy_view] = shop.view(chorus["id"])["copies"]
    assert copy_view["status"] == "sent"

    # What each outlet cost, and what the others would have.
    costs = shop.call("GET", "/v1/costs", params={"period": day[:7]}).json
    by_outlet = {item["outlet"]: item for item in costs["outlets"]}
    assert set(by_outlet) == {"chorus", "dilifac", "manual_pdf", "paper"}
    assert all(item["count"] == 1 for item in by_outlet.values())
    assert by_outlet["dilifac"]["subscription"]["amount"] == "12.00"
    assert Decimal(by_outlet["manual_pdf"]["minutes"]) > 0
    # What every installed way would have cost, the reform's PA among them.
    assert {item["outlet"] for item in costs["alternatives"]} == set(by_outlet) | {"pa"}


def test_dilifac_invoices_cost_by_their_lines_as_the_shipped_tariff_says(shop):
    """The guide's figures through the real Dilifac outlet and its shipped tariff."""
    shop.customer(AUBE, "dilifac")
    expected = {1: "0.17", 20: "0.17", 21: "0.20", 100: "0.20", 101: "0.26", 250: "0.29"}
    accepted = [
        shop.submit(invoice("invoice-aube", f"QL-{count:04d}", lines=count)) for count in expected
    ]
    assert shop.worker.run_once() == len(expected)
    created = shop.view(accepted[0]["id"])["history"][0]["at"]

    month = paris(datetime.fromisoformat(created)).strftime("%Y-%m")
    costs = shop.call("GET", "/v1/costs", params={"period": month}).json

    (outlet,) = costs["outlets"]
    assert outlet["outlet"] == "dilifac"
    assert {item["lines"]: item["amount"] for item in outlet["invoices"]} == expected
    for item in outlet["invoices"]:
        sending, archiving = item["items"]
        assert Decimal("0.14") <= Decimal(sending["unit_price"]) <= Decimal("0.20")
        assert (archiving["unit_price"], archiving["unit"]) == ("0.03", "tranche de 100 lignes")
    assert outlet["subscription"]["amount"] == "12.00"
    assert outlet["amount"] == costs["amount"] == "13.29"

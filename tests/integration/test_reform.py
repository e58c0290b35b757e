"""The 2026 reform end to end: one member, three customers left to the directories
(channel ``auto``) — a public buyer, a French company and a consumer — one invoice each.
The public buyer's goes to Chorus Pro (the Chorus Pro sandbox), the company's to its
approved platform (the PA sandbox, found in the reform's directory) and the consumer's,
out of the e-invoicing scope, on paper; each is followed to its first settled status.
Every server runs on loopback; the worker is driven step by step."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import pytest
from lxml import etree

from gateway import outbound
from gateway.times import paris
from tests.conftest import Gateway, example, make_config
from tests.integration import test_four_channels
from tests.integration.test_server import wait_for
from tests.plugins.pa.sandbox import pa_sandbox  # noqa: F401 (fixture)
from tests.plugins.pa.test_directory import COMPANY_SIRET, directory_settings

SEINE_MARITIME = "22760540900019"
CII_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}


class Bookshop(test_four_channels.Bookshop):
    """A member whose customers are all on ``auto``, with both platforms' credentials (and
    the four channels' ways to look and wait)."""

    def __init__(self, tmp_path, sqlite_url, chorus, platform):
        ports = [urlsplit(url).port for url in (chorus.url, platform.base_url)]
        config = make_config(
            tmp_path, sqlite_url, outbound_hosts=tuple(f"127.0.0.1:{port}" for port in ports)
        )
        config.default_channel = "auto"
        config.channels = {**config.channels, "chorus": "chorus", "pa": "pa", "paper": "paper"}
        config.plugins = {
            **config.plugins,
            "chorus": {"environment": "sandbox", "timeout": 5.0},
            "directory_chorus": chorus.settings(),
            "pa": {"timeout": 5.0},
            "pa_directory": directory_settings(platform),
            "paper": {},
        }
        config.worker.poll_fast = config.worker.poll_slow = 0.001  # polls due at once
        self.chorus, self.platform = chorus, platform
        self.gateway = Gateway(config)
        self.member = self.gateway.new_member()
        pa_keys = ("flow_url", "token_url", "client_id", "client_secret")
        settings = {
            "chorus": chorus.settings(),
            "pa": {**{key: platform.credentials[key] for key in pa_keys}, "syntax": "CII"},
        }
        patched = self.gateway.client.simulate_patch(
            f"/v1/members/{self.member['id']}",
            json={"settings": settings},
            headers=self.gateway.admin(),
        )
        assert patched.status_code == 200, patched.json
        self.worker = self.gateway.worker()

    def submit(self, number: str, buyer_siret: str | None) -> dict:
        document = example("invoice-seine-maritime")
        document["number"] = number
        if buyer_siret is None:  # a consumer: a name and an address, no identifier
            document["buyer"] = {
                "name": "Mme Claire Martin",
                "address": document["buyer"]["address"],
            }
            document["references"] = {}
        else:
            document["buyer"]["siret"] = buyer_siret
        accepted = self.gateway.post_invoice(self.member, document)
        assert accepted.status_code == 202, accepted.json
        return accepted.json

    def buyer_says(self, invoice_id: str, code: str) -> None:
        """The company (or its platform) gives a CDAR status, a minute later."""
        flow_id = self.gateway.store.get_invoice(invoice_id)["outlet_reference"]
        self.platform.control.post("/clock", json={"advance": 60}).raise_for_status()
        posted = self.platform.control.post(f"/flows/{flow_id}/status", json={"code": code})
        posted.raise_for_status()


@pytest.fixture
def shop(tmp_path, sqlite_url, sandbox, pa_sandbox):  # noqa: F811
    bookshop = Bookshop(tmp_path, sqlite_url, sandbox, pa_sandbox)
    yield bookshop
    bookshop.gateway.store.dispose()
    outbound.configure(None)


def platform_steps(view: dict) -> list[tuple[str, str | None]]:
    """The history from the deposit on, as (status, comment)."""
    history = [(entry["status"], entry["comment"]) for entry in view["history"]]
    first = [status for status, _ in history].index("DEPOSEE")
    return history[first:]


def test_a_public_buyer_a_company_and_a_consumer_each_reach_their_first_settled_status(shop):
    public = shop.submit("RF-2026-0001", SEINE_MARITIME)
    company = shop.submit("RF-2026-0002", COMPANY_SIRET)
    consumer = shop.submit("RF-2026-0003", None)

    routes = {name: shop.view(item["id"])["route"] for name, item in
              (("public", public), ("company", company), ("consumer", consumer))}  # fmt: skip
    assert {name: (route["channel"], route["scope"]) for name, route in routes.items()} == {
        "public": ("chorus", "public"),
        "company": ("pa", "entreprise"),
        "consumer": ("paper", "hors-champ"),
    }
    assert all(route["requested_channel"] == "auto" for route in routes.values())
    assert "hors du champ de la facturation électronique" in routes["consumer"]["reason"]

    # What leaves for the company carries the address its directory line gives (BT-49).
    document = shop.call("GET", f"/v1/invoices/{company['id']}/documents/facture.xml")
    assert document.status_code == 200
    cii = etree.fromstring(document.content)
    address = cii.find(".//ram:BuyerTradeParty/ram:URIUniversalCommunication/ram:URIID", CII_NS)
    assert (address.text, address.get("schemeID")) == (
        routes["company"]["electronic_address"],
        "0225",
    )

    assert shop.worker.run_once() == 3
    assert shop.view(public["id"])["status"] == "DEPOSEE"
    assert shop.view(company["id"])["status"] == "DEPOSEE"
    assert shop.view(consumer["id"])["status"] == "A_IMPRIMER"

    # Chorus Pro: the flux processed, the public buyer's platform makes it available.
    def on_chorus():
        shop.chorus.process_flux()
        found = shop.chorus.control.get("/invoices", params={"numero": "RF-2026-0001"})
        return found.json()["invoices"]

    (held,) = wait_for(on_chorus, 20, "the invoice on Chorus Pro")
    moved = shop.chorus.control.post(
        f"/invoices/{held['id']}/status", json={"status": "MISE_A_DISPOSITION"}
    )
    assert moved.status_code == 200, moved.text
    shop.until(public["id"], "MISE_A_DISPOSITION")

    # The company's platform: 200 → 202 → 204 → 205 → 212, each step kept with its time.
    shop.platform.step()  # the deposit acknowledged
    for code in ("202", "204", "205", "212"):
        shop.buyer_says(company["id"], code)
    paid = shop.until(company["id"], "ENCAISSEE")
    assert platform_steps(paid)[1:] == [
        ("EN_COURS_ACHEMINEMENT", "Reçue (202)"),
        ("PRISE_EN_CHARGE", "Prise en charge (204)"),
        ("SERVICE_FAIT", "Approuvée (205)"),
        ("ENCAISSEE", "Encaissée (212)"),
    ]
    times = [entry["at"] for entry in paid["history"][-5:]]
    assert times == sorted(times) and len(set(times)) == 5

    # The consumer's on paper: the day's batch, printed and confirmed.
    queued = shop.view(consumer["id"])["history"][-1]["at"]
    day = paris(datetime.fromisoformat(queued)).date().isoformat()
    assert shop.call("GET", f"/v1/print-batches/{day}/pdf").status_code == 200
    assert shop.call("POST", f"/v1/print-batches/{day}/confirm").status_code == 200
    assert shop.view(consumer["id"])["status"] == "IMPRIMEE"

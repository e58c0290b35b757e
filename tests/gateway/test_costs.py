"""GET /v1/costs: what a member's invoices of a period cost per outlet, every line of the
computation shown, and what another outlet would have cost. The tariff is the guide's
Dilifac one (144 € HT a year, 0.14 to 0.20 € HT an invoice by lines, 0.03 € HT of archiving
per 100 lines), declared by an outlet plugin as any vendor's would be."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from gateway.plugin_api import Cost, Outlet, PriceBand, Receipt, hookimpl
from gateway.times import paris
from tests.conftest import Gateway, example, make_config

LINE_COUNTS = (1, 20, 21, 100, 101, 250)
#: Price of each invoice above: its band, then 0.03 per started block of 100 lines.
EXPECTED = {1: "0.17", 20: "0.17", 21: "0.20", 100: "0.20", 101: "0.26", 250: "0.29"}


class TariffOutlet(Outlet):
    name = "tarif"
    label = "Sortie tarifée"
    cost = Cost(
        bands=(
            PriceBand(20, Decimal("0.14")),
            PriceBand(100, Decimal("0.17")),
            PriceBand(None, Decimal("0.20")),
        ),
        per_year=Decimal("144"),
        archive_price=Decimal("0.03"),
        archive_lines=100,
        note="tarif du guide",
    )

    def send(self, invoice, documents, context):
        return Receipt(outlet=self.name, reference=f"T-{context.invoice_id}")


@pytest.fixture
def priced(tmp_path, sqlite_url):
    plugin = SimpleNamespace(gateway_register_outlets=hookimpl(lambda: [TariffOutlet]))
    config = make_config(tmp_path, sqlite_url)
    config.channels = {**config.channels, "dilifac": "tarif"}
    gateway = Gateway(config, extra_plugins=[plugin])
    yield gateway
    gateway.store.dispose()


def with_lines(count: int, number: str) -> dict:
    document = example("invoice-seine-maritime")
    document["number"] = number
    document["lines"] = [copy.deepcopy(document["lines"][0]) for _ in range(count)]
    return document


def costs(gateway, member, **params) -> dict:
    answer = gateway.client.simulate_get("/v1/costs", params=params, headers=member["headers"])
    assert answer.status_code == 200, answer.json
    return answer.json


@pytest.fixture
def sent(priced):
    member = priced.new_member()
    answer = priced.client.simulate_put(
        "/v1/customers/22760540900019",
        json={"name": "Département", "channel": "dilifac"},
        headers=member["headers"],
    )
    assert answer.status_code == 201, answer.json
    for count in LINE_COUNTS:
        accepted = priced.post_invoice(member, with_lines(count, f"CO-{count:04d}"))
        assert accepted.status_code == 202, accepted.json
    priced.worker().run_once()
    waiting = priced.post_invoice(member, with_lines(5, "CO-WAIT"))  # not sent yet: no cost
    assert waiting.status_code == 202
    return member


def test_each_invoice_is_priced_by_its_lines_with_the_computation_shown(priced, sent):
    report = costs(priced, sent)

    (outlet,) = report["outlets"]
    assert outlet["outlet"] == "tarif"
    assert outlet["count"] == len(LINE_COUNTS)
    assert outlet["lines"] == sum(LINE_COUNTS)
    by_lines = {invoice["lines"]: invoice for invoice in outlet["invoices"]}
    assert {lines: invoice["amount"] for lines, invoice in by_lines.items()} == EXPECTED
    for lines, invoice in by_lines.items():
        sending, archiving = invoice["items"]
        assert Decimal("0.14") <= Decimal(sending["unit_price"]) <= Decimal("0.20")
        assert f"{lines} ligne(s)" in sending["label"]
        assert archiving["unit_price"] == "0.03"
        assert archiving["quantity"] == str(-(-lines // 100))
        assert "par tranche de 100 lignes" in archiving["label"]
    assert outlet["subscription"]["amount"] == "12.00"
    assert outlet["subscription"]["label"].startswith("Abonnement annuel de 144 € HT")
    assert outlet["amount"] == report["amount"] == "13.29"


def test_what_the_other_outlets_would_have_cost_is_shown(priced, sent):
    report = costs(priced, sent)

    alternatives = {item["outlet"]: item for item in report["alternatives"]}
    assert alternatives["tarif"]["amount"] == "13.29"
    assert alternatives["tarif"]["difference"] == "0.00"
    assert alternatives["memory"]["amount"] == "0.00"
    assert alternatives["memory"]["difference"] == "-13.29"


def test_a_year_bears_the_whole_subscription(priced, sent):
    year = paris(datetime.now(UTC)).year

    report = costs(priced, sent, period=str(year))

    assert report["outlets"][0]["subscription"]["amount"] == "144.00"
    assert report["start"] == f"{year}-01-01"
    assert report["end"] == f"{year + 1}-01-01"


def test_another_period_and_another_member_cost_nothing(priced, sent):
    other = priced.new_member(name="Librairie du Port", siret="44306184100047")

    assert costs(priced, sent, period="2001-01")["outlets"] == []
    assert costs(priced, other)["count"] == 0


@pytest.mark.parametrize("period", ["2026-13", "novembre", "2026-1", "26"])
def test_an_unreadable_period_is_refused(priced, period):
    member = priced.new_member()

    answer = priced.client.simulate_get(
        "/v1/costs", params={"period": period}, headers=member["headers"]
    )

    assert answer.status_code == 422
    assert answer.json["errors"][0]["code"] == "period.invalid"
    assert answer.json["errors"][0]["field"] == "period"


def test_a_tariff_where_fewer_lines_cost_more_is_refused():
    with pytest.raises(ValueError, match="fewer lines"):
        Cost(bands=(PriceBand(20, Decimal("0.20")), PriceBand(None, Decimal("0.14"))))

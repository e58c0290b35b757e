"""Dilifac's costs: the guide's tariff as conf/gateway.toml ships it, and the settings that
would make an invoice of fewer lines cost more refused when the outlet is built."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.config import ConfigError, load_config
from gateway.plugins import Registry, build_plugin_manager
from plugins.dilifac.outlet import DEFAULT_BANDS, DilifacOutlet
from tests.conftest import ROOT, make_config

SHIPPED = load_config(ROOT / "conf" / "gateway.toml").plugin_config("dilifac")


@pytest.mark.parametrize(
    "lines,price",
    [(1, "0.17"), (20, "0.17"), (21, "0.20"), (100, "0.20"), (101, "0.26"), (250, "0.29")],
)
def test_an_invoice_costs_its_band_plus_archiving_per_started_hundred_lines(lines, price):
    cost = DilifacOutlet(SHIPPED).price_list()
    assert cost.for_invoice(lines) == Decimal(price)
    blocks = -(-lines // 100)
    sending = cost.for_invoice(lines) - Decimal("0.03") * blocks
    assert Decimal("0.14") <= sending <= Decimal("0.20")  # the guide's range
    assert cost.per_year == Decimal("144")


def test_the_shipped_bands_are_the_defaults_and_say_they_are_an_assumption():
    assert SHIPPED["price_bands"] == [dict(band) for band in DEFAULT_BANDS]
    cost = DilifacOutlet(SHIPPED).price_list()
    assert "supposées" in cost.note and "Dilicom" in cost.note
    assert DilifacOutlet.cost == cost  # the class declares the same tariff
    prices = [cost.for_invoice(lines) for lines in range(1, 400)]
    assert prices == sorted(prices)  # fewer lines never cost more


def test_a_subscriber_tariff_replaces_the_assumption():
    bands = [{"max_lines": 50, "price": 0.15}, {"price": 0.19}]
    cost = DilifacOutlet({**SHIPPED, "price_bands": bands}).price_list()
    assert cost.for_invoice(50) == Decimal("0.18") and cost.for_invoice(51) == Decimal("0.22")
    assert "supposées" not in cost.note


@pytest.mark.parametrize(
    "changes,setting",
    [
        ({"price_bands": [{"max_lines": 20, "price": "0.20"}, {"price": "0.14"}]}, "price_bands"),
        ({"price_bands": [{"max_lines": 100, "price": "0.14"}, {"max_lines": 20, "price": "0.2"}]},
         "price_bands"),
        ({"price_bands": [{"price": "0.14"}, {"max_lines": 20, "price": "0.2"}]}, "price_bands"),
        ({"price_bands": [{"max_lines": 0, "price": "0.14"}]}, "price_bands"),
        ({"price_bands": [{"max_lines": 20, "prix": "0.14"}]}, "price_bands"),
        ({"price_bands": "0.14"}, "price_bands"),
        ({"subscription_per_year": "gratuit"}, "subscription_per_year"),
        ({"archive_price_per_100_lines": -1}, "archive_price_per_100_lines"),
    ],
)  # fmt: skip
def test_a_tariff_that_breaks_the_rules_is_refused_naming_its_setting(changes, setting):
    with pytest.raises(ConfigError, match=f"« {setting} »"):
        DilifacOutlet({**SHIPPED, **changes})


def test_the_gateway_starts_without_an_outlet_whose_tariff_is_refused(tmp_path):
    config = make_config(tmp_path, "sqlite://")
    config.plugins = {**config.plugins, "dilifac": {"price_bands": [{"price": "-1"}]}}
    pm, failures = build_plugin_manager()
    registry = Registry(pm, config, failures)
    assert "dilifac" not in registry.outlets and "memory" in registry.outlets
    assert any("price_bands" in str(failure) for failure in registry.failures)

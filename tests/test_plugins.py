"""The plugin manager: built-ins come through entry points; broken plugins are contained."""

from gateway.hookspecs import hookimpl
from gateway.outlets import Outlet
from gateway.plugins import Registry, build_plugin_manager
from tests.conftest import Gateway, example, make_config


def test_builtins_are_loaded_through_entry_points(tmp_path, sqlite_url):
    pm, failures = build_plugin_manager()
    registry = Registry(pm, make_config(tmp_path, sqlite_url), failures)
    assert {"json"} <= set(registry.formats)
    assert {"memory"} <= set(registry.outlets)
    assert registry.failures == []


class BrokenRegistration:
    @hookimpl
    def gateway_register_formats(self):
        raise RuntimeError("this plugin is broken")


class CrashingOutlet(Outlet):
    name = "crashing"

    def send(self, invoice, documents, context):
        raise ZeroDivisionError("bug in a vendor's outlet")


class CrashingOutletPlugin:
    @hookimpl
    def gateway_register_outlets(self):
        return [CrashingOutlet]


class CrashingRuleSet:
    @hookimpl
    def gateway_validate_invoice(self, invoice):
        raise KeyError("bug in a rule set")


def test_a_plugin_whose_registration_raises_is_skipped(tmp_path, sqlite_url):
    gateway = Gateway(make_config(tmp_path, sqlite_url), extra_plugins=[BrokenRegistration()])
    health = gateway.client.simulate_get("/v1/health").json
    assert "json" in health["plugins"]["formats"]
    assert any(
        "this plugin is broken" in failure["error"] for failure in health["plugins"]["failed"]
    )


def test_an_outlet_exception_becomes_a_status_not_a_500(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    config.channels = {**config.channels, "chorus": "crashing"}
    gateway = Gateway(config, extra_plugins=[CrashingOutletPlugin()])
    member = gateway.new_member()
    created = gateway.post_invoice(member, example("invoice-aube"))
    assert created.status_code == 202
    gateway.worker().run_once()
    invoice = gateway.get_invoice(member, created.json["id"])
    assert invoice["status"] == "EN_ERREUR"
    assert "bug in a vendor's outlet" in invoice["last_error"]


def test_a_crashing_rule_set_blocks_rather_than_lets_through(tmp_path, sqlite_url):
    gateway = Gateway(make_config(tmp_path, sqlite_url), extra_plugins=[CrashingRuleSet()])
    member = gateway.new_member()
    result = gateway.post_invoice(member, example("invoice-aube"))
    assert result.status_code == 422
    assert result.json["errors"][0]["code"] == "validation.unavailable"


def test_a_route_to_a_missing_outlet_is_refused(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    config.channels = {**config.channels, "chorus": "not-installed"}
    gateway = Gateway(config)
    result = gateway.post_invoice(gateway.new_member(), example("invoice-aube"))
    assert result.status_code == 422
    assert result.json["errors"][0]["code"] == "route.unavailable"

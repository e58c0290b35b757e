"""The plugin manager: built-ins come through entry points; hooks are called as pluggy
documents; broken plugins are contained."""

import json
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from structlog.testing import capture_logs

import plugins.json
from gateway.errors import Finding
from gateway.formats import FormatHandler
from gateway.hookspecs import hookimpl
from gateway.outlets import Outlet
from gateway.plugins import PluginFailure, Registry, build_plugin_manager, call_each
from gateway.routing import Route
from gateway.schemas import load_invoice
from gateway.validation import validate
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


# --- Hook calls follow pluggy: order, tryfirst/trylast, wrappers, firstresult ------------

INVOICE = load_invoice(example("invoice-aube"))
STATUS_CHANGE = {"invoice": {"id": "inv-1"}, "old": "RECU", "new": "DEPOSEE", "event": {}}


@pytest.fixture(scope="module")
def pm():
    pm, _ = build_plugin_manager(load_entrypoints=False)
    return pm


@contextmanager
def registered(pm, **plugins):
    """Register fixture plugins under these names, in this order, for one test only."""
    try:
        for name, plugin in plugins.items():
            pm.register(plugin, name=name)
        yield
    finally:
        for plugin in plugins.values():
            if pm.is_registered(plugin):
                pm.unregister(plugin)


def rule_set(name: str, calls: list, **opts):
    """A rule set with one warning coded after its name, noting in ``calls`` when it runs."""

    @hookimpl(**opts)
    def gateway_validate_invoice(invoice):
        calls.append(name)
        return [Finding(code=f"{name}.checked", message="Contrôlée.", severity="warning")]

    return SimpleNamespace(gateway_validate_invoice=gateway_validate_invoice)


def test_implementations_run_last_registered_first_tryfirst_and_trylast_aside(pm):
    calls = []
    with registered(
        pm,
        late=rule_set("late", calls, trylast=True),
        older=rule_set("older", calls),
        newer=rule_set("newer", calls),
        early=rule_set("early", calls, tryfirst=True),
    ):
        findings = validate(pm, INVOICE)
    assert calls == ["early", "newer", "older", "late"]
    assert [f.code for f in findings] == [f"{name}.checked" for name in calls]


def test_a_wrapper_sees_every_result_a_failure_included_and_can_add_to_them(pm):
    seen = []

    @hookimpl(wrapper=True)
    def gateway_validate_invoice():
        results = yield
        seen.extend(results)
        added = Finding(code="wrapper.added", message="Ajoutée.", severity="warning")
        return [*results, ("wrapper", [added])]

    with (
        capture_logs() as logs,
        registered(
            pm,
            wrapper=SimpleNamespace(gateway_validate_invoice=gateway_validate_invoice),
            sound=rule_set("sound", []),
            broken=CrashingRuleSet(),
        ),
    ):
        findings = validate(pm, INVOICE)
    failure, sound = seen
    assert isinstance(failure, PluginFailure) and failure.plugin == "broken"
    assert isinstance(failure.error, KeyError)
    assert sound == ("sound", [Finding("sound.checked", "Contrôlée.", severity="warning")])
    assert [(f.code, f.rule) for f in findings] == [
        ("validation.unavailable", "broken"),
        ("sound.checked", None),
        ("wrapper.added", None),
    ]
    assert {"plugin": "broken", "hook": "gateway_validate_invoice"}.items() <= next(
        entry for entry in logs if entry["event"] == "plugin.hook_failed"
    ).items()


def test_a_wrapper_that_raises_is_reported_as_failed(pm):
    @hookimpl(wrapper=True)
    def gateway_validate_invoice():
        yield
        raise RuntimeError("bug in a wrapper")

    with registered(
        pm,
        sound=rule_set("sound", []),
        careless=SimpleNamespace(gateway_validate_invoice=gateway_validate_invoice),
    ):
        findings = validate(pm, INVOICE)
    assert [(f.code, f.rule) for f in findings] == [("validation.unavailable", "careless")]


def test_a_failing_notifier_spares_the_others_and_an_old_style_wrapper_sees_both(pm):
    told, seen = [], []

    @hookimpl
    def gateway_invoice_status_changed(invoice, new):
        told.append((invoice["id"], new))

    @hookimpl
    def failing(invoice):
        raise ConnectionError("webhook down")

    @hookimpl(hookwrapper=True)
    def watching():
        outcome = yield
        seen.extend(outcome.get_result())

    with registered(
        pm,
        quiet=SimpleNamespace(gateway_invoice_status_changed=gateway_invoice_status_changed),
        broken=SimpleNamespace(gateway_invoice_status_changed=failing),
        watcher=SimpleNamespace(gateway_invoice_status_changed=watching),
    ):
        results = call_each(pm, "gateway_invoice_status_changed", **STATUS_CHANGE)
    assert told == [("inv-1", "DEPOSEE")]
    assert [(plugin, type(result)) for plugin, result in results] == [
        ("broken", ConnectionError),
        ("quiet", type(None)),
    ]
    assert seen == results


def route_chooser(name: str, calls: list, route: Route | None, **opts):
    @hookimpl(**opts)
    def gateway_choose_route():
        calls.append(name)
        return route

    return SimpleNamespace(gateway_choose_route=gateway_choose_route)


def test_a_firstresult_hook_stops_at_the_first_answer_in_pluggy_order(pm):
    calls = []
    paper, memory = Route("paper", "paper"), Route("chorus", "memory")
    with registered(
        pm,
        older=route_chooser("older", calls, paper),
        newer=route_chooser("newer", calls, memory),
        early=route_chooser("early", calls, None, tryfirst=True),
    ):
        chosen = pm.hook.gateway_choose_route(invoice=INVOICE, customer=None, route=paper)
    assert chosen == memory
    assert calls == ["early", "newer"]


def test_a_directory_that_cannot_be_reached_raises_to_the_caller(pm):
    @hookimpl
    def gateway_directory_lookup(siret):
        raise ConnectionError("annuaire injoignable")

    with registered(pm, down=SimpleNamespace(gateway_directory_lookup=gateway_directory_lookup)):
        with pytest.raises(ConnectionError):
            pm.hook.gateway_directory_lookup(siret="73282932000074")


class JsonDialect(FormatHandler):
    name = "dialect"
    media_types = ("application/x-dialect",)

    def sniff(self, data: bytes) -> bool:
        return data.startswith(b'{"dialect"')


class JsonDialectPlugin:
    @hookimpl
    def gateway_register_formats(self):
        return [JsonDialect()]


def test_formats_with_a_signature_are_sniffed_before_the_loose_guesses(tmp_path, sqlite_url):
    """The built-in json format is trylast: a dialect registered before it is asked first."""
    pm, _ = build_plugin_manager(
        load_entrypoints=False, extra_plugins=[JsonDialectPlugin(), plugins.json]
    )
    registry = Registry(pm, make_config(tmp_path, sqlite_url))
    assert list(registry.formats) == ["dialect", "json"]
    assert registry.sniff(b'{"dialect": 1}').name == "dialect"
    assert registry.sniff(json.dumps(example("invoice-aube")).encode()).name == "json"

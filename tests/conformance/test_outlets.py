"""The outlet conformance suite, run over every registered outlet with its harness, and
shown to fail on an outlet that breaks the rules."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gateway.outlets import (
    ConfigField,
    Outlet,
    PermanentOutletError,
    Receipt,
    TransientOutletError,
)
from gateway.testing import NotApplicable, OutletHarness, check_outlet, outlet_checks
from gateway.testing.outlets import installed_registry
from gateway.testing.runner import declared_harnesses
from tests.conformance.chorus_harness import ChorusHarness

#: The memory outlet's harness is declared by its plugin (entry point group
#: facture_gateway.testing); Chorus's needs the sandbox from contrib/, so it lives here.
HARNESSES = [*declared_harnesses(), ChorusHarness]


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """Start each harness once for the module (the Chorus one runs a sandbox)."""
    running: dict[type[OutletHarness], OutletHarness] = {}

    def start(harness: type[OutletHarness]) -> OutletHarness:
        if harness not in running:
            running[harness] = harness(tmp_path_factory.mktemp(harness.outlet.name))
        return running[harness]

    yield start
    for harness in running.values():
        harness.close()


def test_every_registered_outlet_has_a_harness():
    registered = set(installed_registry().outlets)
    assert {"chorus", "dilifac", "memory", "manual_pdf", "paper"} <= registered
    assert registered <= {harness.outlet.name for harness in HARNESSES}


@pytest.mark.parametrize(
    "harness,check",
    [
        pytest.param(harness, check, id=f"{harness.outlet.name}-{check}")
        for harness in HARNESSES
        for check in outlet_checks(harness)
    ],
)
def test_outlet(started, harness, check):
    try:
        check_outlet(started(harness), check)
    except NotApplicable as ex:
        pytest.skip(str(ex))


# --- the suite catches an outlet that breaks the rules --------------------------------------


class Platform:
    """What a careless outlet talks to: invoices taken, and how it misbehaves now."""

    def __init__(self):
        self.deposits: Counter[str] = Counter()
        self.mood = "fine"


class CarelessOutlet(Outlet):
    """Reads its settings late, calls an outage permanent, trusts every answer, deposits
    again after a lost answer, keeps a token in a setting not declared secret."""

    name = "careless"
    label = "Sortie négligente"
    config_fields = {
        "url": ConfigField("where the platform is"),
        "api_token": ConfigField("the platform's token"),
    }

    def __init__(self, config=None, platform: Platform | None = None):
        super().__init__(config)
        self.platform = platform

    def send(self, invoice, documents, context):
        int(self.config["url"].rpartition(":")[2])  # a bad url: ValueError at send time
        if self.platform.mood == "down":
            raise PermanentOutletError("plateforme injoignable")
        if self.platform.mood == "odd":
            return Receipt(outlet=self.name, reference={}["id"])
        self.platform.deposits[invoice.number] += 1
        if self.platform.mood == "lost":
            raise TransientOutletError("réponse perdue")
        return Receipt(outlet=self.name, reference=invoice.number)


class CarelessHarness(OutletHarness):
    outlet = CarelessOutlet
    outages = ("down",)
    odd_answers = {"garbled": "illisible"}

    def __init__(self, workdir):
        super().__init__(workdir)
        self.platform = Platform()

    def make(self, settings):
        return CarelessOutlet(settings, platform=self.platform)

    def good_settings(self):
        return {"url": "platform:443", "api_token": "t0k3n"}

    def bad_settings(self):
        return [({"url": "platform", "api_token": "t0k3n"}, "url")]

    def bad_credentials(self):
        return {**self.good_settings(), "api_token": "wrong"}

    @contextmanager
    def mood(self, mood: str) -> Iterator[dict]:
        self.platform.mood = mood
        try:
            yield self.good_settings()
        finally:
            self.platform.mood = "fine"

    def outage(self, kind):
        return self.mood("down")

    def odd_answer(self, kind):
        return self.mood("odd")

    def lost_answer(self):
        return self.mood("lost")

    def deposits(self, invoice):
        return self.platform.deposits[invoice.number]


class IncompleteHarness(OutletHarness):
    """Provokes nothing: the suite says what the harness lacks."""

    outlet = CarelessOutlet


@pytest.mark.parametrize(
    "harness,check,reason",
    [
        (CarelessHarness, "declaration", "api_token: looks like a secret"),
        (CarelessHarness, "bad_settings", "url: bad settings were not refused at start"),
        (CarelessHarness, "outage:down", "is permanent; it must be retried"),
        (CarelessHarness, "odd_answer:garbled", r"KeyError\('id'\) instead of an OutletError"),
        (CarelessHarness, "lost_answer", "the invoice was deposited 2 times"),
        (CarelessHarness, "health_bad_credentials", "not ok False"),
        (IncompleteHarness, "outage:none", "provokes no outage"),
        (IncompleteHarness, "lost_answer", "does not implement what lost_answer needs"),
    ],
)
def test_the_suite_fails_a_careless_outlet(tmp_path, harness, check, reason):
    assert check in outlet_checks(harness)
    with pytest.raises(AssertionError, match=reason):
        check_outlet(harness(tmp_path), check)

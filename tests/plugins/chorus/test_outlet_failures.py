"""Which kind of failure the Chorus outlet reports, against the sandbox: nothing left for
certain (a wait, no attempt used up), maybe deposited (an attempt, looked up next time)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from gateway.outlets import UnavailableOutletError, UncertainOutletError
from plugins.chorus.api import TokenCache
from plugins.chorus.outlet import UNCERTAIN_SINCE, ChorusOutlet
from tests.conftest import free_port
from tests.plugins.chorus.test_outlet import Clock, invoice, send

DEPOSIT = ["/cpro/factures/v1/deposer/flux"]


def outlet(http: httpx.Client, clock=None) -> ChorusOutlet:
    options = {"http": http, "tokens": TokenCache()}
    if clock is not None:
        options["clock"] = clock
    return ChorusOutlet({"settle_seconds": 600, "retry_delay": 0.01}, **options)


@pytest.mark.parametrize(
    "plan",
    [
        {"fail_next": 1, "error_statuses": [503], "paths": DEPOSIT},
        {"fail_next": 1, "error_statuses": [429], "paths": DEPOSIT},
        {"fail_next": 3, "error_statuses": [503], "paths": ["/api/oauth/token"]},
    ],
    ids=["503", "429", "token-endpoint-down"],
)
def test_a_platform_that_took_nothing_is_waited_for(sandbox, plan):
    with httpx.Client(timeout=httpx.Timeout(0.5)) as http:
        chorus = outlet(http)
        settings = sandbox.settings()
        item = invoice()
        sandbox.faults(**plan)
        try:
            with pytest.raises(UnavailableOutletError) as caught:
                send(chorus, settings, item)
        finally:
            sandbox.clear_faults()
        assert not caught.value.attempted and caught.value.waiting
        assert caught.value.state == {}  # nothing to look for next time
        assert sandbox.deposits(item.number) == 0


def test_a_refused_connection_is_a_wait():
    closed = f"http://127.0.0.1:{free_port()}"
    settings = {
        "client_id": "i",
        "client_secret": "s",
        "login": "l",
        "password": "p",
        "token_url": f"{closed}/api/oauth/token",
        "api_url": closed,
    }
    with httpx.Client(timeout=httpx.Timeout(2.0)) as http:
        with pytest.raises(UnavailableOutletError) as caught:
            send(outlet(http), settings, invoice())
    assert not caught.value.attempted


def test_a_deposit_without_answer_is_uncertain_then_settling_it_is_a_wait(sandbox):
    clock = Clock()
    with httpx.Client(timeout=httpx.Timeout(0.3)) as http:
        chorus = outlet(http, clock)
        settings = sandbox.settings()
        item = invoice()
        sandbox.faults(timeout_rate=1.0, timeout_seconds=1.0, timeout_mode="after", paths=DEPOSIT)
        try:
            with pytest.raises(UncertainOutletError) as caught:
                send(chorus, settings, item)
        finally:
            sandbox.clear_faults()
        assert caught.value.attempted and caught.value.waiting
        assert UNCERTAIN_SINCE in caught.value.state
        clock.now += timedelta(seconds=60)
        with pytest.raises(UnavailableOutletError, match="réponse certaine"):
            send(chorus, settings, item, attempt=2, state=caught.value.state)
        sandbox.process_flux()
        receipt = send(chorus, settings, item, attempt=2, state=caught.value.state)
        assert "Déjà déposée" in receipt.comment
        assert sandbox.deposits(item.number) == 1

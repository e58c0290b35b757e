"""The conformance harness of the ``chorus`` outlet: the Chorus Pro sandbox in a subprocess,
its ``/_sandbox/`` control API for outages and lost answers, and a loopback server standing
in for a platform that answers oddly (which the sandbox never does).

It lives with the tests, not in the plugin: the sandbox (``contrib/``) is not installed
with the package.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gateway.model import Invoice
from gateway.testing import OddPlatform, OutletHarness
from gateway.testing.sandboxes import HELD, SHORT_TIMEOUT
from plugins.chorus.api import TokenCache
from plugins.chorus.outlet import ChorusOutlet
from tests.conftest import free_port
from tests.plugins.chorus.sandbox import Sandbox

#: Odd answers to every API call (HTTP 200 each): media type, body.
ODD_ANSWERS = {
    "malformed": ("text/html", b"<html><body>Maintenance en cours</body></html>"),
    "shape": ("application/json", b'{"codeRetour": 0, "libelle": "TRA_MSG_00.000"}'),
}


class ChorusHarness(OutletHarness):
    outlet = ChorusOutlet
    outages = ("refused", "server_error", "timeout")
    odd_answers = {"malformed": "illisible", "shape": "numeroFluxDepot"}

    def __init__(self, workdir):
        super().__init__(workdir)
        self.sandbox = Sandbox(workdir)
        self.odd = OddPlatform(ODD_ANSWERS)
        self.outlets: list[ChorusOutlet] = []

    def close(self) -> None:
        for outlet in self.outlets:
            outlet.http.close()
        self.odd.stop()
        self.sandbox.stop()

    def make(self, settings: dict) -> ChorusOutlet:
        # Tokens of its own: each outlet stands for another worker process.
        outlet = ChorusOutlet(settings, tokens=TokenCache())
        self.outlets.append(outlet)
        return outlet

    def good_settings(self) -> dict:
        return self.sandbox.settings(timeout=5.0, retry_delay=0.01, settle_seconds=600)

    def bad_settings(self) -> list[tuple[dict, str]]:
        good = self.good_settings()
        return [
            ({**good, "client_secret": ""}, "client_secret"),
            ({**good, "password": None}, "password"),
            ({**good, "environment": "recette"}, "environment"),
        ]

    def bad_credentials(self) -> dict:
        return {**self.good_settings(), "password": "not-the-password"}

    @contextmanager
    def outage(self, kind: str) -> Iterator[dict]:
        if kind == "refused":
            closed = f"http://127.0.0.1:{free_port()}"
            yield {**self.good_settings(), "token_url": f"{closed}/token", "api_url": closed}
            return
        if kind == "server_error":
            self.sandbox.faults(error_rate=1.0)
        else:
            self.sandbox.faults(timeout_rate=1.0, timeout_mode="before", timeout_seconds=HELD)
        try:
            yield {**self.good_settings(), "timeout": SHORT_TIMEOUT}
        finally:
            self.sandbox.clear_faults()

    @contextmanager
    def odd_answer(self, kind: str) -> Iterator[dict]:
        self.odd.kind = kind
        yield {**self.good_settings(), "api_url": self.odd.url}  # tokens from the sandbox

    @contextmanager
    def lost_answer(self) -> Iterator[dict]:
        self.sandbox.faults(
            timeout_rate=1.0,
            timeout_mode="after",
            timeout_seconds=HELD,
            paths=["/cpro/factures/v1/deposer/flux"],
        )
        try:
            yield {**self.good_settings(), "timeout": SHORT_TIMEOUT}
        finally:
            self.sandbox.clear_faults()

    def settle(self) -> None:
        self.sandbox.process_flux()

    def deposits(self, invoice: Invoice) -> int:
        return self.sandbox.deposits(invoice.number)

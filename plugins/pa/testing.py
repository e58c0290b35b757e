"""The conformance harness of the ``pa`` outlet (entry point group ``facture_gateway.testing``),
and :class:`PaSandbox`, the approved-platform sandbox (``contrib/pa_sandbox``) in a subprocess,
which the gateway's tests use too.

The sandbox is not installed with the package: it runs from a source checkout, found beside
this package (or at ``$PA_SANDBOX_ROOT``). Its control API (``/control/``) acknowledges flows,
moves their lifecycle, injects faults and counts deposits per ``trackingId``; a loopback
server stands in for a platform answering oddly.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gateway.plugin_api import Invoice
from gateway.testing import ContribSandbox, OddPlatform, OutletHarness
from plugins.pa.oauth import TokenCache
from plugins.pa.outlet import PaOutlet, tracking_id

#: Seconds the outlet waits while an answer is lost or late, and how long the sandbox holds
#: it (longer, so that the outlet gives up).
SHORT_TIMEOUT = 0.5
HELD = 1.5
DEPOSIT_PATH = "/flow-service/v1/flows"
#: Odd answers to every POST (HTTP 200 each): media type, body.
ODD_ANSWERS = {
    "malformed": ("text/html", b"<html><body>Maintenance en cours</body></html>"),
    "shape": ("application/json", b'{"flow": "F-1"}'),
}


class PaSandbox(ContribSandbox):
    """The PA sandbox in a subprocess on a free loopback port, with a state file of its own;
    flows are acknowledged only when asked (``step``)."""

    module = "contrib.pa_sandbox"
    label = "the PA sandbox"
    root_variable = "PA_SANDBOX_ROOT"

    def __init__(self, directory: Path, *options: str):
        credentials = directory / "pa-sandbox-credentials.json"
        super().__init__(
            directory, "--credentials-out", str(credentials), *(options or ("--ack-delay", "-1"))
        )
        self.control = httpx.Client(base_url=f"{self.base_url}/control", timeout=30)
        self.credentials = json.loads(credentials.read_text())

    def settings(self, **overrides) -> dict:
        """A member's ``pa`` settings: the first demo client's."""
        keys = ("flow_url", "token_url", "client_id", "client_secret")
        return {**{key: self.credentials[key] for key in keys}, **overrides}

    def faults(self, **plan) -> None:
        self.control.put("/faults", json=plan).raise_for_status()

    def clear_faults(self) -> None:
        self.control.delete("/faults").raise_for_status()

    def step(self) -> None:
        """Acknowledge every pending flow now."""
        self.control.post("/step").raise_for_status()

    def deposits(self, invoice_id: str) -> int:
        """How many deposits the platform received with this invoice's ``trackingId``."""
        counters = self.control.get("/counters").json()["deposits"]
        return int(counters.get(tracking_id(invoice_id), 0))

    def flow(self, flow_id: str) -> dict:
        return self.control.get(f"/flows/{flow_id}").json()


class PaHarness(OutletHarness):
    outlet = PaOutlet
    outages = ("refused", "server_error", "timeout")
    odd_answers = {"malformed": "illisible", "shape": "illisible|inattendue"}

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.sandbox = PaSandbox(workdir)
        self.odd = OddPlatform(ODD_ANSWERS, "/flow-service")
        self.outlets: list[PaOutlet] = []

    def close(self) -> None:
        for outlet in self.outlets:
            outlet.http.close()
        self.odd.stop()
        self.sandbox.stop()

    def make(self, settings: dict) -> PaOutlet:
        outlet = PaOutlet(settings, tokens=TokenCache())
        self.outlets.append(outlet)
        return outlet

    def good_settings(self) -> dict:
        return self.sandbox.settings(timeout=5.0)

    def bad_settings(self) -> list[tuple[dict, str]]:
        good = self.good_settings()
        return [
            ({**good, "flow_url": ""}, "flow_url"),
            ({**good, "client_id": None}, "client_id"),
            ({**good, "syntax": "PDF"}, "syntax"),
            ({**good, "profile": "MINIMUM"}, "profile"),
            ({**good, "timeout": "bientôt"}, "timeout"),
        ]

    def bad_credentials(self) -> dict:
        return {**self.good_settings(), "client_secret": "pas-le-secret"}

    @contextmanager
    def outage(self, kind: str) -> Iterator[dict]:
        if kind == "refused":
            with socket_closed() as url:
                yield {**self.good_settings(), "flow_url": url}
            return
        if kind == "server_error":
            self.sandbox.faults(error_rate=1.0, error_statuses=[503])
        else:
            self.sandbox.faults(timeout_rate=1.0, timeout_seconds=HELD, timeout_mode="before")
        try:
            yield {**self.good_settings(), "timeout": SHORT_TIMEOUT}
        finally:
            self.sandbox.clear_faults()

    @contextmanager
    def odd_answer(self, kind: str) -> Iterator[dict]:
        self.odd.kind = kind
        yield {**self.good_settings(), "flow_url": self.odd.url}

    @contextmanager
    def lost_answer(self) -> Iterator[dict]:
        self.sandbox.faults(
            timeout_rate=1.0, timeout_seconds=HELD, timeout_mode="after", paths=[DEPOSIT_PATH]
        )
        try:
            yield {**self.good_settings(), "timeout": SHORT_TIMEOUT}
        finally:
            self.sandbox.clear_faults()

    def settle(self) -> None:
        self.sandbox.step()

    def deposits(self, invoice: Invoice) -> int:
        # the suite sends each invoice as ``conformance-<number>`` (gateway.testing.outlets)
        return self.sandbox.deposits(f"conformance-{invoice.number}")


@contextmanager
def socket_closed() -> Iterator[str]:
    """A loopback URL nothing listens on while the block runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/flow-service"


#: What ``python -m gateway.testing pa`` runs the outlet suite with.
HARNESSES = [PaHarness]

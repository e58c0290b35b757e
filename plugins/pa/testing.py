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
from pathlib import Path

import httpx

from gateway.plugin_api import Invoice
from gateway.testing import HELD, ContribSandbox, SandboxHarness
from plugins.pa.oauth import TokenCache
from plugins.pa.outlet import PaOutlet, tracking_id

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


class PaHarness(SandboxHarness):
    outlet = PaOutlet
    sandbox_class = PaSandbox
    service_path = "/flow-service"
    url_key = "flow_url"
    odd_bodies = ODD_ANSWERS

    def new_outlet(self, settings: dict) -> PaOutlet:
        return PaOutlet(settings, tokens=TokenCache())

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

    def fail(self, kind: str) -> None:
        if kind == "server_error":
            self.sandbox.faults(error_rate=1.0, error_statuses=[503])
        else:
            self.sandbox.faults(timeout_rate=1.0, timeout_seconds=HELD, timeout_mode="before")

    def lose_deposits(self) -> None:
        self.sandbox.faults(
            timeout_rate=1.0, timeout_seconds=HELD, timeout_mode="after", paths=[DEPOSIT_PATH]
        )

    def settle(self) -> None:
        self.sandbox.step()

    def deposits(self, invoice: Invoice) -> int:
        # the suite sends each invoice as ``conformance-<number>`` (gateway.testing.outlets)
        return self.sandbox.deposits(f"conformance-{invoice.number}")


#: What ``python -m gateway.testing pa`` runs the outlet suite with.
HARNESSES = [PaHarness]

"""The conformance harness of the ``dilifac`` outlet (entry point group
``facture_gateway.testing``), and :class:`DilifacSandbox`, the Dilifac sandbox
(``contrib/dilifac_sandbox``) in a subprocess, which the gateway's tests use too.

The sandbox is not installed with the package: it runs from a source checkout, found beside
this package (or at ``$DILIFAC_SANDBOX_ROOT``). Its control API (``/_sandbox/``) provokes
outages and lost answers; a loopback server stands in for a service answering oddly.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.plugin_api import Invoice
from gateway.testing import HELD, ContribSandbox, SandboxHarness
from plugins.dilifac.outlet import DilifacOutlet

#: Odd answers to every call (HTTP 200 each): media type, body.
ODD_ANSWERS = {
    "malformed": ("text/html", b"<html><body>Maintenance en cours</body></html>"),
    "shape": (
        "text/xml",
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<dil:DeposerFactureReponse xmlns:dil="urn:facture-gateway:dilifac:v1"/>'
        b"</soap:Body></soap:Envelope>",
    ),
}


class DilifacSandbox(ContribSandbox):
    """The Dilifac sandbox in a subprocess on a free loopback port, with a state file of its
    own; deposits move only when asked (``move``) unless ``--pace`` is given."""

    module = "contrib.dilifac_sandbox"
    label = "the Dilifac sandbox"
    root_variable = "DILIFAC_SANDBOX_ROOT"

    def __init__(self, directory: Path, *options: str):
        super().__init__(directory, *(options or ("--pace", "-1")))
        self.control = httpx.Client(base_url=f"{self.base_url}/_sandbox", timeout=30)
        self.credentials = self.control.get("/credentials").json()
        self.url = self.credentials["url"]

    def settings(self, **overrides) -> dict:
        """A member's Dilifac settings: the first demo subscriber's."""
        keys = ("url", "login", "password")
        return {**{key: self.credentials[key] for key in keys}, **overrides}

    def faults(self, kind: str, seconds: float = 0.0, operations: tuple[str, ...] = ()) -> None:
        plan = {"kind": kind, "seconds": seconds, "operations": list(operations)}
        self.control.put("/faults", json=plan).raise_for_status()

    def clear_faults(self) -> None:
        self.control.delete("/faults").raise_for_status()

    def deposits(self, number: str | None = None) -> list[dict]:
        params = {"numero": number} if number else {}
        return self.control.get("/deposits", params=params).json()["deposits"]

    def move(self, deposit_id: str, status: str | None = None, reason: str | None = None) -> dict:
        """Move a deposit to its next status, or to ``status``; return it."""
        body = {key: value for key, value in (("status", status), ("reason", reason)) if value}
        moved = self.control.post(f"/deposits/{deposit_id}/status", json=body)
        moved.raise_for_status()
        return moved.json()

    def calls(self, operation: str) -> int:
        return self.control.get("/counters").json()["calls"].get(operation, 0)


class DilifacHarness(SandboxHarness):
    outlet = DilifacOutlet
    sandbox_class = DilifacSandbox
    service_path = "/dilifac"
    url_key = "url"
    odd_bodies = ODD_ANSWERS

    def bad_settings(self) -> list[tuple[dict, str]]:
        good = self.good_settings()
        return [
            ({**good, "url": ""}, "url"),
            ({**good, "login": None}, "login"),
            ({**good, "timeout": "bientôt"}, "timeout"),
            (
                {**good, "price_bands": [{"max_lines": 20, "price": "0.20"}, {"price": "0.14"}]},
                "price_bands",
            ),  # fmt: skip
        ]

    def bad_credentials(self) -> dict:
        return {**self.good_settings(), "password": "pas-le-mot-de-passe"}

    def fail(self, kind: str) -> None:
        if kind == "server_error":
            self.sandbox.faults("unavailable")
        else:
            self.sandbox.faults("slow", HELD)

    def lose_deposits(self) -> None:
        self.sandbox.faults("lost", HELD, ("DeposerFacture",))

    def deposits(self, invoice: Invoice) -> int:
        return len(self.sandbox.deposits(invoice.number))


#: What ``python -m gateway.testing dilifac`` runs the outlet suite with.
HARNESSES = [DilifacHarness]

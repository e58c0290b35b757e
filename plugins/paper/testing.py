"""The conformance harness of the ``paper`` outlet (entry point group
``facture_gateway.testing``): no platform, the bookseller prints what it assembles."""

from __future__ import annotations

from gateway.testing import OutletHarness
from plugins.paper.outlet import PaperOutlet


class PaperHarness(OutletHarness):
    outlet = PaperOutlet
    local = True

    def good_settings(self) -> dict:
        return {"minutes_per_invoice": 3, "postage": "1.50", "duplex": True}

    def bad_settings(self) -> list[tuple[dict, str]]:
        good = self.good_settings()
        return [
            ({**good, "postage": "un timbre"}, "postage"),
            ({**good, "minutes_per_invoice": -2}, "minutes_per_invoice"),
            ({**good, "duplex": "oui"}, "duplex"),
        ]


#: What ``python -m gateway.testing paper`` runs the outlet suite with.
HARNESSES = [PaperHarness]

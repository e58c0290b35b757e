"""The conformance harness of the ``manual_pdf`` outlet (entry point group
``facture_gateway.testing``): no platform, the bookseller uploads what it prepares."""

from __future__ import annotations

from gateway.testing import OutletHarness
from plugins.manual_pdf.outlet import ManualPdfOutlet


class ManualPdfHarness(OutletHarness):
    outlet = ManualPdfOutlet
    local = True

    def good_settings(self) -> dict:
        return {"minutes_per_invoice": 5}

    def bad_settings(self) -> list[tuple[dict, str]]:
        return [({"minutes_per_invoice": "cinq"}, "minutes_per_invoice")]


#: What ``python -m gateway.testing manual_pdf`` runs the outlet suite with.
HARNESSES = [ManualPdfHarness]

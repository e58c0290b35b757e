"""The conformance kit refuses an outlet that says "nothing left" after a lost answer: the
core would then not count the attempt, and the platform may hold the invoice."""

from __future__ import annotations

import pytest

from gateway.outlets import Receipt, UnavailableOutletError
from gateway.testing import check_outlet
from tests.conformance.test_outlets import CarelessHarness, CarelessOutlet


class OverconfidentOutlet(CarelessOutlet):
    """Looks before depositing again, but calls a lost answer an outage."""

    name = "overconfident"

    def send(self, invoice, documents, context):
        if self.platform.deposits[invoice.number]:
            return Receipt(outlet=self.name, reference=invoice.number)
        self.platform.deposits[invoice.number] += 1
        if self.platform.mood == "lost":
            raise UnavailableOutletError("plateforme indisponible")
        return Receipt(outlet=self.name, reference=invoice.number)


class OverconfidentHarness(CarelessHarness):
    outlet = OverconfidentOutlet

    def make(self, settings):
        return OverconfidentOutlet(settings, platform=self.platform)


def test_a_lost_answer_called_unavailable_fails_the_suite(tmp_path):
    with pytest.raises(AssertionError, match="says nothing left"):
        check_outlet(OverconfidentHarness(tmp_path), "lost_answer")

"""Invoices the tests share, after the guide's Seine-Maritime example: Librairie des Quais
sells three books and their shipping to the Département de la Seine-Maritime.

The canonical invoice is ``tests/data/json/invoice-seine-maritime.json``; a format's sample
of the same sale is compared with it, changed with ``dataclasses.replace`` where the format
says more or less.
"""

from __future__ import annotations

import dataclasses

from gateway.directory import DirectoryEntry, Service
from gateway.model import Invoice
from gateway.schemas import load_invoice
from tests.conftest import example


def seine_maritime() -> Invoice:
    """Return the canonical Seine-Maritime invoice, a fresh copy each time."""
    return load_invoice(example("invoice-seine-maritime"))


#: The buyer, and the buyer in the Chorus Pro directory: an engagement, no service code.
SEINE_MARITIME = seine_maritime().buyer
SEINE_MARITIME_ENTRY = DirectoryEntry(
    siret=SEINE_MARITIME.siret,
    name=SEINE_MARITIME.name,
    engagement_required=True,
    services=[Service(code="FACTURES_PUBLIQUES", name="Service des factures publiques")],
)


def as_parsed(invoice: Invoice) -> Invoice:
    """What parsing a rendered invoice must give: its computed amounts, as client figures."""
    return dataclasses.replace(invoice.with_computed_amounts(), vat_breakdown=[])

"""Invoices the tests share."""

from __future__ import annotations

import dataclasses

from gateway.model import Invoice


def as_parsed(invoice: Invoice) -> Invoice:
    """What parsing a rendered invoice must give: its computed amounts, as client figures."""
    return dataclasses.replace(invoice.with_computed_amounts(), vat_breakdown=[])

"""Build EN 16931 test invoices (CII or UBL) with factur-x's generator from invoice.json.

Totals and the VAT breakdown are computed here, so that a test changes one figure and
breaks exactly one rule. Shared by tests/plugins/en16931/test_rules.py and bench/validate.py.
"""

from __future__ import annotations

import copy
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from facturx import generate_xml

SAMPLE = json.loads((Path(__file__).parent / "invoice.json").read_text(encoding="utf-8"))
FLAVORS = {"CII": "factur-x", "UBL": "ubl-2.1"}


def _cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def invoice_data(
    lines: int = 3,
    *,
    charge: bool = False,
    fr_2026: bool = False,
    taxable_shift: str = "0",
    **fields: object,
) -> dict:
    """Return a consistent EN 16931 dict; ``fields`` then override any BT (totals included).

    ``taxable_shift`` moves the VAT breakdown's taxable amount (and its tax) away from the
    lines' sum, ``fr_2026`` lays the parties out as the French 2026 rules want them.
    """
    data = {key: copy.deepcopy(value) for key, value in SAMPLE.items() if key[:2] in ("BT", "BG")}
    if fr_2026:
        for key, value in SAMPLE["fr-2026"].items():
            data[key] = {**data[key], **value} if isinstance(value, dict) else value
    data["BG-25"] = []
    total = Decimal(0)
    for index in range(1, lines + 1):
        line = dict(SAMPLE["line"], **{"BT-126": str(index)})
        amount = Decimal(line["BT-129"]) * Decimal(line["BT-146"])
        line["BT-131"] = _cents(amount)
        data["BG-25"].append(line)
        total += amount
    charges = Decimal(SAMPLE["charge"]["amount"]) if charge else Decimal(0)
    if charge:
        data["BG-21"] = [dict(SAMPLE["charge"])]
        data["BT-108"] = _cents(charges)
    rate = Decimal(SAMPLE["line"]["BT-152"])
    taxable = total + charges + Decimal(taxable_shift)
    tax = Decimal(_cents(taxable * rate / 100))
    data["BG-23"] = [
        {"BT-116": _cents(taxable), "BT-117": _cents(tax), "BT-118": "S", "BT-119": str(rate)}
    ]
    data["BT-106"] = _cents(total)
    data["BT-109"] = _cents(total + charges)
    data["BT-110"] = _cents(tax)
    data["BT-112"] = data["BT-115"] = _cents(total + charges + tax)
    data.update(fields)
    return data


def render(data: dict, syntax: str) -> bytes:
    """Return the CII or UBL document of ``data`` (no check: the tests do the checking)."""
    return generate_xml(
        copy.deepcopy(data), flavor=FLAVORS[syntax], check_xsd=False, check_schematron=False
    )

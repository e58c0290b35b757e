"""The canonical model's ``other_terms``: EN 16931 terms it does not interpret survive JSON."""

from __future__ import annotations

import json

import pytest
from marshmallow import ValidationError

from gateway.codec import invoice_from_data, invoice_to_data
from gateway.schemas import dump_invoice, load_invoice
from tests.conftest import example

TERMS = {
    "BT-73": "2026-10-01",
    "BT-74": "2026-10-31",
    "BG-4": {"contacts": [{"name": "Mme Martin", "phone": "02 35 00 00 00"}]},
    "BT-18": {"null": "OBJ-12"},
}


def test_other_terms_survive_a_dump_and_a_load():
    data = example("invoice-aube")
    data["other_terms"] = TERMS
    data["lines"][0]["other_terms"] = {"BT-134": "2026-10-01", "BG-32": [{"BT-160": "Format"}]}
    invoice = load_invoice(data)
    assert invoice.other_terms == TERMS
    stored = json.loads(json.dumps(invoice_to_data(invoice)))
    again = invoice_from_data(stored)
    assert again.other_terms == TERMS
    assert again.lines[0].other_terms == invoice.lines[0].other_terms


def test_an_invoice_without_other_terms_dumps_as_before():
    dumped = dump_invoice(load_invoice(example("invoice-aube")))
    assert "other_terms" not in dumped
    assert all("other_terms" not in line for line in dumped["lines"])


def test_other_terms_must_be_an_object():
    data = example("invoice-aube")
    data["other_terms"] = ["BT-73"]
    with pytest.raises(ValidationError) as caught:
        load_invoice(data)
    assert "other_terms" in caught.value.messages


def test_split_payment_is_a_vat_category():
    data = example("invoice-aube")
    data["lines"][0]["vat_category"] = "B"
    assert load_invoice(data).lines[0].vat_category == "B"
    data["lines"][0]["vat_category"] = "X"
    with pytest.raises(ValidationError):
        load_invoice(data)

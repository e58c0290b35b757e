"""The storage codec: every invoice the model can hold comes back from JSON as it went in."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.codec import from_data, invoice_from_data, invoice_to_data, to_data
from gateway.directory import DirectoryEntry, Service
from gateway.model import Invoice, Totals
from gateway.schemas import dump_invoice, load_invoice
from tests.conftest import example
from tests.strategies import invoices

TERMS = st.dictionaries(
    st.sampled_from(["BT-73", "BT-74", "BT-18"]),
    st.text(max_size=10) | st.lists(st.dictionaries(st.just("BT-160"), st.text(max_size=5))),
    max_size=2,
)


@st.composite
def stored_invoices(draw) -> Invoice:
    """Invoices as the pipeline stores them: computed amounts, sometimes no lines (Factur-X
    MINIMUM, its totals as given), terms the model does not interpret."""
    invoice = draw(invoices()).with_computed_amounts()
    if draw(st.booleans()):
        totals = dataclasses.replace(invoice.totals, lines=None, allowances=None)
        invoice = dataclasses.replace(invoice, lines=[], totals=totals)
    return dataclasses.replace(invoice, other_terms=draw(TERMS))


def through_json(data: dict) -> dict:
    return json.loads(json.dumps(data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invoice=stored_invoices())
def test_invoices_round_trip_through_the_codec(invoice):
    data = through_json(invoice_to_data(invoice))
    assert invoice_from_data(data) == invoice
    assert invoice_to_data(invoice_from_data(data)) == data
    # The view renders stored data through the API schema: as if the invoice were dumped.
    assert dump_invoice(invoice_from_data(data)) == dump_invoice(invoice)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invoice=stored_invoices())
def test_rows_stored_in_the_api_shape_still_load(invoice):
    assert invoice_from_data(through_json(dump_invoice(invoice))) == invoice


def test_an_invoice_without_lines_round_trips_with_its_given_totals():
    invoice = load_invoice(example("invoice-aube"))
    invoice = dataclasses.replace(invoice, lines=[], totals=Totals(lines=None, payable=Decimal(9)))
    again = invoice_from_data(through_json(invoice_to_data(invoice)))
    assert again == invoice
    assert (again.lines, again.totals.lines, again.totals.payable) == ([], None, Decimal(9))


def test_a_field_the_model_does_not_have_is_refused():
    data = invoice_to_data(load_invoice(example("invoice-aube")))
    data["buyer"]["nickname"] = "la médiathèque"
    with pytest.raises(ValueError, match="nickname"):
        invoice_from_data(data)


def test_a_directory_entry_round_trips_with_its_services_and_time():
    entry = DirectoryEntry(
        siret="22100005200011",
        name="DEPARTEMENT DE L'AUBE",
        service_required=True,
        engagement_required=True,
        services=[Service("DGAEC", "Service de la Musique", "SUPPRIME", engagement_required=True)],
        checked_at=datetime(2026, 12, 2, 15, 4, 5, 123456, tzinfo=UTC),
    )
    data = through_json(to_data(entry))
    assert data["checked_at"] == "2026-12-02T15:04:05.123456+00:00"
    assert from_data(DirectoryEntry, data) == entry

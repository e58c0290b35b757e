"""The EN 16931 EDIFACT INVOIC D16B format: samples, mapping, envelopes, errors."""

from __future__ import annotations

import dataclasses
import re
import warnings
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plugins.edifact
from gateway.errors import FormatError
from gateway.model import (
    Address,
    AllowanceCharge,
    InvoiceType,
    LineAdjustment,
    PrecedingInvoice,
    References,
    Totals,
)
from plugins.edifact.format import EdifactFormat
from tests.conftest import ROOT
from tests.invoices import seine_maritime

DATA = ROOT / "tests" / "data" / "edifact"
SAMPLES = sorted(DATA.glob("*.edi"))
SEINE = DATA / "invoice-seine-maritime-unow.edi"
AUBE = DATA / "invoice-aube-unoc-decimal-comma.edi"
CREDIT_NOTE = DATA / "credit-note-seine-maritime-unoc-crlf.edi"
TWO = DATA / "two-invoices-unoc.edi"
HANDLER = EdifactFormat()


def text_line(source: Path | bytes, prefix: str) -> int:
    """Return the text line of the segment starting with ``prefix`` (one segment a line)."""
    data = source.read_bytes() if isinstance(source, Path) else source
    lines = data.decode("latin-1").splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.startswith(prefix))


def segment_position(data: bytes, prefix: str) -> int:
    """Return the position of a segment in a file written on one line (UNA counted)."""
    parts = re.split(rb"(?<!\?)'", data)
    return next(number for number, part in enumerate(parts, 1) if part.startswith(prefix))


def error_of(data: bytes) -> FormatError:
    with pytest.raises(FormatError) as caught:
        HANDLER.parse(data)
    return caught.value


def mutated(path: Path, old: str, new: str) -> bytes:
    data = path.read_bytes()
    old_bytes, new_bytes = old.encode("latin-1"), new.encode("latin-1")
    assert data.count(old_bytes) == 1, old
    return data.replace(old_bytes, new_bytes)


# --- The samples -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_each_sample_parses_with_consistent_amounts(path: Path) -> None:
    invoices = HANDLER.parse(path.read_bytes())
    assert invoices
    for invoice in invoices:
        assert invoice.totals.mismatches(invoice.computed_totals()) == []
        assert all(line.line_amount == line.computed_amount() for line in invoice.lines)
        assert all(line.item_id is None or len(line.item_id) == 13 for line in invoice.lines)


def test_seine_maritime_sample_is_the_expected_canonical_invoice() -> None:
    (invoice,) = HANDLER.parse(SEINE.read_bytes())
    canonical = seine_maritime()
    (shipping,) = canonical.charges
    # Line numbers and amounts, VAT categories and every total are given; the purchase order
    # (BC-4471) is not.
    amounts = ("38.40", "26.16", "23.00")
    expected = dataclasses.replace(
        canonical,
        references=References(engagement="EJ2026000815"),
        lines=[
            dataclasses.replace(book, id=str(n), vat_category="S", line_amount=Decimal(amount))
            for n, (book, amount) in enumerate(zip(canonical.lines, amounts, strict=True), 1)
        ],
        charges=[dataclasses.replace(shipping, vat_category="S", reason_code="FC")],
        totals=Totals(
            lines=Decimal("87.56"),
            allowances=None,
            charges=Decimal("5.00"),
            tax_exclusive=Decimal("92.56"),
            vat=Decimal("5.09"),
            tax_inclusive=Decimal("97.65"),
            prepaid=None,
            rounding=None,
            payable=Decimal("97.65"),
        ),
    )
    assert invoice == expected


def test_latin1_decimal_comma_all_on_one_line() -> None:
    (invoice,) = HANDLER.parse(AUBE.read_bytes())
    assert invoice.buyer.name == "DEPARTEMENT DE L'AUBE"  # escaped apostrophe
    assert invoice.lines[1].name == "Atlas des régions de France"  # UNOC is ISO 8859-1
    # BT-10 from the buyer's RFF+CR, BT-13 from RFF+ON, BT-12 from RFF+CT.
    assert invoice.references == References(
        service_code="DFCG", engagement="Ej-Aube-2026-4417", contract="MAPA-2026-LIVRES-03"
    )
    first = invoice.lines[0]
    assert (first.net_price, first.gross_price, first.price_discount, first.base_quantity) == (
        Decimal("6.20"),
        Decimal("6.81"),
        Decimal("0.61"),
        Decimal(1),
    )
    assert invoice.computed_totals().payable == Decimal("90.72")


def test_credit_note_names_the_invoice_it_credits() -> None:
    (invoice,) = HANDLER.parse(CREDIT_NOTE.read_bytes())
    assert invoice.type is InvoiceType.CREDIT_NOTE
    assert invoice.preceding_invoice == PrecedingInvoice("FA-2026-0142", date(2026, 11, 20))
    assert invoice.references.engagement == "EJ2026000815"
    assert invoice.lines[0].name == "L'Étranger - Albert Camus (Folio)"  # CRLF line ends


def test_two_messages_make_two_invoices() -> None:
    first, second = HANDLER.parse(TWO.read_bytes())
    assert (first.number, second.number) == ("FA-2026-0150", "FA-2026-0151")
    assert first.delivery_date == date(2026, 12, 1)
    assert first.buyer.address == Address(
        line1="Place du Général Leclerc", line2="Bâtiment B", postcode="76400", city="Fécamp"
    )  # the delivery place (NAD+DP) does not overwrite the buyer
    assert first.buyer.email == "mediatheque@fecamp.example"
    assert first.references.buyer_accounting_reference == "6065-LIVRES"
    assert first.payment.account_name == "LIBRAIRIE DES QUAIS"
    assert first.allowances == [
        AllowanceCharge(
            amount=Decimal("0.77"),
            vat_rate=Decimal("20"),
            vat_category="S",
            reason="Remise sur fournitures",
            reason_code="95",
            base_amount=Decimal("15.30"),
            percent=Decimal("5"),
        )
    ]
    book, bound, stationery = first.lines
    assert (book.seller_item_id, book.description) == ("FOL-0452", "Folio junior, édition 2026")
    assert bound.note == "Exemplaires reliés pour le prêt"
    assert (stationery.item_id, stationery.vat_rate) == (None, Decimal("20"))
    assert second.prepaid_amount == Decimal("10.00")
    assert second.computed_totals().payable == Decimal("31.86")


def test_pydifact_warns_about_nothing() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        HANDLER.parse(TWO.read_bytes())
    assert caught == []


# --- Errors: segment position and canonical field ----------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "segment", "field"),
    [
        ("QTY+47:3:C62'", "QTY+46:3:C62'", "LIN+2", "lines[1].quantity"),
        ("PRI+AAA:8.72'", "PRI+AAA:8,7,2'", "PRI+AAA:8,7,2", "lines[1].net_price"),
        ("IMD+F++:::Le Petit", "IMD+A++:::Le Petit", "LIN+2", "lines[1].name"),
        ("MOA+203:23.00'", "MOA+203:23.00 EUR'", "MOA+203:23.00 EUR", "lines[2].line_amount"),
        ("DTM+137:20261120:102'", "DTM+137:20261131:102'", "DTM+137", "issue_date"),
        ("DTM+13:20261220:102'", "DTM+13:2026-12-20:102'", "DTM+13:", "due_date"),
        ("BGM+380+", "BGM+383+", "BGM", "type"),
        ("NAD+BY+", "NAD+DP+", "UNH", "buyer.name"),
        ("MOA+23:5.00'", "MOA+22:5.00'", "ALC+C", "charges[0].amount"),
        ("MOA+389:92.56'", "MOA+389:quatre-vingt'", "MOA+389", "totals.tax_exclusive"),
    ],
)
def test_malformed_segments_name_position_and_field(old, new, segment, field) -> None:
    data = mutated(SEINE, old, new)
    error = error_of(data)
    assert (error.line, error.field) == (text_line(data, segment), field)
    assert error.code == "format.unreadable"


LINE_ADJUSTMENTS = (
    "MOA+509:0,61'ALC+A+Remise fidélité:95'PCD+1:5'MOA+25:62,00'MOA+204:3,10'"
    "ALC+C+Emballage+++ABL'MOA+23:1,00'"
)


def with_line_adjustments(segments: str = LINE_ADJUSTMENTS) -> bytes:
    """Return the Aube sample with ``segments`` after its first line's price discount."""
    data = mutated(AUBE, "MOA+509:0,61'", segments)
    return data.replace(b"UNT+40+", f"UNT+{39 + segments.count(chr(39))}+".encode())


def test_line_allowances_and_charges_are_read_beside_the_price_discount() -> None:
    data = with_line_adjustments().replace(b"MOA+203:62,00'", b"MOA+203:59,90'")
    (invoice,) = HANDLER.parse(data)
    line = invoice.lines[0]
    assert line.price_discount == Decimal("0.61")
    assert line.allowances == [
        LineAdjustment(
            amount=Decimal("3.10"),
            reason="Remise fidélité",
            reason_code="95",
            percent=Decimal(5),
            base_amount=Decimal("62.00"),
        )
    ]
    assert line.charges == [
        LineAdjustment(amount=Decimal("1.00"), reason="Emballage", reason_code="ABL")
    ]
    assert line.computed_amount() == line.line_amount == Decimal("59.90")
    assert invoice.lines[1].allowances == invoice.lines[1].charges == []


def test_line_allowance_without_amount_names_its_segment_and_field() -> None:
    data = with_line_adjustments(LINE_ADJUSTMENTS.replace("MOA+204:3,10'", ""))
    error = error_of(data)
    assert error.line == segment_position(data, b"ALC+A+Remise")
    assert error.field == "lines[0].allowances[0].amount"


def test_line_allowance_with_a_bad_percentage_names_its_field() -> None:
    data = with_line_adjustments(LINE_ADJUSTMENTS.replace("PCD+1:5'", "PCD+1:cinq'"))
    assert error_of(data).field == "lines[0].allowances[0].percent"


@pytest.mark.parametrize(
    ("old", "new", "segment", "words"),
    [
        ("UNT+51+1'", "UNT+50+1'", "UNT", "51"),
        ("UNT+51+1'", "UNT+51+2'", "UNT", "ferme"),
        ("UNH+1+INVOIC:D:16B", "UNH+1+ORDERS:D:96A", "UNH", "ORDERS"),
        ("UNB+UNOW:4", "UNB+UNOZ:4", "UNB", "UNOZ"),
    ],
)
def test_envelope_errors(old: str, new: str, segment: str, words: str) -> None:
    error = error_of(mutated(SEINE, old, new))
    assert error.line == text_line(SEINE, segment)
    assert words in error.message


def test_bytes_outside_the_declared_charset_are_refused_with_their_segment() -> None:
    utf8 = SEINE.read_bytes().replace("Étranger".encode(), b"\xc9tranger")
    assert error_of(utf8).line == text_line(SEINE, "IMD+F++:::L?'")  # after an escaped '.
    ascii_declared = CREDIT_NOTE.read_bytes().replace(b"UNOC:3", b"UNOA:3")
    assert error_of(ascii_declared).line == text_line(CREDIT_NOTE, "FTX+AAI")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"UNH+1+INVOIC:D:16B:UN'BGM+380+X'UNT+3+1'",
        SEINE.read_bytes().split(b"UNS+S'")[0],
        SEINE.read_bytes().rstrip().rstrip(b"'"),
        b"UNA:+.? 'UNB'",
        b"UNA:+.? 'UNB+UNOC:3+A+B+261120:1030+R'UNZ+0+R'",
        b"UNA:+.? 'UNB+UNOC:3+A+B+261120:1030+R'BGM+380+X'UNZ+0+R'",
    ],
    ids=[
        "empty",
        "no UNB",
        "truncated",
        "no final terminator",
        "empty UNB",
        "no message",
        "outside a message",
    ],
)
def test_broken_interchanges_are_format_errors(data: bytes) -> None:
    error_of(data)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_files_raise_only_format_errors(data) -> None:
    original = data.draw(st.sampled_from(SAMPLES)).read_bytes()
    start = data.draw(st.integers(0, len(original) - 1))
    end = data.draw(st.integers(start, min(len(original), start + 40)))
    junk = data.draw(st.binary(max_size=5))
    try:
        HANDLER.parse(original[:start] + junk + original[end:])
    except FormatError as ex:
        assert ex.line is None or ex.line >= 1


# --- Through the REST API ------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
@pytest.mark.parametrize("how", ["content-type", "query"])
def test_samples_are_accepted_by_the_api(gateway, member, path: Path, how: str) -> None:
    """Each sample is a valid invoice (or several): accepted, nothing to fix."""
    options = (
        {"content_type": "application/EDIFACT"}
        if how == "content-type"
        else {"content_type": "application/octet-stream", "params": {"format": "edifact"}}
    )
    result = gateway.post_invoice(member, path.read_bytes(), **options)
    assert result.status_code == 202, result.json


# --- Sniffing and registration ------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_sniff_recognises_samples(path: Path) -> None:
    assert HANDLER.sniff(path.read_bytes())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"numero_facture;date;client\n",
        b'{"number": 1}',
        b"<Invoice/>",
        b"UNA:+.? 'UNB+UNOC:3+A+B+261120:1030+R'UNH+1+ORDERS:D:96A:UN'",
    ],
)
def test_sniff_refuses_other_documents(data: bytes) -> None:
    assert not HANDLER.sniff(data)


@given(st.binary(max_size=300))
def test_sniff_never_raises(data: bytes) -> None:
    HANDLER.sniff(data)


def test_registered_through_the_hook() -> None:
    (handler,) = plugins.edifact.gateway_register_formats()
    assert (handler.name, handler.media_types) == ("edifact", ("application/edifact",))

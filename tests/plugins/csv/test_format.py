"""The bookshop CSV format: samples, encodings, separators, conversions, errors."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plugins.csv
from gateway.errors import FormatError
from gateway.model import (
    AllowanceCharge,
    Invoice,
    InvoiceType,
    Line,
    PrecedingInvoice,
    References,
    Totals,
)
from plugins.csv.format import (
    AMBIGUOUS,
    COLUMNS,
    CsvFormat,
    Invalid,
    net_price,
    normalize_name,
    parse_date,
    parse_decimal,
)
from tests.conftest import ROOT
from tests.invoices import seine_maritime

DATA = ROOT / "tests" / "data" / "csv"
SAMPLES = sorted(DATA.glob("*.csv"))
CENT = Decimal("0.01")
HANDLER = CsvFormat()


def r2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse(text: str, encoding: str = "utf-8") -> list[Invoice]:
    return HANDLER.parse(text.encode(encoding))


BASE = {
    "numero_facture": "FA-1",
    "date_facture": "20/11/2026",
    "vendeur": "Librairie des Quais",
    "client": "Mairie de Rouen",
    "isbn": "9782070360024",
    "titre": "L'Étranger",
    "quantite": "5",
    "prix_public_ttc": "8,90",
    "remise": "9",
    "taux_tva": "5,5",
}


def csv_text(*rows: dict[str, str | None], delimiter: str = ";") -> str:
    """Build a CSV from BASE, each row overriding some cells (None drops a column)."""
    names = list(BASE)
    for row in rows:
        names += [name for name in row if name not in names]
    names = [name for name in names if all(row.get(name, "") is not None for row in rows)]
    lines = [delimiter.join(names)]
    for row in rows:
        cells = {**BASE, **row}
        lines.append(delimiter.join(cells.get(name) or "" for name in names))
    return "\n".join(lines) + "\n"


def error_of(text: str, encoding: str = "utf-8") -> FormatError:
    with pytest.raises(FormatError) as caught:
        parse(text, encoding)
    return caught.value


# --- The samples -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_each_sample_reproduces_the_amounts_the_software_printed(path: Path) -> None:
    invoices = HANDLER.parse(path.read_bytes())
    assert invoices
    for invoice in invoices:
        assert invoice.totals is not None
        assert invoice.totals.mismatches(invoice.computed_totals()) == []
        for line in invoice.lines:
            assert line.line_amount in (None, line.computed_amount())
            assert -line.net_price.as_tuple().exponent <= 6
            if line.gross_price is not None:
                assert line.gross_price - line.price_discount == line.net_price


def test_seine_maritime_sample_is_the_expected_canonical_invoice() -> None:
    (invoice,) = HANDLER.parse((DATA / "seine-maritime-utf8-semicolon.csv").read_bytes())
    canonical = seine_maritime()
    etranger, petit_prince, miserables = canonical.lines
    (shipping,) = canonical.charges
    # Public prices with VAT less a discount rate, the author in a column of its own, a
    # delivery note per row and the printed totals; no e-mail, no note.
    expected = dataclasses.replace(
        canonical,
        seller=dataclasses.replace(canonical.seller, email=None),
        delivery_notes=["BL-2026-0931", "BL-2026-0957"],
        lines=[
            dataclasses.replace(
                etranger,
                name="L'Étranger",
                description="Albert Camus",
                net_price=Decimal("7.6768"),
                gross_price=Decimal("8.436018"),
                price_discount=Decimal("0.759218"),
                line_amount=Decimal("38.38"),
            ),
            dataclasses.replace(
                petit_prince,
                name="Le Petit Prince",
                description="Antoine de Saint-Exupéry",
                net_price=Decimal("8.712"),
                gross_price=Decimal("9.573459"),
                price_discount=Decimal("0.861459"),
                line_amount=Decimal("26.14"),
            ),
            dataclasses.replace(
                miserables,
                name="Les Misérables, tome 1",
                description="Victor Hugo",
                net_price=Decimal("10.87"),
                gross_price=Decimal("11.943127"),
                price_discount=Decimal("1.073127"),
                line_amount=Decimal("21.74"),
            ),
        ],
        charges=[dataclasses.replace(shipping, reason_code="FC")],
        notes=[],
        totals=Totals(
            lines=None,
            allowances=None,
            charges=None,
            prepaid=None,
            rounding=None,
            tax_exclusive=Decimal("91.26"),
            vat=Decimal("5.02"),
            tax_inclusive=Decimal("96.28"),
            payable=Decimal("96.28"),
        ),
    )
    assert invoice == expected
    computed = invoice.computed_totals()
    assert (computed.lines, computed.charges, computed.vat, computed.payable) == (
        Decimal("86.26"),
        Decimal("5.00"),
        Decimal("5.02"),
        Decimal("96.28"),
    )


def test_windows_1252_comma_separated_english_columns() -> None:
    (invoice,) = HANDLER.parse((DATA / "aube-windows1252-comma.csv").read_bytes())
    assert invoice.references == References(
        service_code="DFCG",
        engagement="Ej-Aube-2026-4417",
        purchase_order="CMD-77120",
        contract="MAPA-2026-LIVRES-03",
    )
    names = [line.name for line in invoice.lines]
    assert names[1] == "Atlas des régions de France — édition 2026"  # 0x97 in Windows-1252
    assert names[2] == "Le Cœur à rire et à pleurer"  # 0x9C: not in Latin-1
    assert invoice.lines[1].item_id == "9782743648718"  # hyphens dropped
    # The software rounded the unit net price to the cent before multiplying; prices at
    # or above the exact net price are preferred (6.21043 > 6.2104265…).
    assert [line.net_price for line in invoice.lines] == [
        Decimal("6.21043"),
        Decimal("23.863"),
        Decimal("6.81"),  # printed 27.24 for 4 copies: below the exact 27.26, kept
        Decimal("0.85"),
    ]
    stationery = invoice.lines[3]
    assert (stationery.item_id, stationery.vat_rate, stationery.gross_price) == (
        None,
        Decimal("20"),
        None,
    )
    assert invoice.charges[0].amount == Decimal("6.50")
    rates = {row.rate: row.taxable_amount for row in invoice.computed_vat_breakdown()}
    assert rates == {Decimal("5.5"): Decimal("119.70"), Decimal("20"): Decimal("12.75")}
    assert invoice.computed_totals().payable == Decimal("141.58")


def test_several_invoices_grouped_by_number_with_a_negative_credit_note() -> None:
    invoices = HANDLER.parse((DATA / "several-invoices-bom.csv").read_bytes())
    assert [(invoice.number, invoice.type) for invoice in invoices] == [
        ("FA-2026-0150", InvoiceType.INVOICE),
        ("AV-2026-0009", InvoiceType.CREDIT_NOTE),
        ("FA-2026-0151", InvoiceType.INVOICE),
    ]
    first, credit_note, _ = invoices
    # The last row of the file belongs to the first invoice.
    assert [line.item_id for line in first.lines][-1] == "9782070584628"
    assert first.buyer.name == "Médiathèque municipale de Fécamp"  # BOM dropped, UTF-8 read
    assert credit_note.preceding_invoice == PrecedingInvoice("FA-2026-0150", date(2026, 12, 2))
    assert credit_note.lines[0].quantity == Decimal(2)
    assert credit_note.totals.tax_inclusive == Decimal("10.01")
    assert credit_note.computed_totals().tax_inclusive == Decimal("10.01")


# --- Encodings and separators ----------------------------------------------------------------


def test_utf8_with_and_without_bom_and_windows_1252_read_the_same() -> None:
    text = csv_text({"titre": "Œuvres complètes — tome 2"})
    assert (
        parse(text)[0]
        == HANDLER.parse(b"\xef\xbb\xbf" + text.encode("utf-8"))[0]
        == parse(text, "cp1252")[0]
    )
    assert parse(text, "cp1252")[0].lines[0].name == "Œuvres complètes — tome 2"


def test_bytes_invalid_in_both_encodings_are_refused_with_their_line() -> None:
    data = csv_text({}, {}).encode("cp1252").replace(b"tranger", b"tr\x81nger", 2)
    with pytest.raises(FormatError) as caught:
        HANDLER.parse(data)
    assert caught.value.line == 2
    assert "0x81" in caught.value.message


def test_a_utf8_bom_never_falls_back_to_windows_1252() -> None:
    data = b"\xef\xbb\xbf" + csv_text({"titre": "Candide"}, {"titre": "Café"}).encode("cp1252")
    with pytest.raises(FormatError) as caught:
        HANDLER.parse(data)
    assert caught.value.line == 3
    assert "UTF-8" in caught.value.message


def test_utf16_is_refused_with_advice() -> None:
    with pytest.raises(FormatError, match="UTF-16"):
        HANDLER.parse(csv_text({}).encode("utf-16"))


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_delimiter_is_detected(delimiter: str) -> None:
    quoted = {"prix_public_ttc": '"8,90"', "taux_tva": '"5,5"'} if delimiter == "," else {}
    (invoice,) = parse(csv_text(quoted, delimiter=delimiter))
    assert invoice.lines[0].net_price == Decimal("7.6768")
    assert invoice.lines[0].vat_rate == Decimal("5.5")


def test_unquoted_decimal_comma_in_a_comma_file_names_the_line() -> None:
    rows = ({"prix_public_ttc": '"8,90"'}, {"prix_public_ttc": "8,90"})
    error = error_of(csv_text(*[{**row, "taux_tva": "5.5"} for row in rows], delimiter=","))
    assert error.line == 3
    assert "guillemets" in error.message


# --- Cells -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8,90", "8.90"),
        ("8.90", "8.90"),
        ("1 234,50", "1234.50"),
        ("1\u202f234,5", "1234.5"),
        ("-5", "-5"),
        ("+3", "3"),
        ("1,234", "1.234"),
        (" 12 ", "12"),
    ],
)
def test_decimals_french_and_dot(raw: str, expected: str) -> None:
    assert parse_decimal(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["1.234,50", "1,234.50", "8,", ",5", "huit", "8 90,0x", ""])
def test_ambiguous_or_malformed_decimals_are_refused(raw: str) -> None:
    with pytest.raises(Invalid):
        parse_decimal(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("21/11/2026", date(2026, 11, 21)),
        ("2026-11-21", date(2026, 11, 21)),
        ("1/2/26", date(2026, 2, 1)),
        ("21.11.2026", date(2026, 11, 21)),
        ("21/11/2026 00:00", date(2026, 11, 21)),
    ],
)
def test_dates_day_first(raw: str, expected: date) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw", ["31/02/2026", "2026/11/21", "novembre 2026", "21/11"])
def test_bad_dates_are_refused(raw: str) -> None:
    with pytest.raises(Invalid):
        parse_date(raw)


def test_column_names_ignore_case_accents_and_punctuation() -> None:
    header = (
        "N° Facture;DATE DE FACTURE;Vendeur;Client;Désignation;Qté;Prix public TTC;Remise %;TVA %"
    )
    row = "F1;01/12/2026;L;C;Livre;2;10,55;0;5,5"
    (invoice,) = parse(f"{header}\n{row}\n")
    assert invoice.lines[0].net_price == Decimal("10.00")
    assert invoice.lines[0].vat_rate == Decimal("5.5")


def test_column_table_is_consistent() -> None:
    aliases = [alias for column in COLUMNS for alias in column.aliases]
    assert len(aliases) == len(set(aliases))
    assert all(normalize_name(alias) == alias for alias in aliases)
    assert not set(aliases) & set(AMBIGUOUS)
    assert len({column.key for column in COLUMNS}) == len(COLUMNS)


def test_every_column_name_is_documented() -> None:
    doc = (ROOT / "docs" / "formats" / "csv.md").read_text(encoding="utf-8")
    aliases = [alias for column in COLUMNS for alias in column.aliases] + list(AMBIGUOUS)
    assert [alias for alias in aliases if f"`{alias}`" not in doc] == []


def test_unknown_columns_are_ignored() -> None:
    (invoice,) = parse(csv_text({"rayon": "Poches", "stock": "12"}))
    assert invoice.lines[0].name == "L'Étranger"


def test_chorus_references_and_credit_note_columns() -> None:
    extra = {
        "type": "AVOIR",
        "code_service": "DFCG",
        "engagement": "Ej-Aube-2026-4417",
        "bon_de_commande": "CMD-1",
        "marche": "MAPA-3",
        "facture_origine": "FA-0",
        "date_facture_origine": "2026-11-02",
    }
    (invoice,) = parse(csv_text(extra))
    assert invoice.type is InvoiceType.CREDIT_NOTE
    assert invoice.references == References("DFCG", "Ej-Aube-2026-4417", "CMD-1", "MAPA-3")
    assert invoice.preceding_invoice == PrecedingInvoice("FA-0", date(2026, 11, 2))


def test_isbn10_becomes_isbn13() -> None:
    (invoice,) = parse(csv_text({"isbn": "2-07-036002-4"}))
    assert invoice.lines[0].item_id == "9782070360024"


def test_shipping_given_tax_included_is_converted_exactly() -> None:
    (invoice,) = parse(csv_text({"frais_de_port_ttc": "5,28"}))
    assert invoice.charges == [
        AllowanceCharge(Decimal("5.00"), Decimal("5.5"), "Frais de port", "FC"),
    ]


def test_price_excluding_vat_and_discount() -> None:
    row = {"prix_public_ttc": None, "prix_unitaire_ht": "2,50", "remise": "10", "taux_tva": "20"}
    (invoice,) = parse(csv_text(row))
    line = invoice.lines[0]
    assert (line.gross_price, line.price_discount, line.net_price) == (
        Decimal("2.50"),
        Decimal("0.25"),
        Decimal("2.25"),
    )


# --- Errors: line number and canonical field -------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "line", "field"),
    [
        (({}, {"quantite": "deux"}), 3, "lines[1].quantity"),
        (({"quantite": "9" * 40},), 2, "lines[0].quantity"),
        (({"prix_public_ttc": "8," + "9" * 40},), 2, "lines[0].net_price"),
        (({}, {}, {"titre": ""}), 4, "lines[2].name"),
        (({"isbn": "9782070360025"},), 2, "lines[0].item_id"),
        (({"taux_tva": "150"},), 2, "lines[0].vat_rate"),
        (({"remise": "-3"},), 2, "lines[0].price_discount"),
        (({"prix_public_ttc": "-8,90"},), 2, "lines[0].net_price"),
        (({"prix_public_ttc": ""},), 2, "lines[0].net_price"),
        (({"date_facture": "31/11/2026"},), 2, "issue_date"),
        (({}, {"date_facture": "21/11/2026"}), 3, "issue_date"),
        (({}, {}, {"client": "Mairie du Havre"}), 4, "buyer.name"),
        (({"montant_ht": "39,40"},), 2, "lines[0].line_amount"),
        (({"numero_facture": ""},), 2, "number"),
        (({"date_facture_origine": "02/11/2026"},), 2, "preceding_invoice.number"),
        (({"type": "AVOIR", "quantite": "-2"}, {"type": "AVOIR"}), 3, "lines[1].quantity"),
        (({"type": "devis"},), 2, "type"),
        (({"mode_paiement": "troc"},), 2, "payment.means_code"),
    ],
)
def test_malformed_rows_name_line_and_field(rows: tuple[dict, ...], line: int, field: str) -> None:
    error = error_of(csv_text(*rows))
    assert (error.line, error.field) == (line, field)
    assert error.code == "format.unreadable"
    assert error.message.startswith(("Ligne", "Facture"))


def test_both_prices_on_one_row_is_an_error() -> None:
    error = error_of(csv_text({"prix_unitaire_ht": "7,00"}))
    assert (error.line, error.field) == (2, "lines[0].net_price")


def test_shipping_rate_must_be_given_when_lines_have_several_rates() -> None:
    error = error_of(
        csv_text({"frais_de_port_ttc": "6"}, {"frais_de_port_ttc": "6", "taux_tva": "20"})
    )
    assert (error.line, error.field) == (2, "charges[0].vat_rate")


@pytest.mark.parametrize(
    ("header", "field", "words"),
    [
        (
            "numero_facture;date;vendeur;client;titre;prix_public_ttc;taux_tva",
            "lines[0].quantity",
            "quantité",
        ),
        ("numero_facture;date;vendeur;client;titre;qte;taux_tva", "lines[0].net_price", "prix"),
        ("numero_facture;date;vendeur;client;titre;qte;prix;taux_tva", None, "ambiguë"),
        (
            "numero_facture;date;vendeur;client;titre;qte;pu_ttc;taux_tva;port",
            None,
            "frais_de_port",
        ),
        ("numero_facture;date;vendeur;client;titre;qte;pu_ttc;tva", None, "taux_tva"),
        (
            "numero_facture;date;vendeur;client;titre;libelle;qte;pu_ttc;taux_tva",
            "lines[0].name",
            "toutes deux",
        ),
    ],
)
def test_header_errors_are_on_line_one(header: str, field: str | None, words: str) -> None:
    error = error_of(f"{header}\nF1;01/12/2026;L;C;Livre;2;10;5,5;x\n")
    assert (error.line, error.field) == (1, field)
    assert words in error.message


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n\n",
        b"bonjour;le;monde\n",
        b"numero_facture;date;vendeur;client;titre;qte;pu_ttc;taux_tva\n",
        b"a;b\x00c\n",
    ],
)
def test_files_without_invoices_are_format_errors(data: bytes) -> None:
    with pytest.raises(FormatError):
        HANDLER.parse(data)


# --- Through the REST API ------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
@pytest.mark.parametrize("how", ["content-type", "query"])
def test_samples_are_accepted_by_the_api(gateway, member, path: Path, how: str) -> None:
    """Each sample is a valid invoice (or several): accepted, nothing to fix."""
    options = (
        {"content_type": "text/csv"}
        if how == "content-type"
        else {"content_type": "application/octet-stream", "params": {"format": "csv"}}
    )
    result = gateway.post_invoice(member, path.read_bytes(), **options)
    assert result.status_code == 202, result.json


# --- Sniffing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_sniff_recognises_samples(path: Path) -> None:
    assert HANDLER.sniff(path.read_bytes())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'{"number": "FA-1"}',
        b"<?xml version='1.0'?><Invoice/>",
        b"UNA:+.? 'UNB+UNOC:3",
        b"ENTF FA-2026-0001 20261120",
        b"%PDF-1.7\n",
        b"\xff\xfe\x00\x00",
        b"numero;date\n",
    ],
)
def test_sniff_refuses_other_documents(data: bytes) -> None:
    assert not HANDLER.sniff(data)


@given(st.binary(max_size=300))
def test_sniff_never_raises(data: bytes) -> None:
    HANDLER.sniff(data)


def test_registered_through_the_hook() -> None:
    (handler,) = plugins.csv.gateway_register_formats()
    assert (handler.name, handler.media_types) == ("csv", ("text/csv", "application/csv"))


# --- The tax-included to net conversion --------------------------------------------------------

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("300"), places=2)
discounts = st.decimals(min_value=Decimal(0), max_value=Decimal("40"), places=2)
rates = st.sampled_from([Decimal(0), Decimal("2.1"), Decimal("5.5"), Decimal(10), Decimal(20)])
quantities = st.integers(min_value=-50, max_value=2000).map(Decimal) | st.decimals(
    min_value=Decimal("0.001"), max_value=Decimal("500"), places=3
)


def software_amounts(quantity, price, discount, rate) -> list[Decimal]:
    """What three ways of computing a line, all met in bookshop software, print."""
    net_ttc = price * (100 - discount) / 100
    exact = r2(quantity * net_ttc / (1 + rate / 100))
    unit_ht_first = quantity * r2(net_ttc / (1 + rate / 100))
    unit_ttc_first = r2(quantity * r2(net_ttc) / (1 + rate / 100))
    return [exact, r2(unit_ht_first), unit_ttc_first]


@settings(max_examples=400, deadline=None)
@given(prices, discounts, rates, quantities)
def test_conversion_gives_the_exact_line_amount(price, discount, rate, quantity) -> None:
    result = net_price(price, discount, rate, quantity, tax_included=True)
    line = Line(name="x", quantity=quantity, net_price=result.net_price, vat_rate=rate)
    assert (
        line.computed_amount()
        == result.amount
        == software_amounts(quantity, price, discount, rate)[0]
    )
    assert -result.net_price.as_tuple().exponent <= 6
    if result.gross_price is not None:
        assert result.gross_price - result.price_discount == result.net_price
        # Never more discount than granted: the legal cap is checked on these terms.
        assert 0 <= result.price_discount <= result.gross_price * discount / 100


@settings(max_examples=400, deadline=None)
@given(prices, discounts, rates, quantities)
def test_conversion_reproduces_each_software_rounding(price, discount, rate, quantity) -> None:
    for printed in software_amounts(quantity, price, discount, rate):
        result = net_price(
            price, discount, rate, quantity, tax_included=True, printed_amount=printed
        )
        line = Line(name="x", quantity=quantity, net_price=result.net_price, vat_rate=rate)
        assert line.computed_amount() == printed


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            prices,
            discounts,
            st.sampled_from([Decimal("5.5"), Decimal(20)]),
            st.integers(min_value=1, max_value=40).map(Decimal),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 2),
)
def test_invoice_totals_reproduce_what_the_software_printed(items, style) -> None:
    """Whole CSV files: printed line amounts and EN 16931 totals come back exactly."""
    rows, by_rate = [], {}
    for price, discount, rate, quantity in items:
        amount = software_amounts(quantity, price, discount, rate)[style]
        by_rate[rate] = by_rate.get(rate, Decimal(0)) + amount
        rows.append(
            {
                "prix_public_ttc": str(price).replace(".", ","),
                "remise": str(discount),
                "taux_tva": str(rate),
                "quantite": str(quantity),
                "montant_ht": str(amount),
            }
        )
    total_ht = sum(by_rate.values())
    total_vat = sum(r2(base * rate / 100) for rate, base in by_rate.items())
    for row in rows:
        row.update(
            total_ht=str(total_ht), total_tva=str(total_vat), total_ttc=str(total_ht + total_vat)
        )
    (invoice,) = parse(csv_text(*rows))
    assert invoice.totals.mismatches(invoice.computed_totals()) == []
    assert invoice.computed_totals().payable == total_ht + total_vat

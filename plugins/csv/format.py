"""CSV invoices as bookshop management software exports them (layout: docs/formats/csv.md).

One row per invoice line, the invoice's header fields repeated on every row; several
invoices in one file are grouped by invoice number. Book prices come tax-included (the
public price) with a discount percentage and are converted exactly to EN 16931 net
prices by :func:`net_price`.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor
from typing import Any

from stdnum import ean, isbn
from stdnum.exceptions import ValidationError as StdnumError

from gateway.plugin_api import (
    TYPES_BY_CODE,
    Address,
    AllowanceCharge,
    FormatError,
    FormatHandler,
    Invoice,
    InvoiceType,
    Line,
    Party,
    Payment,
    PrecedingInvoice,
    References,
    Totals,
    check_lines,
    checkpoint,
)

#: Most decimals a net price (BT-146) may carry: the French CTC rule BR-FR-DEC allows 6.
MAX_PRICE_DECIMALS = 6
#: UNTDID 7161 code of a shipping charge ("freight service").
SHIPPING_REASON_CODE = "FC"
SHIPPING_REASON = "Frais de port"

DELIMITERS = (";", ",", "\t")
# Dropped from column names and coded values so that "Date de facture" = "date facture".
STOP_WORDS = frozenset({"de", "du", "des", "la", "le", "les", "l", "d", "a", "en", "par"})


class Invalid(ValueError):
    """A cell that cannot be read; the message (French) completes "<label> : "."""


@dataclass(frozen=True)
class NetPrice:
    """EN 16931 price terms of one line, from the price and discount the software gave."""

    net_price: Decimal  # BT-146
    gross_price: Decimal | None  # BT-148, given when there is a discount
    price_discount: Decimal | None  # BT-147, gross_price - net_price
    amount: Decimal  # BT-131, quantity x net_price rounded to the cent


def _round_fraction(value: Fraction, places: int) -> Decimal:
    """Round a non-negative exact value half up to ``places`` decimals."""
    return _to_places(value, places, lambda units: floor(units + Fraction(1, 2)))


def _to_places(value: Fraction, places: int, rounding: Callable[[Fraction], int]) -> Decimal:
    """Return ``value`` with ``places`` decimals, ``rounding`` (floor, ceil…) choosing how."""
    return Decimal(rounding(value * 10**places)).scaleb(-places)


def _trim(value: Decimal) -> Decimal:
    """Drop trailing zeros beyond the cents: 7.680000 → 7.68, 7.676800 → 7.6768."""
    exponent = value.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return value.quantize(Decimal(1).scaleb(-places))


def _representation(exact: Fraction, count: Fraction, target: Decimal) -> Decimal:
    """Return a price with at most 6 decimals such that count x price rounds to ``target``.

    The exact price when it has at most 6 decimals; else the exact price rounded *up* to
    the fewest decimals that work, so that the discount the net price implies never
    exceeds the one granted (the law caps it for public libraries). Only when no such
    rounding works (a printed amount from another rounding scheme), the price nearest
    to the exact one, preferably above it, among those that give the target.
    """
    candidates = [_to_places(exact, places, ceil) for places in range(2, MAX_PRICE_DECIMALS + 1)]
    if (exact * 10**MAX_PRICE_DECIMALS).denominator == 1:
        candidates.insert(0, _to_places(exact, MAX_PRICE_DECIMALS, floor))
    for candidate in candidates:
        if _round_fraction(count * Fraction(candidate), 2) == target:
            return _trim(candidate)
    if count:
        half_cent = Fraction(1, 200)
        low = (Fraction(target) - half_cent) / count
        high = (Fraction(target) + half_cent) / count
        for places in range(2, MAX_PRICE_DECIMALS + 1):
            scale = 10**places
            first, last = max(ceil(low * scale), 0), ceil(high * scale) - 1
            if first <= last:
                return Decimal(min(max(ceil(exact * scale), first), last)).scaleb(-places)
    raise Invalid(
        f"aucun prix net à {MAX_PRICE_DECIMALS} décimales ne donne un montant de {target} "
        f"pour une quantité de {count}"
    )


def net_price(
    price: Decimal,
    discount_percent: Decimal,
    vat_rate: Decimal,
    quantity: Decimal,
    *,
    tax_included: bool,
    printed_amount: Decimal | None = None,
) -> NetPrice:
    """Convert a unit price and a discount percentage to EN 16931 line price terms.

    ``price`` is the undiscounted unit price, tax-included (the book's public price) when
    ``tax_included``, else excluding VAT. The exact net price excluding VAT is
    ``price x (1 - discount / 100) / (1 + vat_rate / 100)``; the line amount is
    ``quantity x exact net price`` rounded half up to the cent, unless the software
    printed its own (``printed_amount``), which is then reproduced when it lies within a
    cent per unit, plus one cent, of the exact amount. The net price returned has the
    fewest decimals (2 to 6) for which ``quantity x net price`` rounds to that amount,
    so that EN 16931's rule BR-CO-10 gives back the printed figures; the gross price and
    price discount, when there is a discount, never show more discount than granted
    unless the printed amount itself does.

    Raises :class:`Invalid` when a printed amount is inconsistent with the price.
    """
    if not 0 <= discount_percent < 100:
        raise Invalid(f"remise de {discount_percent} % hors de [0, 100[")
    divisor = 1 + Fraction(vat_rate) / 100 if tax_included else Fraction(1)
    gross = Fraction(price) / divisor
    exact = gross * (100 - Fraction(discount_percent)) / 100
    count = abs(Fraction(quantity))
    if printed_amount is None:
        target = _round_fraction(count * exact, 2)
    else:
        if printed_amount and (printed_amount < 0) != (quantity < 0):
            raise Invalid("le montant n'a pas le même signe que la quantité")
        target = abs(printed_amount)
        if abs(Fraction(target) - count * exact) > (count + 1) / 100:
            expected = _round_fraction(count * exact, 2)
            raise Invalid(
                f"{printed_amount} est incohérent avec le prix, la remise et la TVA "
                f"(le calcul exact donne {expected})"
            )
    chosen = _representation(exact, count, target)
    gross_price = price_discount = None
    if discount_percent:
        # Rounded down, as the net price is rounded up, so that the implied discount stays
        # at most the one granted; when no net price at or above the exact one gave the
        # amount, the gross price is lowered by the millionths needed. A printed amount
        # that implies a larger discount is shown as it is.
        ceiling = gross
        if printed_amount is None:
            ceiling = min(gross, Fraction(chosen) / (1 - Fraction(discount_percent) / 100))
        rounded_gross = _trim(_to_places(ceiling, MAX_PRICE_DECIMALS, floor))
        # A printed amount rounded upwards can need a net price above the gross one:
        # the discount then cannot be shown as a price discount, only the net price.
        if rounded_gross >= chosen:
            gross_price, price_discount = rounded_gross, rounded_gross - chosen
    return NetPrice(chosen, gross_price, price_discount, -target if quantity < 0 else target)


# --- Reading cells ------------------------------------------------------------------------


def normalize_name(text: str) -> str:
    """Return a column name or coded value without case, accents, punctuation, stop words."""
    plain = unicodedata.normalize("NFKD", text.replace("%", " pct "))
    plain = "".join(char for char in plain if not unicodedata.combining(char)).lower()
    words = re.split(r"[^a-z0-9]+", plain)
    return "_".join(word for word in words if word and word not in STOP_WORDS)


_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
#: As many digits as the canonical JSON allows: beyond, amounts cannot be computed exactly.
_DIGITS = re.compile(r"[+-]?\d{1,15}(?:[.,]\d{1,10})?")
_SPACES = re.compile(r"[\s\u00a0\u202f]")


def parse_decimal(raw: str, *, suffix: str = "") -> Decimal:
    """Read ``8,90``, ``8.90``, ``1 234,50`` (spaces group thousands), ``-5``.

    A single comma or dot is always the decimal mark: ``1,234`` is 1.234, never 1234.
    ``suffix`` (``%`` or ``€``) may end the value.
    """
    text = _SPACES.sub("", raw)
    if suffix and text.endswith(suffix):
        text = text[: -len(suffix)]
    if not _NUMBER.fullmatch(text):
        raise Invalid(f"« {raw} » n'est pas un nombre (attendu par exemple 8,90 ou 8.90)")
    if not _DIGITS.fullmatch(text):
        raise Invalid(f"« {raw} » a trop de chiffres (15 avant la virgule et 10 après au plus)")
    return Decimal(text.replace(",", "."))


def _amount(raw: str) -> Decimal:
    return parse_decimal(raw, suffix="€")


def _percent(raw: str) -> Decimal:
    value = parse_decimal(raw, suffix="%")
    if not 0 <= value < 100:
        raise Invalid(f"« {raw} » n'est pas un pourcentage entre 0 et 100")
    return value


def _price(raw: str) -> Decimal:
    value = _amount(raw)
    if value < 0:
        raise Invalid(f"« {raw} » : un prix ne peut pas être négatif")
    return value


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_FRENCH_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})")
# Spreadsheets add a midnight time to dates.
_TIME = re.compile(r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")


def parse_date(raw: str) -> date:
    """Read ``21/11/2026`` (day first, as in France), ``21/11/26`` or ``2026-11-21``."""
    for pattern, order in ((_ISO_DATE, (1, 2, 3)), (_FRENCH_DATE, (3, 2, 1))):
        match = re.fullmatch(pattern.pattern + _TIME.pattern, raw.strip())
        if match:
            year, month, day = (int(match.group(index)) for index in order)
            try:
                return date(year + 2000 if year < 100 else year, month, day)
            except ValueError:
                break
    raise Invalid(f"« {raw} » n'est pas une date (attendu JJ/MM/AAAA ou AAAA-MM-JJ)")


def _text(raw: str) -> str:
    return raw


def _identifier(raw: str) -> str:
    """SIRET and the like: people type them with spaces or dots."""
    return re.sub(r"[\s.\u00a0\u202f]", "", raw)


def _item_id(raw: str) -> str:
    """Return an EAN (ISBN-13 for books); an ISBN-10 is converted to its ISBN-13."""
    value = re.sub(r"[\s-]", "", raw).upper()
    try:
        if len(value) == 10:
            return isbn.to_isbn13(isbn.validate(value))
        return ean.validate(value)
    except StdnumError as ex:
        raise Invalid(f"« {raw} » n'est pas un ISBN ou un EAN valide (clé de contrôle ?)") from ex


def _currency(raw: str) -> str:
    value = raw.strip().upper()
    if value == "€":
        return "EUR"
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise Invalid(f"« {raw} » n'est pas un code devise à trois lettres (EUR…)")
    return value


def _country(raw: str) -> str:
    value = raw.strip().upper()
    if normalize_name(value) == "france":
        return "FR"
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise Invalid(f"« {raw} » n'est pas un code pays à deux lettres (FR, BE…)")
    return value


def _coded(table: dict[str, Any], expected: str) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = table.get(normalize_name(raw))
        if value is None:
            raise Invalid(f"« {raw} » n'est pas reconnu (attendu : {expected})")
        return value

    return parse


_TYPES: dict[str, InvoiceType] = {
    **TYPES_BY_CODE,
    **dict.fromkeys(("facture", "f", "fa", "invoice"), InvoiceType.INVOICE),
    **dict.fromkeys(("avoir", "a", "av", "credit_note", "credit"), InvoiceType.CREDIT_NOTE),
    **dict.fromkeys(
        ("facture_rectificative", "rectificative", "corrected_invoice"),
        InvoiceType.CORRECTED_INVOICE,
    ),
}
# UNTDID 4461; public bodies pay by "mandat administratif", which is a credit transfer.
_MEANS: dict[str, str] = {
    **dict.fromkeys(("virement", "vir", "mandat_administratif", "credit_transfer"), "30"),
    **dict.fromkeys(("virement_sepa", "sepa_credit_transfer"), "58"),
    **dict.fromkeys(("cheque", "chq", "cheque_bancaire"), "20"),
    **dict.fromkeys(("prelevement", "direct_debit"), "49"),
    **dict.fromkeys(("especes", "cash"), "10"),
    **dict.fromkeys(("carte", "carte_bancaire", "cb", "card"), "48"),
}


def _means(raw: str) -> str:
    if re.fullmatch(r"\d{1,3}", raw.strip()):
        return raw.strip()
    return _coded(_MEANS, "virement, chèque, prélèvement… ou un code UNTDID 4461")(raw)


# --- The columns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One recognised column: its key, the canonical field it fills, how to read it.

    ``field`` is the canonical field path named in errors; ``{i}`` stands for the line's
    index in its invoice. Aliases are written normalised (see :func:`normalize_name`).
    Header columns must hold the same value on every row of an invoice; ``per_line``
    columns may differ from row to row.
    """

    key: str
    field: str
    label: str
    read: Callable[[str], Any]
    aliases: tuple[str, ...]
    per_line: bool = False


def _column(key: str, field: str, label: str, read: Callable[[str], Any], *aliases: str) -> Column:
    return Column(key, field, label, read, aliases)


def _line_column(
    key: str, field: str, label: str, read: Callable[[str], Any], *aliases: str
) -> Column:
    return Column(key, field, label, read, aliases, per_line=True)


# A table: one column per entry, its aliases packed after it.
# fmt: off
COLUMNS: tuple[Column, ...] = (
    # Invoice header, repeated on every row of the invoice.
    _column("number", "number", "numéro de facture", _text, "numero_facture", "n_facture",
            "no_facture", "num_facture", "facture", "numero", "invoice_number", "invoice_no",
            "number"),
    _column("type", "type", "type de document", _coded(_TYPES, "FACTURE ou AVOIR"), "type",
            "type_document", "type_piece", "nature_piece", "document_type", "invoice_type"),
    _column("issue_date", "issue_date", "date de facture", parse_date, "date_facture", "date",
            "date_emission", "issue_date", "invoice_date"),
    _column("due_date", "due_date", "date d'échéance", parse_date, "date_echeance", "echeance",
            "due_date"),
    _column("currency", "currency", "devise", _currency, "devise", "monnaie", "currency"),
    _column("seller_name", "seller.name", "nom du vendeur", _text, "vendeur", "nom_vendeur",
            "vendeur_nom", "fournisseur", "librairie", "raison_sociale_vendeur", "seller",
            "seller_name"),
    _column("seller_siret", "seller.siret", "SIRET du vendeur", _identifier, "siret_vendeur",
            "vendeur_siret", "siret_fournisseur", "siret_librairie", "seller_siret"),
    _column("seller_vat_id", "seller.vat_id", "n° de TVA du vendeur", _identifier,
            "tva_intracom_vendeur", "tva_intracommunautaire_vendeur", "numero_tva_vendeur",
            "vendeur_tva", "seller_vat_id"),
    _column("seller_address", "seller.address.line1", "adresse du vendeur", _text,
            "adresse_vendeur", "vendeur_adresse", "seller_address"),
    _column("seller_postcode", "seller.address.postcode", "code postal du vendeur", _text,
            "code_postal_vendeur", "cp_vendeur", "vendeur_code_postal", "seller_postcode"),
    _column("seller_city", "seller.address.city", "ville du vendeur", _text, "ville_vendeur",
            "vendeur_ville", "seller_city"),
    _column("seller_country", "seller.address.country", "pays du vendeur", _country,
            "pays_vendeur", "vendeur_pays", "seller_country"),
    _column("seller_email", "seller.email", "e-mail du vendeur", _text, "email_vendeur",
            "mail_vendeur", "vendeur_email", "seller_email"),
    _column("buyer_name", "buyer.name", "nom du client", _text, "client", "nom_client",
            "client_nom", "acheteur", "raison_sociale_client", "buyer", "buyer_name",
            "customer", "customer_name"),
    _column("buyer_siret", "buyer.siret", "SIRET du client", _identifier, "siret_client",
            "client_siret", "siret_acheteur", "buyer_siret", "customer_siret"),
    _column("buyer_vat_id", "buyer.vat_id", "n° de TVA du client", _identifier,
            "tva_intracom_client", "tva_intracommunautaire_client", "numero_tva_client",
            "client_tva", "buyer_vat_id"),
    _column("buyer_address", "buyer.address.line1", "adresse du client", _text,
            "adresse_client", "client_adresse", "buyer_address"),
    _column("buyer_address2", "buyer.address.line2", "complément d'adresse du client", _text,
            "adresse2_client", "complement_adresse_client", "client_adresse2",
            "buyer_address2"),
    _column("buyer_postcode", "buyer.address.postcode", "code postal du client", _text,
            "code_postal_client", "cp_client", "client_code_postal", "buyer_postcode"),
    _column("buyer_city", "buyer.address.city", "ville du client", _text, "ville_client",
            "client_ville", "buyer_city"),
    _column("buyer_country", "buyer.address.country", "pays du client", _country,
            "pays_client", "client_pays", "buyer_country"),
    _column("buyer_email", "buyer.email", "e-mail du client", _text, "email_client",
            "mail_client", "client_email", "buyer_email"),
    _column("service_code", "references.service_code", "code service", _text, "code_service",
            "service", "service_executant", "service_code", "buyer_reference"),
    _column("engagement", "references.engagement", "numéro d'engagement", _text, "engagement",
            "numero_engagement", "n_engagement", "engagement_juridique", "ej",
            "engagement_number"),
    _column("purchase_order", "references.purchase_order", "bon de commande", _text,
            "bon_commande", "numero_commande", "n_commande", "commande", "bc",
            "purchase_order", "order_number"),
    _column("contract", "references.contract", "numéro de marché", _text, "marche",
            "numero_marche", "n_marche", "contract", "contract_reference"),
    _column("preceding_number", "preceding_invoice.number", "facture d'origine", _text,
            "facture_origine", "facture_precedente", "numero_facture_origine",
            "preceding_invoice", "preceding_invoice_number", "original_invoice"),
    _column("preceding_date", "preceding_invoice.issue_date", "date de la facture d'origine",
            parse_date, "date_facture_origine", "date_facture_precedente",
            "preceding_invoice_date", "original_invoice_date"),
    _column("delivery_date", "delivery_date", "date de livraison", parse_date,
            "date_livraison", "delivery_date"),
    _column("means", "payment.means_code", "mode de paiement", _means, "mode_paiement",
            "moyen_paiement", "mode_reglement", "reglement", "payment_means"),
    _column("iban", "payment.iban", "IBAN", _identifier, "iban"),
    _column("bic", "payment.bic", "BIC", _identifier, "bic"),
    _column("terms", "payment.terms", "conditions de paiement", _text, "conditions_paiement",
            "conditions_reglement", "payment_terms"),
    _column("note", "notes", "note", _text, "note", "commentaire", "mention", "observations",
            "notes"),
    _column("shipping_incl_tax", "charges[0].amount", "frais de port TTC", _amount,
            "frais_port_ttc", "port_ttc", "shipping_incl_tax"),
    _column("shipping_excl_tax", "charges[0].amount", "frais de port HT", _amount,
            "frais_port_ht", "port_ht", "shipping_excl_tax"),
    _column("shipping_vat_rate", "charges[0].vat_rate", "taux de TVA du port", _percent,
            "taux_tva_port", "tva_port", "shipping_vat_rate"),
    _column("total_excl_tax", "totals.tax_exclusive", "total HT", _amount, "total_ht",
            "montant_total_ht", "total_excl_tax"),
    _column("total_vat", "totals.vat", "total TVA", _amount, "total_tva", "montant_total_tva",
            "total_vat"),
    _column("total_incl_tax", "totals.tax_inclusive", "total TTC", _amount, "total_ttc",
            "montant_total_ttc", "total_incl_tax"),
    # One invoice line per row.
    _line_column("item_id", "lines[{i}].item_id", "ISBN/EAN", _item_id, "isbn", "ean", "ean13",
            "gencod", "code_barre", "isbn_ean", "gtin"),
    _line_column("seller_item_id", "lines[{i}].seller_item_id", "référence article", _text,
            "reference_article", "ref_article", "code_article", "seller_item_id", "sku"),
    _line_column("name", "lines[{i}].name", "désignation", _text, "designation", "titre",
            "libelle", "title", "name", "item_name"),
    _line_column("description", "lines[{i}].description", "description", _text, "description",
            "auteur", "author"),
    _line_column("quantity", "lines[{i}].quantity", "quantité", parse_decimal, "quantite", "qte",
            "qt", "nombre_exemplaires", "exemplaires", "quantity", "qty"),
    _line_column("price_incl_tax", "lines[{i}].net_price", "prix public TTC", _price,
            "prix_public_ttc", "prix_public", "prix_ttc", "prix_unitaire_ttc", "pu_ttc",
            "ppttc", "public_price", "unit_price_incl_tax"),
    _line_column("price_excl_tax", "lines[{i}].net_price", "prix unitaire HT", _price,
            "prix_unitaire_ht", "prix_ht", "pu_ht", "unit_price_excl_tax"),
    _line_column("discount", "lines[{i}].price_discount", "remise %", _percent, "remise",
            "remise_pct", "remise_pourcentage", "taux_remise", "pourcentage_remise",
            "discount", "discount_percent", "discount_rate"),
    _line_column("vat_rate", "lines[{i}].vat_rate", "taux de TVA", _percent, "taux_tva",
            "tva_taux", "tva_pct", "taux_tva_pct", "vat_rate", "tax_rate"),
    _line_column("line_amount", "lines[{i}].line_amount", "montant HT de la ligne", _amount,
            "montant_ht", "montant_ligne_ht", "total_ligne_ht", "line_amount",
            "line_total_excl_tax"),
    _line_column("delivery_note", "delivery_notes", "bon de livraison", _text, "bon_livraison",
            "numero_bl", "n_bl", "bl", "delivery_note"),
    _line_column("line_note", "lines[{i}].note", "note de ligne", _text, "note_ligne",
            "line_note"),
)
# fmt: on

BY_ALIAS: dict[str, Column] = {alias: column for column in COLUMNS for alias in column.aliases}
BY_KEY: dict[str, Column] = {column.key: column for column in COLUMNS}
HEADER_COLUMNS = tuple(column for column in COLUMNS if not column.per_line)
REQUIRED = ("number", "issue_date", "seller_name", "buyer_name", "name", "quantity", "vat_rate")
PRICES = ("price_incl_tax", "price_excl_tax")

_PRICE_HINT = "« prix_public_ttc » (TTC, avant remise) ou « prix_unitaire_ht »"
#: Names too vague to read without guessing (HT or TTC? whose SIRET? a rate or an amount?).
AMBIGUOUS: dict[str, str] = {
    **dict.fromkeys(("prix", "prix_unitaire", "pu", "price", "unit_price"), _PRICE_HINT),
    **dict.fromkeys(
        ("frais_port", "port", "shipping"), "« frais_de_port_ttc » ou « frais_de_port_ht »"
    ),
    "siret": "« siret_client » ou « siret_vendeur »",
    **dict.fromkeys(("tva", "vat"), "« taux_tva » (taux en %) ou « total_tva » (montant)"),
    **dict.fromkeys(("montant", "total"), "« montant_ht » (ligne), « total_ht » ou « total_ttc »"),
}


# --- Decoding and splitting the file ------------------------------------------------------


def decode(data: bytes) -> str:
    """Return the text of a UTF-8 (with or without BOM) or Windows-1252 file.

    Windows-1252 is taken only when the bytes are not valid UTF-8, which text in
    Windows-1252 with any accent almost never is; a file whose BOM says UTF-8 must be
    UTF-8. Bytes that neither encoding defines are refused with their line.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FormatError(
            "Le fichier est en UTF-16 : enregistrez le CSV en UTF-8 ou en Windows-1252.", line=1
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as ex:
        if data.startswith(codecs.BOM_UTF8):
            raise _encoding_error(data, ex.start, "annoncé en UTF-8 (BOM)") from ex
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as ex:
            raise _encoding_error(data, ex.start, "ni en UTF-8 ni en Windows-1252") from ex
    if "\x00" in text:
        raise FormatError(
            "Caractère nul dans le fichier : ce n'est pas un CSV.",
            line=text.count("\n", 0, text.index("\x00")) + 1,
        )
    return text


def _encoding_error(data: bytes, position: int, what: str) -> FormatError:
    line = data.count(b"\n", 0, position) + 1
    return FormatError(
        f"Encodage illisible : l'octet 0x{data[position]:02X} de la ligne {line} n'est pas "
        f"valide dans un fichier {what}. Enregistrez le CSV en UTF-8 ou en Windows-1252.",
        line=line,
    )


def _header(first_line: str) -> tuple[str, list[str], int]:
    """Return the delimiter giving the most recognised column names, its cells and count."""
    best: tuple[str, list[str], int] = (DELIMITERS[0], [], 0)
    for delimiter in DELIMITERS:
        cells = next(csv.reader([first_line], delimiter=delimiter), [])
        names = [normalize_name(cell) for cell in cells]
        known = sum(1 for name in names if name in BY_ALIAS or name in AMBIGUOUS)
        if known > best[2]:
            best = (delimiter, cells, known)
    return best


def _first_line(text: str) -> str:
    return re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]


def _positions(cells: list[str]) -> dict[str, int]:
    """Map each recognised column key to its index; other columns are ignored."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = normalize_name(cell)
        if name in AMBIGUOUS:
            raise FormatError(
                f"Colonne « {cell.strip()} » ambiguë : nommez-la {AMBIGUOUS[name]}.", line=1
            )
        column = BY_ALIAS.get(name)
        if column is None:
            continue
        if column.key in positions:
            raise FormatError(
                f"Les colonnes « {cells[positions[column.key]].strip()} » et « {cell.strip()} » "
                f"désignent toutes deux : {column.label}.",
                line=1,
                field=column.field.format(i=0),
            )
        positions[column.key] = index
    for key in REQUIRED:
        if key not in positions:
            column = BY_KEY[key]
            raise FormatError(
                f"Colonne obligatoire absente : {column.label} "
                f"(par exemple « {column.aliases[0]} »).",
                line=1,
                field=column.field.format(i=0),
            )
    if not any(key in positions for key in PRICES):
        raise FormatError(
            f"Colonne de prix absente : ajoutez {_PRICE_HINT}.", line=1, field="lines[0].net_price"
        )
    return positions


@dataclass
class Row:
    """One data row: its first physical line in the file and its recognised cells."""

    line: int
    cells: dict[str, str]


def read_rows(text: str) -> list[Row]:
    """Split the decoded file into rows of recognised cells (stripped, "" when empty)."""
    delimiter, cells, known = _header(_first_line(text))
    if not known:
        raise FormatError(
            "En-tête non reconnu : la première ligne doit nommer les colonnes "
            "(voir la documentation du format CSV).",
            line=1,
        )
    positions = _positions(cells)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        next(reader)
        end = reader.line_num
        for record in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if any(cell.strip() for cell in record[len(cells) :]):
                raise FormatError(
                    f"La ligne {start} a {len(record)} colonnes et l'en-tête {len(cells)} : "
                    "un nombre à virgule décimale doit être entre guillemets dans un CSV "
                    "séparé par des virgules.",
                    line=start,
                )
            values = {
                key: record[index].strip() if index < len(record) else ""
                for key, index in positions.items()
            }
            rows.append(Row(start, values))
    except csv.Error as ex:
        raise FormatError(
            f"CSV illisible ligne {reader.line_num} : {ex}.", line=reader.line_num
        ) from ex
    if not rows:
        raise FormatError("Le fichier ne contient aucune ligne de facture.", line=1)
    return rows


# --- Building invoices ------------------------------------------------------------------------


def _read(row: Row, key: str, index: int | None = None) -> Any:
    """Return the cell read by its column, None when empty or absent."""
    column = BY_KEY[key]
    raw = row.cells.get(key, "")
    if not raw:
        return None
    try:
        return column.read(raw)
    except Invalid as ex:
        raise FormatError(
            f"Ligne {row.line}, {column.label} : {ex}.",
            line=row.line,
            field=column.field.format(i=index),
        ) from ex


def _required(row: Row, key: str, index: int | None = None) -> Any:
    value = _read(row, key, index)
    if value is None:
        column = BY_KEY[key]
        raise FormatError(
            f"Ligne {row.line} : {column.label} manquant(e).",
            line=row.line,
            field=column.field.format(i=index),
        )
    return value


def _header_values(row: Row) -> dict[str, Any]:
    return {column.key: _read(row, column.key) for column in HEADER_COLUMNS}


def _check_repeated(rows: list[Row], header: dict[str, Any]) -> None:
    """Every row of an invoice must repeat the same header (compared as values)."""
    first = rows[0]
    for row in rows[1:]:
        values = _header_values(row)
        for column in HEADER_COLUMNS:
            if values[column.key] != header[column.key]:
                here, there = row.cells.get(column.key, ""), first.cells.get(column.key, "")
                raise FormatError(
                    f"Facture {first.cells['number']} : {column.label} « {here} » ligne "
                    f"{row.line} mais « {there} » ligne {first.line} ; l'en-tête doit être "
                    "identique sur toutes les lignes d'une même facture.",
                    line=row.line,
                    field=column.field,
                )


def _line(row: Row, index: int) -> Line:
    name = _required(row, "name", index)
    quantity = _required(row, "quantity", index)
    vat_rate = _required(row, "vat_rate", index)
    incl, excl = _read(row, "price_incl_tax", index), _read(row, "price_excl_tax", index)
    if (incl is None) == (excl is None):
        raise FormatError(
            f"Ligne {row.line} : indiquez soit le prix public TTC, soit le prix unitaire HT "
            "(un seul des deux).",
            line=row.line,
            field=f"lines[{index}].net_price",
        )
    printed = _read(row, "line_amount", index)
    try:
        price = net_price(
            incl if incl is not None else excl,
            _read(row, "discount", index) or Decimal(0),
            vat_rate,
            quantity,
            tax_included=incl is not None,
            printed_amount=printed,
        )
    except Invalid as ex:
        raise FormatError(
            f"Ligne {row.line}, montant HT de la ligne : {ex}.",
            line=row.line,
            field=f"lines[{index}].{'line_amount' if printed is not None else 'net_price'}",
        ) from ex
    return Line(
        name=name,
        quantity=quantity,
        net_price=price.net_price,
        vat_rate=vat_rate,
        item_id=_read(row, "item_id", index),
        gross_price=price.gross_price,
        price_discount=price.price_discount,
        description=_read(row, "description", index),
        seller_item_id=_read(row, "seller_item_id", index),
        note=_read(row, "line_note", index),
        line_amount=price.amount if printed is not None else None,
    )


def _credit_note_sign(kind: InvoiceType, lines: list[Line], rows: list[Row]) -> int:
    """Return -1 when a credit note was exported with negative quantities, else 1.

    EN 16931 credit notes carry positive amounts, the document type saying they are
    credited; some software exports them negative instead. Mixed signs are an error.
    """
    if kind is not InvoiceType.CREDIT_NOTE or all(line.quantity >= 0 for line in lines):
        return 1
    for index, (line, row) in enumerate(zip(lines, rows, strict=True)):
        if line.quantity > 0:
            raise FormatError(
                f"Ligne {row.line} : cet avoir mêle quantités positives et négatives ; "
                "donnez-les toutes positives (ou toutes négatives).",
                line=row.line,
                field=f"lines[{index}].quantity",
            )
    return -1


def _excluding_vat(amount: Decimal, rate: Decimal) -> Decimal:
    """Return a tax-included amount without VAT, rounded half up to the cent, exactly."""
    exact = abs(Fraction(amount)) / (1 + Fraction(rate) / 100)
    rounded = _round_fraction(exact, 2)
    return -rounded if amount < 0 else rounded


def _shipping(header: dict[str, Any], lines: list[Line], row: Row) -> list[AllowanceCharge]:
    """Return the shipping charge, its VAT rate that of the books when not given."""
    incl, excl = header["shipping_incl_tax"], header["shipping_excl_tax"]
    if not incl and not excl:
        return []
    rate = header["shipping_vat_rate"]
    if rate is None:
        rates = {line.vat_rate for line in lines}
        if len(rates) > 1:
            raise FormatError(
                f"Ligne {row.line} : les articles ont plusieurs taux de TVA ; indiquez celui "
                "des frais de port (colonne « taux_tva_port »).",
                line=row.line,
                field="charges[0].vat_rate",
            )
        rate = rates.pop()
    if excl is None:
        excl = _excluding_vat(incl, rate)
    elif incl is not None and abs(excl * (1 + rate / 100) - incl) > Decimal("0.01"):
        raise FormatError(
            f"Ligne {row.line} : frais de port HT ({excl}) et TTC ({incl}) incohérents avec "
            f"une TVA à {rate} %.",
            line=row.line,
            field="charges[0].amount",
        )
    return [
        AllowanceCharge(
            amount=excl, vat_rate=rate, reason=SHIPPING_REASON, reason_code=SHIPPING_REASON_CODE
        )
    ]


def _printed_totals(header: dict[str, Any], sign: int) -> Totals | None:
    """Return the totals the software printed (None where not given), for the check."""
    printed = {
        name: header[key] * sign if header[key] is not None else None
        for name, key in (
            ("tax_exclusive", "total_excl_tax"),
            ("vat", "total_vat"),
            ("tax_inclusive", "total_incl_tax"),
        )
    }
    if all(value is None for value in printed.values()):
        return None
    return Totals(
        lines=None,
        allowances=None,
        charges=None,
        prepaid=None,
        rounding=None,
        payable=printed["tax_inclusive"],  # nothing is prepaid in a bookshop export
        **printed,
    )


def _party(header: dict[str, Any], prefix: str) -> Party:
    return Party(
        name=header[f"{prefix}_name"],
        siret=header[f"{prefix}_siret"],
        vat_id=header[f"{prefix}_vat_id"],
        email=header[f"{prefix}_email"],
        address=Address(
            line1=header[f"{prefix}_address"],
            line2=header.get(f"{prefix}_address2"),
            postcode=header[f"{prefix}_postcode"],
            city=header[f"{prefix}_city"],
            country=header[f"{prefix}_country"] or "FR",
        ),
    )


def build_invoice(rows: list[Row]) -> Invoice:
    """Return the invoice made of ``rows`` (all with the same invoice number)."""
    first = rows[0]
    header = _header_values(first)
    for key in ("issue_date", "seller_name", "buyer_name"):
        _required(first, key)
    _check_repeated(rows, header)
    lines = []
    for index, row in enumerate(rows):
        checkpoint()
        lines.append(_line(row, index))
    kind = header["type"] or InvoiceType.INVOICE
    sign = _credit_note_sign(kind, lines, rows)
    if sign < 0:
        for line in lines:
            line.quantity = -line.quantity
            line.line_amount = -line.line_amount if line.line_amount is not None else None
        for key in ("shipping_incl_tax", "shipping_excl_tax"):
            header[key] = -header[key] if header[key] is not None else None
    preceding = None
    if header["preceding_number"]:
        preceding = PrecedingInvoice(header["preceding_number"], header["preceding_date"])
    elif header["preceding_date"]:
        raise FormatError(
            f"Ligne {first.line} : date de la facture d'origine sans son numéro.",
            line=first.line,
            field="preceding_invoice.number",
        )
    payment = None
    if any(header[key] for key in ("means", "iban", "bic", "terms")):
        payment = Payment(
            means_code=header["means"],
            iban=header["iban"],
            bic=header["bic"],
            terms=header["terms"],
        )
    delivery_notes = [_read(row, "delivery_note") for row in rows]
    return Invoice(
        number=header["number"],
        issue_date=header["issue_date"],
        seller=_party(header, "seller"),
        buyer=_party(header, "buyer"),
        lines=lines,
        type=kind,
        currency=header["currency"] or "EUR",
        due_date=header["due_date"],
        references=References(
            service_code=header["service_code"],
            engagement=header["engagement"],
            purchase_order=header["purchase_order"],
            contract=header["contract"],
        ),
        preceding_invoice=preceding,
        delivery_notes=list(dict.fromkeys(note for note in delivery_notes if note)),
        delivery_date=header["delivery_date"],
        charges=_shipping(header, lines, first),
        payment=payment,
        notes=[header["note"]] if header["note"] else [],
        totals=_printed_totals(header, sign),
    )


class CsvFormat(FormatHandler):
    name = "csv"
    media_types = ("text/csv", "application/csv")
    extensions = (".csv",)
    description = "CSV exported by bookshop management software (one row per invoice line)"

    def sniff(self, data: bytes) -> bool:
        first_line = re.split(rb"\r\n|\r|\n", data[:4096], maxsplit=1)[0]
        try:
            text = first_line.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = first_line.decode("cp1252", errors="replace")
        try:
            _, cells, known = _header(text)
        except csv.Error:
            return False
        names = {normalize_name(cell) for cell in cells}
        return known >= 3 and any(BY_ALIAS.get(name) is BY_KEY["number"] for name in names)

    def parse(self, data: bytes) -> list[Invoice]:
        groups: dict[str, list[Row]] = {}
        for row in read_rows(decode(data)):
            number = _required(row, "number")
            groups.setdefault(number, []).append(row)
        several = len(groups) > 1
        for index, (number, rows) in enumerate(groups.items()):
            # Counted before any line is read: a file of too many is refused at once.
            check_lines(len(rows), number, f"invoices[{index}].lines" if several else "lines")
        return [build_invoice(rows) for rows in groups.values()]

"""The canonical invoice <-> EN 16931 business terms, shared by the XML formats and renderers.

The ``factur-x`` package reads and writes UBL 2.1 and CII D16B from dictionaries keyed by
EN 16931 business terms (``BT-1``, ``BG-25``…). This module maps the canonical
:class:`gateway.model.Invoice` to and from those dictionaries, so that the XML itself is
left to the library. See ``docs/formats/mapping.md`` for the table of terms.

The mapping profiles (``gateway.renderers.PROFILES``) differ only in what Chorus Pro and
the French 2026 rules (BR-FR) read differently: identifiers, BT-23, BT-8 and legal notes;
``fr-2026-extended`` is ``fr-2026`` written at level EXTENDED-CTC-FR (BT-24).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import logging
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from facturx import generate_xml, parse_ubl_cii_xml
from facturx.generate_xml import (
    CREDIT_NOTE_TYPE_CODES,
    EN16931_FIELDS,
    EN16931_PARTY_FIELDS,
    LEVEL2BT_24,
)
from lxml import etree

from gateway.plugin_api import (
    PROFILES,
    TYPES_BY_CODE,
    ZERO,
    Address,
    AllowanceCharge,
    Finding,
    FormatError,
    FormatHandler,
    Invoice,
    InvoiceType,
    Line,
    LineAdjustment,
    Mentions,
    Party,
    Payment,
    PrecedingInvoice,
    References,
    Totals,
    VatBreakdown,
    check_lines,
    checkpoint,
    default_vat_category,
    looks_like_xml,
    parse_xml,
    root_tag,
    round_amount,
)
from plugins.en16931.fields import RULES
from plugins.en16931.identifiers import (
    PARTY_ID_TERMS,
    SCHEME_FR_ADDRESS,
    SCHEME_SIREN,
    SCHEME_SIRET,
    declared_siret,
    party_siret,
)
from plugins.en16931.presence import missing_terms

# The library logs a warning for every optional term it drops at a level; they are expected.
logging.getLogger("factur-x").setLevel(logging.ERROR)

CHORUS = "chorus"
FR_2026 = "fr-2026"
FR_2026_EXTENDED = "fr-2026-extended"
#: The profiles of the French 2026 rules, and the factur-x level each writes (BT-24).
FRENCH_LEVELS = {FR_2026: "en16931", FR_2026_EXTENDED: "extended-ctc-fr"}

#: Identifier schemes (ISO 6523 ICD / EAS codes).
SCHEME_GTIN = "0160"
SCHEME_EMAIL = "EM"
#: UNTDID 1153 qualifier of BT-18 used for the buyer's order number (see mapping.md).
PURCHASE_ORDER_QUALIFIER = "ON"
#: BT-123 code marking a delivery note beyond the first one (BG-24), from the BR-FR-17 list.
DELIVERY_NOTE_LABEL = "BON_LIVRAISON"
#: UNTDID 4461 codes of direct debits: the account they name is the buyer's (BT-91), so
#: the seller's account (BT-84…BT-86) is not written for them.
DIRECT_DEBIT_CODES = frozenset({"49", "59"})
#: UNCL 5305 "not subject to VAT": such lines, allowances and VAT rows carry no rate.
NOT_SUBJECT_TO_VAT = "O"
#: VAT categories whose breakdown row must not carry an exemption reason (BR-S-10, BR-Z-10,
#: BR-AF-10, BR-AG-10; split payment is taxed too).
CATEGORIES_WITHOUT_REASON = frozenset({"S", "Z", "L", "M", "B"})

#: BT-23 in the ``chorus`` profile: Chorus Pro's framework A1 (a supplier's invoice).
CHORUS_PROCESS = "A1"
#: BT-23 in the French profiles, the billing framework ("cadre de facturation"): a letter
#: for what is sold (B goods, S services, M mixed), a digit for the case (1 an invoice to
#: pay, 2 one already paid: BR-FR-08, BR-FR-CO-09).
SUPPLY_LETTERS = {"goods": "B", "services": "S", "mixed": "M"}
#: The codes BR-FR-08 accepts; an invoice may give one (``other_terms["BT-23"]``).
FRAMEWORK_CODES = frozenset("B1 S1 M1 B2 S2 M2 S3 B4 S4 M4 S5 S6 B7 S7 B8 S8 M8 B9 S9 M9".split())
#: Units of measure (UN/ECE rec. 20) that bill time or a service, not goods: hours, days,
#: weeks, months, years, minutes, "service unit".
SERVICE_UNITS = frozenset({"HUR", "DAY", "WEE", "MON", "ANN", "MIN", "E48"})
#: BT-8 when the seller pays VAT on debits: tax point at the invoice's date (UNTDID 2005
#: code 3 in UBL, 2475 code 5 in CII, both written by factur-x from this key).
VAT_ON_DEBITS_CODE = "invoice"

#: The default BR-FR-05 notes (``Mentions``): read back from a document, they are the
#: gateway's own writing, not kept as the document's terms.
LEGAL_NOTES: dict[str, str] = Mentions().coded_notes

FLAVOR_CII = "factur-x"
FLAVOR_UBL_INVOICE = "ubl-2.1-invoice"
FLAVOR_UBL_CREDIT_NOTE = "ubl-2.1-creditnote"

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM_NS = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
UBL_CAC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
ROOT_FLAVORS = {
    f"{{{CII_NS}}}CrossIndustryInvoice": FLAVOR_CII,
    f"{{{UBL_INVOICE_NS}}}Invoice": FLAVOR_UBL_INVOICE,
    f"{{{UBL_CREDIT_NOTE_NS}}}CreditNote": FLAVOR_UBL_CREDIT_NOTE,
}


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown mapping profile {profile!r} (expected one of {PROFILES})")


def siren_of(siret: str | None) -> str | None:
    return siret[:9] if siret and len(siret) == 14 and siret.isdigit() else None


# --- Canonical invoice -> EN 16931 dictionary ------------------------------------------


def _num(value: Decimal) -> str:
    """Write a decimal without exponent, with its own decimals (``-0`` written ``0``)."""
    return format(abs(value) if value.is_zero() else value, "f")


def _amount(value: Decimal) -> str:
    return _num(round_amount(value))


def _party(party: Party, profile: str, kept: dict[str, Any]) -> dict[str, Any]:
    """Return the party's terms; ``kept`` are its ``other_terms`` (a given ``0225`` address
    naming the SIREN, with a SIRET or routing code, says more than the SIREN alone)."""
    result: dict[str, Any] = {"name": party.name}
    siren = siren_of(party.siret)
    if party.siret:
        result["identifiers"] = {SCHEME_SIRET: party.siret}
        if profile in FRENCH_LEVELS and siren:
            result["legal_identifier"] = siren
            result["legal_identifier_schemeid"] = SCHEME_SIREN
        else:
            result["legal_identifier"] = party.siret
            result["legal_identifier_schemeid"] = SCHEME_SIRET
    if profile in FRENCH_LEVELS and siren:
        given = _text(kept.get("einvoicing_addr"))
        same_siren = kept.get("einvoicing_addr_schemeid") == SCHEME_FR_ADDRESS and given
        result["einvoicing_addr"] = given if same_siren and given.split("_")[0] == siren else siren
        result["einvoicing_addr_schemeid"] = SCHEME_FR_ADDRESS
    if party.vat_id:
        result["vat_identifier"] = party.vat_id
    if party.trading_name:
        result["biz_name"] = party.trading_name
    if party.email:
        result["contacts"] = [{"email": party.email}]
    address = party.address
    for key, value in (
        ("addr_l1", address.line1),
        ("addr_l2", address.line2),
        ("addr_l3", address.line3),
        ("postcode", address.postcode),
        ("city", address.city),
        ("country_subdivision", address.country_subdivision),
        ("country_code", address.country),
    ):
        if value:
            result[key] = value
    return result


def _allowance_charge(item: AllowanceCharge) -> dict[str, Any]:
    result: dict[str, Any] = {"amount": _amount(item.amount), "vat_category_code": item.category}
    if "rate" in (rate := _rate(item.category, item.vat_rate)):
        result["vat_rate"] = rate["rate"]
    for key, value in (("base_amount", item.base_amount), ("rate", item.percent)):
        if value is not None:
            result[key] = _amount(value) if key == "base_amount" else _num(value)
    if item.reason:
        result["reason"] = item.reason
    if item.reason_code:
        result["reason_code"] = item.reason_code
    return result


def _line_adjustment(item: LineAdjustment) -> dict[str, Any]:
    result: dict[str, Any] = {"amount": _amount(item.amount)}
    optional = {
        "base_amount": item.base_amount is not None and _amount(item.base_amount),
        "rate": item.percent is not None and _num(item.percent),
        "reason": item.reason,
        "reason_code": item.reason_code,
    }
    result.update({key: value for key, value in optional.items() if value})
    return result


def _rate(category: str, rate: Decimal) -> dict[str, str]:
    """Return the rate term's value, absent for "not subject to VAT" (BR-O-05, BR-O-09…)."""
    return {} if category == NOT_SUBJECT_TO_VAT else {"rate": _num(rate)}


def _line(line: Line) -> dict[str, Any]:
    checkpoint()
    result: dict[str, Any] = {
        "BT-126": line.id,
        "BT-129": _num(line.quantity),
        "BT-130": line.unit_code,
        "BT-131": _amount(line.line_amount if line.line_amount is not None else ZERO),
        "BT-146": _num(line.net_price),
        "BT-151": line.category,
        "BT-153": line.name,
    }
    if "rate" in (rate := _rate(line.category, line.vat_rate)):
        result["BT-152"] = rate["rate"]
    gross = line.gross_price
    if gross is None and line.price_discount is not None:
        gross = line.net_price + line.price_discount
    optional = {
        "BT-149": line.base_quantity is not None and _num(line.base_quantity),
        # A price discount implies the gross price, which CII cannot leave out.
        "BT-148": gross is not None and _num(gross),
        "BT-154": line.description,
        "BT-155": line.seller_item_id,
    }
    result.update({key: value for key, value in optional.items() if value})
    if line.price_discount is not None:
        result["BT-147-00"] = [{"BT-147": _num(line.price_discount)}]
    if line.note:
        result["BT-127-00"] = [{"BT-127": line.note}]
    if line.item_id:
        result["BT-157"] = line.item_id
        result["BT-157-1"] = SCHEME_GTIN
    # EN 16931 has one object identifier per line (BT-128); EXTENDED documents may have more.
    kept = dict(line.other_terms)
    if isinstance(kept.get("BT-128"), dict):
        kept["BT-128"] = dict(list(kept["BT-128"].items())[:1])
    if line.allowances:
        result["BG-27"] = [_line_adjustment(item) for item in line.allowances]
    if line.charges:
        result["BG-28"] = [_line_adjustment(item) for item in line.charges]
    return merge_terms(result, kept)


def to_en16931_dict(
    invoice: Invoice, profile: str, mentions: Mentions | None = None
) -> dict[str, Any]:
    """Return the EN 16931 dictionary of ``invoice`` for ``profile`` (amounts: see
    :func:`_figures`), with the member's ``mentions`` in the French profiles."""
    check_profile(profile)
    mentions = mentions or Mentions()
    inv, vat_rows = _figures(invoice)
    totals = inv.totals or inv.computed_totals()
    refs = inv.references
    french = profile in FRENCH_LEVELS
    data: dict[str, Any] = {
        "BT-1": inv.number,
        "BT-2": inv.issue_date,
        "BT-3": inv.type_code,
        "BT-5": inv.currency,
        "BT-23": billing_framework(inv, totals, mentions) if french else CHORUS_PROCESS,
        "BT-24": LEVEL2BT_24[FRENCH_LEVELS.get(profile, "en16931")],
        "BG-4": _party(inv.seller, profile, inv.other_terms.get("BG-4") or {}),
        "BG-7": _party(inv.buyer, profile, inv.other_terms.get("BG-7") or {}),
        "BG-23": vat_rows,
        "BG-25": [_line(line) for line in inv.lines],
        # Every total is written, zeros included: a total absent from a document reads
        # back as "not given" (None).
        "BT-106": _amount(totals.lines),
        "BT-107": _amount(totals.allowances),
        "BT-108": _amount(totals.charges),
        "BT-109": _amount(totals.tax_exclusive),
        "BT-110": _amount(totals.vat),
        "BT-112": _amount(totals.tax_inclusive),
        "BT-113": _amount(totals.prepaid),
        "BT-114": _amount(totals.rounding),
        "BT-115": _amount(totals.payable),
    }
    optional: dict[str, Any] = {
        "BT-9": inv.due_date,
        "BT-10": refs.service_code,
        "BT-12": refs.contract,
        "BT-13": refs.engagement,
        "BT-19": refs.buyer_accounting_reference,
        "BT-72": inv.delivery_date,
    }
    data.update({key: value for key, value in optional.items() if value})
    if refs.purchase_order:
        data["BT-18"] = {PURCHASE_ORDER_QUALIFIER: refs.purchase_order}
    if inv.delivery_notes:
        data["BT-16"] = inv.delivery_notes[0]
        data["BG-24"] = [
            {"BT-122": number, "BT-123": DELIVERY_NOTE_LABEL} for number in inv.delivery_notes[1:]
        ]
    if inv.preceding_invoice:
        previous = {"BT-25": inv.preceding_invoice.number}
        if inv.preceding_invoice.issue_date:
            previous["BT-26"] = inv.preceding_invoice.issue_date
        data["BG-3"] = [previous]
    if inv.allowances:
        data["BG-20"] = [_allowance_charge(item) for item in inv.allowances]
    if inv.charges:
        data["BG-21"] = [_allowance_charge(item) for item in inv.charges]
    if inv.payment:
        _payment(inv.payment, data)
    notes = [{"BT-22": note} for note in inv.notes]
    if french:
        kept = {_text(note.get("BT-21")) for note in inv.other_terms.get("BG-1") or []}
        notes += [
            {"BT-21": code, "BT-22": text}
            for code, text in mentions.coded_notes.items()
            if code not in kept
        ]
        # EXTENDED-CTC-FR's CII rules want terms for any amount due, credit notes included
        # (BR-CO-25); EN 16931's leave a credit note alone, so does the gateway there.
        if (
            profile == FR_2026_EXTENDED
            and inv.type is InvoiceType.CREDIT_NOTE
            and totals.payable > ZERO
            and not (data.get("BT-9") or data.get("BT-20"))
        ):
            data["BT-20"] = mentions.credit_note_terms
        # BT-7 and BT-8 exclude each other (BR-CO-03): a document's own tax point stands.
        if mentions.vat_on_debits and not {"BT-7", "BT-8"} & inv.other_terms.keys():
            data["BT-8"] = VAT_ON_DEBITS_CODE
    if notes:
        data["BG-1"] = notes
    kept = {key: value for key, value in inv.other_terms.items() if key != "BG-23"}
    data = from_json_terms(merge_terms(data, kept))
    # The buyer has one identifier (BT-46 is 0..1); EXTENDED documents may give more.
    identifiers = data["BG-7"].get("identifiers") or {}
    if len(identifiers) > 1:
        scheme = SCHEME_SIRET if SCHEME_SIRET in identifiers else next(iter(identifiers))
        data["BG-7"]["identifiers"] = {scheme: identifiers[scheme]}
    return data


def supply(invoice: Invoice, mentions: Mentions) -> str:
    """Return what the invoice sells: ``goods``, ``services`` or ``mixed``.

    The member's setting (``Mentions.supply``) when it has one; else read from the lines: a
    line billed in a unit of time or service (:data:`SERVICE_UNITS`) is a service, any
    other a good (books are goods).
    """
    if mentions.supply:
        return mentions.supply
    kinds = {"services" if line.unit_code in SERVICE_UNITS else "goods" for line in invoice.lines}
    if len(kinds) > 1:
        return "mixed"
    return kinds.pop() if kinds else "goods"  # no lines (Factur-X MINIMUM): a bookshop's


def billing_framework(invoice: Invoice, totals: Totals, mentions: Mentions) -> str:
    """Return BT-23 in the French profiles: a code the invoice gives (kept BT-23), else
    B1/S1/M1, or B2/S2/M2 for an invoice already paid in full (BR-FR-CO-09: nothing left
    to pay, paid amount equal to the total, and a due date: the date of payment)."""
    given = _text(invoice.other_terms.get("BT-23"))
    if given in FRAMEWORK_CODES:
        return given
    paid = (
        totals.payable.is_zero()
        and totals.prepaid == totals.tax_inclusive
        and totals.prepaid > ZERO
        and invoice.due_date is not None
    )
    return f"{SUPPLY_LETTERS[supply(invoice, mentions)]}{2 if paid else 1}"


def _figures(invoice: Invoice) -> tuple[Invoice, list[dict[str, Any]]]:
    """Return the invoice with the amounts to write, and its VAT breakdown rows.

    A document's own figures stand when it gives them all and they add up the way EN 16931
    sums them (BR-CO-10 to BR-CO-16): rewriting a seller's amounts would change its invoice,
    and EN 16931 lets them differ from an exact computation (a line amount is not bound to
    quantity x price, a VAT amount may be rounded otherwise, BR-CO-17). Otherwise every
    amount written is the gateway's computation (the core reports the differences).
    """
    computed = invoice.with_computed_amounts()
    computed_rows = [_vat_row(row, invoice.other_terms) for row in computed.vat_breakdown]
    given_rows = [row for row in invoice.other_terms.get("BG-23") or [] if "BT-117" in row]
    if not all(row.get("BT-116") and row.get("BT-118") for row in given_rows):
        given_rows = []  # a row without its base or category (BR-45, BR-47) cannot be written
    totals = _given_totals(invoice, computed, given_rows or computed_rows)
    if totals is None:
        return computed, computed_rows
    lines = [
        dataclasses.replace(line, line_amount=original.line_amount)
        for line, original in zip(computed.lines, invoice.lines, strict=True)
    ]
    return dataclasses.replace(computed, lines=lines, totals=totals), given_rows or computed_rows


def written_figures(invoice: Invoice) -> Invoice:
    """Return ``invoice`` with the amounts every rendering writes (XML and the PDF alike):
    the document's own when they add up, else the gateway's computation."""
    inv, rows = _figures(invoice)
    breakdown = [
        VatBreakdown(
            category=row["BT-118"],
            rate=Decimal(row.get("BT-119", "0")),
            taxable_amount=Decimal(row["BT-116"]),
            tax_amount=Decimal(row["BT-117"]),
            exemption_reason=row.get("BT-120"),
            exemption_reason_code=row.get("BT-121"),
        )
        for row in rows
    ]
    return dataclasses.replace(inv, vat_breakdown=breakdown)


def _given_totals(
    invoice: Invoice, computed: Invoice, vat_rows: list[dict[str, Any]]
) -> Totals | None:
    """Return the document's totals (completed where it omits one) when they add up."""
    if invoice.totals is None or not invoice.lines:
        return None
    if any(line.line_amount is None for line in invoice.lines):
        return None
    given = invoice.totals
    totals = Totals(
        **{
            name: getattr(given, name) if getattr(given, name) is not None else value
            for name, value in dataclasses.asdict(computed.totals).items()
        }
    )
    try:
        vat = sum((Decimal(row["BT-117"]) for row in vat_rows), ZERO)
    except (InvalidOperation, TypeError):
        return None
    adds_up = (
        sum((line.line_amount for line in invoice.lines), ZERO) == totals.lines
        and totals.allowances == computed.totals.allowances
        and totals.charges == computed.totals.charges
        and totals.tax_exclusive == totals.lines - totals.allowances + totals.charges
        and totals.vat == vat
        and totals.tax_inclusive == totals.tax_exclusive + totals.vat
        and totals.payable == totals.tax_inclusive - totals.prepaid + totals.rounding
    )
    return totals if adds_up else None


def _vat_row(row: VatBreakdown, other_terms: dict[str, Any]) -> dict[str, Any]:
    """Return one computed BG-23 row; an exemption reason the document gave for its
    category replaces the invoice's (it may exempt under several reasons)."""
    result = {
        "BT-116": _amount(row.taxable_amount),
        "BT-117": _amount(row.tax_amount),
        "BT-118": row.category,
    }
    if "rate" in (rate := _rate(row.category, row.rate)):
        result["BT-119"] = rate["rate"]
    reasons = {"BT-120": row.exemption_reason, "BT-121": row.exemption_reason_code}
    if row.category in CATEGORIES_WITHOUT_REASON:
        reasons = {}
    for kept in other_terms.get("BG-23") or []:
        if kept.get("BT-118") == row.category:
            reasons = {key: kept.get(key) for key in ("BT-120", "BT-121")}
    result.update({key: value for key, value in reasons.items() if value})
    return result


def _payment(payment: Payment, data: dict[str, Any]) -> None:
    fields = {
        "BT-20": payment.terms,
        "BT-81": payment.means_code,
        "BT-83": payment.remittance_information,
    }
    if payment.means_code not in DIRECT_DEBIT_CODES:
        fields.update({"BT-84": payment.iban, "BT-85": payment.account_name, "BT-86": payment.bic})
    data.update({key: value for key, value in fields.items() if value})


def render_xml(
    invoice: Invoice, *, syntax: str, profile: str, mentions: Mentions | None = None
) -> bytes:
    """Return the UBL 2.1 (``syntax="ubl"``) or CII D16B (``"cii"``) document of ``invoice``.

    The XML is written by ``facturx.generate_xml`` at level EN 16931 (EXTENDED-CTC-FR for
    ``fr-2026-extended``); its XSD and schematron checks are off here (the validation
    engine runs them, locally).
    """
    flavor = {"ubl": "ubl-2.1", "cii": FLAVOR_CII}[syntax]
    data = to_en16931_dict(invoice, profile, mentions)
    if syntax == "cii":
        _cii_quirks(data)
    level = FRENCH_LEVELS.get(profile, "en16931")
    xml = generate_xml(data, flavor=flavor, level=level, check_xsd=False, check_schematron=False)
    return _tidy(xml)


#: UBL's scheme for a bank-assigned creditor identifier (BT-90) among party identifiers.
SCHEME_SEPA = "SEPA"


def _cii_quirks(data: dict[str, Any]) -> None:
    """Adapt terms read from UBL to what CII holds (and what factur-x needs to write it).

    UBL carries BT-90 as a seller or payee identifier with scheme ``SEPA``; CII has its own
    element for it (``ram:CreditorReferenceID``), and refuses that scheme on a party. The
    library writes a party's name unconditionally: a deliver-to party without a name
    (BT-70 is optional) gets an empty one, removed by :func:`_tidy`.
    """
    for group in ("BG-4", "BG-10"):
        identifiers = (data.get(group) or {}).get("identifiers") or {}
        if SCHEME_SEPA in identifiers:
            data.setdefault("BT-90", identifiers.pop(SCHEME_SEPA))
    if data.get("BG-13") and not data["BG-13"].get("name"):
        data["BG-13"]["name"] = ""
    # CII has no second tax total in the same currency: BT-6 equal to BT-5 says nothing.
    if data.get("BT-6") == data.get("BT-5"):
        data.pop("BT-6", None)
        data.pop("BT-111", None)


def _tidy(xml: bytes) -> bytes:
    """Remove what factur-x 7.8 writes and the schemas refuse.

    The ``xsi:nil`` it puts on an empty ``ApplicableHeaderTradeDelivery`` (no delivery
    data; not nillable in the XSD), and the empty name of a deliver-to party without one.
    """
    if b"xsi:nil" not in xml and b"<ram:Name/>" not in xml:
        return xml
    root = etree.fromstring(xml)  # our own output: trusted
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    for element in root.iter():
        element.attrib.pop(nil, None)
    for name in root.iter(f"{{{RAM_NS}}}Name"):
        if not name.text and len(name) == 0:
            name.getparent().remove(name)
    etree.cleanup_namespaces(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --- Business terms the model does not interpret ----------------------------------------

#: Lists whose kept entries follow the model's own instead of completing them one by one.
APPENDED_LISTS = frozenset({"BG-1", "BG-3", "BG-24"})
#: JSON has no null key: a scheme-less identifier (``{None: "123"}``) is kept under this one.
NO_SCHEME = "null"


def merge_terms(data: dict[str, Any], other_terms: dict[str, Any]) -> dict[str, Any]:
    """Complete ``data`` (the model's own terms) with kept ``other_terms``, in place.

    The model's values stand; a kept dictionary completes the model's key by key; kept
    notes, preceding invoices and documents follow the model's; other kept lists complete
    the model's entry by entry (a party's contacts).
    """
    for key, kept in other_terms.items():
        mine = data.get(key)
        if mine in (None, "", [], {}):
            data[key] = copy.deepcopy(kept)
        elif isinstance(mine, dict) and isinstance(kept, dict):
            merge_terms(mine, kept)
        elif isinstance(mine, list) and isinstance(kept, list):
            if key in APPENDED_LISTS:
                mine.extend(copy.deepcopy(kept))
                continue
            for index, entry in enumerate(kept):
                if index >= len(mine):
                    mine.append(copy.deepcopy(entry))
                elif isinstance(mine[index], dict) and isinstance(entry, dict):
                    merge_terms(mine[index], entry)
    return data


def json_safe(value: Any) -> Any:
    """Return ``value`` (read by factur-x) as JSON can hold it: dates in ISO form, binary
    objects in base64, a missing scheme as ``"null"``."""
    if isinstance(value, dict):
        return {NO_SCHEME if key is None else key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _from_json(value: Any, props: dict[str, Any]) -> Any:
    """Undo :func:`json_safe` for one term, guided by factur-x's field table."""
    kind = props.get("format")
    if isinstance(value, str) and kind == "date":
        return date.fromisoformat(value)
    if isinstance(value, str) and kind == "bytes":
        return base64.b64decode(value)
    fields = props.get("fields") or {}
    if isinstance(value, list):
        return [_from_json(item, props) for item in value]
    if isinstance(value, dict):
        return {
            None if key == NO_SCHEME else key: _from_json(item, fields.get(key, {}))
            for key, item in value.items()
        }
    return value


def from_json_terms(data: dict[str, Any]) -> dict[str, Any]:
    return _from_json(data, {"fields": EN16931_FIELDS})


# --- EN 16931 document -> canonical invoice --------------------------------------------


def flavor_of(root: etree._Element) -> str | None:
    return ROOT_FLAVORS.get(root.tag)


class _Locator:
    """Build the XPath and canonical field named in errors, from the library's field table."""

    def __init__(self, flavor: str):
        self.flavor = flavor

    def _path(self, props: dict[str, Any]) -> str:
        if self.flavor == FLAVOR_CII:
            path = props.get("cii_xpath")
        else:
            path = (
                self.flavor == FLAVOR_UBL_CREDIT_NOTE and props.get("ubl_creditnote_xpath")
            ) or props.get("ubl_xpath")
        if isinstance(path, list):
            path = path[0]
        path = path or ""
        if self.flavor == FLAVOR_UBL_CREDIT_NOTE and path.startswith("/Invoice/"):
            path = "/CreditNote/" + path[len("/Invoice/") :]
        return path

    def top(self, term: str) -> str:
        return self._path(EN16931_FIELDS[term])

    def party(self, group: str, key: str) -> str:
        return f"{self.top(group)}/{self._path(EN16931_PARTY_FIELDS[key])}"

    def line(self, position: int, term: str) -> str:
        props = EN16931_FIELDS["BG-25"]["fields"][term]
        return f"{self.top('BG-25')}[{position + 1}]/{self._path(props)}"

    def sub(self, group: str, position: int, key: str) -> str:
        props = EN16931_FIELDS[group]["fields"][key]
        return f"{self.top(group)}[{position + 1}]/{self._path(props)}"


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _text(value: Any) -> str | None:
    value = _first(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


#: xsd:decimal (no exponent, no underscore), at most 15 digits before the point like the
#: canonical JSON: beyond, no amount of an invoice can be computed exactly.
XSD_DECIMAL = re.compile(r"[+-]?0*(\d{1,15}(\.\d*)?|\.\d+)")


def _decimal(value: Any, *, xpath: str, field: str, label: str) -> Decimal | None:
    text = _text(value)
    if text is None:
        return None
    if not XSD_DECIMAL.fullmatch(text):
        raise FormatError(
            f"{label} n'est pas un nombre valide : « {text} ».", xpath=xpath, field=field
        )
    return Decimal(text)


def _required(value: Any, *, xpath: str, field: str, rule: str) -> Any:
    """Return ``value``; when absent, refuse the document with the EN 16931 rule requiring
    it (the same finding the validation would give, whichever stage finds it first)."""
    if value is None:
        message = RULES[rule][1]
        finding = Finding(
            code=f"en16931.{rule}", message=message, field=field, rule=rule, xpath=xpath
        )
        raise FormatError(message, xpath=xpath, field=field, findings=[finding])
    return value


def _category(code: str | None, rate: Decimal) -> str | None:
    """Keep the VAT category only when the rate does not imply it (canonical form)."""
    return code if code and code != default_vat_category(rate) else None


def _parse_party(data: dict[str, Any], group: str, loc: _Locator, field: str) -> Party:
    party = data.get(group) or {}
    name = _required(
        _text(party.get("name")),
        xpath=loc.party(group, "name"),
        field=f"{field}.name",
        rule="BR-06" if group == "BG-4" else "BR-07",
    )
    siret = party_siret(party, PARTY_ID_TERMS[group])
    emails = [_text(contact.get("email")) for contact in party.get("contacts") or []]
    email = next((value for value in emails if value), None)
    if not email and _text(party.get("einvoicing_addr_schemeid")) == SCHEME_EMAIL:
        email = _text(party.get("einvoicing_addr"))
    return Party(
        name=name,
        siret=siret,
        vat_id=_text(party.get("vat_identifier")),
        trading_name=_text(party.get("biz_name")),
        email=email,
        address=Address(
            line1=_text(party.get("addr_l1")),
            line2=_text(party.get("addr_l2")),
            line3=_text(party.get("addr_l3")),
            postcode=_text(party.get("postcode")),
            city=_text(party.get("city")),
            country_subdivision=_text(party.get("country_subdivision")),
            country=_text(party.get("country_code")) or Address.country,
        ),
    )


def _parse_line(item: dict[str, Any], position: int, loc: _Locator) -> Line:
    checkpoint()
    field = f"lines[{position}]"

    def number(term: str, name: str, label: str) -> Decimal | None:
        return _decimal(
            item.get(term), xpath=loc.line(position, term), field=f"{field}.{name}", label=label
        )

    label = f"Ligne {position + 1} : "
    quantity = _required(
        number("BT-129", "quantity", label + "la quantité"),
        xpath=loc.line(position, "BT-129"),
        field=f"{field}.quantity",
        rule="BR-22",
    )
    net_price = _required(
        number("BT-146", "net_price", label + "le prix net"),
        xpath=loc.line(position, "BT-146"),
        field=f"{field}.net_price",
        rule="BR-26",
    )
    name = _required(
        _text(item.get("BT-153")),
        xpath=loc.line(position, "BT-153"),
        field=f"{field}.name",
        rule="BR-25",
    )
    rate = number("BT-152", "vat_rate", label + "le taux de TVA") or ZERO
    discounts = item.get("BT-147-00") or []
    discount = None
    if discounts:
        discount = _decimal(
            discounts[0].get("BT-147"),
            xpath=loc.line(position, "BT-147-00"),
            field=f"{field}.price_discount",
            label=label + "la remise sur le prix",
        )
    notes = [_text(note.get("BT-127")) for note in item.get("BT-127-00") or []]
    gtin = _text(item.get("BT-157-1")) in (SCHEME_GTIN, None)
    return Line(
        id=_text(item.get("BT-126")),
        name=name,
        quantity=quantity,
        net_price=net_price,
        vat_rate=rate,
        vat_category=_category(_text(item.get("BT-151")), rate),
        unit_code=_text(item.get("BT-130")) or Line.unit_code,
        base_quantity=number("BT-149", "base_quantity", label + "la quantité de base"),
        gross_price=number("BT-148", "gross_price", label + "le prix brut"),
        price_discount=discount,
        item_id=_text(item.get("BT-157")) if gtin else None,
        seller_item_id=_text(item.get("BT-155")),
        description=_text(item.get("BT-154")),
        note="\n".join(note for note in notes if note) or None,
        allowances=[
            _parse_line_adjustment(entry, position, "BG-27", index, loc)
            for index, entry in enumerate(item.get("BG-27") or [])
        ],
        charges=[
            _parse_line_adjustment(entry, position, "BG-28", index, loc)
            for index, entry in enumerate(item.get("BG-28") or [])
        ],
        line_amount=number("BT-131", "line_amount", label + "le montant net"),
        other_terms=json_safe(
            {
                key: value
                for key, value in item.items()
                if key not in LINE_MODEL_TERMS and not (gtin and key in ("BT-157", "BT-157-1"))
            }
        ),
    )


#: Line terms the canonical model holds; the others are kept in ``Line.other_terms``.
LINE_MODEL_TERMS = frozenset(
    {"BT-126", "BT-127-00", "BT-129", "BT-130", "BT-131", "BT-146", "BT-147-00", "BT-148"}
    | {"BT-149", "BT-151", "BT-152", "BT-153", "BT-154", "BT-155", "BG-27", "BG-28"}
)


def _parse_line_adjustment(
    item: dict[str, Any], line: int, group: str, position: int, loc: _Locator
) -> LineAdjustment:
    kind, name = ("Remise", "allowances") if group == "BG-27" else ("Frais", "charges")
    what = f"Ligne {line + 1}, {kind.lower()} {position + 1} : "
    field = f"lines[{line}].{name}[{position}]"
    xpath = f"{loc.line(line, group)}[{position + 1}]"

    def number(key: str, attribute: str, label: str) -> Decimal | None:
        return _decimal(
            item.get(key), xpath=xpath, field=f"{field}.{attribute}", label=what + label
        )

    amount = _required(
        number("amount", "amount", "le montant"),
        xpath=xpath,
        field=f"{field}.amount",
        rule="BR-41" if group == "BG-27" else "BR-43",
    )
    return LineAdjustment(
        amount=amount,
        reason=_text(item.get("reason")),
        reason_code=_text(item.get("reason_code")),
        percent=number("rate", "percent", "le pourcentage"),
        base_amount=number("base_amount", "base_amount", "le montant de base"),
    )


def _parse_allowance_charge(
    item: dict[str, Any], group: str, position: int, loc: _Locator, field: str
) -> AllowanceCharge:
    what = f"{'Remise' if group == 'BG-20' else 'Frais'} {position + 1} : "
    field = f"{field}[{position}]"

    def number(key: str, name: str, label: str) -> Decimal | None:
        return _decimal(
            item.get(key),
            xpath=loc.sub(group, position, key),
            field=f"{field}.{name}",
            label=what + label,
        )

    amount = _required(
        number("amount", "amount", "le montant"),
        xpath=loc.sub(group, position, "amount"),
        field=f"{field}.amount",
        rule="BR-31" if group == "BG-20" else "BR-36",
    )
    rate = number("vat_rate", "vat_rate", "le taux de TVA") or ZERO
    return AllowanceCharge(
        amount=amount,
        vat_rate=rate,
        vat_category=_category(_text(item.get("vat_category_code")), rate),
        reason=_text(item.get("reason")),
        reason_code=_text(item.get("reason_code")),
        base_amount=number("base_amount", "base_amount", "le montant de base"),
        percent=number("rate", "percent", "le pourcentage"),
    )


def _parse_totals(data: dict[str, Any], loc: _Locator) -> Totals:
    """Return the document's totals; one it does not carry is None ("not given")."""

    def amount(term: str, name: str, label: str) -> Decimal | None:
        return _decimal(data.get(term), xpath=loc.top(term), field=f"totals.{name}", label=label)

    return Totals(
        lines=amount("BT-106", "lines", "Le total des lignes"),
        allowances=amount("BT-107", "allowances", "Le total des remises"),
        charges=amount("BT-108", "charges", "Le total des frais"),
        tax_exclusive=amount("BT-109", "tax_exclusive", "Le total hors taxes"),
        vat=amount("BT-110", "vat", "Le total de la TVA"),
        tax_inclusive=amount("BT-112", "tax_inclusive", "Le total TTC"),
        prepaid=amount("BT-113", "prepaid", "Le montant déjà payé"),
        rounding=amount("BT-114", "rounding", "L'arrondi"),
        payable=amount("BT-115", "payable", "Le net à payer"),
    )


def _parse_type(code: str | None) -> InvoiceType:
    if code in TYPES_BY_CODE:
        return TYPES_BY_CODE[code]
    # Codes Chorus Pro does not take (261, 393…) are read by family, see mapping.md.
    return InvoiceType.CREDIT_NOTE if code in CREDIT_NOTE_TYPE_CODES else InvoiceType.INVOICE


def _is_legal_note(note: dict[str, Any]) -> bool:
    return LEGAL_NOTES.get(_text(note.get("BT-21")) or "") == _text(note.get("BT-22"))


def from_en16931_dict(data: dict[str, Any], flavor: str) -> Invoice:
    """Return the canonical invoice of a dictionary read by ``facturx.parse_ubl_cii_xml``.

    Lines are optional: a Factur-X MINIMUM or BASIC WL document gives an invoice without
    lines whose ``totals`` hold the document's figures (see mapping.md).
    """
    loc = _Locator(flavor)
    number = _required(
        _text(data.get("BT-1")),
        xpath=loc.top("BT-1"),
        field="number",
        rule="BR-02",
    )
    issue_date = _required(
        _first(data.get("BT-2")),
        xpath=loc.top("BT-2"),
        field="issue_date",
        rule="BR-03",
    )
    payment = None
    means_code = _text(data.get("BT-81"))
    terms = _text(data.get("BT-20"))
    iban = _text(data.get("BT-84"))
    if means_code or terms or iban:
        payment = Payment(
            means_code=means_code,
            iban=iban,
            bic=_text(data.get("BT-86")),
            account_name=_text(data.get("BT-85")),
            remittance_information=_text(data.get("BT-83")),
            terms=terms,
        )
    previous = [entry for entry in data.get("BG-3") or [] if _text(entry.get("BT-25"))]
    preceding = (
        PrecedingInvoice(number=_text(previous[0]["BT-25"]), issue_date=previous[0].get("BT-26"))
        if previous
        else None
    )
    delivery_notes = [note for note in [_text(data.get("BT-16"))] if note] + [
        _text(doc.get("BT-122"))
        for doc in data.get("BG-24") or []
        if _text(doc.get("BT-123")) == DELIVERY_NOTE_LABEL and _text(doc.get("BT-122"))
    ]
    breakdown = data.get("BG-23") or []
    exemption = next((row for row in breakdown if row.get("BT-120") or row.get("BT-121")), {})
    totals = _parse_totals(data, loc)
    invoice = Invoice(
        number=number,
        issue_date=issue_date,
        type=_parse_type(_text(data.get("BT-3"))),
        currency=_text(data.get("BT-5")) or Invoice.currency,
        due_date=_first(data.get("BT-9")),
        seller=_parse_party(data, "BG-4", loc, "seller"),
        buyer=_parse_party(data, "BG-7", loc, "buyer"),
        references=References(
            service_code=_text(data.get("BT-10")),
            engagement=_text(data.get("BT-13")),
            purchase_order=_text((data.get("BT-18") or {}).get(PURCHASE_ORDER_QUALIFIER)),
            contract=_text(data.get("BT-12")),
            buyer_accounting_reference=_text(data.get("BT-19")),
        ),
        preceding_invoice=preceding,
        delivery_notes=delivery_notes,
        delivery_date=_first(data.get("BT-72")),
        lines=[_parse_line(item, pos, loc) for pos, item in enumerate(data.get("BG-25") or [])],
        allowances=[
            _parse_allowance_charge(item, "BG-20", pos, loc, "allowances")
            for pos, item in enumerate(data.get("BG-20") or [])
        ],
        charges=[
            _parse_allowance_charge(item, "BG-21", pos, loc, "charges")
            for pos, item in enumerate(data.get("BG-21") or [])
        ],
        payment=payment,
        notes=[
            _text(note.get("BT-22"))
            for note in data.get("BG-1") or []
            if _text(note.get("BT-22")) and not _text(note.get("BT-21"))
        ],
        vat_exemption_reason=_text(exemption.get("BT-120")),
        vat_exemption_reason_code=_text(exemption.get("BT-121")),
        prepaid_amount=ZERO if totals.prepaid is None else totals.prepaid,
        rounding_amount=ZERO if totals.rounding is None else totals.rounding,
        totals=totals,
    )
    invoice.other_terms = _other_terms(data, invoice)
    return invoice


#: Document terms the canonical model holds; the others are kept in ``Invoice.other_terms``
#: (those named in :func:`_other_terms` partly).
MODEL_TERMS = frozenset(
    {"BT-1", "BT-2", "BT-3", "BT-5", "BT-9", "BT-10", "BT-12", "BT-13", "BT-16", "BT-19"}
    | {"BT-20", "BT-23", "BT-24", "BT-72", "BT-81", "BT-83", "BT-84", "BT-85", "BT-86"}
    | {"BT-106", "BT-107", "BT-108", "BT-109", "BT-110", "BT-112", "BT-113", "BT-114"}
    | {"BT-115", "BG-20", "BG-21", "BG-25"}
)
#: Party terms the canonical model holds (its SIRET and e-mail are handled apart).
PARTY_MODEL_KEYS = frozenset(
    {"name", "vat_identifier", "biz_name", "addr_l1", "addr_l2", "addr_l3", "postcode", "city"}
    | {"country_subdivision", "country_code"}
)


def _other_terms(data: dict[str, Any], invoice: Invoice) -> dict[str, Any]:
    """Return the document's terms that ``invoice`` (read from it) does not hold, JSON-safe.

    The VAT breakdown is kept only when it differs from the gateway's computation.
    """
    sirets = {"BG-4": invoice.seller.siret, "BG-7": invoice.buyer.siret}
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key in MODEL_TERMS:
            continue
        if key == "BT-18":
            value = {
                scheme: ref for scheme, ref in value.items() if scheme != PURCHASE_ORDER_QUALIFIER
            }
        elif key == "BG-1":  # coded notes: the model's notes are plain texts
            value = [
                note for note in value if _text(note.get("BT-21")) and not _is_legal_note(note)
            ]
        elif key == "BG-3":  # the model holds the first preceding invoice
            value = [entry for entry in value if _text(entry.get("BT-25"))][1:]
        elif key == "BG-24":
            value = [doc for doc in value if _text(doc.get("BT-123")) != DELIVERY_NOTE_LABEL]
        elif key in ("BG-4", "BG-7"):
            value = _party_other_terms(value, sirets[key])
        elif key in ("BG-10", "BG-11") and "name" not in value and "biz_name" in value:
            # factur-x reads a UBL payee's or tax representative's name as ``biz_name``
            # but writes it from ``name``.
            value = {"name" if k == "biz_name" else k: v for k, v in value.items()}
        if value not in (None, "", [], {}):
            kept[key] = value
    kept = json_safe(kept)
    computed = [_vat_row(row, {}) for row in invoice.with_computed_amounts().vat_breakdown]
    if _same_rows(kept.get("BG-23") or [], computed):
        kept.pop("BG-23", None)
    return kept


def _same_rows(given: list[dict[str, Any]], computed: list[dict[str, Any]]) -> bool:
    def key(row: dict[str, Any]) -> tuple:
        try:
            amounts = tuple(
                Decimal(row[term]) if row.get(term) else None
                for term in ("BT-116", "BT-117", "BT-119")
            )
        except InvalidOperation:
            return (row,)
        return (row.get("BT-118"), *amounts, row.get("BT-120"), row.get("BT-121"))

    return sorted(map(key, given), key=repr) == sorted(map(key, computed), key=repr)


def _party_other_terms(party: dict[str, Any], siret: str | None) -> dict[str, Any]:
    """Return a party's terms beyond the model's: what a rendering writes from the SIRET
    (identifier, legal id, the ``fr-2026`` electronic address) and the e-mail read into the
    model are left out."""
    kept = {key: value for key, value in party.items() if key not in PARTY_MODEL_KEYS}
    identifiers = {
        scheme: value
        for scheme, value in (kept.get("identifiers") or {}).items()
        # The SIRET written with spaces or dots is the SIRET the rendering writes.
        if not (scheme == SCHEME_SIRET and declared_siret(_text(value)) == siret)
    }
    if identifiers:
        kept["identifiers"] = identifiers
    else:
        kept.pop("identifiers", None)
    if siret and kept.get("legal_identifier") in (siret, siren_of(siret)):
        kept.pop("legal_identifier")
        kept.pop("legal_identifier_schemeid", None)
    address = (kept.get("einvoicing_addr"), kept.get("einvoicing_addr_schemeid"))
    if siret and address == (siren_of(siret), SCHEME_FR_ADDRESS):
        kept.pop("einvoicing_addr")
        kept.pop("einvoicing_addr_schemeid")
    contacts = [dict(contact) for contact in kept.get("contacts") or []]
    for contact in contacts:
        if _text(contact.get("email")):
            del contact["email"]
            break
    contacts = [contact for contact in contacts if contact]
    if contacts:
        kept["contacts"] = contacts
    else:
        kept.pop("contacts", None)
    return kept


def _locate_bad_date(root: etree._Element, flavor: str) -> FormatError | None:
    """Find the date the library could not read, to name it in the error."""
    loc = _Locator(flavor)
    namespaces = {key or "default": value for key, value in root.nsmap.items()}
    fmt = "%Y%m%d" if flavor == FLAVOR_CII else "%Y-%m-%d"
    dated = [
        (term, loc.top(term))
        for term, props in EN16931_FIELDS.items()
        if props.get("format") == "date"
    ]
    dated += [
        (f"{group}.{term}", f"{loc.top(group)}/{loc._path(props)}")
        for group in ("BG-3", "BG-25")
        for term, props in EN16931_FIELDS[group]["fields"].items()
        if props.get("format") == "date"
    ]
    for term, xpath in dated:
        query = xpath.replace("/Invoice/", "/default:Invoice/").replace(
            "/CreditNote/", "/default:CreditNote/"
        )
        try:
            nodes = root.xpath(query, namespaces=namespaces)
        except etree.XPathError:
            continue
        for node in nodes:
            text = (node.text or "").strip()
            try:
                date.fromisoformat(text) if fmt == "%Y-%m-%d" else date(
                    int(text[:4]), int(text[4:6]), int(text[6:8])
                )
            except ValueError:
                return FormatError(
                    f"Date invalide « {text} » ({term}).",
                    xpath=root.getroottree().getpath(node),
                )
    return None


#: Boolean elements that tell an allowance from a charge, in UBL and in CII.
INDICATORS = (
    "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}ChargeIndicator",
    "{urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100}Indicator",
)
XSD_BOOLEANS = {"1": "true", "0": "false"}


def _normalize_indicators(root: etree._Element) -> None:
    """Write charge indicators ``true``/``false``: XSD booleans may also be ``1``/``0``, which
    factur-x's XPaths (``[cbc:ChargeIndicator='false']``) would not see."""
    for element in root.iter(*INDICATORS):
        value = (element.text or "").strip().lower()
        element.text = XSD_BOOLEANS.get(value, value)


#: The element of one invoice line (BG-25), and of the invoice number (BT-1), by flavor.
LINE_TAGS = {
    FLAVOR_CII: f"{{{RAM_NS}}}IncludedSupplyChainTradeLineItem",
    FLAVOR_UBL_INVOICE: f"{{{UBL_CAC_NS}}}InvoiceLine",
    FLAVOR_UBL_CREDIT_NOTE: f"{{{UBL_CAC_NS}}}CreditNoteLine",
}
NUMBER_PATHS = {
    FLAVOR_CII: "string(*[local-name()='ExchangedDocument']/*[local-name()='ID'])",
    FLAVOR_UBL_INVOICE: "string(*[local-name()='ID'])",
    FLAVOR_UBL_CREDIT_NOTE: "string(*[local-name()='ID'])",
}


def count_lines(root: etree._Element, flavor: str) -> None:
    """Count the lines on the parsed tree, before the mapping (which costs a thousand times
    more a line): a document of too many is refused at once."""
    count = sum(1 for _ in root.iter(LINE_TAGS[flavor]))
    check_lines(count, str(root.xpath(NUMBER_PATHS[flavor])).strip() or None)


def parse_document(root: etree._Element) -> Invoice:
    """Return the canonical invoice of a UBL 2.1 or CII D16B document already parsed safely."""
    flavor = flavor_of(root)
    if flavor is None:
        raise FormatError(
            f"Élément racine inattendu : {root.tag} (attendu : une facture UBL ou CII).",
            xpath=f"/{etree.QName(root).localname}",
        )
    count_lines(root, flavor)
    _normalize_indicators(root)
    try:
        data = parse_ubl_cii_xml(
            root, flavor=flavor, level="extended", float_as="string", check_xsd=False
        )
    except Exception as ex:  # the library raises bare exceptions on unreadable values
        located = _locate_bad_date(root, flavor)
        if located:
            raise located from ex
        # The library needs some mandatory terms (BT-5): say which rule requires them.
        missing = [entry.finding for entry in missing_terms(root)]
        if missing:
            first = missing[0]
            raise FormatError(
                first.message, xpath=first.xpath, field=first.field, findings=missing
            ) from ex
        raise FormatError(f"Document EN 16931 illisible : {ex}") from ex
    return from_en16931_dict(data, flavor)


class XmlInvoiceFormat(FormatHandler):
    """A format handler for EN 16931 XML syntaxes, told apart by their root element."""

    #: Root element tags (``{namespace}name``) this handler reads.
    roots: ClassVar[frozenset[str]]

    def sniff(self, data: bytes) -> bool:
        return looks_like_xml(data) and root_tag(data) in self.roots

    def parse(self, data: bytes) -> list[Invoice]:
        root = parse_xml(data)
        if root.tag not in self.roots:
            raise FormatError(
                f"Ce document n'est pas une facture {self.name.upper()} "
                f"(élément racine : {etree.QName(root).localname}).",
                xpath=f"/{etree.QName(root).localname}",
            )
        return [parse_with_rules(root, data)]


def parse_with_rules(root: etree._Element, xml: bytes) -> Invoice:
    """Return the invoice of a document; when it cannot be read, the error also carries
    the EN 16931 faults the document's own validation finds elsewhere in it, so that a
    refusal names every broken rule, not only the first term missing."""
    try:
        return parse_document(root)
    except FormatError as ex:
        from plugins.en16931.rules import validate_document  # the rule set, loaded on need

        findings = ex.as_findings()
        faulty = [finding.field for finding in findings if finding.field]
        findings += [
            finding
            for finding in validate_document(xml)
            if finding.is_error and not any(_related(finding.field, field) for field in faulty)
        ]
        raise FormatError(
            ex.message,
            line=ex.line,
            xpath=ex.xpath,
            field=ex.field,
            code=ex.code,
            findings=findings,
        ) from ex


def _related(field: str | None, other: str) -> bool:
    """Tell whether two canonical fields are the same or one holds the other
    (``lines[2]`` holds ``lines[2].name``): one fault, said once."""
    if field is None:
        return False
    short, long = sorted((field, other), key=len)
    return long == short or long.startswith((f"{short}.", f"{short}["))

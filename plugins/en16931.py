"""The canonical invoice <-> EN 16931 business terms, shared by the XML formats and renderers.

The ``factur-x`` package reads and writes UBL 2.1 and CII D16B from dictionaries keyed by
EN 16931 business terms (``BT-1``, ``BG-25``…). This module maps the canonical
:class:`gateway.model.Invoice` to and from those dictionaries, so that the XML itself is
left to the library. See ``docs/formats/mapping.md`` for the table of terms.

Two mapping profiles (``gateway.renderers.PROFILES``) differ only in what Chorus Pro and
the French 2026 rules (BR-FR) read differently: identifiers, BT-23 and legal notes.
"""

from __future__ import annotations

import logging
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

from gateway.errors import FormatError
from gateway.formats import FormatHandler
from gateway.model import (
    TYPES_BY_CODE,
    ZERO,
    Address,
    AllowanceCharge,
    Invoice,
    InvoiceType,
    Line,
    Party,
    Payment,
    PrecedingInvoice,
    References,
    Totals,
    default_vat_category,
)
from gateway.renderers import PROFILES
from gateway.xmlsafe import looks_like_xml, parse_xml, root_tag

# The library logs a warning for every optional term it drops at a level; they are expected.
logging.getLogger("factur-x").setLevel(logging.ERROR)

CHORUS = "chorus"
FR_2026 = "fr-2026"

#: Identifier schemes (ISO 6523 ICD / EAS codes).
SCHEME_SIRET = "0009"
SCHEME_SIREN = "0002"
SCHEME_GTIN = "0160"
SCHEME_FR_ADDRESS = "0225"
SCHEME_EMAIL = "EM"
#: UNTDID 1153 qualifier of BT-18 used for the buyer's order number (see mapping.md).
PURCHASE_ORDER_QUALIFIER = "ON"
#: BT-123 code marking a delivery note beyond the first one (BG-24), from the BR-FR-17 list.
DELIVERY_NOTE_LABEL = "BON_LIVRAISON"
#: UNTDID 4461 codes of credit transfers: the only means that carry the seller's IBAN.
CREDIT_TRANSFER_CODES = frozenset({"30", "42", "58"})

#: BT-23, the billing framework ("cadre de facturation").
BUSINESS_PROCESS = {CHORUS: "A1", FR_2026: "B1"}

#: French legal mentions, written on every PDF and, in ``fr-2026``, as BR-FR-05 notes.
LEGAL_NOTES: dict[str, str] = {
    "PMT": "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €.",
    "PMD": "Pénalités de retard : intérêts moratoires au taux de la BCE majoré de 8 points "
    "(acheteurs publics) ou de 10 points (autres acheteurs), exigibles dès le lendemain "
    "de l'échéance.",
    "AAB": "Pas d'escompte pour paiement anticipé.",
}

FLAVOR_CII = "factur-x"
FLAVOR_UBL_INVOICE = "ubl-2.1-invoice"
FLAVOR_UBL_CREDIT_NOTE = "ubl-2.1-creditnote"

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
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
    return _num(value.quantize(Decimal("0.01")))


def _party(party: Party, profile: str) -> dict[str, Any]:
    result: dict[str, Any] = {"name": party.name}
    siren = siren_of(party.siret)
    if party.siret:
        result["identifiers"] = {SCHEME_SIRET: party.siret}
        if profile == FR_2026 and siren:
            result["legal_identifier"] = siren
            result["legal_identifier_schemeid"] = SCHEME_SIREN
        else:
            result["legal_identifier"] = party.siret
            result["legal_identifier_schemeid"] = SCHEME_SIRET
    if profile == FR_2026 and siren:
        result["einvoicing_addr"] = siren
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
    result: dict[str, Any] = {
        "amount": _amount(item.amount),
        "vat_category_code": item.category,
        "vat_rate": _num(item.vat_rate),
    }
    for key, value in (("base_amount", item.base_amount), ("rate", item.percent)):
        if value is not None:
            result[key] = _amount(value) if key == "base_amount" else _num(value)
    if item.reason:
        result["reason"] = item.reason
    if item.reason_code:
        result["reason_code"] = item.reason_code
    return result


def _line(line: Line) -> dict[str, Any]:
    result: dict[str, Any] = {
        "BT-126": line.id,
        "BT-129": _num(line.quantity),
        "BT-130": line.unit_code,
        "BT-131": _amount(line.line_amount if line.line_amount is not None else ZERO),
        "BT-146": _num(line.net_price),
        "BT-151": line.category,
        "BT-152": _num(line.vat_rate),
        "BT-153": line.name,
    }
    optional = {
        "BT-149": line.base_quantity is not None and _num(line.base_quantity),
        "BT-148": line.gross_price is not None and _num(line.gross_price),
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
    return result


def to_en16931_dict(invoice: Invoice, profile: str) -> dict[str, Any]:
    """Return the EN 16931 dictionary of ``invoice`` (its computed amounts) for ``profile``."""
    check_profile(profile)
    inv = invoice.with_computed_amounts()
    totals = inv.totals or inv.computed_totals()
    refs = inv.references
    data: dict[str, Any] = {
        "BT-1": inv.number,
        "BT-2": inv.issue_date,
        "BT-3": inv.type_code,
        "BT-5": inv.currency,
        "BT-23": BUSINESS_PROCESS[profile],
        "BT-24": LEVEL2BT_24["en16931"],
        "BG-4": _party(inv.seller, profile),
        "BG-7": _party(inv.buyer, profile),
        "BG-23": [
            {
                "BT-116": _amount(row.taxable_amount),
                "BT-117": _amount(row.tax_amount),
                "BT-118": row.category,
                "BT-119": _num(row.rate),
                **({"BT-120": row.exemption_reason} if row.exemption_reason else {}),
                **({"BT-121": row.exemption_reason_code} if row.exemption_reason_code else {}),
            }
            for row in inv.vat_breakdown
        ],
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
    if profile == FR_2026:
        notes += [{"BT-21": code, "BT-22": text} for code, text in LEGAL_NOTES.items()]
    if notes:
        data["BG-1"] = notes
    return data


def _payment(payment: Payment, data: dict[str, Any]) -> None:
    fields = {
        "BT-20": payment.terms,
        "BT-81": payment.means_code,
        "BT-83": payment.remittance_information,
    }
    if payment.means_code in CREDIT_TRANSFER_CODES:
        fields.update({"BT-84": payment.iban, "BT-85": payment.account_name, "BT-86": payment.bic})
    data.update({key: value for key, value in fields.items() if value})


def render_xml(invoice: Invoice, *, syntax: str, profile: str) -> bytes:
    """Return the UBL 2.1 (``syntax="ubl"``) or CII D16B (``"cii"``) document of ``invoice``.

    The XML is written by ``facturx.generate_xml`` at level EN 16931; its XSD and
    schematron checks are off here (the validation engine runs them, locally).
    """
    flavor = {"ubl": "ubl-2.1", "cii": FLAVOR_CII}[syntax]
    xml = generate_xml(
        to_en16931_dict(invoice, profile),
        flavor=flavor,
        level="en16931",
        check_xsd=False,
        check_schematron=False,
    )
    return _drop_nil(xml)


def _drop_nil(xml: bytes) -> bytes:
    """Remove the ``xsi:nil`` that factur-x 7.8 puts on an empty element (not nillable in the XSD).

    It happens on ``ApplicableHeaderTradeDelivery`` when there is no delivery data.
    """
    if b"xsi:nil" not in xml:
        return xml
    root = etree.fromstring(xml)  # our own output: trusted
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    for element in root.iter():
        element.attrib.pop(nil, None)
    etree.cleanup_namespaces(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


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


def _decimal(value: Any, *, xpath: str, field: str, label: str) -> Decimal | None:
    text = _text(value)
    if text is None:
        return None
    try:
        result = Decimal(text)
    except InvalidOperation:
        result = None
    if result is None or not result.is_finite():
        raise FormatError(
            f"{label} n'est pas un nombre valide : « {text} ».", xpath=xpath, field=field
        )
    return result


def _required(value: Any, *, xpath: str, field: str, label: str) -> Any:
    if value is None:
        raise FormatError(f"{label} est absent(e) du document.", xpath=xpath, field=field)
    return value


def _category(code: str | None, rate: Decimal) -> str | None:
    """Keep the VAT category only when the rate does not imply it (canonical form)."""
    return code if code and code != default_vat_category(rate) else None


def _parse_party(data: dict[str, Any], group: str, loc: _Locator, field: str) -> Party:
    party = data.get(group) or {}
    label = "Le nom du vendeur" if group == "BG-4" else "Le nom de l'acheteur"
    name = _required(
        _text(party.get("name")), xpath=loc.party(group, "name"), field=f"{field}.name", label=label
    )
    identifiers = party.get("identifiers") or {}
    legal_id = _text(party.get("legal_identifier"))
    legal_scheme = _text(party.get("legal_identifier_schemeid"))
    siret = _text(identifiers.get(SCHEME_SIRET))
    if not siret and legal_id and legal_scheme in (SCHEME_SIRET, None) and len(legal_id) == 14:
        siret = legal_id
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
        label=label + "la quantité",
    )
    net_price = _required(
        number("BT-146", "net_price", label + "le prix net"),
        xpath=loc.line(position, "BT-146"),
        field=f"{field}.net_price",
        label=label + "le prix net",
    )
    name = _required(
        _text(item.get("BT-153")),
        xpath=loc.line(position, "BT-153"),
        field=f"{field}.name",
        label=label + "la désignation",
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
        item_id=_text(item.get("BT-157")),
        seller_item_id=_text(item.get("BT-155")),
        description=_text(item.get("BT-154")),
        note="\n".join(note for note in notes if note) or None,
        line_amount=number("BT-131", "line_amount", label + "le montant net"),
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
        label=what + "le montant",
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
        label="Le numéro de facture",
    )
    issue_date = _required(
        _first(data.get("BT-2")),
        xpath=loc.top("BT-2"),
        field="issue_date",
        label="La date de facture",
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
    return Invoice(
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
            if _text(note.get("BT-22")) and not _is_legal_note(note)
        ],
        vat_exemption_reason=_text(exemption.get("BT-120")),
        vat_exemption_reason_code=_text(exemption.get("BT-121")),
        prepaid_amount=ZERO if totals.prepaid is None else totals.prepaid,
        rounding_amount=ZERO if totals.rounding is None else totals.rounding,
        totals=totals,
    )


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


def parse_document(root: etree._Element) -> Invoice:
    """Return the canonical invoice of a UBL 2.1 or CII D16B document already parsed safely."""
    flavor = flavor_of(root)
    if flavor is None:
        raise FormatError(
            f"Élément racine inattendu : {root.tag} (attendu : une facture UBL ou CII).",
            xpath=f"/{etree.QName(root).localname}",
        )
    try:
        data = parse_ubl_cii_xml(
            root, flavor=flavor, level="extended", float_as="string", check_xsd=False
        )
    except Exception as ex:  # the library raises bare exceptions on unreadable values
        located = _locate_bad_date(root, flavor)
        if located:
            raise located from ex
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
        return [parse_document(root)]

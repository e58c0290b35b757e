"""EN 16931 EDIFACT INVOIC D16B in (CEN/TS 16931-3-4), tokenised by pydifact.

The segment-to-field mapping is documented in docs/formats/edifact.md. Errors give the
segment's 1-based position in the interchange (UNA counted) as ``line``: it is the
text line when, as usual, each segment sits on its own line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn

from pydifact.exceptions import EDISyntaxError, ValidationError
from pydifact.parser import Parser
from pydifact.segments import Segment, SegmentFactory

from gateway.plugin_api import (
    TYPES_BY_CODE,
    Address,
    AllowanceCharge,
    FormatError,
    FormatHandler,
    Invoice,
    Line,
    LineAdjustment,
    Party,
    Payment,
    PrecedingInvoice,
    References,
    Totals,
    check_lines,
)

#: Python codec of each UNB syntax identifier (ISO 9735 character repertoires).
CHARSETS = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "latin-1",
    "UNOD": "iso8859-2",
    "UNOE": "iso8859-5",
    "UNOF": "iso8859-7",
    "UNOW": "utf-8-sig",
    "UNOY": "utf-8-sig",
}
#: Item identifier types (7143) that carry a GTIN, hence an ISBN-13 for books.
GTIN_TYPES = frozenset({"SRV", "EN", "IB"})
SERVICE_TAGS = frozenset({"UNA", "UNB", "UNG", "UNE", "UNZ"})
#: SG52 MOA qualifiers (5025) → document totals (BG-22).
TOTALS = {
    "79": "lines",
    "260": "allowances",
    "259": "charges",
    "389": "tax_exclusive",
    "176": "vat",
    "388": "tax_inclusive",
    "113": "prepaid",
    "366": "rounding",
    "9": "payable",
}
#: SG1 RFF qualifiers (1153) → header references; AAK (despatch advice) gives delivery notes.
HEADER_REFERENCES = {
    "ON": "engagement",  # BT-13, the Chorus Pro engagement juridique
    "CT": "contract",  # BT-12
    "OI": "preceding_number",  # BT-25, its date in the DTM+384 that follows
    "PQ": "remittance",  # BT-83
    "CR": "service_code",  # BT-10 is bound to the buyer's RFF+CR; tolerated here too
    "AOU": "accounting",  # BT-19
}
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")


def component(segment: Segment, element: int, position: int = 0) -> str:
    """Return one component of one data element of ``segment`` ("" when absent)."""
    value = segment.elements[element] if element < len(segment.elements) else ""
    if isinstance(value, list):
        return value[position] if position < len(value) else ""
    return value if position == 0 else ""


class _Factory(SegmentFactory):
    """Build segments without pydifact's directory check.

    pydifact bundles no D16B directory and warns on every segment; the EN 16931 rules
    are checked by the validation engine on the canonical invoice instead.
    """

    @staticmethod
    def create_segment(
        name: str, *elements: Any, validate: bool = False, **options: Any
    ) -> Segment:
        # pydifact raises ValueError on a malformed tag and only warns on an empty segment.
        if not re.fullmatch(r"[A-Z]{3}", name) or not any(elements):
            raise EDISyntaxError(f"segment {name!r} vide ou mal nommé")
        return SegmentFactory.create_segment(name, *elements, validate=False, **options)


def decode(data: bytes) -> str:
    """Decode the interchange in the character set its UNB header declares."""
    head = data[:200].decode("latin-1")  # service segments are plain ASCII in any charset
    match = re.search(r"UNB(.)(UNO[A-Z])", head)
    if not match:
        raise FormatError("En-tête d'échange UNB absent ou illisible.", line=1)
    charset = match.group(2)
    if charset not in CHARSETS:
        raise FormatError(
            f"Jeu de caractères {charset} non pris en charge (UNOA à UNOF, UNOW, UNOY).",
            line=1 if head.startswith("UNB") else 2,
        )
    try:
        return data.decode(CHARSETS[charset])
    except UnicodeDecodeError as ex:
        line = _segment_at(data, ex.start, head)
        raise FormatError(
            f"Octet 0x{data[ex.start]:02X} invalide dans le jeu de caractères {charset} "
            f"déclaré par l'en-tête UNB (segment {line}).",
            line=line,
        ) from ex


def _segment_at(data: bytes, offset: int, head: str) -> int:
    """Return the 1-based position of the segment holding byte ``offset``."""
    release, terminator = (head[6], head[8]) if head.startswith("UNA") else ("?", "'")
    release_byte, terminator_byte = ord(release), ord(terminator)
    position, escaped = 1, False
    for byte in data[:offset]:
        if escaped:
            escaped = False
        elif byte == release_byte:
            escaped = True
        elif byte == terminator_byte:
            position += 1
    return position


def segments(text: str) -> list[tuple[int, Segment]]:
    """Return every segment with its 1-based position in the interchange."""
    found: list[tuple[int, Segment]] = []
    try:
        for segment in Parser(factory=_Factory()).parse(text):
            found.append((len(found) + 1, segment))
    except (EDISyntaxError, ValidationError, IndexError) as ex:
        # pydifact fails on an empty UNB with IndexError; every failure is a syntax error.
        raise FormatError(
            f"Syntaxe EDIFACT invalide après le segment {len(found)} : {ex}.", line=len(found) + 1
        ) from ex
    if not found or found[0][1].tag not in ("UNA", "UNB"):
        raise FormatError("Un échange EDIFACT commence par UNA ou UNB.", line=1)
    return found


def messages(found: list[tuple[int, Segment]]) -> list[list[tuple[int, Segment]]]:
    """Split the interchange into INVOIC messages (UNH … UNT), checking their envelopes."""
    result: list[list[tuple[int, Segment]]] = []
    current: list[tuple[int, Segment]] | None = None
    for position, segment in found:
        if segment.tag == "UNH":
            if current is not None:
                raise FormatError("UNH avant le UNT du message précédent.", line=position)
            kind = component(segment, 1)
            if kind != "INVOIC":
                raise FormatError(
                    f"Message {kind or '?'} : seul le message INVOIC (facture) est lu.",
                    line=position,
                )
            current = [(position, segment)]
        elif segment.tag == "UNT":
            if current is None:
                raise FormatError("UNT sans UNH.", line=position)
            current.append((position, segment))
            _check_trailer(current)
            result.append(current)
            current = None
        elif current is not None:
            current.append((position, segment))
        elif segment.tag not in SERVICE_TAGS:
            raise FormatError(f"Segment {segment.tag} hors d'un message UNH … UNT.", line=position)
    if current is not None:
        raise FormatError(
            "Message sans UNT final : le fichier est-il tronqué ?", line=current[0][0]
        )
    if not result:
        raise FormatError("L'échange ne contient aucun message INVOIC.", line=1)
    return result


def _check_trailer(message: list[tuple[int, Segment]]) -> None:
    position, trailer = message[-1]
    header = message[0][1]
    count = component(trailer, 0)
    if count != str(len(message)):
        raise FormatError(
            f"Le UNT annonce {count or '?'} segments mais le message en compte {len(message)} : "
            "fichier tronqué ou modifié ?",
            line=position,
        )
    if component(trailer, 1) != component(header, 0):
        raise FormatError(
            f"Le UNT ferme le message {component(trailer, 1)!r}, ouvert sous le numéro "
            f"{component(header, 0)!r}.",
            line=position,
        )


# --- Reading one message ----------------------------------------------------------------------


@dataclass
class _Party:
    position: int
    name: str = ""
    trading_name: str | None = None
    identifier: str = ""
    scheme: str = ""
    legal_id: str = ""
    vat_id: str | None = None
    email: str | None = None
    address: Address = field(default_factory=Address)


@dataclass
class _AllowanceCharge:
    position: int
    charge: bool
    reason: str | None
    reason_code: str | None
    amount: Decimal | None = None
    base_amount: Decimal | None = None
    percent: Decimal | None = None
    vat_rate: Decimal | None = None
    vat_category: str | None = None
    #: A line ALC whose only amount is MOA+509 carries the price discount (BT-147).
    price_discount: bool = False


@dataclass
class _Line:
    position: int
    id: str | None
    item_id: str | None
    seller_item_id: str | None = None
    name: str | None = None
    description: str | None = None
    note: str | None = None
    quantity: Decimal | None = None
    unit_code: str = "C62"
    line_amount: Decimal | None = None
    net_price: Decimal | None = None
    base_quantity: Decimal | None = None
    gross_price: Decimal | None = None
    price_discount: Decimal | None = None
    vat_rate: Decimal | None = None
    vat_category: str | None = None
    adjustments: list[_AllowanceCharge] = field(default_factory=list)


class MessageReader:
    """Read one INVOIC message into an :class:`Invoice`, segment by segment.

    EDIFACT groups are implied by order: a segment's meaning depends on the group it
    follows (an RFF after NAD belongs to that party, a MOA after LIN to that line…),
    which ``group`` tracks.
    """

    def __init__(self, message: list[tuple[int, Segment]]):
        self.start = message[0][0]
        self.group = "header"
        self.reference = ""
        self.values: dict[str, Any] = {"notes": [], "delivery_notes": []}
        self.parties: dict[str, _Party] = {}
        self.party: _Party | None = None
        self.allowances: list[_AllowanceCharge] = []
        self.allowance: _AllowanceCharge | None = None
        self.lines: list[_Line] = []
        self.totals: dict[str, Decimal] = {}
        self.position = self.start
        for self.position, segment in message[1:-1]:
            handler = getattr(self, f"_{segment.tag.lower()}", None)
            if handler is not None:
                handler(segment)

    # Values ------------------------------------------------------------------------------

    def _fail(self, message: str, field_name: str | None, position: int | None = None) -> NoReturn:
        raise FormatError(message, line=position or self.position, field=field_name)

    def _number(self, text: str, field_name: str, label: str) -> Decimal:
        if not _NUMBER.fullmatch(text):
            self._fail(
                f"Segment {self.position} : {label} « {text} » n'est pas un nombre.", field_name
            )
        return Decimal(text.replace(",", "."))

    def _date(self, segment: Segment, field_name: str, label: str) -> date:
        text, form = component(segment, 0, 1), component(segment, 0, 2) or "102"
        match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:\d{4})?", text)
        if form in ("102", "203") and match:
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                pass
        self._fail(
            f"Segment {self.position} : {label} « {text} » (format {form}) n'est pas une date "
            "valide (attendu AAAAMMJJ, format 102).",
            field_name,
        )

    @property
    def _line(self) -> _Line:
        return self.lines[-1]

    def _line_field(self, name: str) -> str:
        return f"lines[{len(self.lines) - 1}].{name}"

    # Segments ----------------------------------------------------------------------------

    def _bgm(self, segment: Segment) -> None:
        self.values["type"] = (component(segment, 0), self.position)
        self.values["number"] = component(segment, 1)

    def _dtm(self, segment: Segment) -> None:
        qualifier = component(segment, 0)
        if self.group == "header" and qualifier == "137":
            self.values["issue_date"] = self._date(segment, "issue_date", "date de facture")
        elif self.group == "header" and qualifier == "35":
            self.values["delivery_date"] = self._date(segment, "delivery_date", "date de livraison")
        elif self.group == "reference" and self.reference == "OI":
            self.values["preceding_date"] = self._date(
                segment, "preceding_invoice.issue_date", "date de la facture d'origine"
            )
        elif self.group == "terms" and qualifier == "13":
            self.values["due_date"] = self._date(segment, "due_date", "date d'échéance")

    def _ftx(self, segment: Segment) -> None:
        subject = component(segment, 0)
        text = " ".join(part for part in _parts(segment, 3) if part)
        if self.group == "line":
            if subject == "ACB":
                self._line.note = text
        elif subject == "AAB":
            self.values["terms"] = text
        elif subject == "AGM":
            self.values["exemption"] = (text or None, component(segment, 2) or None)
        elif subject != "DOC" and text:
            self.values["notes"].append(text)

    def _rff(self, segment: Segment) -> None:
        qualifier, value = component(segment, 0), component(segment, 0, 1)
        if self.group in ("header", "reference"):
            self.group, self.reference = "reference", qualifier
            if qualifier == "AAK":
                self.values["delivery_notes"].append(value)
            elif qualifier in HEADER_REFERENCES:
                self.values[HEADER_REFERENCES[qualifier]] = value
        elif self.group == "party" and self.party is not None:
            if qualifier == "GN":
                self.party.legal_id = value
            elif qualifier == "VA":
                self.party.vat_id = value
            elif self.party is self.parties.get("BY") and qualifier == "CR":
                self.values["service_code"] = value
            elif self.party is self.parties.get("BY") and qualifier == "AOU":
                self.values["accounting"] = value

    def _nad(self, segment: Segment) -> None:
        self.group = "party"
        qualifier = component(segment, 0)
        if qualifier not in ("SE", "BY"):
            self.party = None  # payee, tax representative, delivery place: not in the model
            return
        street = _parts(segment, 4)
        self.party = self.parties[qualifier] = _Party(
            position=self.position,
            identifier=component(segment, 1),
            scheme=component(segment, 1, 1),
            name=component(segment, 3),
            trading_name=component(segment, 3, 1) or None,
            address=Address(
                line1=street[0] or None,
                line2=street[1] or None,
                line3=street[2] or None,
                city=component(segment, 5) or None,
                country_subdivision=component(segment, 6, 3) or component(segment, 6) or None,
                postcode=component(segment, 7) or None,
                country=component(segment, 8) or "FR",
            ),
        )

    def _fii(self, segment: Segment) -> None:
        if self.party is self.parties.get("SE") and component(segment, 0) == "RB":
            self.values["iban"] = component(segment, 1) or None
            self.values["account_name"] = component(segment, 1, 1) or None
            self.values["bic"] = component(segment, 2) or None

    def _com(self, segment: Segment) -> None:
        if self.group == "party" and self.party is not None and component(segment, 0, 1) == "EM":
            self.party.email = self.party.email or component(segment, 0)

    def _cux(self, segment: Segment) -> None:
        self.group = "header"
        if component(segment, 0) == "2":
            self.values["currency"] = component(segment, 0, 1)

    def _pyt(self, segment: Segment) -> None:
        self.group = "terms"

    def _pai(self, segment: Segment) -> None:
        self.values["means"] = component(segment, 0, 2) or None

    def _alc(self, segment: Segment) -> None:
        charge = component(segment, 0) == "C"
        self.allowance = _AllowanceCharge(
            self.position,
            charge,
            reason=component(segment, 1) or None,
            reason_code=(component(segment, 4) if charge else component(segment, 1, 1)) or None,
        )
        if self.lines:  # SG39 in the line group: BG-27 / BG-28, or the price discount
            self.group = "line_allowance"
            self._line.adjustments.append(self.allowance)
        else:
            self.group = "allowance"
            self.allowances.append(self.allowance)

    def _pcd(self, segment: Segment) -> None:
        if self.group in ("allowance", "line_allowance") and self.allowance is not None:
            self.allowance.percent = self._number(
                component(segment, 0, 1), self._allowance_field("percent"), "pourcentage"
            )

    def _allowance_field(self, name: str) -> str:
        charge = bool(self.allowance and self.allowance.charge)
        kind = "charges" if charge else "allowances"
        if self.group == "line_allowance":
            same = [item for item in self._line.adjustments if not item.price_discount]
            index = sum(1 for item in same if item.charge == charge) - 1
            return self._line_field(f"{kind}[{index}].{name}")
        index = sum(1 for item in self.allowances if item.charge == charge) - 1
        return f"{kind}[{index}].{name}"

    def _moa(self, segment: Segment) -> None:
        qualifier, text = component(segment, 0), component(segment, 0, 1)
        if self.group == "summary" and qualifier in TOTALS:
            name = TOTALS[qualifier]
            self.totals[name] = self._number(text, f"totals.{name}", f"total MOA+{qualifier}")
        elif self.group == "line" and qualifier == "203":
            self._line.line_amount = self._number(text, self._line_field("line_amount"), "montant")
        elif self.group == "line_allowance" and qualifier == "509" and self.allowance:
            self.allowance.price_discount = True
            self._line.price_discount = self._number(
                text, self._line_field("price_discount"), "remise sur le prix"
            )
        elif self.group in ("allowance", "line_allowance") and self.allowance is not None:
            if qualifier in ("204", "23"):
                self.allowance.amount = self._number(
                    text, self._allowance_field("amount"), "montant"
                )
            elif qualifier == "25":
                self.allowance.base_amount = self._number(
                    text, self._allowance_field("base_amount"), "assiette"
                )

    def _tax(self, segment: Segment) -> None:
        if component(segment, 1) != "VAT":
            return
        rate_text, category = component(segment, 4, 3), component(segment, 5) or None
        if self.group == "line":
            if rate_text:
                self._line.vat_rate = self._number(rate_text, self._line_field("vat_rate"), "taux")
            self._line.vat_category = category
        elif self.group == "allowance" and self.allowance is not None:
            if rate_text:
                self.allowance.vat_rate = self._number(
                    rate_text, self._allowance_field("vat_rate"), "taux"
                )
            self.allowance.vat_category = category
        elif self.group == "summary":
            self.group = "summary_tax"  # the breakdown is recomputed by the gateway

    def _lin(self, segment: Segment) -> None:
        self.group = "line"
        gtin = component(segment, 2, 1) in GTIN_TYPES
        self.lines.append(
            _Line(
                self.position,
                id=component(segment, 0) or None,
                item_id=component(segment, 2) if gtin else None,
            )
        )

    def _pia(self, segment: Segment) -> None:
        if self.group != "line":
            return
        for element in range(1, len(segment.elements)):
            identifier, kind = component(segment, element), component(segment, element, 1)
            if kind == "SA" and identifier:
                self._line.seller_item_id = identifier
            elif kind in GTIN_TYPES and identifier and not self._line.item_id:
                self._line.item_id = identifier

    def _imd(self, segment: Segment) -> None:
        if self.group != "line":
            return
        text = component(segment, 2, 3)
        if component(segment, 0) == "F":
            self._line.name = text
        elif component(segment, 0) == "A":
            self._line.description = text

    def _qty(self, segment: Segment) -> None:
        if self.group == "line" and component(segment, 0) == "47":
            self._line.quantity = self._number(
                component(segment, 0, 1), self._line_field("quantity"), "quantité"
            )
            self._line.unit_code = component(segment, 0, 2) or "C62"

    def _pri(self, segment: Segment) -> None:
        if self.group != "line":
            return
        qualifier, text = component(segment, 0), component(segment, 0, 1)
        if qualifier == "AAA":
            self._line.net_price = self._number(text, self._line_field("net_price"), "prix net")
            base = component(segment, 0, 4)
            if base:
                self._line.base_quantity = self._number(
                    base, self._line_field("base_quantity"), "quantité de base"
                )
        elif qualifier == "AAB":
            self._line.gross_price = self._number(
                text, self._line_field("gross_price"), "prix brut"
            )

    def _uns(self, segment: Segment) -> None:
        self.group = "summary"

    # The invoice -------------------------------------------------------------------------

    def invoice(self) -> Invoice:
        values = self.values
        code, position = values.get("type", ("", self.start))
        if code not in TYPES_BY_CODE:
            self._fail(
                f"Type de document « {code} » non pris en charge "
                f"(attendu : {', '.join(TYPES_BY_CODE)}).",
                "type",
                position,
            )
        for key, label in (
            ("number", "numéro de facture (BGM) manquant"),
            ("issue_date", "date de facture (DTM+137) manquante"),
        ):
            if not values.get(key):
                self._fail(f"Message (segment {self.start}) : {label}.", key, self.start)
        if not self.lines:
            self._fail(f"Message (segment {self.start}) : aucune ligne (LIN).", "lines", self.start)
        preceding = None
        if values.get("preceding_number"):
            preceding = PrecedingInvoice(values["preceding_number"], values.get("preceding_date"))
        reason, reason_code = values.get("exemption", (None, None))
        return Invoice(
            number=values["number"],
            issue_date=values["issue_date"],
            seller=self._party("SE", "seller"),
            buyer=self._party("BY", "buyer"),
            lines=[self._build_line(index, line) for index, line in enumerate(self.lines)],
            type=TYPES_BY_CODE[code],
            currency=values.get("currency") or "EUR",
            due_date=values.get("due_date"),
            references=References(
                service_code=values.get("service_code"),
                engagement=values.get("engagement"),
                contract=values.get("contract"),
                buyer_accounting_reference=values.get("accounting"),
            ),
            preceding_invoice=preceding,
            delivery_notes=values["delivery_notes"],
            delivery_date=values.get("delivery_date"),
            allowances=self._allowances(charges=False),
            charges=self._allowances(charges=True),
            payment=self._payment(),
            notes=values["notes"],
            vat_exemption_reason=reason,
            vat_exemption_reason_code=reason_code,
            prepaid_amount=self.totals.get("prepaid", Decimal(0)),
            rounding_amount=self.totals.get("rounding", Decimal(0)),
            totals=Totals(**{name: self.totals.get(name) for name in TOTALS.values()})
            if self.totals
            else None,
        )

    def _party(self, qualifier: str, role: str) -> Party:
        party = self.parties.get(qualifier)
        if party is None or not party.name:
            who = "vendeur" if role == "seller" else "client"
            self._fail(
                f"Message (segment {self.start}) : nom du {who} (NAD+{qualifier}) manquant.",
                f"{role}.name",
                party.position if party else self.start,
            )
        siret = party.identifier if party.scheme == "0009" else None
        if siret is None and re.fullmatch(r"\d{14}", party.legal_id):
            siret = party.legal_id  # Chorus Pro practice: the SIRET as legal identifier
        return Party(
            name=party.name,
            siret=siret,
            vat_id=party.vat_id,
            address=party.address,
            email=party.email,
            trading_name=party.trading_name,
        )

    def _build_line(self, index: int, line: _Line) -> Line:
        for name, label, segment in (
            ("name", "désignation", "IMD+F"),
            ("quantity", "quantité", "QTY+47"),
            ("net_price", "prix net", "PRI+AAA"),
            ("vat_rate", "taux de TVA", "TAX"),
        ):
            if getattr(line, name) is None and not (name == "vat_rate" and line.vat_category):
                self._fail(
                    f"Ligne {index + 1} (LIN segment {line.position}) : {label} ({segment}) "
                    "manquant(e).",
                    f"lines[{index}].{name}",
                    line.position,
                )
        discount = line.price_discount
        if discount is None and line.gross_price is not None:
            discount = line.gross_price - line.net_price
        return Line(
            name=line.name,
            quantity=line.quantity,
            net_price=line.net_price,
            vat_rate=line.vat_rate if line.vat_rate is not None else Decimal(0),
            id=line.id,
            item_id=line.item_id,
            unit_code=line.unit_code,
            base_quantity=line.base_quantity,
            gross_price=line.gross_price,
            price_discount=discount,
            vat_category=line.vat_category,
            description=line.description,
            seller_item_id=line.seller_item_id,
            note=line.note,
            allowances=self._line_adjustments(index, line, charges=False),
            charges=self._line_adjustments(index, line, charges=True),
            line_amount=line.line_amount,
        )

    def _line_adjustments(self, index: int, line: _Line, *, charges: bool) -> list[LineAdjustment]:
        items = [
            item
            for item in line.adjustments
            if item.charge == charges and not (item.price_discount and item.amount is None)
        ]
        kind = "charges" if charges else "allowances"
        for position, item in enumerate(items):
            if item.amount is None:
                self._fail(
                    f"Segment {item.position} : montant (MOA+{'23' if charges else '204'}) "
                    f"de la ligne {index + 1} manquant.",
                    f"lines[{index}].{kind}[{position}].amount",
                    item.position,
                )
        return [
            LineAdjustment(
                amount=item.amount,
                reason=item.reason,
                reason_code=item.reason_code,
                percent=item.percent,
                base_amount=item.base_amount,
            )
            for item in items
        ]

    def _allowances(self, *, charges: bool) -> list[AllowanceCharge]:
        result = []
        for item in (item for item in self.allowances if item.charge == charges):
            field_prefix = f"{'charges' if charges else 'allowances'}[{len(result)}]"
            if item.amount is None:
                self._fail(
                    f"Segment {item.position} : montant (MOA+{'23' if charges else '204'}) "
                    "manquant.",
                    f"{field_prefix}.amount",
                    item.position,
                )
            if item.vat_rate is None and not item.vat_category:
                self._fail(
                    f"Segment {item.position} : TVA (TAX) manquante.",
                    f"{field_prefix}.vat_rate",
                    item.position,
                )
            result.append(
                AllowanceCharge(
                    amount=item.amount,
                    vat_rate=item.vat_rate if item.vat_rate is not None else Decimal(0),
                    reason=item.reason,
                    reason_code=item.reason_code,
                    vat_category=item.vat_category,
                    base_amount=item.base_amount,
                    percent=item.percent,
                )
            )
        return result

    def _payment(self) -> Payment | None:
        keys = ("means", "iban", "bic", "account_name", "remittance", "terms")
        if not any(self.values.get(key) for key in keys):
            return None
        return Payment(
            means_code=self.values.get("means"),
            iban=self.values.get("iban"),
            bic=self.values.get("bic"),
            account_name=self.values.get("account_name"),
            remittance_information=self.values.get("remittance"),
            terms=self.values.get("terms"),
        )


def _parts(segment: Segment, element: int) -> list[str]:
    """Return the components of a composite element, padded to five."""
    value = segment.elements[element] if element < len(segment.elements) else ""
    parts = value if isinstance(value, list) else [value]
    return parts + [""] * (5 - len(parts))


class EdifactFormat(FormatHandler):
    name = "edifact"
    media_types = ("application/edifact",)
    extensions = (".edi", ".edifact")
    description = "EN 16931 EDIFACT INVOIC D16B (CEN/TS 16931-3-4)"

    def sniff(self, data: bytes) -> bool:
        head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        return head[:3] in (b"UNA", b"UNB") and b"INVOIC" in head

    def parse(self, data: bytes) -> list[Invoice]:
        found = messages(segments(decode(data).lstrip()))
        for index, message in enumerate(found):  # counted before any line is read
            lines = sum(1 for _, segment in message if segment.tag == "LIN")
            check_lines(lines, None, f"invoices[{index}].lines" if len(found) > 1 else "lines")
        return [MessageReader(message).invoice() for message in found]

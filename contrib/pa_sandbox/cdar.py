"""Lifecycle messages: the UN/CEFACT CrossDomainAcknowledgementAndResponse (CDAR, D22B) as the
French CDV profile of XP Z12-012 uses it. The sandbox writes one per status it gives an
invoice, and reads the statuses a member deposits.

The elements (MDT-n are the profile's data ids), under rsm:AcknowledgementDocument/
ram:ReferenceReferencedDocument: IssuerAssignedID (MDT-87, the invoice number), TypeCode
(MDT-91), FormattedIssueDateTime (MDT-100, the invoice date), ProcessConditionCode (MDT-105, the
status code), ProcessCondition (MDT-106, its label), IssuerTradeParty/GlobalID (MDT-129, the
invoice issuer's SIREN, scheme 0002), SpecifiedDocumentStatus/ReasonCode (MDT-113) and Reason
(MDT-114).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
ROOT = f"{{{NS['rsm']}}}CrossDomainAcknowledgementAndResponse"
GUIDELINE = "urn.cpro.gouv.fr:1p0:CDV:invoice"  # MDT-3 between platforms (BR-FR-CDV-02)
SIREN_SCHEME = "0002"
ADDRESS_SCHEME = "0225"  # the electronic address (SIREN[_suffix]) of the directory
REFERENCE = "rsm:AcknowledgementDocument/ram:ReferenceReferencedDocument"


@dataclass(frozen=True)
class Party:
    siren: str
    name: str
    role: str  # UNTDID 3035: SE seller, BY buyer, WK platform


@dataclass(frozen=True)
class StatusMessage:
    """One status of one invoice, as a CDAR carries it."""

    invoice_number: str | None  # MDT-87
    invoice_issuer: str | None  # MDT-129 (SIREN)
    code: str | None  # MDT-105
    reason: str | None  # MDT-113
    reason_text: str | None  # MDT-114


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str):
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _party(parent: etree._Element, tag: str, party: Party, address: bool = False) -> None:
    element = _sub(parent, tag)
    _sub(element, "ram:GlobalID", party.siren, schemeID=SIREN_SCHEME)
    _sub(element, "ram:Name", party.name)
    _sub(element, "ram:RoleCode", party.role)
    if address:
        uri = _sub(element, "ram:URIUniversalCommunication")
        _sub(uri, "ram:URIID", party.siren, schemeID=ADDRESS_SCHEME)


def build(
    message_id: str,
    at: float,
    issuer: Party,
    recipient: Party,
    invoice: dict,
    status: tuple[str, str],
    reason: str | None = None,
) -> bytes:
    """A CDAR giving ``invoice`` (number, date, seller SIREN) the ``status`` (code, label)."""
    code, label = status
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y%m%d%H%M%S")
    root = etree.Element(ROOT, nsmap=NS)
    context = _sub(root, "rsm:ExchangedDocumentContext")
    _sub(_sub(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)
    exchanged = _sub(root, "rsm:ExchangedDocument")
    _sub(exchanged, "ram:ID", message_id)  # MDT-4
    _sub(_sub(exchanged, "ram:IssueDateTime"), "udt:DateTimeString", stamp, format="204")
    _party(exchanged, "ram:IssuerTradeParty", issuer)
    _party(exchanged, "ram:RecipientTradeParty", recipient, address=True)
    acknowledgement = _sub(root, "rsm:AcknowledgementDocument")
    _sub(_sub(acknowledgement, "ram:MultipleReferencesIndicator"), "udt:Indicator", "false")
    _sub(acknowledgement, "ram:TypeCode", "305")
    _sub(_sub(acknowledgement, "ram:IssueDateTime"), "udt:DateTimeString", stamp, format="204")
    reference = _sub(acknowledgement, "ram:ReferenceReferencedDocument")
    _sub(reference, "ram:IssuerAssignedID", invoice["number"])
    _sub(reference, "ram:TypeCode", "380")
    if invoice.get("date"):
        formatted = _sub(reference, "ram:FormattedIssueDateTime")
        _sub(formatted, "qdt:DateTimeString", invoice["date"].replace("-", ""), format="102")
    _sub(reference, "ram:ProcessConditionCode", code)
    _sub(reference, "ram:ProcessCondition", label)
    seller = _sub(reference, "ram:IssuerTradeParty")
    _sub(seller, "ram:GlobalID", invoice["seller"], schemeID=SIREN_SCHEME)
    if reason:
        _sub(_sub(reference, "ram:SpecifiedDocumentStatus"), "ram:ReasonCode", reason)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _text(node: etree._Element, path: str) -> str | None:
    found = node.xpath(path, namespaces=NS)
    value = (found[0].text or "").strip() if found else ""
    return value or None


def read(root: etree._Element) -> list[StatusMessage]:
    """The statuses of a parsed CDAR, one per referenced invoice; [] if it is no CDAR."""
    if root.tag != ROOT:
        return []
    messages = []
    for reference in root.xpath(REFERENCE, namespaces=NS):
        issuer = _text(reference, f"ram:IssuerTradeParty/ram:GlobalID[@schemeID='{SIREN_SCHEME}']")
        status = "ram:SpecifiedDocumentStatus/"
        messages.append(
            StatusMessage(
                invoice_number=_text(reference, "ram:IssuerAssignedID"),
                invoice_issuer=issuer or _text(reference, "ram:IssuerTradeParty/ram:GlobalID"),
                code=_text(reference, "ram:ProcessConditionCode"),
                reason=_text(reference, status + "ram:ReasonCode"),
                reason_text=_text(reference, status + "ram:Reason"),
            )
        )
    return messages

"""The member's lifecycle messages about invoices it received: a UN/CEFACT
CrossDomainAcknowledgementAndResponse (CDAR, D22B) as XP Z12-012's lifecycle profile uses
it, carrying one status (205 Approuvée, 210 Refusée with its reason code…) about one invoice.

Under ``rsm:AcknowledgementDocument/ram:ReferenceReferencedDocument`` (MDT-n: the data ids
of XP Z12-012): ``IssuerAssignedID`` (MDT-87, the invoice number), ``TypeCode`` (MDT-91),
``FormattedIssueDateTime`` (MDT-100, the invoice date), ``ProcessConditionCode`` (MDT-105,
the status), ``ProcessCondition`` (MDT-106, its label), ``IssuerTradeParty/GlobalID``
(MDT-129, the invoice issuer's SIREN, scheme 0002), ``SpecifiedDocumentStatus/ReasonCode``
(MDT-113) and ``Reason`` (MDT-114). The invoice's facts are read from the original the
platform delivered (:func:`invoice_facts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import facturx
from lxml import etree

from gateway.plugin_api import looks_like_xml, parse_xml
from plugins.pa.lifecycle import CDAR_STATUSES

RSM = "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
CII_NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100", "ram": RAM,
          "udt": UDT}  # fmt: skip
#: MDT-3 between platforms.
GUIDELINE = "urn.cpro.gouv.fr:1p0:CDV:invoice"
#: AcknowledgementDocument/TypeCode of a lifecycle message; the referenced invoice's
#: TypeCode (UNTDID 1001).
ACKNOWLEDGEMENT_TYPE = "305"
INVOICE_TYPE = "380"
SIREN_SCHEME = "0002"
#: Where the invoices' facts are: CII (Factur-X's XML too) and UBL.
CII_PATHS = {
    "number": "rsm:ExchangedDocument/ram:ID",
    "date": "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString",
    "seller": "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/"
    "ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID",
    "buyer": "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/"
    "ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID",
}
UBL_NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
UBL_PATHS = {
    "number": "cbc:ID",
    "date": "cbc:IssueDate",
    "seller": "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID",
    "buyer": "cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID",
}


@dataclass(frozen=True)
class InvoiceFacts:
    """What a lifecycle message says of the invoice it is about."""

    number: str
    date: str | None  # YYYYMMDD
    seller_siren: str | None
    buyer_siren: str | None


def _siren(value: str | None) -> str | None:
    digits = "".join(c for c in value or "" if c.isdigit())
    return digits[:9] if len(digits) >= 9 else None


def invoice_facts(content: bytes) -> InvoiceFacts | None:
    """Number, date, seller and buyer SIREN of a CII, UBL or Factur-X invoice; None if the
    document is none of them."""
    if content.startswith(b"%PDF"):
        try:
            _, content = facturx.get_xml_from_pdf(content, check_xsd=False)
        except Exception:  # noqa: BLE001 (a PDF without its XML is no Factur-X)
            return None
        if not content:
            return None
    if not looks_like_xml(content):
        return None
    root = parse_xml(content)
    if root.tag.endswith("CrossIndustryInvoice"):
        paths, namespaces = CII_PATHS, CII_NS
    elif etree.QName(root).localname in ("Invoice", "CreditNote"):
        paths, namespaces = UBL_PATHS, UBL_NS
    else:
        return None
    found = {
        key: (root.xpath(f"string({path})", namespaces=namespaces) or "").strip() or None
        for key, path in paths.items()
    }
    if not found["number"]:
        return None
    return InvoiceFacts(
        number=found["number"],
        date=(found["date"] or "").replace("-", "") or None,
        seller_siren=_siren(found["seller"]),
        buyer_siren=_siren(found["buyer"]),
    )


def _el(parent: etree._Element, tag: str, text: str | None = None, **attributes) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", **attributes)
    if text is not None:
        element.text = text
    return element


def _party(parent: etree._Element, tag: str, siren: str | None, role: str) -> None:
    if siren:
        party = _el(parent, tag)
        _el(party, "ram:GlobalID", siren, schemeID=SIREN_SCHEME)
        _el(party, "ram:RoleCode", role)


def lifecycle_message(
    invoice: InvoiceFacts,
    status: str,
    reason_code: str | None,
    reason: str | None,
    at: datetime,
    message_id: str,
) -> bytes:
    """The CDAR by which the invoice's buyer gives it ``status``."""
    stamp = at.strftime("%Y%m%d%H%M%S")
    root = etree.Element(f"{{{RSM}}}CrossDomainAcknowledgementAndResponse", nsmap=NSMAP)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)
    exchanged = _el(root, "rsm:ExchangedDocument")
    _el(exchanged, "ram:ID", message_id)  # MDT-4
    _el(_el(exchanged, "ram:IssueDateTime"), "udt:DateTimeString", stamp, format="204")
    _party(exchanged, "ram:IssuerTradeParty", invoice.buyer_siren, "BY")
    _party(exchanged, "ram:RecipientTradeParty", invoice.seller_siren, "SE")
    acknowledgement = _el(root, "rsm:AcknowledgementDocument")
    _el(_el(acknowledgement, "ram:MultipleReferencesIndicator"), "udt:Indicator", "false")
    _el(acknowledgement, "ram:TypeCode", ACKNOWLEDGEMENT_TYPE)
    _el(_el(acknowledgement, "ram:IssueDateTime"), "udt:DateTimeString", stamp, format="204")
    referenced = _el(acknowledgement, "ram:ReferenceReferencedDocument")
    _el(referenced, "ram:IssuerAssignedID", invoice.number)
    _el(referenced, "ram:TypeCode", INVOICE_TYPE)
    if invoice.date:
        issued = _el(referenced, "ram:FormattedIssueDateTime")
        _el(issued, "qdt:DateTimeString", invoice.date, format="102")
    _el(referenced, "ram:ProcessConditionCode", status)
    _el(referenced, "ram:ProcessCondition", CDAR_STATUSES.get(status, (None, status))[1])
    if invoice.seller_siren:
        _el(_el(referenced, "ram:IssuerTradeParty"), "ram:GlobalID", invoice.seller_siren,
            schemeID=SIREN_SCHEME)  # fmt: skip
    if reason_code or reason:
        explained = _el(referenced, "ram:SpecifiedDocumentStatus")
        if reason_code:
            _el(explained, "ram:ReasonCode", reason_code)
        if reason:
            _el(explained, "ram:Reason", reason)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class StatusMessage:
    """One status a CDAR gives one invoice."""

    number: str | None  # MDT-87
    seller_siren: str | None  # MDT-129, the invoice issuer's
    code: str  # MDT-105
    reason_code: str | None  # MDT-113
    reason: str | None  # MDT-114
    at: datetime | None  # the acknowledgement's IssueDateTime


def _when_read(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def statuses(content: bytes) -> list[StatusMessage]:
    """The statuses a CDAR document gives, one per referenced invoice; [] for anything
    else (an unreadable file is skipped, not fatal: the next poll reads the others)."""
    if not looks_like_xml(content):
        return []
    root = parse_xml(content)
    if root.tag != f"{{{RSM}}}CrossDomainAcknowledgementAndResponse":
        return []

    def text(node: etree._Element, path: str) -> str | None:
        return (node.xpath(f"string({path})", namespaces=NSMAP) or "").strip() or None

    acknowledgement = "rsm:AcknowledgementDocument"
    at = _when_read(text(root, f"{acknowledgement}/ram:IssueDateTime/udt:DateTimeString") or "")
    found = []
    for referenced in root.xpath(
        f"{acknowledgement}/ram:ReferenceReferencedDocument", namespaces=NSMAP
    ):
        code = text(referenced, "ram:ProcessConditionCode")
        if code:
            found.append(
                StatusMessage(
                    number=text(referenced, "ram:IssuerAssignedID"),
                    seller_siren=_siren(text(referenced, "ram:IssuerTradeParty/ram:GlobalID")),
                    code=code,
                    reason_code=text(referenced, "ram:SpecifiedDocumentStatus/ram:ReasonCode"),
                    reason=text(referenced, "ram:SpecifiedDocumentStatus/ram:Reason"),
                    at=at,
                )
            )
    return found

"""The member's lifecycle messages about invoices it received: a UN/CEFACT
CrossDomainAcknowledgementAndResponse (CDAR, D22B) carrying one XP Z12-012 status (205
Approuvée, 210 Refusée with its reason code…) about one referenced invoice flow.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from plugins.pa.lifecycle import CDAR_STATUSES

RSM = "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT}
#: ExchangedDocument/TypeCode of a lifecycle message (CDV), ReferenceReferencedDocument's
#: TypeCode of an invoice (UNTDID 1001).
MESSAGE_TYPE = "23"
INVOICE_TYPE = "380"
#: GuidelineSpecifiedDocumentContextParameter of the French lifecycle messages.
GUIDELINE = "urn.cpro.gouv.fr:1p0:CDV:invoice"


def _el(parent: etree._Element, tag: str, text: str | None = None, **attributes) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", **attributes)
    if text is not None:
        element.text = text
    return element


def _when(parent: etree._Element, tag: str, at: datetime) -> None:
    _el(_el(parent, tag), "udt:DateTimeString", at.strftime("%Y%m%d%H%M%S"), format="204")


def lifecycle_message(
    flow: dict,
    status: str,
    reason_code: str | None,
    reason: str | None,
    at: datetime,
    message_id: str,
    sender: str | None = None,
    recipient: str | None = None,
) -> bytes:
    """The CDAR document saying ``status`` about the invoice flow ``flow`` (its ``Flow``
    metadata), from the member (``sender``, a SIREN) to the invoice's issuer."""
    root = etree.Element(f"{{{RSM}}}CrossDomainAcknowledgementAndResponse", nsmap=NSMAP)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", message_id)
    _el(document, "ram:TypeCode", MESSAGE_TYPE)
    _when(document, "ram:IssueDateTime", at)
    for tag, siren in (("ram:SenderTradeParty", sender), ("ram:RecipientTradeParty", recipient)):
        if siren:
            _el(_el(document, tag), "ram:GlobalID", siren, schemeID="0002")
    acknowledgement = _el(root, "rsm:AcknowledgementDocument")
    _el(acknowledgement, "ram:TypeCode", MESSAGE_TYPE)
    _when(acknowledgement, "ram:IssueDateTime", at)
    referenced = _el(acknowledgement, "ram:ReferenceReferencedDocument")
    _el(referenced, "ram:IssuerAssignedID", str(flow.get("flowId") or ""))
    _el(referenced, "ram:TypeCode", INVOICE_TYPE)
    _el(referenced, "ram:ProcessConditionCode", status)
    _el(referenced, "ram:ProcessCondition", CDAR_STATUSES.get(status, (None, status))[1])
    if reason_code or reason:
        explained = _el(referenced, "ram:SpecifiedDocumentStatus")
        if reason_code:
            _el(explained, "ram:ReasonCode", reason_code)
        if reason:
            _el(explained, "ram:Reason", reason)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

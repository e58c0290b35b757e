"""Incoming invoices: the control API injects a supplier invoice for a member, who finds it with
a search, downloads it, and answers with CDAR flows the sandbox reads and records."""

from __future__ import annotations

import base64

from lxml import etree

from contrib.pa_sandbox import cdar as cdar_messages
from tests.contrib.pa_sandbox.conftest import SELLER_SIRET
from tests.contrib.pa_sandbox.schemas import FLOW, conforms

SUPPLIER = "55210055400013"  # another company's SIRET, on another platform
MEMBER = SELLER_SIRET[:9]  # the demo bookseller, buyer here

CDAR = """<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossDomainAcknowledgementAndResponse
    xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100"
    xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
    xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
  <rsm:ExchangedDocumentContext>
    <ram:GuidelineSpecifiedDocumentContextParameter>
      <ram:ID>urn.cpro.gouv.fr:1p0:CDV:invoice</ram:ID>
    </ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>{message}</ram:ID>
    <ram:IssueDateTime><udt:DateTimeString format="204">20261120100000</udt:DateTimeString>
    </ram:IssueDateTime>
  </rsm:ExchangedDocument>
  <rsm:AcknowledgementDocument>
    <ram:TypeCode>305</ram:TypeCode>
    <ram:ReferenceReferencedDocument>
      <ram:IssuerAssignedID>{number}</ram:IssuerAssignedID>
      <ram:TypeCode>380</ram:TypeCode>
      <ram:ProcessConditionCode>{code}</ram:ProcessConditionCode>
      <ram:IssuerTradeParty><ram:GlobalID schemeID="0002">{issuer}</ram:GlobalID>
      </ram:IssuerTradeParty>{status}
    </ram:ReferenceReferencedDocument>
  </rsm:AcknowledgementDocument>
</rsm:CrossDomainAcknowledgementAndResponse>
"""


def cdar(number: str, code: str, reason: str | None = None, issuer: str = SUPPLIER[:9]) -> bytes:
    status = (
        f"\n      <ram:SpecifiedDocumentStatus><ram:ReasonCode>{reason}</ram:ReasonCode>"
        "<ram:Reason>Commande inconnue</ram:Reason></ram:SpecifiedDocumentStatus>"
        if reason
        else ""
    )
    return CDAR.format(
        message=f"M-{number}-{code}", number=number, code=code, issuer=issuer, status=status
    ).encode()


def inject(pa, pa_documents, number: str, syntax: str = "CII") -> dict:
    kind = {"CII": "cii", "UBL": "ubl", "Factur-X": "facturx"}[syntax]
    content = pa_documents.document(
        kind, number, SELLER_SIRET, seller=SUPPLIER, buyer_layout="siren+siret", engagement=None
    )
    response = pa.control(
        "POST",
        "/inbound",
        json={"to": MEMBER, "syntax": syntax, "content_base64": base64.b64encode(content).decode()},
    )
    assert response.status_code == 201, response.text
    return response.json() | {"content": content}


def test_an_injected_invoice_is_found_and_downloaded_by_its_recipient(pa, pa_documents):
    injected = inject(pa, pa_documents, "IN-1")
    [found] = pa.results({"flowType": ["SupplierInvoice"], "flowDirection": ["In"]})
    assert conforms(found, FLOW)
    assert found["flowId"] == injected["flow_id"]
    assert found["acknowledgement"]["status"] == "Ok"
    assert found["flowSyntax"] == "CII"
    assert [s["status"] for s in found["lifecycle"]] == ["203"]
    original = pa.get(found["flowId"], "Original")
    assert original.content == injected["content"]
    assert injected["sender"] == SUPPLIER[:9]
    assert injected["invoice_number"] == "IN-1"


def test_ubl_and_facturx_invoices_can_be_injected(pa, pa_documents):
    inject(pa, pa_documents, "IN-2", "UBL")
    inject(pa, pa_documents, "IN-3", "Factur-X")
    found = pa.results({"flowType": ["SupplierInvoice"]})
    assert [f["flowSyntax"] for f in found] == ["UBL", "Factur-X"]


def test_injection_refuses_unknown_members_and_unreadable_files(pa):
    body = {"to": "000000000", "syntax": "CII", "content_base64": ""}
    assert pa.control("POST", "/inbound", json=body).status_code == 400
    broken = {"to": MEMBER, "syntax": "CII", "content_base64": base64.b64encode(b"<a>").decode()}
    assert pa.control("POST", "/inbound", json=broken).status_code == 422
    assert (
        pa.control("POST", "/inbound", json=body | {"to": MEMBER, "syntax": "PDF"}).status_code
        == 400
    )


def test_the_recipient_answers_with_cdar_flows_and_they_are_recorded(pa, pa_documents):
    invoice = inject(pa, pa_documents, "IN-4")["flow_id"]
    for code, reason in (("204", None), ("207", "QTE_ERR"), ("210", "CMD_ERR")):
        pa.deposited(cdar("IN-4", code, reason), "CDAR", name=f"cdar-{code}.xml")
    pa.step()
    answers = pa.control("GET", f"/inbound/{invoice}/answers").json()["answers"]
    assert [(a["code"], a["reason"]) for a in answers] == [
        ("204", None),
        ("207", "QTE_ERR"),
        ("210", "CMD_ERR"),
    ]
    assert answers[2]["label"] == "Refusée"
    sent = pa.results({"flowType": ["SupplierInvoiceLC"], "flowDirection": ["Out"]})
    assert [f["flowId"] for f in sent] == [a["cdarFlowId"] for a in answers]
    assert all(f["acknowledgement"]["status"] == "Ok" for f in sent)
    lifecycle = pa.metadata(invoice)["lifecycle"]
    assert [s["status"] for s in lifecycle] == ["203", "204", "207", "210"]


def test_wrong_answers_are_acknowledged_in_error(pa, pa_documents):
    invoice = inject(pa, pa_documents, "IN-5")["flow_id"]
    unknown = pa.deposited(cdar("NO-SUCH", "205"), "CDAR")
    not_buyer_status = pa.deposited(cdar("IN-5", "212"), "CDAR")
    no_reason = pa.deposited(cdar("IN-5", "210"), "CDAR")
    other_issuer = pa.deposited(cdar("IN-5", "205", issuer="999999998"), "CDAR")
    not_cdar = pa.deposited(pa_documents.xml("X", SUPPLIER), "CDAR")
    pa.step()

    def codes(flow_id):
        details = pa.metadata(flow_id)["acknowledgement"]["details"]
        return [(d["item"], d["reasonCode"]) for d in details]

    assert codes(unknown) == [("MDT-87", "InvoiceLCRuleError")]
    assert codes(not_buyer_status) == [("MDT-105", "InvoiceLCStatusError")]
    assert codes(no_reason) == [("MDT-113", "InvoiceLCRuleError")]
    assert codes(other_issuer) == [("MDT-87", "InvoiceLCRuleError")]
    assert codes(not_cdar) == [("file", "FlowTypeError")]
    assert pa.control("GET", f"/inbound/{invoice}/answers").json()["answers"] == []


def test_the_issuer_of_an_invoice_says_it_is_paid_with_a_cdar(pa, pa_documents):
    flow_id = pa.deposited(pa_documents.xml("OUT-1", SUPPLIER))
    pa.step()
    pa.deposited(cdar("OUT-1", "212", issuer=MEMBER), "CDAR")
    pa.step()
    assert [s["status"] for s in pa.metadata(flow_id)["lifecycle"]][-1] == "212"
    [sent] = pa.results({"flowType": ["CustomerInvoiceLC"], "flowDirection": ["Out"]})
    assert sent["acknowledgement"]["status"] == "Ok"


def test_between_two_members_the_buyer_receives_and_its_answer_reaches_the_seller(
    pa_server, pa_documents
):
    seller = pa_server.client
    other = seller.control("GET", "/credentials").json()["clients"][1]
    buyer = type(seller)(pa_server.url, other)
    try:
        sent = seller.deposited(pa_documents.xml("MM-1", other["siren"] + "00013"))
        seller.step()
        [received] = buyer.results({"flowType": ["SupplierInvoice"]})
        assert (
            buyer.get(received["flowId"], "Original").content
            == seller.get(sent, "Original").content
        )
        buyer.deposited(cdar("MM-1", "205", issuer=MEMBER), "CDAR")
        buyer.step()
        assert [s["status"] for s in seller.metadata(sent)["lifecycle"]] == ["200", "203", "205"]
        codes = []
        for flow in seller.results({"flowType": ["CustomerInvoiceLC"]}):
            [message] = cdar_messages.read(
                etree.fromstring(seller.get(flow["flowId"], "Original").content)
            )
            codes.append(message.code)
        assert codes == ["200", "203", "205"]
        answers = seller.control("GET", f"/inbound/{received['flowId']}/answers").json()
        assert [a["code"] for a in answers["answers"]] == ["205"]
    finally:
        buyer.close()

"""Lifecycle statuses (XP Z12-012) of a deposited invoice, driven by the control API: the issuer
sees each one in the invoice's Metadata and as a CDAR flow it finds with a search."""

from __future__ import annotations

from lxml import etree

from contrib.pa_sandbox import cdar
from tests.contrib.pa_sandbox.conftest import SELLER
from tests.contrib.pa_sandbox.schemas import FLOW, conforms

BUYER = "38012345600012"


def _deposited_ok(pa, pa_documents, number: str) -> str:
    flow_id = pa.deposited(pa_documents.xml(number, BUYER))
    pa.step()
    return flow_id


def _statuses(pa, flow_id: str) -> list[tuple[str, str | None]]:
    return [(s["status"], s.get("reasonCode")) for s in pa.metadata(flow_id)["lifecycle"]]


def test_an_acknowledged_invoice_is_deposited_200(pa, pa_documents):
    flow_id = pa.deposited(pa_documents.xml("LC-1", BUYER))
    assert pa.metadata(flow_id)["lifecycle"] == []
    pa.step()
    lifecycle = pa.metadata(flow_id)["lifecycle"]
    assert [(s["status"], s["label"]) for s in lifecycle] == [("200", "Déposée")]
    assert lifecycle[0]["date"].endswith("Z")


def test_control_statuses_reach_the_metadata_and_cdar_flows(pa, pa_documents):
    flow_id = _deposited_ok(pa, pa_documents, "LC-2")
    for code in ("201", "202", "203", "205"):
        response = pa.control("POST", f"/flows/{flow_id}/status", json={"code": code})
        assert response.status_code == 200, response.text
    refused = pa.control(
        "POST", f"/flows/{flow_id}/status", json={"code": "210", "reason": "CMD_ERR"}
    )
    assert refused.status_code == 200
    assert _statuses(pa, flow_id) == [
        ("200", None),
        ("201", None),
        ("202", None),
        ("203", None),
        ("205", None),
        ("210", "CMD_ERR"),
    ]
    lifecycles = pa.results({"flowType": ["CustomerInvoiceLC"], "flowDirection": ["In"]})
    assert len(lifecycles) == 6
    for flow in lifecycles:
        assert conforms(flow, FLOW)
        assert flow["flowSyntax"] == "CDAR"
        assert flow["acknowledgement"]["status"] == "Ok"
    last = pa.get(lifecycles[-1]["flowId"], "Original")
    assert last.headers["content-type"] == "application/xml"
    root = etree.fromstring(last.content)
    assert root.tag == cdar.ROOT
    [message] = cdar.read(root)
    assert message == cdar.StatusMessage("LC-2", SELLER, "210", "CMD_ERR", None)
    label = root.xpath("//ram:ProcessCondition", namespaces=cdar.NS)[0].text
    assert label == "Refusée"
    buyer = root.xpath("rsm:ExchangedDocument/ram:IssuerTradeParty", namespaces=cdar.NS)[0]
    assert buyer.findtext(f"{{{cdar.NS['ram']}}}RoleCode") == "BY"
    assert buyer.findtext(f"{{{cdar.NS['ram']}}}GlobalID") == BUYER[:9]


def test_refusals_and_rejections_need_a_reason_of_the_standard(pa, pa_documents):
    flow_id = _deposited_ok(pa, pa_documents, "LC-3")
    for body in (
        {"code": "210"},
        {"code": "213"},
        {"code": "210", "reason": "REJ_SEMAN"},
        {"code": "213", "reason": "CMD_ERR"},
        {"code": "205", "reason": "CMD_ERR"},
        {"code": "299"},
    ):
        response = pa.control("POST", f"/flows/{flow_id}/status", json=body)
        assert response.status_code == 400, body
    rejected = pa.control(
        "POST", f"/flows/{flow_id}/status", json={"code": "213", "reason": "REJ_SEMAN"}
    )
    assert rejected.status_code == 200
    assert _statuses(pa, flow_id)[-1] == ("213", "REJ_SEMAN")


def test_only_acknowledged_invoices_get_statuses(pa, pa_documents):
    pending = pa.deposited(pa_documents.xml("LC-4", BUYER))
    response = pa.control("POST", f"/flows/{pending}/status", json={"code": "205"})
    assert response.status_code == 409
    assert pa.control("POST", "/flows/nope/status", json={"code": "205"}).status_code == 404


def test_lifecycle_flows_are_found_after_the_last_seen_update(pa, pa_documents):
    flow_id = _deposited_ok(pa, pa_documents, "LC-5")
    seen = pa.results({"flowType": ["CustomerInvoiceLC"]})
    pa.control("POST", f"/flows/{flow_id}/status", json={"code": "212"})
    news = pa.results({"flowType": ["CustomerInvoiceLC"], "updatedAfter": seen[-1]["updatedAt"]})
    assert len(news) == 1
    [message] = cdar.read(etree.fromstring(pa.get(news[0]["flowId"], "Original").content))
    assert (message.invoice_number, message.code) == ("LC-5", "212")

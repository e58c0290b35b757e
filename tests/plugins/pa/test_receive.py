"""Receiving suppliers' invoices through the PA sandbox and answering them with CDAR
lifecycle messages, as the core's inbound side calls the outlet."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from gateway.outlets import ReceiveContext, TransientOutletError
from gateway.schemas import load_invoice
from gateway.testing.outlets import SAMPLE_INVOICE, installed_registry
from plugins.pa import cdar
from plugins.pa.api import OVERLAP, resume_after
from plugins.pa.oauth import TokenCache
from plugins.pa.outlet import PaOutlet
from tests.plugins.pa.sandbox import pa_sandbox  # noqa: F401 (fixture)


def supplier_invoice(number: str, syntax: str) -> bytes:
    renderer = {"CII": "cii", "UBL": "ubl", "Factur-X": "facturx"}[syntax]
    invoice = load_invoice({**SAMPLE_INVOICE, "number": number})
    return installed_registry().renderers[renderer].render(invoice, profile="fr-2026")


def inject(sandbox, number: str, syntax: str = "CII") -> tuple[str, bytes]:
    content = supplier_invoice(number, syntax)
    body = {
        "to": sandbox.credentials["siren"],
        "syntax": syntax,
        "content_base64": base64.b64encode(content).decode(),
    }
    made = sandbox.control.post("/inbound", json=body)
    assert made.status_code == 201, made.text
    return made.json()["flow_id"], content


@pytest.fixture
def outlet():
    made = PaOutlet({"timeout": 5.0}, tokens=TokenCache())
    yield made
    made.http.close()


@pytest.mark.parametrize("syntax", ["CII", "UBL", "Factur-X"])
def test_facts_of_an_invoice_are_read_whatever_its_syntax(syntax):
    facts = cdar.invoice_facts(supplier_invoice("FA-R-1", syntax))
    assert facts is not None and facts.number == "FA-R-1"
    assert facts.date == SAMPLE_INVOICE["issue_date"].replace("-", "")
    assert facts.seller_siren and len(facts.seller_siren) == 9
    assert cdar.invoice_facts(b"<html/>") is None


def test_incoming_invoices_are_received_once_then_answered(outlet, pa_sandbox):  # noqa: F811
    settings = pa_sandbox.settings()
    flow_id, content = inject(pa_sandbox, "FOURN-001")
    flows, state = outlet.receive(ReceiveContext("m1", settings))
    (flow,) = [f for f in flows if f.reference == flow_id]
    assert flow.content == content and flow.media_type == "application/xml"
    assert flow.data["flowSyntax"] == "CII" and flow.received_at is not None
    assert datetime.fromisoformat(state["updated_after"]) <= datetime.now(UTC)
    # from the cursor on: what came before is not listed again (beyond the overlap)
    later_id, _ = inject(pa_sandbox, "FOURN-002", "Factur-X")
    again, state = outlet.receive(ReceiveContext("m1", settings, state))
    references = [f.reference for f in again]
    assert later_id in references and references.count(flow_id) <= 1

    answer = outlet.answer(
        flow_id, "210", "TX_TVA_ERR", "Taux de TVA erroné", ReceiveContext("m1", settings, state)
    )
    assert answer and answer != flow_id
    pa_sandbox.step()  # the platform reads the CDAR
    held = pa_sandbox.flow(answer)
    assert held["ack_status"] == "Ok", held
    answers = pa_sandbox.control.get(f"/inbound/{flow_id}/answers").json()["answers"]
    assert [(a["code"], a["reason"], a["cdarFlowId"]) for a in answers] == [
        ("210", "TX_TVA_ERR", answer)
    ]
    # the same answer again is the same message, not a second one
    assert (
        outlet.answer(flow_id, "210", "TX_TVA_ERR", None, ReceiveContext("m1", settings)) == answer
    )


def test_the_same_status_answered_again_is_sent_again(outlet, pa_sandbox):  # noqa: F811
    settings = pa_sandbox.settings()
    flow_id, _ = inject(pa_sandbox, "FOURN-204-208-204")
    sent = [
        outlet.answer(flow_id, code, None, None, ReceiveContext("m1", settings, answer_id=ident))
        for code, ident in (("204", "ans_1"), ("208", "ans_2"), ("204", "ans_3"))
    ]
    assert len(set(sent)) == 3
    # a retry of an answer is the answer already sent
    again = ReceiveContext("m1", settings, answer_id="ans_3")
    assert outlet.answer(flow_id, "204", None, None, again) == sent[2]
    pa_sandbox.step()
    answers = pa_sandbox.control.get(f"/inbound/{flow_id}/answers").json()["answers"]
    assert [a["code"] for a in answers] == ["204", "208", "204"]


def test_a_transient_failure_ends_the_call_and_the_next_one_reads_the_flow(outlet, pa_sandbox):  # noqa: F811, E501
    settings = pa_sandbox.settings()
    _, state = outlet.receive(ReceiveContext("m1", settings))
    failing, _ = inject(pa_sandbox, "FOURN-EN-PANNE")
    after, _ = inject(pa_sandbox, "FOURN-APRES")
    path = f"/flow-service/v1/flows/{failing}"
    pa_sandbox.faults(error_rate=1.0, error_statuses=[503], paths=[path])
    try:
        with pytest.raises(TransientOutletError):
            outlet.receive(ReceiveContext("m1", settings, state))
    finally:
        pa_sandbox.clear_faults()
    flows, _ = outlet.receive(ReceiveContext("m1", settings, state))  # the cursor unmoved
    assert [f.reference for f in flows] == [failing, after]


def test_a_flow_over_the_size_cap_is_skipped(outlet, pa_sandbox):  # noqa: F811
    settings = pa_sandbox.settings()
    _, state = outlet.receive(ReceiveContext("m1", settings))
    large, content = inject(pa_sandbox, "FOURN-GROSSE", "Factur-X")
    small, _ = inject(pa_sandbox, "FOURN-PETITE", "CII")
    outlet.max_download = len(content) - 1
    flows, state = outlet.receive(ReceiveContext("m1", settings, state))
    assert [f.reference for f in flows] == [small]
    assert large in state["seen"]  # skipped for good: the cursor went past it


def test_one_call_fetches_a_bounded_number_of_flows_and_the_next_goes_on(outlet, pa_sandbox):  # noqa: F811
    settings = pa_sandbox.settings()
    _, state = outlet.receive(ReceiveContext("m1", settings))
    made = [inject(pa_sandbox, f"FOURN-LOT-{n}")[0] for n in range(3)]
    outlet.receive_most = 2
    first, state = outlet.receive(ReceiveContext("m1", settings, state))
    second, state = outlet.receive(ReceiveContext("m1", settings, state))
    third, _ = outlet.receive(ReceiveContext("m1", settings, state))
    assert len(first) == 2 and [f.reference for f in first + second] == made and third == []


def test_search_pages_resume_on_times_not_strings_with_an_overlap():
    flows = [
        {"flowId": "a", "updatedAt": "2026-12-03T10:00:00Z"},
        {"flowId": "b", "updatedAt": "2026-12-03T10:00:00.500000+00:00"},
    ]
    after = resume_after(flows, None)
    assert after == datetime(2026, 12, 3, 10, 0, 0, 500000, tzinfo=UTC) - OVERLAP
    # flows sharing the boundary time are searched again, never skipped
    assert resume_after([{"flowId": "c", "updatedAt": "2026-12-03T10:00:00.5Z"}], None) == after
    # a page that does not move the bound on ends the search
    assert resume_after(flows, after) is None
    assert resume_after([{"flowId": "d"}], None) is None

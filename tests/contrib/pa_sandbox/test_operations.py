"""What a PA client must survive and rely on: faults (outage, 429, lost answers, slowness),
webhooks, and a state that survives a restart."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from contrib.pa_sandbox.webhooks import SIGNATURE_HEADER, sign
from tests.contrib.pa_sandbox.conftest import SELLER
from tests.contrib.pa_sandbox.schemas import ERROR, WEBHOOK_CALLBACK, conforms
from tests.gateway.test_webhooks import Receiver

BUYER = "38012345600012"
SECRET = "s3cret-for-the-webhook-tests"


def faults(pa, **plan) -> None:
    response = pa.control("PUT", "/faults", json=plan)
    assert response.status_code == 200, response.text


# -- faults --------------------------------------------------------------------------------------


def test_an_outage_answers_503_in_the_annex_error_shape(pa, pa_documents):
    pa.headers()  # a token before the outage
    faults(pa, fail_next=2, error_statuses=[503])
    assert pa.token().status_code == 503
    response = pa.deposit(pa_documents.xml("F-1", BUYER))
    assert response.status_code == 503
    assert conforms(response.json(), ERROR)
    assert response.json()["errorCode"] == "RESOURCE_ERROR"
    assert pa.deposit(pa_documents.xml("F-1", BUYER)).status_code == 202
    assert pa.control("GET", "/counters").json()["faults"]["error"] == 2


def test_too_many_requests_come_with_retry_after(pa):
    headers = pa.headers()
    faults(pa, error_rate=1, error_statuses=[429])
    response = pa.http.get("/flow-service/v1/healthcheck", headers=headers)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["errorCode"] == "TOO_MANY_REQUESTS"
    assert pa.control("DELETE", "/faults").status_code == 204
    assert pa.http.get("/flow-service/v1/healthcheck", headers=headers).status_code == 200


def test_a_lost_answer_keeps_the_deposit_and_a_retry_is_not_a_second_one(pa, pa_documents):
    content = pa_documents.xml("F-2", BUYER)
    pa.headers()
    faults(pa, timeout_rate=1, timeout_seconds=30, paths=["/flow-service/v1/flows"])
    with pytest.raises(httpx.ReadTimeout):
        pa.http.post(
            "/flow-service/v1/flows",
            files={
                "flowInfo": (None, json.dumps({"flowSyntax": "CII", "trackingId": "lost-1"})),
                "file": ("f.xml", content),
            },
            headers=pa.headers(),
            timeout=0.5,
        )
    pa.control("DELETE", "/faults")
    [kept] = pa.results({"trackingId": "lost-1"})
    again = pa.deposit(content, trackingId="lost-1")
    assert again.json()["flowId"] == kept["flowId"]
    counters = pa.control("GET", "/counters").json()
    assert counters["deposits"]["lost-1"] == 2
    assert len(pa.results({"trackingId": "lost-1"})) == 1


def test_a_slow_answer_still_comes(pa):
    headers = pa.headers()
    faults(pa, slow_rate=1, slow_seconds=0.3)
    started = time.monotonic()
    assert pa.http.get("/flow-service/v1/healthcheck", headers=headers).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_bad_fault_plan_is_refused(pa):
    assert pa.control("PUT", "/faults", json={"error_rate": 2}).status_code == 400
    assert pa.control("PUT", "/faults", json={"colour": 1}).status_code == 400


# -- webhooks ------------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    instance = Receiver()
    instance.start()
    yield instance
    instance.stop()


def wait_for(condition, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError("the condition never held")


def test_webhooks_tell_acknowledgements_and_incoming_flows_signed(pa, pa_documents, receiver):
    response = pa.control("POST", "/webhooks", json={"url": receiver.url, "secret": SECRET})
    assert response.status_code == 201
    flow_id = pa.deposited(pa_documents.xml("W-1", BUYER))
    pa.step()  # the acknowledgement, then the 200 status's CDAR flow
    wait_for(lambda: len(receiver.received) >= 2)
    bodies = []
    for headers, body in receiver.received:
        signature = {k.lower(): v for k, v in headers.items()}[SIGNATURE_HEADER.lower()]
        assert signature == sign(SECRET, body)
        payload = json.loads(body)
        assert conforms(payload, WEBHOOK_CALLBACK)
        bodies.append(payload["flowInfo"])
    by_id = {flow["flowId"]: flow for flow in bodies}
    assert by_id[flow_id]["acknowledgement"]["status"] == "Ok"
    [lifecycle] = [f for f in bodies if f["flowType"] == "CustomerInvoiceLC"]
    assert lifecycle["flowDirection"] == "In"
    assert wait_for(lambda: pa.control("GET", "/webhooks").json()["sent"] >= 2)


def test_webhooks_only_go_to_loopback_with_a_real_secret(pa):
    for body in (
        {"url": "http://example.com/hook", "secret": SECRET},
        {"url": "ftp://127.0.0.1/hook", "secret": SECRET},
        {"url": "http://127.0.0.1:9/hook", "secret": "short"},
    ):
        assert pa.control("POST", "/webhooks", json=body).status_code == 400, body


def test_an_inbound_invoice_is_notified(pa, pa_documents, receiver):
    pa.control("POST", "/webhooks", json={"url": receiver.url, "secret": SECRET})
    content = pa_documents.xml("W-2", SELLER + "00017", seller="55210055400013")
    pa.control(
        "POST",
        "/inbound",
        json={"to": SELLER, "syntax": "CII", "content_base64": base64.b64encode(content).decode()},
    )
    wait_for(lambda: receiver.received)
    flow = json.loads(receiver.received[0][1])["flowInfo"]
    assert (flow["flowType"], flow["flowDirection"]) == ("SupplierInvoice", "In")


# -- persistence ---------------------------------------------------------------------------------


def test_the_state_survives_a_restart(pa_start, pa_documents, tmp_path):
    state = tmp_path / "kept.sqlite3"
    first = pa_start(state)
    pa = first.client
    client = pa.client
    flow_id = pa.deposited(pa_documents.xml("R-1", BUYER), trackingId="r-1")
    pa.step()
    pa.control("POST", f"/flows/{flow_id}/status", json={"code": "205"})
    first.stop()

    again = pa_start(state).client
    assert again.client == client  # the same credentials
    metadata = again.metadata(flow_id)
    assert metadata["acknowledgement"]["status"] == "Ok"
    assert [s["status"] for s in metadata["lifecycle"]] == ["200", "205"]
    assert again.control("GET", "/counters").json()["deposits"] == {"r-1": 1}
    newer = again.deposited(pa_documents.xml("R-2", BUYER))
    assert again.metadata(newer)["updatedAt"] > metadata["updatedAt"]


def test_reset_forgets_flows_but_not_clients(pa, pa_documents):
    flow_id = pa.deposited(pa_documents.xml("R-3", BUYER), trackingId="r-3")
    assert pa.control("POST", "/reset").status_code == 204
    assert pa.get(flow_id).status_code == 404
    assert pa.control("GET", "/counters").json()["deposits"] == {}
    assert pa.token().status_code == 200

"""The PA sandbox's token endpoint and Flow Service over HTTP on loopback: deposit, asynchronous
acknowledgement, search and its paging, download, health; answers checked against the annex."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
from pathlib import Path

import httpx

import contrib.pa_sandbox
from tests.contrib.pa_sandbox.conftest import SELLER
from tests.contrib.pa_sandbox.schemas import (
    ERROR,
    FLOW,
    FULL_FLOW_INFO,
    SEARCH_FLOW_CONTENT,
    conforms,
)

REPO = Path(contrib.pa_sandbox.__file__).resolve().parents[2]
BUYER = "38012345600012"  # a private company (SIRET)


# -- token and gatekeeping -----------------------------------------------------------------------


def test_token_endpoint_issues_a_bearer_token(pa):
    response = pa.token()
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert len(token["access_token"]) > 20
    assert response.headers["cache-control"] == "no-store"


def test_token_endpoint_refuses_a_wrong_secret_and_grant(pa):
    assert pa.token(client_secret="wrong").status_code == 401
    assert pa.token(client_secret="wrong").json() == {"error": "invalid_client"}
    assert pa.token(grant_type="password").json() == {"error": "unsupported_grant_type"}


def test_every_service_call_needs_a_valid_token(pa):
    for path in ("/flow-service/v1/healthcheck", "/flow-service/v1/flows/x"):
        response = pa.http.get(path)
        assert response.status_code == 401
        assert conforms(response.json(), ERROR)
        assert response.json()["errorCode"] == "MISSING_TOKEN"
        wrong = pa.http.get(path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["errorCode"] == "INVALID_TOKEN"
    assert pa.http.get("/flow-service/v1/healthcheck", headers=pa.headers()).status_code == 200


def test_expired_tokens_are_refused(pa, pa_clock):
    headers = pa.headers()
    pa_clock.advance(3601)
    response = pa.http.get("/flow-service/v1/healthcheck", headers=headers)
    assert response.status_code == 401


# -- deposit -------------------------------------------------------------------------------------


def test_deposit_answers_202_with_the_full_flow_info(pa, pa_documents):
    content = pa_documents.xml("FA-1", BUYER)
    response = pa.deposit(content, trackingId="t-1", name="FA-1.xml", flowProfile="CIUS")
    assert response.status_code == 202, response.text
    info = response.json()
    assert conforms(info, FULL_FLOW_INFO)
    assert info["trackingId"] == "t-1"
    assert info["sha256"] == hashlib.sha256(content).hexdigest()
    assert info["processingRule"] == "B2B"
    metadata = pa.metadata(info["flowId"])
    assert conforms(metadata, FLOW)
    assert metadata["acknowledgement"] == {"status": "Pending"}
    assert metadata["flowDirection"] == "Out"
    assert metadata["flowType"] == "CustomerInvoice"
    assert metadata["processingRuleSource"] == "Computed"
    assert metadata["submittedAt"] == metadata["updatedAt"] == info["submittedAt"]


def test_deposit_validates_the_flow_info(pa, pa_documents):
    content = pa_documents.xml("FA-2", BUYER)
    cases = [
        {"flowSyntax": "PDF"},
        {"flowSyntax": "CII", "flowProfile": "EN16931"},
        {"flowSyntax": "CII", "processingRule": "B2G"},
        {"flowSyntax": "CII", "trackingId": "x" * 37},
        {"flowSyntax": "CII", "sha256": "ABC"},
        {"flowSyntax": "CII", "colour": "blue"},
        {"flowProfile": "CIUS"},
    ]
    for info in cases:
        files = {"flowInfo": (None, json.dumps(info)), "file": ("f.xml", content)}
        response = pa.http.post("/flow-service/v1/flows", files=files, headers=pa.headers())
        assert response.status_code == 400, info
        assert conforms(response.json(), ERROR)
    missing_file = {"flowInfo": (None, json.dumps({"flowSyntax": "CII"}))}
    response = pa.http.post("/flow-service/v1/flows", files=missing_file, headers=pa.headers())
    assert response.status_code == 400
    response = pa.http.post(
        "/flow-service/v1/flows", json={"flowSyntax": "CII"}, headers=pa.headers()
    )
    assert response.status_code == 400


def test_deposit_refuses_a_file_over_the_size_limit(pa_start, pa_documents):
    pa = pa_start(max_file_bytes=1000).client
    response = pa.deposit(pa_documents.xml("FA-3", BUYER) + b" " * 1000)
    assert response.status_code == 413
    assert response.json()["errorCode"] == "FILE_SIZE_EXCEEDED"


def test_a_retried_deposit_returns_the_first_flow_and_is_counted(pa, pa_documents):
    content = pa_documents.xml("FA-4", BUYER)
    first = pa.deposited(content, trackingId="t-4")
    again = pa.deposit(content, trackingId="t-4")
    assert again.status_code == 202
    assert again.json()["flowId"] == first
    other_file = pa.deposit(pa_documents.xml("FA-5", BUYER), trackingId="t-4")
    assert other_file.status_code == 422
    assert conforms(other_file.json(), ERROR)
    counters = pa.control("GET", "/counters").json()
    assert counters["deposits"]["t-4"] == 3
    assert len(pa.results({"trackingId": "t-4"})) == 1


# -- acknowledgement -----------------------------------------------------------------------------


def test_a_good_invoice_is_acknowledged_ok_on_the_next_step(pa, pa_documents):
    flow_id = pa.deposited(pa_documents.xml("FA-6", BUYER), trackingId="t-6")
    before = pa.metadata(flow_id)
    assert pa.step() == [flow_id]
    after = pa.metadata(flow_id)
    assert conforms(after, FLOW)
    assert after["acknowledgement"] == {"status": "Ok"}
    assert after["updatedAt"] > before["updatedAt"]
    stored = pa.control("GET", f"/flows/{flow_id}").json()
    assert (stored["sender"], stored["recipient"], stored["invoice_number"]) == (
        SELLER,
        BUYER[:9],
        "FA-6",
    )


def test_ubl_and_facturx_invoices_are_acknowledged_ok(pa, pa_documents):
    ubl = pa.deposited(pa_documents.xml("FA-7", BUYER, syntax="ubl"), "UBL")
    facturx = pa.deposited(pa_documents.facturx("FA-8", BUYER), "Factur-X", name="FA-8.pdf")
    pa.step()
    assert pa.metadata(ubl)["acknowledgement"]["status"] == "Ok"
    assert pa.metadata(facturx)["acknowledgement"]["status"] == "Ok"


def _error_codes(pa, flow_id: str) -> list[str]:
    metadata = pa.metadata(flow_id)
    assert conforms(metadata, FLOW)
    assert metadata["acknowledgement"]["status"] == "Error"
    return [d["reasonCode"] for d in metadata["acknowledgement"]["details"]]


def test_faulty_flows_are_acknowledged_in_error_with_reasons(pa, pa_documents):
    good = pa_documents.xml("FA-9", BUYER)
    broken = pa.deposited(b"<Invoice><unclosed></Invoice>")
    no_siren = pa.deposited(good.replace(b"81234567600017", b"").replace(b"812345676", b""))
    wrong_syntax = pa.deposited(pa_documents.xml("FA-10", BUYER), "UBL")
    pdf_as_xml = pa.deposited(pa_documents.facturx("FA-11", BUYER), "CII")
    wrong_sum = pa.deposited(good, sha256="0" * 64)
    empty = pa.deposited(b"")
    pa.step()
    assert _error_codes(pa, broken) == ["InvalidSchema"]
    assert _error_codes(pa, no_siren) == ["OtherTechnicalError"]
    assert pa.metadata(no_siren)["acknowledgement"]["details"][0]["item"] == "BT-30"
    assert _error_codes(pa, wrong_syntax) == ["FlowTypeError"]
    assert _error_codes(pa, pdf_as_xml) == ["FlowTypeError"]
    assert _error_codes(pa, wrong_sum) == ["ChecksumMismatch"]
    assert _error_codes(pa, empty) == ["EmptyFlow"]


def test_the_same_file_under_another_tracking_id_is_an_already_existing_flow(pa, pa_documents):
    content = pa_documents.xml("FA-12", BUYER)
    first = pa.deposited(content, trackingId="a")
    second = pa.deposited(content, trackingId="b")
    pa.step()
    assert pa.metadata(first)["acknowledgement"]["status"] == "Ok"
    assert _error_codes(pa, second) == ["AlreadyExistingFlow"]


def test_an_ack_delay_acknowledges_at_the_first_call_after_it(pa_start, pa_clock, pa_documents):
    pa = pa_start(ack_delay=5).client
    flow_id = pa.deposited(pa_documents.xml("FA-13", BUYER))
    assert pa.metadata(flow_id)["acknowledgement"]["status"] == "Pending"
    pa_clock.advance(5)
    assert pa.metadata(flow_id)["acknowledgement"]["status"] == "Ok"


def test_the_control_clock_moves_time_and_acknowledges_what_is_due(pa_start, pa_documents):
    pa = pa_start(ack_delay=60).client
    flow_id = pa.deposited(pa_documents.xml("FA-14", BUYER))
    answer = pa.control("POST", "/clock", json={"advance": 60}).json()
    assert answer["acknowledged"] == [flow_id]
    assert pa.control("POST", "/clock", json={"advance": -1}).status_code == 400


# -- search --------------------------------------------------------------------------------------


def test_search_filters_and_answers_the_annex_shape(pa, pa_documents):
    ok = pa.deposited(pa_documents.xml("FA-15", BUYER), trackingId="s-ok")
    pa.deposited(b"not xml", trackingId="s-bad")
    pa.step()
    response = pa.search({"ackStatus": "Ok", "flowDirection": ["Out"]}, limit=10)
    assert response.status_code == 200
    content = response.json()
    assert conforms(content, SEARCH_FLOW_CONTENT)
    assert content["limit"] == 10
    assert content["filters"] == {"ackStatus": "Ok", "flowDirection": ["Out"]}
    assert [f["flowId"] for f in content["results"]] == [ok]
    assert [f["trackingId"] for f in pa.results({"ackStatus": "Error"})] == ["s-bad"]
    assert pa.results({"flowType": ["SupplierInvoice"]}) == []
    assert len(pa.results({"processingRule": ["B2B"]})) == 2


def test_search_pages_with_updated_after(pa, pa_documents, pa_clock):
    pa_clock.now = pa_clock.now.replace(microsecond=987654)  # a clock finer than the API's
    ids = [pa.deposited(pa_documents.xml(f"FA-P{n}", BUYER)) for n in range(5)]
    seen, after = [], "2000-01-01T00:00:00Z"
    for _ in range(4):  # three pages of 2, then an empty one
        page = pa.results({"updatedAfter": after}, limit=2)
        seen += [flow["flowId"] for flow in page]
        after = page[-1]["updatedAt"] if page else after
    assert seen == ids
    pa.step()  # acknowledging moves each flow past the last page
    again = pa.results({"updatedAfter": after, "flowDirection": ["Out"]})
    assert [f["flowId"] for f in again] == ids


def test_search_refuses_bad_criteria(pa):
    for body in (
        {"where": {}},
        {"where": {"flowId": "x"}},
        {"where": {"ackStatus": "Done"}},
        {"where": {"flowType": "CustomerInvoice"}},
        {"where": {"updatedAfter": "yesterday"}},
        {"where": {"ackStatus": "Ok"}, "limit": 101},
        {"limit": 5},
    ):
        response = pa.http.post("/flow-service/v1/flows/search", json=body, headers=pa.headers())
        assert response.status_code == 400, body
        assert conforms(response.json(), ERROR)


def test_a_client_sees_only_its_own_flows(pa_server, pa_documents):
    pa = pa_server.client
    flow_id = pa.deposited(pa_documents.xml("FA-16", BUYER))
    other_client = pa.control("GET", "/credentials").json()["clients"][1]
    other = type(pa)(pa_server.url, other_client)
    try:
        assert other.get(flow_id).status_code == 404
        assert other.results({"flowDirection": ["Out"]}) == []
    finally:
        other.close()


# -- download ------------------------------------------------------------------------------------


def test_get_downloads_the_original_and_a_readable_view(pa, pa_documents):
    content = pa_documents.xml("FA-17", BUYER)
    flow_id = pa.deposited(content, name="FA-17.xml")
    pa.step()
    original = pa.get(flow_id, "Original")
    assert original.status_code == 200
    assert original.content == content
    assert original.headers["content-type"] == "application/xml"
    assert original.headers["content-disposition"] == 'attachment;filename="FA-17.xml"'
    readable = pa.get(flow_id, "ReadableView")
    assert readable.headers["content-type"].startswith("text/html")
    assert "FA-17" in readable.text
    assert pa.get(flow_id, "Converted").status_code == 404
    assert pa.get(flow_id, "Pdf").status_code == 400
    missing = pa.get("no-such-flow")
    assert missing.status_code == 404
    assert missing.json()["errorCode"] == "MISSING_RESOURCE"


def test_a_facturx_pdf_is_its_own_readable_view(pa, pa_documents):
    pdf = pa_documents.facturx("FA-18", BUYER)
    flow_id = pa.deposited(pdf, "Factur-X", name="FA-18.pdf")
    assert pa.get(flow_id, "Original").headers["content-type"] == "application/pdf"
    assert pa.get(flow_id, "ReadableView").content == pdf


# -- the process ---------------------------------------------------------------------------------


def test_the_module_runs_and_writes_its_credentials(tmp_path):
    credentials = tmp_path / "pa-sandbox-credentials.json"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "contrib.pa_sandbox",
            "--port",
            "0",
            "--state",
            str(tmp_path / "pa.sqlite3"),
            "--credentials-out",
            str(credentials),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = child.stdout.readline()
        assert banner.startswith("PA sandbox on http://127.0.0.1:")
        written = json.loads(credentials.read_text())
        assert set(written) == {
            "flow_url",
            "directory_url",
            "token_url",
            "client_id",
            "client_secret",
            "siren",
            "electronic_address",
        }
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        assert written["flow_url"].endswith("/flow-service")
        token = httpx.post(
            written["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": written["client_id"],
                "client_secret": written["client_secret"],
            },
        ).json()["access_token"]
        health = httpx.get(
            written["flow_url"] + "/v1/healthcheck", headers={"Authorization": f"Bearer {token}"}
        )
        assert health.status_code == 200
    finally:
        child.terminate()
        child.wait(timeout=10)


def test_json_bodies_are_bounded(pa):
    huge = {"where": {"trackingId": "x"}, "padding": "x" * (1024 * 1024)}
    response = pa.http.post("/flow-service/v1/flows/search", json=huge, headers=pa.headers())
    assert response.status_code == 413
    assert conforms(response.json(), ERROR)
    assert pa.token(padding="x" * 70_000).status_code == 400

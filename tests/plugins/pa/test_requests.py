"""The ``pa`` outlet's requests checked against the shapes of XP Z12-013 annex A (AFNOR Flow
Service 1.1.0), and its reading of the platform's answers, with a loopback platform that
records every request and answers as each test scripts it."""

from __future__ import annotations

import email
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from gateway.outlets import (
    PermanentOutletError,
    Receipt,
    SendContext,
    UnavailableOutletError,
    UncertainOutletError,
)
from gateway.schemas import load_invoice
from gateway.testing.outlets import SAMPLE_INVOICE
from plugins.pa.oauth import TokenCache
from plugins.pa.outlet import PaOutlet, tracking_id

# --- compact schemas of annex A (components/schemas) ---------------------------------------

NOT_ONLY_UUID = 36
FLOW_INFO = {  # FlowInfo: required flowSyntax
    "trackingId": lambda v: isinstance(v, str) and 0 < len(v) <= NOT_ONLY_UUID,
    "name": lambda v: isinstance(v, str) and len(v) <= 255,
    "processingRule": lambda v: (
        v in ("B2B", "B2BInt", "B2C", "OutOfScope", "ArchiveOnly", "NotApplicable")
    ),
    "flowSyntax": lambda v: v in ("CII", "UBL", "Factur-X", "CDAR", "FRR"),
    "flowProfile": lambda v: v in ("Basic", "CIUS", "Extended-CTC-FR"),
    "sha256": lambda v: isinstance(v, str) and re.fullmatch(r"[a-f0-9]{64}", v) is not None,
}
FLOW_TYPES = (
    "CustomerInvoice", "SupplierInvoice", "StateInvoice", "CustomerInvoiceLC",
    "SupplierInvoiceLC", "StateCustomerInvoiceLC", "StateSupplierInvoiceLC",
    "AggregatedCustomerTransactionReport", "UnitaryCustomerTransactionReport",
    "AggregatedCustomerPaymentReport", "UnitaryCustomerPaymentReport",
    "UnitarySupplierTransactionReport", "MultiFlowReport",
)  # fmt: skip
SEARCH_FILTERS = {  # SearchFlowFilters: at least one
    "updatedAfter": lambda v: datetime.fromisoformat(v) is not None,
    "updatedBefore": lambda v: datetime.fromisoformat(v) is not None,
    "processingRule": lambda v: (
        isinstance(v, list) and all(FLOW_INFO["processingRule"](x) for x in v)
    ),
    "flowType": lambda v: isinstance(v, list) and all(x in FLOW_TYPES for x in v),
    "flowDirection": lambda v: isinstance(v, list) and all(x in ("In", "Out") for x in v),
    "trackingId": FLOW_INFO["trackingId"],
    "ackStatus": lambda v: v in ("Pending", "Ok", "Error"),
}


def check_flow_info(info: dict) -> None:
    assert "flowSyntax" in info
    assert set(info) <= set(FLOW_INFO), set(info) - set(FLOW_INFO)
    for key, value in info.items():
        assert FLOW_INFO[key](value), (key, value)


def check_search(body: dict) -> None:
    assert set(body) <= {"limit", "where"} and "where" in body
    assert isinstance(body.get("limit", 25), int) and 0 < body.get("limit", 25) <= 100
    where = body["where"]
    assert where and set(where) <= set(SEARCH_FILTERS), where
    for key, value in where.items():
        assert SEARCH_FILTERS[key](value), (key, value)


# --- a platform on loopback -----------------------------------------------------------------


class Platform:
    """Records requests; answers each route from a script (status, headers, body), else a
    default that accepts."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: dict[str, list[tuple[int, dict, bytes]]] = {}
        self.tokens = 0
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, _, query = self.path.partition("?")
                route = f"{self.command} {path}"
                platform.requests.append(
                    {
                        "route": route,
                        "query": parse_qs(query),
                        "headers": self.headers,
                        "body": body,
                    }
                )
                status, headers, answer = platform.answer(route, body)
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, route: str, body: bytes) -> tuple[int, dict, bytes]:
        if self.script.get(route):
            return self.script[route].pop(0)
        if route == "POST /oauth/token":
            self.tokens += 1
            return (
                200,
                {},
                json.dumps({"access_token": f"t{self.tokens}", "expires_in": 3600}).encode(),
            )
        if route == "POST /flows/v1/flows":
            info = json.loads(parts(self.requests[-1])["flowInfo"][1])
            flow = {"flowId": "F-1", "submittedAt": "2026-12-03T10:00:00Z", **info}
            return 202, {}, json.dumps(flow).encode()
        if route == "POST /flows/v1/flows/search":
            return 200, {}, json.dumps({"limit": 100, "results": []}).encode()
        return 200, {}, b"{}"

    def made(self, route: str) -> list[dict]:
        return [r for r in self.requests if r["route"] == route]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def parts(request: dict) -> dict[str, tuple[str, bytes]]:
    """The parts of a multipart/form-data body: name → (content type, bytes)."""
    head = f"Content-Type: {request['headers']['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + request["body"])
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.get_payload()
    }


@pytest.fixture
def platform() -> Iterator[Platform]:
    server = Platform()
    yield server
    server.stop()


def settings(platform: Platform, **more) -> dict:
    return {
        "flow_url": f"{platform.url}/flows",
        "token_url": f"{platform.url}/oauth/token",
        "client_id": "librairie",
        "client_secret": "s3cret-value",
        "syntax": "CII",
        **more,
    }


def context(platform: Platform, attempt: int = 1, state: dict | None = None, **more) -> SendContext:
    return SendContext(
        invoice_id="inv_0001",
        member_id="m1",
        attempt=attempt,
        settings=settings(platform, **more),
        render=lambda renderer, invoice, profile: f"<{renderer} {profile}/>".encode(),
        state=state or {},
    )


def outlet(**config) -> PaOutlet:
    return PaOutlet({"timeout": 2.0, **config}, tokens=TokenCache())


INVOICE = load_invoice({**SAMPLE_INVOICE, "number": "FA-2026-001"})


# --- send -----------------------------------------------------------------------------------


def test_a_deposit_is_one_multipart_flow_as_the_standard_shapes_it(platform):
    receipt = outlet().send(INVOICE, [], context(platform))
    assert (receipt.reference, receipt.status) == ("F-1", "DEPOSEE")
    (token,) = platform.made("POST /oauth/token")
    form = parse_qs(token["body"].decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["librairie"],
        "client_secret": ["s3cret-value"],
    }
    (deposit,) = platform.made("POST /flows/v1/flows")
    assert deposit["headers"]["Authorization"] == "Bearer t1"
    sent = parts(deposit)
    assert set(sent) == {"flowInfo", "file"}
    media_type, info = sent["flowInfo"]
    assert media_type == "application/json"
    info = json.loads(info)
    check_flow_info(info)
    file_type, content = sent["file"]
    assert (file_type, content) == ("application/xml", b"<cii fr-2026/>")
    assert info["sha256"] == hashlib.sha256(content).hexdigest()
    assert info | {"sha256": "-"} == {
        "trackingId": tracking_id("inv_0001"),
        "name": "facture_FA-2026-001.xml",
        "processingRule": "B2B",
        "flowSyntax": "CII",
        "flowProfile": "CIUS",
        "sha256": "-",
    }


def test_syntax_and_profile_settings_choose_the_document_and_the_flow_profile(platform):
    pa = outlet()
    assert pa.document_format({}) == ("facturx", "fr-2026")
    assert pa.document_format({"syntax": "UBL"}) == ("ubl", "fr-2026")
    pa.send(INVOICE, [], context(platform, syntax="Factur-X", profile="EXTENDED-CTC-FR"))
    info = json.loads(parts(platform.made("POST /flows/v1/flows")[0])["flowInfo"][1])
    assert (info["flowSyntax"], info["flowProfile"]) == ("Factur-X", "Extended-CTC-FR")
    assert parts(platform.made("POST /flows/v1/flows")[0])["file"][0] == "application/pdf"


def test_the_tracking_id_is_stable_and_fits_the_standard():
    assert tracking_id("inv_0001") == tracking_id("inv_0001") != tracking_id("inv_0002")
    assert FLOW_INFO["trackingId"](tracking_id("x" * 200))


def test_a_refusal_gives_the_platform_s_reasons_in_french(platform):
    error = {"errorCode": "INVALID_SCHEMA", "errorMessage": "BR-FR-05 absente"}
    platform.script["POST /flows/v1/flows"] = [(422, {}, json.dumps(error).encode())]
    with pytest.raises(PermanentOutletError) as refused:
        outlet().send(INVOICE, [], context(platform))
    message = refused.value.message
    assert "refusé" in message and "INVALID_SCHEMA" in message and "BR-FR-05 absente" in message
    assert refused.value.findings[0].code == "pa.refused"


def test_too_many_requests_waits_as_long_as_the_platform_asks(platform):
    platform.script["POST /flows/v1/flows"] = [(429, {"Retry-After": "7"}, b"{}")]
    with pytest.raises(UnavailableOutletError) as busy:
        outlet().send(INVOICE, [], context(platform))
    assert busy.value.retry_after == 7 and busy.value.state == {}
    assert "7 s" in busy.value.message


def test_an_expired_token_is_renewed_once_then_the_credentials_are_refused(platform):
    tokens = TokenCache()
    pa = PaOutlet({"timeout": 2.0}, tokens=tokens)
    pa.send(INVOICE, [], context(platform))  # token t1 cached
    platform.script["POST /flows/v1/flows"] = [(401, {}, b'{"errorCode": "INVALID_TOKEN"}')]
    pa.send(INVOICE, [], context(platform))
    deposits = platform.made("POST /flows/v1/flows")
    assert [d["headers"]["Authorization"] for d in deposits] == [
        "Bearer t1",
        "Bearer t1",
        "Bearer t2",
    ]
    platform.script["POST /flows/v1/flows"] = [(401, {}, b"{}"), (401, {}, b"{}")]
    with pytest.raises(PermanentOutletError) as refused:
        pa.send(INVOICE, [], context(platform))
    assert "identifiants refusés" in refused.value.message
    assert refused.value.findings[0].field == "settings.pa.client_secret"
    assert "s3cret-value" not in refused.value.message


def test_after_an_uncertain_deposit_the_next_attempt_adopts_the_flow_found(platform):
    found = {
        "flowId": "F-9",
        "trackingId": tracking_id("inv_0001"),
        "submittedAt": "2026-12-03T10:00:00Z",
        "updatedAt": "2026-12-03T10:00:01Z",
        "acknowledgement": {"status": "Pending"},
    }
    platform.script["POST /flows/v1/flows"] = [(500, {}, b'{"errorCode": "INTERNAL_ERROR"}')]
    with pytest.raises(UncertainOutletError) as uncertain:
        outlet().send(INVOICE, [], context(platform))
    state = uncertain.value.state
    body = json.dumps({"limit": 100, "results": [found]}).encode()
    platform.script["POST /flows/v1/flows/search"] = [(200, {}, body)]
    receipt = outlet().send(INVOICE, [], context(platform, attempt=2, state=state))
    assert receipt.reference == "F-9" and "pas de second dépôt" in receipt.comment
    assert len(platform.made("POST /flows/v1/flows")) == 1
    (search,) = platform.made("POST /flows/v1/flows/search")
    query = json.loads(search["body"])
    check_search(query)
    assert query["where"]["trackingId"] == tracking_id("inv_0001")


# --- poll -----------------------------------------------------------------------------------


def test_poll_reads_the_flow_s_metadata_and_maps_every_status_with_its_time(platform):
    flow = {
        "flowId": "F-1",
        "submittedAt": "2026-12-03T10:00:00Z",
        "updatedAt": "2026-12-03T10:05:00Z",
        "acknowledgement": {"status": "Ok"},
        "lifecycle": [
            {"status": "200", "date": "2026-12-03T10:00:00Z"},
            {"status": "202", "date": "2026-12-03T10:01:00Z"},
            {"status": "204", "date": "2026-12-03T10:02:00Z"},
            {"status": "210", "date": "2026-12-03T10:03:00Z", "reasonCode": "TX_TVA_ERR"},
        ],
    }
    platform.script["GET /flows/v1/flows/F-1"] = [(200, {}, json.dumps(flow).encode())]
    receipt = Receipt(outlet="pa", reference="F-1", invoice_id="inv_0001", data={"flow_id": "F-1"})
    poll_context = context(platform)
    (update,) = outlet().poll([receipt], poll_context)
    (request,) = platform.made("GET /flows/v1/flows/F-1")
    assert request["query"] == {"docType": ["Metadata"]}
    assert [(s, at.isoformat()) for s, at, _ in update.history] == [
        ("DEPOSEE", "2026-12-03T10:00:00+00:00"),
        ("EN_COURS_ACHEMINEMENT", "2026-12-03T10:01:00+00:00"),
        ("PRISE_EN_CHARGE", "2026-12-03T10:02:00+00:00"),
        ("REJETEE", "2026-12-03T10:03:00+00:00"),
    ]
    assert update.status == "REJETEE" and "TX_TVA_ERR" in update.comment
    assert update.data["cdar_status"] == "210"
    assert update.data["cdar_reason_code"] == "TX_TVA_ERR"
    assert update.at == datetime(2026, 12, 3, 10, 3, tzinfo=UTC)


def test_an_acknowledgement_error_sends_the_invoice_back_before_any_buyer(platform):
    flow = {
        "flowId": "F-1",
        "submittedAt": "2026-12-03T10:00:00Z",
        "updatedAt": "2026-12-03T10:00:05Z",
        "acknowledgement": {
            "status": "Error",
            "details": [
                {
                    "level": "Error",
                    "item": "file",
                    "reasonCode": "InvalidSchema",
                    "reasonMessage": "XML invalide",
                }
            ],
        },
    }
    platform.script["GET /flows/v1/flows/F-1"] = [(200, {}, json.dumps(flow).encode())]
    receipt = Receipt(outlet="pa", reference="F-1", invoice_id="inv_0001")
    (update,) = outlet().poll([receipt], context(platform))
    assert [step[0] for step in update.history] == ["DEPOSEE", "EN_ERREUR"]
    assert "InvalidSchema" in update.findings[0].message

"""Malformed or hostile requests get a French error with a stable code, never a 500."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from pypdf import PdfWriter

from gateway.pipeline import MAX_INVOICES
from gateway.testing.formats import check_hostile_xml
from plugins.en16931.formats import FacturxFormat
from tests.conftest import DATA, example, registered_formats

NESTED = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def test_deeply_nested_json_is_unreadable_not_a_crash(gateway, member):
    admin = {**gateway.admin(), "Content-Type": "application/json"}
    own = {**member["headers"], "Content-Type": "application/json"}
    for path, headers, send in (
        ("/v1/members", admin, gateway.client.simulate_post),
        (f"/v1/members/{member['id']}", own, gateway.client.simulate_patch),
        (f"/v1/members/{member['id']}/keys", own, gateway.client.simulate_post),
        ("/v1/customers/22760540900019", own, gateway.client.simulate_put),
        ("/v1/invoices", own, gateway.client.simulate_post),
        ("/v1/invoices/validate", own, gateway.client.simulate_post),
    ):
        result = send(path, body=NESTED, headers=headers)
        assert result.status_code == 422, (path, result.status_code)
        assert result.json["errors"][0]["code"] == "format.unreadable", path


def test_an_expiry_without_time_zone_is_refused(gateway, member):
    result = gateway.client.simulate_post(
        f"/v1/members/{member['id']}/keys",
        headers=member["headers"],
        json={"role": "auditor", "expires_at": "2030-01-01T00:00:00"},
    )
    assert result.status_code == 422
    (error,) = result.json["errors"]
    assert error["code"] == "field.invalid" and error["field"] == "expires_at"
    assert "fuseau" in error["message"]


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("/v1/events", {"after": "9" * 40}, "after"),
        ("/v1/events", {"after": "²"}, "after"),
        ("/v1/invoices", {"cursor": "c2VxOjk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ"}, "cursor"),
        ("/v1/invoices", {"limit": "abc"}, "limit"),
        ("/v1/invoices", {"limit": "0"}, "limit"),
        ("/v1/events", {"limit": "dix"}, "limit"),
    ],
)
def test_bad_query_parameters_are_named_in_french(gateway, member, path, params, field):
    result = gateway.client.simulate_get(path, params=params, headers=member["headers"])
    assert result.status_code == 422
    (error,) = result.json["errors"]
    assert error["code"] == "field.invalid" and error["field"] == field


def test_amounts_too_large_to_compute_are_refused_on_their_line(gateway, member):
    document = example("invoice-seine-maritime")
    document["lines"][1]["quantity"] = "999999999999999"
    document["lines"][1]["net_price"] = "999999999999"
    for path in ("/v1/invoices/validate", "/v1/invoices"):
        result = gateway.client.simulate_post(path, json=document, headers=member["headers"])
        assert result.status_code == 422, path
        (error,) = result.json["errors"]
        assert error["code"] == "field.invalid" and error["field"] == "lines[1]", path
    assert gateway.client.simulate_get("/v1/invoices", headers=member["headers"]).json == {
        "items": [],
        "next_cursor": None,
    }


def test_every_error_object_has_code_field_and_message(gateway, member):
    answers = [
        gateway.client.simulate_get("/v1/invoices"),  # 401
        gateway.client.simulate_get("/v1/invoices/inv_nope", headers=member["headers"]),
        gateway.client.simulate_get("/v1/nowhere", headers=member["headers"]),
        gateway.client.simulate_delete("/v1/invoices", headers=member["headers"]),
        gateway.post_invoice(member, b"{"),
    ]
    for answer in answers:
        for error in answer.json["errors"]:
            assert {"code", "field", "message"} <= set(error), (answer.status_code, error)


def test_a_fresh_flag_that_is_no_boolean_is_named(gateway, member):
    result = gateway.client.simulate_get(
        "/v1/directory/22760540900019", params={"fresh": "peut-etre"}, headers=member["headers"]
    )
    assert result.status_code == 422
    (error,) = result.json["errors"]
    assert error["code"] == "field.invalid" and error["field"] == "fresh"


def test_a_control_character_is_refused_on_its_field_in_any_format(gateway, member):
    document = example("invoice-seine-maritime")
    document["lines"][0]["name"] = "L'Étranger\x01"
    csv = (DATA / "csv" / "seine-maritime-utf8-semicolon.csv").read_bytes()
    for body, content_type in (
        (json.dumps(document).encode(), "application/json"),
        (csv.replace(b"tranger;", b"tranger\x01;", 1), "text/csv"),
    ):
        result = gateway.post_invoice(member, body, content_type=content_type)
        assert result.status_code == 422, content_type
        (error,) = result.json["errors"]
        assert error["code"] == "field.invalid", content_type
        assert error["field"] == "lines[0].name" and "U+0001" in error["message"], content_type


def test_a_document_of_more_invoices_than_one_flux_is_refused_before_validation(gateway, member):
    lines = (DATA / "csv" / "seine-maritime-utf8-semicolon.csv").read_text().splitlines()
    rows = [
        row.replace("FA-2026-0142", f"FA-2026-{number:05d}")
        for number in range(MAX_INVOICES + 1)
        for row in lines[1:2]
    ]
    body = "\n".join([lines[0], *rows]).encode()
    for path in ("/v1/invoices/validate", "/v1/invoices"):
        result = gateway.client.simulate_post(
            path, body=body, headers={**member["headers"], "Content-Type": "text/csv"}
        )
        assert result.status_code == 413, path
        (error,) = result.json["errors"]
        assert error["code"] == "request.too_large" and str(MAX_INVOICES) in error["message"]


class _Wrapped:
    """A format handler fed hostile XML inside its own container (a PDF, a zip)."""

    def __init__(self, handler, wrap):
        self.name = f"{handler.name} (wrapped)"
        self.handler = handler
        self.wrap = wrap

    def parse(self, data: bytes):
        return self.handler.parse(self.wrap(data))


def _in_pdf(xml: bytes) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment("factur-x.xml", xml)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _in_zip(xml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("facture.xml", xml)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "handler", [_Wrapped(FacturxFormat(), _in_pdf), _Wrapped(registered_formats()["zip"], _in_zip)]
)
def test_hostile_xml_inside_a_pdf_or_a_zip_reads_no_file_and_no_network(handler, tmp_path):
    check_hostile_xml(handler, tmp_path)

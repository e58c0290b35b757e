"""The HTTP door in process: limits on what one request may hold, checked before any
validation, the same for every format."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from gateway.formats import MAX_INVOICES
from gateway.plugin_api import hookimpl
from tests.conftest import DATA, Gateway, example, make_config

CSV = DATA / "csv" / "seine-maritime-utf8-semicolon.csv"


class RecordingRules:
    """A rule set that notes each invoice it is asked to judge."""

    def __init__(self):
        self.judged: list[str] = []

    @hookimpl
    def gateway_validate_invoice(self, invoice, customer, directory_entry, document, original):
        self.judged.append(invoice.number)
        return []


@pytest.fixture
def rules():
    return RecordingRules()


@pytest.fixture
def door(tmp_path, sqlite_url, rules):
    instance = Gateway(make_config(tmp_path, sqlite_url), extra_plugins=[rules])
    yield instance
    instance.store.dispose()


@pytest.fixture
def member(door):
    return door.new_member()


def post(door: Gateway, member: dict, body: bytes, content_type: str, path="/v1/invoices"):
    return door.client.simulate_post(
        path, body=body, headers={**member["headers"], "Content-Type": content_type}
    )


def invoice_count(door: Gateway, member: dict) -> int:
    return len(door.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"])


def csv_of(count: int) -> bytes:
    """The sample CSV's invoice (its first line) ``count`` times, each numbered its own."""
    header, line = CSV.read_text().splitlines()[:2]
    rows = [line.replace("FA-2026-0142", f"FA-2026-{n:05d}") for n in range(count)]
    return "\n".join([header, *rows]).encode()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- lines of one invoice ------------------------------------------------------------------


def test_an_invoice_of_20000_lines_is_refused_before_validation(door, member, rules):
    document = example("invoice-seine-maritime")
    document["lines"] = document["lines"] * 6667  # 20 001 lines
    body = json.dumps(document).encode()

    for path in ("/v1/invoices/validate", "/v1/invoices"):
        result = post(door, member, body, "application/json", path)

        assert result.status_code == 413, path
        (error,) = result.json["errors"]
        assert error["code"] == "request.too_large"
        assert error["field"] == "lines"
        assert "20001 lignes" in error["message"] and "3000 au plus" in error["message"]
    assert rules.judged == []
    assert invoice_count(door, member) == 0


def test_the_line_limit_is_configurable_and_names_each_invoice_of_a_document(tmp_path, sqlite_url):
    door = Gateway(make_config(tmp_path, sqlite_url, max_invoice_lines=1))
    member = door.new_member()
    header, *lines = CSV.read_text().splitlines()
    # Two invoices: the first of one line, the second of two.
    body = "\n".join(
        [header, lines[0], *(line.replace("FA-2026-0142", "FA-2026-0999") for line in lines[:2])]
    ).encode()

    result = post(door, member, body, "text/csv")

    assert result.status_code == 413, result.json
    (error,) = result.json["errors"]
    assert error["field"] == "invoices[1].lines"
    assert "« FA-2026-0999 » compte 2 lignes, 1 au plus" in error["message"]
    door.store.dispose()


# --- invoices of one document --------------------------------------------------------------


def test_a_zip_of_too_many_files_gets_the_same_413_as_a_csv_of_too_many_invoices(door, member):
    by_csv = post(door, member, csv_of(MAX_INVOICES + 1), "text/csv")
    by_zip = post(
        door,
        member,
        zip_of({f"f{n}.xml": b"<a/>" for n in range(MAX_INVOICES + 1)}),
        "application/zip",
    )

    assert by_csv.status_code == by_zip.status_code == 413
    assert by_zip.json == by_csv.json
    assert by_zip.json["errors"][0]["code"] == "request.too_large"
    assert f"plus de {MAX_INVOICES} factures" in by_zip.json["errors"][0]["message"]


def test_a_zip_of_few_files_holding_too_many_invoices_is_refused_the_same(door, member, rules):
    half = MAX_INVOICES // 2 + 1
    members = {"a.csv": csv_of(half), "b.csv": csv_of(half).replace(b"FA-2026-", b"FB-2026-")}

    result = post(door, member, zip_of(members), "application/zip")

    assert result.status_code == 413, result.json
    assert result.json == post(door, member, csv_of(MAX_INVOICES + 1), "text/csv").json
    assert rules.judged == []


# --- content types and query parameters ------------------------------------------------------


@pytest.mark.parametrize("content_type", ["image/png", "application/vnd.unknown", "x/y"])
def test_a_media_type_no_format_declares_is_415_even_for_a_readable_body(
    door, member, content_type
):
    body = json.dumps(example("invoice-seine-maritime")).encode()

    result = post(door, member, body, content_type)

    assert result.status_code == 415
    (error,) = result.json["errors"]
    assert (error["code"], error["field"]) == ("format.unsupported", "Content-Type")
    assert f"« {content_type} »" in error["message"]
    assert invoice_count(door, member) == 0


@pytest.mark.parametrize(
    "content_type",
    ["", "application/octet-stream", "text/plain", "application/x-www-form-urlencoded"],
)
def test_a_media_type_that_names_no_format_leaves_it_to_sniffing(door, member, content_type):
    body = json.dumps(example("invoice-seine-maritime")).encode()

    assert post(door, member, body, content_type, "/v1/invoices/validate").status_code == 200


def test_the_declared_format_parameter_still_chooses_the_format(door, member):
    body = json.dumps(example("invoice-seine-maritime")).encode()
    result = door.client.simulate_post(
        "/v1/invoices/validate",
        body=body,
        params={"format": "json"},
        headers={**member["headers"], "Content-Type": "image/png"},
    )
    assert result.status_code == 200, result.json


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/health"),
        ("GET", "/v1/openapi.json"),
        ("GET", "/v1/invoices"),
        ("POST", "/v1/invoices"),
        ("GET", "/v1/events"),
        ("GET", "/v1/customers"),
        ("GET", "/v1/directory/22760540900019"),
        ("GET", "/v1/invoices/inv_nope"),
    ],
)
def test_an_unknown_query_parameter_is_422_naming_it_on_every_route(door, member, method, path):
    result = door.client.simulate_request(
        method, path, params={"statut": "RECU", "zz": "1"}, headers=member["headers"]
    )

    assert result.status_code == 422, result.json
    assert [(e["code"], e["field"]) for e in result.json["errors"]] == [
        ("field.unknown", "statut"),
        ("field.unknown", "zz"),
    ]
    assert "« statut »" in result.json["errors"][0]["message"]


def test_the_openapi_document_lists_the_query_parameters_served(door):
    spec = door.client.simulate_get("/v1/openapi.json").json
    listed = {
        (path, method): sorted(
            p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
        )
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    assert listed[("/v1/invoices", "get")] == [
        "cursor",
        "customer",
        "limit",
        "needs_action",
        "since",
        "status",
    ]
    assert listed[("/v1/invoices", "post")] == ["format"]
    assert listed[("/v1/invoices/validate", "post")] == ["format", "rules"]
    assert listed[("/v1/events", "get")] == ["after", "limit"]
    assert listed[("/v1/health", "get")] == []
    assert all(
        "422" in operations[m]["responses"]
        for operations in spec["paths"].values()
        for m in operations
    )

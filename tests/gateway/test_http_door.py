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
        assert "20001 lignes" in error["message"] and "10000 au plus" in error["message"]
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

"""What one document may cost (gateway.budget), in process: lines counted before they are
read in every format, a time budget that stops the work, heavy-document slots."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from gateway import budget
from gateway.budget import HeavySlots
from gateway.plugin_api import hookimpl, load_invoice
from gateway.validation import validate
from tests.conftest import DATA, Gateway, example, make_config
from tests.gateway.test_http_door import RecordingRules

UBL = DATA / "xml" / "ubl-invoice-mediatheque.xml"
CII = DATA / "xml" / "cii-en16931-aube.xml"
CSV = DATA / "csv" / "seine-maritime-utf8-semicolon.csv"
EDIFACT = DATA / "edifact" / "invoice-seine-maritime-unow.edi"


def zipped(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def unreadable_quantities(pattern: str, text: str) -> str:
    """Every line's quantity made unreadable: reading the lines would be a 422."""
    return re.sub(pattern, r"\g<1>cinq\g<2>", text)


def json_document() -> bytes:
    document = example("invoice-seine-maritime")
    document["lines"] = [{"quantity": "cinq"} for _ in document["lines"]]
    return json.dumps(document).encode()


def ubl_document() -> bytes:
    pattern = r"(<cbc:InvoicedQuantity[^>]*>)[^<]*(</cbc:InvoicedQuantity>)"
    return unreadable_quantities(pattern, UBL.read_text()).encode()


def cii_document() -> bytes:
    pattern = r"(<ram:BilledQuantity[^>]*>)[^<]*(</ram:BilledQuantity>)"
    return unreadable_quantities(pattern, CII.read_text()).encode()


def csv_document() -> bytes:
    header, *rows = CSV.read_text().splitlines()
    rows = [re.sub(r";(\d+);(\d+,\d+);9;", r";cinq;\2;9;", row) for row in rows]
    assert all(";cinq;" in row for row in rows)
    return "\n".join([header, *rows]).encode()


#: name, document (lines unreadable, except EDIFACT's), its content type, its lines.
DOCUMENTS = [
    ("json", json_document, "application/json", 3),
    ("ubl", ubl_document, "application/xml", 4),
    ("cii", cii_document, "application/xml", 3),
    ("csv", csv_document, "text/csv", 3),
    ("zip", lambda: zipped("facture.xml", cii_document()), "application/zip", 3),
    ("edifact", EDIFACT.read_bytes, "application/octet-stream", 3),
]


def post(door: Gateway, member: dict, body: bytes, content_type: str, **headers: str):
    return door.client.simulate_post(
        "/v1/invoices",
        body=body,
        headers={**member["headers"], "Content-Type": content_type, **headers},
    )


def stored(door: Gateway, member: dict) -> list[dict]:
    return door.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"]


@pytest.fixture
def rules():
    return RecordingRules()


def gateway_with(tmp_path, sqlite_url, rules, **overrides) -> Gateway:
    return Gateway(make_config(tmp_path, sqlite_url, **overrides), extra_plugins=[rules])


@pytest.mark.parametrize(("name", "document", "content_type", "lines"), DOCUMENTS)
def test_lines_are_counted_before_any_is_read_in_every_format(
    tmp_path, sqlite_url, rules, name, document, content_type, lines
):
    door = gateway_with(tmp_path, sqlite_url, rules, max_invoice_lines=lines - 1)
    member = door.new_member()
    body = document()

    refused = post(door, member, body, content_type)

    # Reading a line would have refused the document for its quantity (422): it was
    # refused for its count before any line was read.
    assert refused.status_code == 413, refused.json
    (error,) = refused.json["errors"]
    assert error["code"] == "request.too_large"
    assert error["field"] == "lines"
    assert f"compte {lines} lignes, {lines - 1} au plus" in error["message"]
    assert rules.judged == [] and stored(door, member) == []
    if name != "edifact":
        door.config.max_invoice_lines = lines
        unreadable = post(door, member, body, content_type)
        assert unreadable.status_code == 422, unreadable.json
    door.store.dispose()


def test_a_document_over_its_time_is_stopped_and_nothing_is_kept(tmp_path, sqlite_url, rules):
    door = gateway_with(tmp_path, sqlite_url, rules, max_document_seconds=1e-6)
    member = door.new_member()
    document = example("invoice-seine-maritime")
    document["lines"] = document["lines"] * 100
    body = json.dumps(document).encode()

    refused = post(door, member, body, "application/json", **{"Idempotency-Key": "k-1"})

    assert refused.status_code == 413, refused.json
    (error,) = refused.json["errors"]
    assert error["code"] == "request.over_time"
    assert "1e-06 secondes" in error["message"] and "rien n'a été enregistré" in error["message"]
    # Stopped before validation: no rule set was asked, nothing stored or queued.
    assert rules.judged == []
    assert stored(door, member) == []
    assert door.journal.exists() is False

    # The key was not kept with the refusal: the same document, given time, goes through.
    door.config.max_document_seconds = 60
    accepted = post(door, member, body, "application/json", **{"Idempotency-Key": "k-1"})
    assert accepted.status_code == 202, accepted.json
    assert [item["id"] for item in stored(door, member)] == [accepted.json["id"]]
    door.store.dispose()


def test_the_dry_run_is_bounded_the_same(tmp_path, sqlite_url, rules):
    door = gateway_with(tmp_path, sqlite_url, rules, max_document_seconds=1e-6)
    member = door.new_member()

    result = door.client.simulate_post(
        "/v1/invoices/validate",
        body=json.dumps(example("invoice-seine-maritime")).encode(),
        headers={**member["headers"], "Content-Type": "application/json"},
    )

    assert result.status_code == 413
    assert [error["code"] for error in result.json["errors"]] == ["request.over_time"]
    assert rules.judged == []
    door.store.dispose()


def test_a_heavy_document_without_a_free_slot_is_busy_and_a_light_one_is_not(
    tmp_path, sqlite_url, rules
):
    door = gateway_with(tmp_path, sqlite_url, rules, heavy_lines=2, heavy_documents=1)
    member = door.new_member()
    heavy = example("invoice-seine-maritime")  # 3 lines
    light = {**heavy, "number": "FA-LIGHT", "lines": heavy["lines"][:2]}
    # Another web worker holds the machine's only slot.
    slots = HeavySlots(door.config.var_dir / "heavy", 1)
    held = slots.take()
    assert held is not None

    busy = post(door, member, json.dumps(heavy).encode(), "application/json")
    taken = post(door, member, json.dumps(light).encode(), "application/json")

    assert busy.status_code == 503, busy.json
    assert busy.headers["Retry-After"] == "5"
    (error,) = busy.json["errors"]
    assert error["code"] == "server.busy" and "plus de 2 lignes" in error["message"]
    assert taken.status_code == 202, taken.json
    assert [item["number"] for item in stored(door, member)] == ["FA-LIGHT"]

    HeavySlots.give_back(held)
    accepted = post(door, member, json.dumps(heavy).encode(), "application/json")
    assert accepted.status_code == 202, accepted.json
    # The slot is given back after each document: the next heavy one finds it free.
    again = slots.take()
    assert again is not None
    HeavySlots.give_back(again)
    door.store.dispose()


class Ticking:
    """A monotonic clock that moves one second each time it is read."""

    def __init__(self):
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return float(self.reads)


@pytest.mark.parametrize("stage", ["parse", "render"])
def test_the_deadline_stops_the_mapping_loops_line_by_line(gateway, stage):
    registry = gateway.services.registry
    document = example("invoice-seine-maritime")
    document["lines"] = document["lines"] * 100  # 300 lines
    invoice = registry.formats["json"].parse(json.dumps(document).encode())[0]
    cii = registry.renderers["cii"].render(invoice, profile="chorus")
    clock = Ticking()
    work = {
        "parse": lambda: registry.formats["cii"].parse(cii),
        "render": lambda: registry.renderers["cii"].render(invoice, profile="chorus"),
    }[stage]

    with (
        pytest.raises(budget.OverTime),
        budget.within(budget.Budget(max_lines=1000, seconds=5, clock=clock)),
    ):
        work()

    # Read at the start, then stopped at the first look past five seconds: a few lines in,
    # not after the 300.
    assert clock.reads == 7


class Wrapper:
    """A plugin wrapping the validation hook: pluggy then reports failures per wrapper."""

    @hookimpl(wrapper=True)
    def gateway_validate_invoice(self, invoice):
        return (yield)


def test_time_running_out_in_a_hook_is_a_refusal_not_a_plugin_failure(tmp_path, sqlite_url):
    door = Gateway(make_config(tmp_path, sqlite_url), extra_plugins=[Wrapper()])
    invoice = load_invoice(example("invoice-seine-maritime"))
    expired = budget.Budget(max_lines=10, seconds=0.5, clock=Ticking())

    with pytest.raises(budget.OverTime), budget.within(expired):
        validate(door.services.registry.pm, invoice)
    door.store.dispose()

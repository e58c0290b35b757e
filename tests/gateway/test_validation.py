"""The validation engine on the corpus of faulty invoices: one fault, one finding each."""

from __future__ import annotations

import json

import pytest

from gateway.errors import Finding
from gateway.validation import without_overlaps
from tests.conftest import DATA, example

INVALID = DATA / "invalid"
#: file -> the finding it must give (or the findings, when one fault breaks two rules).
EXPECTED = {
    name: expected if isinstance(expected, list) else [expected]
    for name, expected in json.loads((INVALID / "expected.json").read_text()).items()
}


def dry_run(gateway, member, body: bytes, params=None) -> dict:
    result = gateway.client.simulate_post(
        "/v1/invoices/validate", body=body, headers=member["headers"], params=params
    )
    if result.status_code == 422:  # unreadable: the refusal comes as the error answer
        return {"valid": False, **result.json}
    assert result.status_code == 200, result.json
    return result.json


def test_the_corpus_is_complete():
    files = {path.name for path in INVALID.iterdir() if path.name != "expected.json"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_faulty_invoice_yields_exactly_its_finding(gateway, member, name):
    report = dry_run(gateway, member, (INVALID / name).read_bytes())
    findings = report["errors"] + report["warnings"]
    assert [(f["code"], f["field"], f["severity"]) for f in findings] == [
        (e["code"], e["field"], e["severity"]) for e in EXPECTED[name]
    ]
    assert report["valid"] is all(e["severity"] != "error" for e in EXPECTED[name])
    assert all(f["message"] for f in findings)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_errors_are_refused_and_warnings_kept(gateway, member, name):
    result = gateway.post_invoice(member, (INVALID / name).read_bytes(), content_type="")
    codes = [e["code"] for e in EXPECTED[name]]
    if any(e["severity"] == "error" for e in EXPECTED[name]):
        assert result.status_code == 422
        assert [f["code"] for f in result.json["errors"] + result.json["warnings"]] == codes
        assert (
            gateway.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"]
            == []
        )
    else:
        assert result.status_code == 202
        stored = gateway.get_invoice(member, result.json["id"])
        assert [w["code"] for w in stored["warnings"]] == codes


@pytest.mark.parametrize(
    "name", ["invoice-seine-maritime", "invoice-aube", "credit-note-seine-maritime"]
)
def test_valid_examples_have_no_finding(gateway, member, name):
    if name.startswith("credit-note"):  # it cancels an invoice the member sent
        assert gateway.post_invoice(member, example("invoice-seine-maritime")).status_code == 202
    report = dry_run(gateway, member, json.dumps(example(name)).encode())
    assert report["valid"] is True
    assert report["errors"] == [] and report["warnings"] == []


def test_a_credit_note_cancelling_an_invoice_never_sent_is_flagged(gateway, member):
    report = dry_run(gateway, member, json.dumps(example("credit-note-seine-maritime")).encode())
    assert report["valid"] is True
    assert [(w["code"], w["field"]) for w in report["warnings"]] == [
        ("credit_note.unknown_invoice", "preceding_invoice.number")
    ]
    assert "FA-2026-0142" in report["warnings"][0]["message"]


def test_rule_sets_can_be_chosen(gateway, member):
    body = (INVALID / "fr-payment-missing.json").read_bytes()
    assert dry_run(gateway, member, body, {"rules": "book"})["valid"] is True
    assert dry_run(gateway, member, body, {"rules": "fr,book"})["valid"] is False


def test_a_foreign_buyer_is_judged_on_en16931_alone(gateway, member):
    document = json.loads((INVALID / "fr-payment-missing.json").read_text())
    document["buyer"]["address"]["country"] = "BE"
    document["buyer"]["siret"] = None
    assert dry_run(gateway, member, json.dumps(document).encode())["valid"] is True


def test_the_library_discount_cap_tolerates_price_rounding(gateway, member):
    document = example("invoice-seine-maritime")
    document["lines"][0].update(
        {"gross_price": "7.50", "price_discount": "0.68", "net_price": "6.82"}
    )
    assert dry_run(gateway, member, json.dumps(document).encode())["warnings"] == []
    document["lines"][0].update({"price_discount": "0.69", "net_price": "6.81"})
    (warning,) = dry_run(gateway, member, json.dumps(document).encode())["warnings"]
    assert warning["code"] == "book.discount_cap"
    assert "9,20 %" in warning["message"]


def test_a_restatement_gives_way_to_a_business_finding_and_is_never_shown():
    business = Finding(code="iban.required", field="payment.iban", message="IBAN manquant.")
    restated = Finding(code="xsd.BR-61", field="payment.iban", message="BR-61", restates=True)
    elsewhere = Finding(code="xsd.BR-02", field="number", message="BR-02", restates=True)
    assert without_overlaps([business, restated, elsewhere], None) == [business, elsewhere]
    assert without_overlaps([restated], None) == [restated]
    # A caller who chose the rule sets wants their own codes.
    assert without_overlaps([business, restated], frozenset({"xsd"})) == [business, restated]
    assert restated.as_dict().keys() == {"code", "message", "field", "severity"}

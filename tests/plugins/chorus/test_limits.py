"""The platform's limits, checked by the ``chorus`` rule set before anything is sent."""

from __future__ import annotations

import json

import pytest

from gateway.plugin_api import Document
from gateway.schemas import load_invoice
from plugins.chorus import attachment_findings
from plugins.chorus.limits import ATTACHMENT_MAX_BYTES, FLUX_MAX_BYTES
from plugins.chorus.rules import chorus_findings
from tests.conftest import example
from tests.invoices import SEINE_MARITIME_ENTRY


def validated(gateway, member, document: dict) -> list[tuple[str, str, str, str]]:
    result = gateway.client.simulate_post(
        "/v1/invoices/validate", body=json.dumps(document).encode(), headers=member["headers"]
    )
    assert result.status_code == 200, result.json
    return [
        (f["code"], f["field"], f["severity"], f.get("rule"))
        for f in result.json["errors"] + result.json["warnings"]
    ]


def with_references(**references) -> dict:
    document = example("invoice-seine-maritime")
    document["references"] = {**document.get("references", {}), **references}
    return document


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"number": "F" * 21}, ("number.invalid", "number")),
        ({"number": "FAC-2026-É1"}, ("number.invalid", "number")),
        ({"number": "FAC 2026 1"}, ("number.invalid", "number")),
        (
            {"references": {"engagement": "E" * 51}},
            ("engagement.too_long", "references.engagement"),
        ),
    ],
)
def test_a_value_beyond_the_platforms_limit_is_refused_before_sending(
    gateway, member, change, expected
):
    document = with_references(**change.pop("references", {}))
    document.update(change)
    found = validated(gateway, member, document)
    assert (*expected, "error", "chorus") in found
    assert [f for f in found if f[0] == expected[0]] == [(*expected, "error", "chorus")]


def test_values_at_the_limit_pass(gateway, member):
    document = with_references(engagement="E" * 50)
    document["number"] = "A-b_1/2+" + "9" * 12
    assert not [f for f in validated(gateway, member, document) if f[3] == "chorus"]


def test_a_service_code_too_long_for_the_directory_is_refused_whatever_the_format():
    # The JSON schema bounds it too; an XML invoice reaches the rule set unbounded.
    invoice = load_invoice(example("invoice-seine-maritime"))
    invoice.references.service_code = "S" * 101
    [finding] = chorus_findings(invoice, None)
    assert (finding.code, finding.field, finding.rule) == (
        "service.too_long",
        "references.service_code",
        "chorus",
    )


def test_an_invoice_to_a_foreign_buyer_is_not_held_to_chorus_limits():
    document = example("invoice-seine-maritime")
    document["number"] = "F" * 30
    document["buyer"]["address"]["country"] = "DE"
    assert chorus_findings(load_invoice(document), None) == []


def test_a_document_larger_than_a_flux_is_refused_with_the_directory_too():
    invoice = load_invoice(example("invoice-seine-maritime"))
    fits = Document(name="facture.pdf", media_type="application/pdf", content=b"%" * FLUX_MAX_BYTES)
    too_large = Document(
        name="facture.pdf", media_type="application/pdf", content=fits.content + b"%"
    )
    assert chorus_findings(invoice, SEINE_MARITIME_ENTRY, document=fits) == []
    [finding] = chorus_findings(invoice, SEINE_MARITIME_ENTRY, document=too_large)
    assert (finding.code, finding.field, finding.severity) == (
        "invoice.too_large",
        "lines",
        "error",
    )
    assert "10 Mo" in finding.message


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("x" * 47 + ".pdf", b"%PDF", "50 caractères"),
        ("bon.exe", b"MZ", "extension"),
        ("bon", b"text", "extension"),
        ("bon.pdf", b"", "vide"),
        ("bon.pdf", b"%" * ATTACHMENT_MAX_BYTES, "10 Mo"),
    ],
)
def test_an_attachment_the_platform_refuses_is_named(name, content, why):
    attachments = [
        Document(name="bon-de-livraison.PDF", media_type="application/pdf", content=b"%")
    ]
    attachments.append(Document(name=name, media_type="application/octet-stream", content=content))
    [finding] = attachment_findings(attachments)
    assert (finding.code, finding.field) == ("attachment.invalid", "attachments[1]")
    assert why in finding.message and name in finding.message

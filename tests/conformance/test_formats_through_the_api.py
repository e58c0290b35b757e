"""Every format's samples go through POST /v1/invoices and reach DEPOSEE (memory outlet)."""

from __future__ import annotations

import pytest

from tests.conformance.test_formats import FORMATS, sample_paths

#: Samples our own rules refuse, with the codes they must get (a refusal is an answer too).
REFUSED = {
    # MINIMUM / BASIC WL profiles carry no lines; the memory outlet sends a CII with lines.
    "cii-minimum-bibliotheque.xml": {"invoice.lines_required", "payment.required"},
    # A Belgian seller, without a SIRET: no member of the gateway invoices in its name.
    "cii-third-party-bruxelles.xml": {"seller.not_member"},
    # Invoices of two sellers in one lot: whichever the member is, the other one is refused.
    "lot-factures.zip": {"seller.not_member"},
}


def sample_files():
    for name in FORMATS:
        for path in sample_paths(name):
            yield pytest.param(name, path, id=f"{name}-{path.name}")


@pytest.mark.parametrize("name,path", list(sample_files()))
def test_each_sample_is_accepted_by_content_type_and_deposited(gateway, member, name, path):
    handler = gateway.services.registry.formats[name]
    # A member invoices in its own name: the sample's seller is the member.
    sellers = {invoice.seller.siret for invoice in handler.parse(path.read_bytes())} - {None}
    if len(sellers) == 1:
        patched = gateway.client.simulate_patch(
            f"/v1/members/{member['id']}", json={"siret": sellers.pop()}, headers=gateway.admin()
        )
        assert patched.status_code == 200, patched.json
    result = gateway.post_invoice(member, path.read_bytes(), content_type=handler.media_types[0])
    if path.name in REFUSED:
        assert result.status_code == 422
        assert {error["code"] for error in result.json["errors"]} == REFUSED[path.name]
        return
    assert result.status_code == 202, result.json
    accepted = result.json.get("invoices", [result.json])
    assert gateway.worker().run_once() == len(accepted)
    for item in accepted:
        invoice = gateway.get_invoice(member, item["id"])
        assert invoice["source_format"] == name
        assert [step["status"] for step in invoice["history"]] == ["RECU", "DEPOSEE"]
        assert invoice["documents"][0]["name"].startswith("original.")


@pytest.mark.parametrize("name", ["csv", "edifact", "ubl"])
def test_the_format_can_be_named_in_the_query(gateway, member, name):
    path = sample_paths(name)[0]
    result = gateway.post_invoice(
        member, path.read_bytes(), content_type="application/octet-stream", params={"format": name}
    )
    assert result.status_code == 202, result.json

"""What the document to be sent cannot carry of the invoice is said on its field
(``render.lost``), instead of being dropped silently or refusing the whole document."""

from __future__ import annotations

import dataclasses

from plugins.en16931.formats import CiiFormat, UblFormat
from plugins.en16931.renderers import CiiRenderer, FacturxRenderer, UblRenderer
from plugins.en16931.rules import conversion_losses
from tests.conftest import DATA, Gateway, example, make_config


def parsed(handler, path: str):
    (invoice,) = handler.parse((DATA / path).read_bytes())
    return invoice


def losses(invoice, document: bytes) -> list[tuple[str, str, str]]:
    return [(f.code, f.field, f.severity) for f in conversion_losses(invoice, document)]


def test_a_project_name_ubl_has_no_place_for_is_said_lost_in_ubl_only():
    invoice = parsed(CiiFormat(), "xml/cii-third-party-bruxelles.xml")
    assert invoice.other_terms["BT-11-0"] == "Project reference"
    (lost,) = conversion_losses(invoice, UblRenderer().render(invoice))
    assert (lost.code, lost.field, lost.severity) == (
        "render.lost",
        "references.project",
        "warning",
    )
    assert "« Project reference »" in lost.message and "UBL" in lost.message
    assert losses(invoice, CiiRenderer().render(invoice)) == []


def test_the_siret_written_with_spaces_is_the_siret_written_not_a_lost_identifier():
    invoice = parsed(UblFormat(), "interop/ubl-creditnote-siren-only.xml")
    assert "identifiers" not in (invoice.other_terms.get("BG-7") or {})
    for renderer in (UblRenderer(), CiiRenderer()):
        assert losses(invoice, renderer.render(invoice)) == []


def test_a_reform_address_with_siret_and_routing_code_is_carried_in_the_2026_profile():
    invoice = parsed(CiiFormat(), "interop/cii-reform-0225-inline-udt.xml")
    rendered = CiiRenderer().render(invoice, profile="fr-2026")
    (back,) = CiiFormat().parse(rendered)
    assert back.other_terms["BG-7"]["einvoicing_addr"] == "221000052_22100005200011_BDP-LECTURE"
    assert losses(invoice, rendered) == []


def test_a_vat_category_factur_x_cannot_express_refuses_a_factur_x_only(tmp_path, sqlite_url):
    invoice = parsed(CiiFormat(), "interop/cii-reform-0225-inline-udt.xml")
    split = dataclasses.replace(
        invoice, lines=[dataclasses.replace(line, vat_category="B") for line in invoice.lines]
    )
    assert losses(split, FacturxRenderer().render(split))[0] == (
        "render.lost",
        "lines[0].vat_category",
        "error",
    )
    assert losses(split, CiiRenderer().render(split)) == []
    # Through the API, for a route that deposits Factur-X.
    config = make_config(tmp_path, sqlite_url)
    config.plugins["memory"]["document"] = "facturx"
    gateway = Gateway(config)
    try:
        member = gateway.new_member()
        document = example("invoice-aube")
        document["lines"][0]["vat_category"] = "B"
        answer = gateway.client.simulate_post(
            "/v1/invoices/validate", json=document, headers=member["headers"]
        ).json
        found = [(e["code"], e["field"]) for e in answer["errors"]]
        assert ("render.lost", "lines[0].vat_category") in found
        # Said once on the line: the Factur-X code-list rule on the same field gives way.
        assert not [f for code, f in found if code.startswith("en16931.FX-") and "lines" in f]
    finally:
        gateway.store.dispose()

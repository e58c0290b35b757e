"""Routing by the 2026 reform's directories (channel ``auto``), against the real sandboxes
over HTTP: a public buyer active on Chorus Pro goes there, a French company to its approved
platform (the PA sandbox's Directory Service), a consumer or a foreign buyer out of the
e-invoicing scope; the preview and the route an invoice keeps agree."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from gateway import outbound
from tests.conftest import Gateway, example, make_config
from tests.gateway.test_routing import SEINE_MARITIME, codes, preview, put_customer
from tests.plugins.pa.sandbox import pa_sandbox  # noqa: F401 (fixture)
from tests.plugins.pa.test_directory import (
    COMPANY_NAME,
    COMPANY_SIRET,
    UNLISTED_SIRET,
    directory_settings,
)


@pytest.fixture
def reform(tmp_path, sqlite_url, sandbox, pa_sandbox):  # noqa: F811
    """The gateway with both directories: Chorus Pro's and the reform's (the PA sandbox),
    undeclared buyers on ``auto``; the outlets are the memory one but for Chorus Pro."""
    ports = [urlsplit(url).port for url in (sandbox.url, pa_sandbox.base_url)]
    config = make_config(
        tmp_path, sqlite_url, outbound_hosts=tuple(f"127.0.0.1:{port}" for port in ports)
    )
    config.default_channel = "auto"
    config.channels = {**config.channels, "chorus": "chorus", "pa": "memory"}
    config.plugins = {
        **config.plugins,
        "chorus": {"environment": "sandbox", "timeout": 5.0},
        "directory_chorus": sandbox.settings(),
        "pa_directory": directory_settings(pa_sandbox),
    }
    gateway = Gateway(config)
    yield gateway
    gateway.store.dispose()
    outbound.configure(None)


@pytest.fixture
def member(reform):
    return reform.new_member()


def invoice(number: str, siret: str | None, country: str = "FR") -> dict:
    document = example("invoice-seine-maritime")
    document["number"] = number
    buyer = {**document["buyer"], "address": {**document["buyer"]["address"]}}
    buyer["address"]["country"] = country
    if siret is None:
        buyer.pop("siret", None)
        buyer["name"] = "Mme Claire Martin"
    else:
        buyer["siret"] = siret
    document["buyer"] = buyer
    return document


def accepted_route(gateway, member, document) -> tuple[dict, dict]:
    """Submit ``document``; return its receipt and the route ``GET /v1/invoices/{id}`` shows."""
    answer = gateway.post_invoice(member, document)
    assert answer.status_code == 202, answer.json
    return answer.json, gateway.get_invoice(member, answer.json["id"])["route"]


def test_a_public_buyer_a_company_and_a_consumer_take_chorus_pa_and_paper(reform, member):
    put_customer(reform, member, SEINE_MARITIME, "auto")
    put_customer(reform, member, COMPANY_SIRET, "auto")

    _, public = accepted_route(reform, member, invoice("RF-0001", SEINE_MARITIME))
    _, company = accepted_route(reform, member, invoice("RF-0002", COMPANY_SIRET))
    receipt, consumer = accepted_route(reform, member, invoice("RF-0003", None))

    assert (public["channel"], public["scope"], public["requested_channel"]) == (
        "chorus",
        "public",
        "auto",
    )
    assert "acheteur public" in public["reason"]
    assert (company["channel"], company["outlet"], company["scope"]) == (
        "pa",
        "memory",
        "entreprise",
    )
    assert company["electronic_address"] == COMPANY_SIRET[:9]  # its SIREN line
    assert company["recipient_platform"] == "WK"  # all the 1.3.0 directory says: a PA
    assert COMPANY_NAME in company["reason"]
    assert company["electronic_address"] in company["reason"]
    assert (consumer["channel"], consumer["scope"]) == ("paper", "hors-champ")
    assert consumer["reason"].startswith(
        "Client particulier : hors du champ de la facturation électronique (les données de "
        "la vente relèvent du e-reporting)"
    )
    assert consumer["electronic_address"] is None
    assert receipt["channel"] == "paper"


def test_a_foreign_buyer_is_out_of_scope_whatever_its_identifiers(reform, member):
    document = invoice("RF-0010", None, country="BE")
    document["buyer"]["vat_id"] = "BE0403170701"

    _, route = accepted_route(reform, member, document)

    assert (route["channel"], route["scope"]) == ("paper", "hors-champ")
    assert route["reason"].startswith("Client établi hors de France (BE) : hors du champ")


def test_a_company_no_directory_lists_gets_a_warning_saying_what_to_do(reform, member):
    receipt, route = accepted_route(reform, member, invoice("RF-0020", UNLISTED_SIRET))

    assert (route["channel"], route["scope"]) == ("paper", "entreprise")
    assert "route.recipient_unknown" in codes(receipt["warnings"])
    warning = next(w for w in receipt["warnings"] if w["code"] == "route.recipient_unknown")
    assert warning["field"] == "buyer.siret"
    assert "demandez au client le nom de sa plateforme agréée" in warning["message"]


def test_the_preview_and_the_invoices_route_agree(reform, member):
    put_customer(reform, member, COMPANY_SIRET, "auto")

    shown = preview(reform, member, COMPANY_SIRET)
    _, kept = accepted_route(reform, member, invoice("RF-0030", COMPANY_SIRET))

    fields = ("channel", "outlet", "scope", "recipient_platform", "electronic_address", "reason")
    assert {key: shown[key] for key in fields} == {key: kept[key] for key in fields}
    assert shown["customer"] is True
    assert shown["scope"] == "entreprise"


def test_another_member_never_sees_the_customer(reform, member):
    put_customer(reform, member, COMPANY_SIRET, "paper")
    other = reform.new_member(name="Librairie du Port", siret="44306184100047")

    mine = preview(reform, member, COMPANY_SIRET)
    theirs = preview(reform, other, COMPANY_SIRET)
    listed = reform.client.simulate_get(f"/v1/customers/{COMPANY_SIRET}", headers=other["headers"])

    assert (mine["customer"], mine["channel"]) == (True, "paper")
    assert theirs["customer"] is False
    assert (theirs["channel"], theirs["scope"]) == ("pa", "entreprise")  # its default: auto
    assert listed.status_code == 404


def test_the_out_of_scope_channel_is_a_member_setting_checked_field_by_field(reform, member):
    answer = reform.client.simulate_patch(
        f"/v1/members/{member['id']}",
        json={"settings": {"routing": {"out_of_scope_channel": "chorus"}}},
        headers=reform.admin(),
    )

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json["errors"]] == ["settings.routing.out_of_scope_channel"]


def test_an_unreachable_reform_directory_accepts_and_looks_again_before_sending(
    reform,
    member,
    pa_sandbox,  # noqa: F811
):
    pa_sandbox.faults(error_rate=1.0, error_statuses=[503], paths=["/directory-service/"])
    try:
        receipt, route = accepted_route(reform, member, invoice("RF-0040", COMPANY_SIRET))
    finally:
        pa_sandbox.clear_faults()

    assert (route["channel"], route["scope"], route["electronic_address"]) == (
        "pa",
        "entreprise",
        None,
    )
    assert "directory.unreachable" in codes(receipt["warnings"])
    assert "vérifié de nouveau juste avant l'envoi" in route["reason"]

    assert reform.worker().run_once() == 1

    sent = reform.get_invoice(member, receipt["id"])
    assert sent["status"] == "DEPOSEE"
    assert sent["route"]["electronic_address"] == COMPANY_SIRET[:9]
    assert sent["route"]["recipient_platform"] == "WK"


def test_a_company_on_auto_is_deposited_through_the_pa_outlet_as_with_make_run(
    tmp_path,
    sqlite_url,
    sandbox,
    pa_sandbox,  # noqa: F811
):
    ports = [urlsplit(url).port for url in (sandbox.url, pa_sandbox.base_url)]
    config = make_config(
        tmp_path, sqlite_url, outbound_hosts=tuple(f"127.0.0.1:{port}" for port in ports)
    )
    config.channels = {**config.channels, "pa": "pa"}
    config.plugins = {
        **config.plugins,
        "pa": {"timeout": 5.0},
        "directory_chorus": sandbox.settings(),
        "pa_directory": directory_settings(pa_sandbox),
    }
    gateway = Gateway(config)
    try:
        member = gateway.new_member()
        patched = gateway.client.simulate_patch(
            f"/v1/members/{member['id']}",
            json={"settings": {"pa": pa_sandbox.settings(syntax="CII")}},
            headers=gateway.admin(),
        )
        assert patched.status_code == 200, patched.json
        put_customer(gateway, member, COMPANY_SIRET, "auto")

        receipt, route = accepted_route(gateway, member, invoice("RF-0050", COMPANY_SIRET))
        assert gateway.worker().run_once() == 1
        sent = gateway.get_invoice(member, receipt["id"])
        flow_id = gateway.store.get_invoice(receipt["id"])["outlet_reference"]
    finally:
        gateway.store.dispose()
        outbound.configure(None)
    pa_sandbox.step()  # the platform reads the invoice: its recipient

    assert (route["channel"], route["outlet"]) == ("pa", "pa")
    assert sent["status"] == "DEPOSEE", sent["last_error"]
    assert pa_sandbox.flow(flow_id)["recipient"] == COMPANY_SIRET[:9]

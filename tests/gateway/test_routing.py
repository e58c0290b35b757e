"""Per-customer routing against the Chorus Pro directory (the sandbox, over HTTP): the route
preview and why, the paper fallback for a structure not active on Chorus Pro, the warning for
a public buyer routed to paper, and the route an invoice remembers."""

from __future__ import annotations

import pytest

from tests.conftest import example

SEINE_MARITIME = "22760540900019"
#: Seeded in the sandbox: a town known to Chorus Pro but not active there.
INACTIVE = "21450877200016"
#: A well-formed SIRET no directory knows.
UNKNOWN = "73282932000074"


@pytest.fixture
def member(guarded):
    return guarded.new_member()


def put_customer(gateway, member, siret, channel, **extra):
    answer = gateway.client.simulate_put(
        f"/v1/customers/{siret}",
        json={"name": f"Client {siret}", "channel": channel, **extra},
        headers=member["headers"],
    )
    assert answer.status_code in (200, 201), answer.json


def preview(gateway, member, siret) -> dict:
    answer = gateway.client.simulate_get(f"/v1/customers/{siret}/route", headers=member["headers"])
    assert answer.status_code == 200, answer.json
    return answer.json


def allow_fallback(gateway, member, allowed=True):
    answer = gateway.client.simulate_patch(
        f"/v1/members/{member['id']}",
        json={"settings": {"routing": {"paper_fallback": allowed}}},
        headers=gateway.admin(),
    )
    assert answer.status_code == 200, answer.json


def invoice_to(siret: str, number: str) -> dict:
    document = example("invoice-seine-maritime")
    document["number"] = number
    document["buyer"]["siret"] = siret
    return document


def codes(findings: list[dict]) -> set[str]:
    return {finding["code"] for finding in findings}


def test_a_declared_customer_takes_its_channel_and_the_preview_says_why(guarded, member):
    put_customer(guarded, member, SEINE_MARITIME, "chorus")

    route = preview(guarded, member, SEINE_MARITIME)

    assert route["customer"] is True
    assert (route["channel"], route["outlet"]) == ("chorus", "chorus")
    assert route["reason"] == "Canal choisi pour ce client : Chorus Pro, par l'API."
    assert route["directory"]["status"] == "ACTIF"
    assert route["directory"]["checked_at"]
    assert route["warnings"] == []


def test_an_undeclared_buyer_gets_the_default_channel(guarded, member):
    route = preview(guarded, member, SEINE_MARITIME)

    assert route["customer"] is False
    assert route["channel"] == guarded.config.default_channel
    assert route["reason"].startswith("Client non déclaré par le membre : canal par défaut")


def test_another_members_customer_is_not_shown_to_a_preview(guarded, member):
    put_customer(guarded, member, SEINE_MARITIME, "paper")
    other = guarded.new_member(name="Librairie du Port", siret="44306184100047")

    route = preview(guarded, other, SEINE_MARITIME)

    assert route["customer"] is False
    assert route["channel"] == "chorus"


@pytest.mark.parametrize("siret", [INACTIVE, UNKNOWN])
def test_an_unreachable_structure_is_refused_with_what_to_do_when_no_fallback(
    guarded, member, siret
):
    put_customer(guarded, member, siret, "chorus")

    route = preview(guarded, member, siret)
    refused = guarded.post_invoice(member, invoice_to(siret, "RT-0001"))

    assert route["channel"] == "chorus"
    assert "Chorus Pro ne peut pas lui remettre de facture" in route["reason"]
    assert "paper_fallback" in route["reason"]
    assert refused.status_code == 422
    assert codes(refused.json["errors"]) & {"directory.inactive", "directory.unknown"}


@pytest.mark.parametrize("siret", [INACTIVE, UNKNOWN])
def test_an_unreachable_structure_goes_on_paper_when_the_member_allows_it(guarded, member, siret):
    put_customer(
        guarded,
        member,
        siret,
        "chorus",
        copies=[{"channel": "email", "to": "livraisons@mairie.example"}],
    )
    allow_fallback(guarded, member)

    route = preview(guarded, member, siret)
    accepted = guarded.post_invoice(member, invoice_to(siret, "RT-0002"))

    assert (route["channel"], route["requested_channel"]) == ("paper", "chorus")
    assert route["outlet"] == guarded.config.channels["paper"]
    assert [copy["to"] for copy in route["copies"]] == ["livraisons@mairie.example"]
    assert "la facture part sur papier" in route["reason"]
    assert codes(route["warnings"]) == {"route.paper_fallback"}
    assert accepted.status_code == 202, accepted.json
    assert accepted.json["channel"] == "paper"
    assert "route.paper_fallback" in codes(accepted.json["warnings"])
    remembered = guarded.get_invoice(member, accepted.json["id"])["route"]
    assert remembered["channel"] == "paper"
    assert remembered["requested_channel"] == "chorus"
    assert remembered["reason"] == route["reason"]


def test_a_public_buyer_routed_to_paper_gets_a_warning(guarded, member):
    put_customer(guarded, member, SEINE_MARITIME, "paper")

    route = preview(guarded, member, SEINE_MARITIME)
    accepted = guarded.post_invoice(member, invoice_to(SEINE_MARITIME, "RT-0003"))

    assert route["channel"] == "paper"
    assert route["directory"]["status"] == "ACTIF"
    assert codes(route["warnings"]) == {"route.paper_public_buyer"}
    assert "doit recevoir ses factures sous forme électronique" in route["warnings"][0]["message"]
    assert accepted.status_code == 202, accepted.json
    assert "route.paper_public_buyer" in codes(accepted.json["warnings"])


def test_a_credit_note_is_not_rerouted_by_the_fallback(guarded, member):
    """A credit note follows its invoice: the fallback applies to new invoices only."""
    put_customer(guarded, member, SEINE_MARITIME, "chorus")
    plan = guarded.services.pipeline.plan_route(
        member["id"], None, None, INACTIVE, outlet=("chorus", "chorus")
    )
    allow_fallback(guarded, member)
    forced = guarded.services.pipeline.plan_route(
        member["id"], None, None, INACTIVE, outlet=("chorus", "chorus")
    )

    assert plan.route.channel == forced.route.channel == "chorus"
    assert forced.route.requested_channel is None


@pytest.mark.parametrize(
    ("routing", "field"),
    [
        ("yes", "settings.routing"),
        ({"paper_fallback": "yes"}, "settings.routing.paper_fallback"),
        ({"fallback": True}, "settings.routing.fallback"),
    ],
)
def test_routing_settings_are_checked(guarded, member, routing, field):
    answer = guarded.client.simulate_patch(
        f"/v1/members/{member['id']}",
        json={"settings": {"routing": routing}},
        headers=guarded.admin(),
    )

    assert answer.status_code == 422
    assert [error["field"] for error in answer.json["errors"]] == [field]


def test_an_invalid_siret_is_refused_by_the_preview(guarded, member):
    answer = guarded.client.simulate_get(
        "/v1/customers/12345678901234/route", headers=member["headers"]
    )

    assert answer.status_code == 422
    assert answer.json["errors"][0]["code"] == "siret.invalid"

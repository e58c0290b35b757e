"""Corrections end to end against the Chorus Pro sandbox over HTTP: a rejected invoice
cancelled by a credit note and reissued, a flux the platform rejected corrected and
deposited again under the same number, and what is refused (partial, never received,
another member's)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gateway import lifecycle
from tests.integration.test_chorus import LIBRARY, NUMBERS, Platform, invoice
from tests.integration.test_server import wait_for


@pytest.fixture
def chorus(tmp_path, sqlite_url, sandbox):
    instance = Platform(tmp_path, sqlite_url, sandbox)
    yield instance
    instance.close()


def first_credit_note() -> str:
    """The first number of a member's sequence under the shipped pattern, this year."""
    return f"AV-{datetime.now(ZoneInfo('Europe/Paris')).year}-00001"


def post(chorus: Platform, invoice_id: str, action: str, member=None, **kwargs):
    headers = {**(member or chorus.member)["headers"], **kwargs.pop("headers", {})}
    return chorus.gateway.client.simulate_post(
        f"/v1/invoices/{invoice_id}/{action}", headers=headers, **kwargs
    )


def actions(chorus: Platform, invoice_id: str) -> list[str]:
    return lifecycle.next_actions(chorus.gateway.store.get_invoice(invoice_id))


def links(view: dict) -> dict[str, tuple[str | None, str]]:
    return {link["rel"]: (link["invoice_id"], link["number"]) for link in view["links"]}


def received(chorus: Platform, document: dict, *statuses: str) -> str:
    """Submit ``document``, let it be deposited, and play the buyer through ``statuses``."""
    invoice_id = chorus.submit(document)
    chorus.wait_status([invoice_id], "DEPOSEE")
    chorus.wait_platform_ids([invoice_id])
    platform_id = chorus.platform_invoice(document["number"])["id"]
    for status in statuses:
        moved = chorus.sandbox.control.post(
            f"/invoices/{platform_id}/status",
            json={"status": status, "reason": "Quantités facturées supérieures à la livraison"},
        )
        assert moved.status_code == 200, moved.text
        chorus.wait_status([invoice_id], status)
    return invoice_id


def test_a_rejected_invoice_is_cancelled_by_a_credit_note_and_reissued(chorus, sandbox):
    chorus.start_worker()
    document = invoice()
    invoice_id = received(chorus, document, "MISE_A_DISPOSITION", "REJETEE")
    assert actions(chorus, invoice_id) == ["credit-note"]
    assert post(chorus, invoice_id, "correct", json=document).status_code == 409

    reissued_number = f"IT-{next(NUMBERS):04d}"
    first_line = {**document["lines"][0], "quantity": "4"}
    answer = post(
        chorus,
        invoice_id,
        "credit-note",
        json={
            "reason": "Rejetée par le département : quantités erronées",
            "reissue": {"number": reissued_number, "lines": [first_line]},
        },
    )
    assert answer.status_code == 202, answer.json
    assert answer.json["id"] == invoice_id and answer.json["status"] == "REJETEE"
    made = links(answer.json)
    credit_id, credit_number = made["credit_note"]
    reissue_id, number = made["reissue"]
    assert number == reissued_number
    assert credit_number == first_credit_note()
    assert made["engagement"] == (None, document["references"]["engagement"])
    assert actions(chorus, invoice_id) == []  # cancelled once and for all

    chorus.wait_status([credit_id, reissue_id], "DEPOSEE")
    chorus.wait_platform_ids([credit_id, reissue_id])
    credit = chorus.view(credit_id)
    assert links(credit)["credited_invoice"] == (invoice_id, document["number"])
    assert credit["invoice"]["type"] == "credit_note"
    assert credit["invoice"]["preceding_invoice"] == {
        "number": document["number"],
        "issue_date": document["issue_date"],
    }
    assert credit["invoice"]["references"]["engagement"] == document["references"]["engagement"]
    original = chorus.view(invoice_id)
    assert credit["totals"] == original["totals"]  # a total credit note, to the cent
    # Cancelled, the rejected invoice asks nothing more of the bookseller.
    assert original["status"] == "REJETEE" and original["needs_action"] is False
    assert (
        original["next_actions"] == [] and "avoir total a annulé" in original["status_explanation"]
    )
    waiting = chorus.gateway.client.simulate_get(
        "/v1/invoices", params={"needs_action": "true"}, headers=chorus.member["headers"]
    ).json["items"]
    assert invoice_id not in [item["id"] for item in waiting]
    reissue = chorus.view(reissue_id)
    assert links(reissue)["reissue_of"] == (invoice_id, document["number"])
    assert [line["quantity"] for line in reissue["invoice"]["lines"]] == ["4"]
    on_platform = chorus.platform_invoice(credit_number)
    assert on_platform["kind"] == "AVOIR"
    assert sandbox.deposits(credit_number) == 1 and sandbox.deposits(reissued_number) == 1

    again = post(chorus, invoice_id, "credit-note", json={"reason": "encore"})
    assert again.status_code == 409
    (error,) = again.json["errors"]
    assert error["code"] == "invoice.action_not_allowed"
    assert "déjà annulée" in error["message"]


def test_a_flux_the_platform_rejected_is_corrected_and_deposited_under_its_number(chorus, sandbox):
    document = invoice(buyer=LIBRARY, engagement=None)  # the library asks for nothing…
    invoice_id = chorus.submit(document)
    chorus.start_worker()
    # …deposited, then the library starts asking for an engagement before the platform
    # processes the flux: the platform rejects it, no buyer ever sees it.
    wait_for(lambda: chorus.view(invoice_id)["status"] == "DEPOSEE", 20, "the deposit")
    flags = sandbox.control.patch(f"/structures/{LIBRARY}", json={"engagement_required": True})
    assert flags.status_code == 200, flags.text
    try:
        chorus.wait_status([invoice_id], "EN_ERREUR")
        assert chorus.view(invoice_id)["last_error"].startswith("Chorus Pro a refusé")
        assert actions(chorus, invoice_id) == ["retry", "correct"]
        refused = post(chorus, invoice_id, "credit-note", json={"reason": "refusée"})
        assert refused.status_code == 409
        assert "aucun acheteur ne l'a reçue" in refused.json["errors"][0]["message"]

        other = dict(document, number=f"IT-{next(NUMBERS):04d}")
        renumbered = post(chorus, invoice_id, "correct", json=other)
        assert renumbered.status_code == 422
        assert renumbered.json["errors"][0]["field"] == "number"

        # The bookseller reads the directory afresh, then sends the corrected invoice.
        fresh = chorus.gateway.client.simulate_get(
            f"/v1/directory/{LIBRARY}", params={"fresh": "true"}, headers=chorus.member["headers"]
        )
        assert fresh.json["engagement_required"] is True
        corrected = {**document, "references": {**document["references"], "engagement": "EJ-77"}}
        answer = post(chorus, invoice_id, "correct", json=corrected)
        assert answer.status_code == 202, answer.json
        assert (answer.json["status"], answer.json["version"]) == ("RECU", 2)
        chorus.wait_status([invoice_id], "DEPOSEE")
        chorus.wait_platform_ids([invoice_id])
    finally:
        sandbox.control.patch(f"/structures/{LIBRARY}", json={"engagement_required": False})
    view = chorus.view(invoice_id)
    assert view["invoice"]["references"]["engagement"] == "EJ-77"
    assert chorus.platform_invoice(document["number"])["engagement"] == "EJ-77"
    assert sandbox.deposits(document["number"]) == 2  # the rejected flux, then the correction
    statuses = [entry["status"] for entry in view["history"]]
    assert statuses == ["RECU", "DEPOSEE", "EN_ERREUR", "RECU", "DEPOSEE"]
    names = {document["name"] for document in view["documents"]}
    assert {"v1-original.json", "v1-facture.pdf", "original.json", "facture.pdf"} <= names
    first = chorus.gateway.client.simulate_get(
        f"/v1/invoices/{invoice_id}/documents/v1-original.json", headers=chorus.member["headers"]
    )
    assert first.json["references"]["engagement"] is None  # the first version, as received


def test_partial_never_received_and_foreign_credit_notes_are_refused(chorus, sandbox):
    chorus.start_worker()
    document = invoice()
    invoice_id = received(chorus, document, "MISE_A_DISPOSITION", "REJETEE")
    partial = post(chorus, invoice_id, "credit-note", json={"reason": "une ligne", "lines": ["1"]})
    assert partial.status_code == 422
    (error,) = partial.json["errors"]
    assert (error["code"], error["field"]) == ("credit_note.partial", "lines")
    assert "avoir total" in error["message"] and "force_partial" in error["message"]

    bad_reissue = post(
        chorus,
        invoice_id,
        "credit-note",
        json={"reason": "réémission", "reissue": {"number": "IT-X", "buyer": {"siret": "123"}}},
    )
    assert bad_reissue.status_code == 422
    assert "reissue.buyer.siret" in {e["field"] for e in bad_reissue.json["errors"]}
    assert links(chorus.view(invoice_id)).keys() == {
        "engagement",
        "purchase_order",
        "delivery_note",
    }

    stranger = chorus.gateway.new_member("Librairie du Marché", "79345612000013")
    foreign = post(chorus, invoice_id, "credit-note", member=stranger, json={"reason": "x"})
    assert foreign.status_code == 404
    assert post(chorus, invoice_id, "correct", member=stranger, json=document).status_code == 404

    waiting = chorus.submit(invoice())  # not deposited yet: no buyer has it
    never = post(chorus, waiting, "credit-note", json={"reason": "annulée"})
    assert never.status_code == 409
    assert never.json["errors"][0]["code"] == "invoice.action_not_allowed"

    forced = post(
        chorus,
        invoice_id,
        "credit-note",
        json={"reason": "une ligne", "lines": ["1"], "force_partial": True},
    )
    assert forced.status_code == 202, forced.json
    credit_id, credit_number = links(forced.json)["credit_note"]
    credit = chorus.view(credit_id)
    assert [line["id"] for line in credit["invoice"]["lines"]] == ["1"]
    assert credit_number == first_credit_note()  # the refused attempts took no number
    assert "credit-note" in actions(chorus, invoice_id)  # a partial one cancels not all

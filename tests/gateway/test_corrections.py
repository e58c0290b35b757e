"""Corrections in the core, with the scripted platform and in-test directory of the
following tests: which invoices hold a number, a new invoice taking over the number of
one refused before any buyer had it, and a correction in another format than the first."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway import lifecycle
from gateway.codec import invoice_from_data
from tests.conftest import example
from tests.gateway.test_following import SEINE, ScriptedPlatform, platform_gateway

T = "2026-11-20T09:00:00+00:00"


@pytest.mark.parametrize(
    ("row", "holds", "actions"),
    [
        ({"status": "RECU"}, True, []),
        ({"status": "DEPOSEE"}, True, []),
        # A failure the worker will try again: still on its way.
        ({"status": "EN_ERREUR", "next_attempt_at": T}, True, ["retry"]),
        # Stopped (the gateway's check, a rejected flux) before any buyer had it.
        ({"status": "EN_ERREUR"}, False, ["retry", "correct"]),
        ({"status": "REMPLACEE"}, False, []),
        ({"status": "REJETEE", "reached_buyer_at": T}, True, ["credit-note"]),
        ({"status": "MISE_EN_PAIEMENT", "reached_buyer_at": T}, True, ["credit-note"]),
        ({"status": "REJETEE", "reached_buyer_at": T, "credited_at": T}, True, []),
        ({"status": "REJETEE", "reached_buyer_at": T, "type": "credit_note"}, True, []),
        # Sent back in error after a buyer had it: a credit note, never a correction.
        ({"status": "EN_ERREUR", "reached_buyer_at": T}, True, ["retry", "credit-note"]),
    ],
)
def test_who_holds_a_number_and_what_may_be_done(row, holds, actions):
    row = {"type": "invoice", "next_attempt_at": None, **row}
    assert lifecycle.holds_number(row) is holds
    assert lifecycle.next_actions(row) == actions


def refuse_at_send(gateway, directory, member, document) -> str:
    """Submit ``document`` and have the gateway's check before sending refuse it."""
    invoice_id = gateway.post_invoice(member, document).json["id"]
    directory.entries[SEINE.siret] = dataclasses.replace(SEINE, status="INCONNU")
    gateway.worker().run_once()
    directory.entries[SEINE.siret] = SEINE
    fresh = gateway.client.simulate_get(
        f"/v1/directory/{SEINE.siret}", params={"fresh": "true"}, headers=member["headers"]
    )
    assert fresh.status_code == 200, fresh.json
    assert gateway.get_invoice(member, invoice_id)["status"] == "EN_ERREUR"
    return invoice_id


def test_a_number_refused_before_any_buyer_had_it_serves_a_new_invoice(tmp_path, sqlite_url):
    gateway, clock, directory = platform_gateway(tmp_path, sqlite_url)
    member = gateway.new_member()
    document = example("invoice-seine-maritime")
    refused = refuse_at_send(gateway, directory, member, {**document, "number": "FA-1"})
    on_its_way = gateway.post_invoice(member, {**document, "number": "FA-2"}).json["id"]
    taken = gateway.post_invoice(member, {**document, "number": "FA-2"})
    assert taken.status_code == 422
    assert taken.json["errors"][0]["code"] == "invoice.duplicate"

    again = gateway.post_invoice(member, {**document, "number": "FA-1"})
    assert again.status_code == 202, again.json
    new_id = again.json["id"]
    old = gateway.get_invoice(member, refused)
    assert old["status"] == "REMPLACEE"
    assert "Remplacée par la facture" in old["history"][-1]["comment"]
    assert [(link["rel"], link["invoice_id"]) for link in old["links"] if link["invoice_id"]] == [
        ("replaced_by", new_id)
    ]
    new = gateway.get_invoice(member, new_id)
    assert [(link["rel"], link["invoice_id"]) for link in new["links"] if link["invoice_id"]] == [
        ("replaces", refused)
    ]
    late = gateway.client.simulate_post(
        f"/v1/invoices/{refused}/correct", json=document, headers=member["headers"]
    )
    assert late.status_code == 409  # its number is the new invoice's now
    assert gateway.post_invoice(member, {**document, "number": "FA-1"}).status_code == 422
    assert gateway.worker().run_once() == 2  # FA-2 and the new FA-1, the old one never
    assert gateway.get_invoice(member, new_id)["status"] == "DEPOSEE"
    assert gateway.get_invoice(member, on_its_way)["status"] == "DEPOSEE"


def test_a_refused_invoice_is_corrected_in_another_format_and_sent_again(tmp_path, sqlite_url):
    gateway, clock, directory = platform_gateway(tmp_path, sqlite_url)
    member = gateway.new_member()
    document = {**example("invoice-seine-maritime"), "number": "FA-9"}
    invoice_id = refuse_at_send(gateway, directory, member, document)
    assert lifecycle.next_actions(gateway.store.get_invoice(invoice_id)) == ["retry", "correct"]

    row = gateway.store.get_invoice(invoice_id)
    corrected = invoice_from_data(row["data"])
    corrected.lines[0].quantity = corrected.lines[0].quantity - 1
    ubl = gateway.services.registry.renderers["ubl"].render(corrected, profile="chorus")
    answer = gateway.client.simulate_post(
        f"/v1/invoices/{invoice_id}/correct",
        body=ubl,
        headers={**member["headers"], "Content-Type": "application/xml"},
    )
    assert answer.status_code == 202, answer.json
    assert (answer.json["status"], answer.json["version"]) == ("RECU", 2)
    assert answer.json["source_format"] != "json"
    assert answer.json["invoice"]["lines"][0]["quantity"] == str(corrected.lines[0].quantity)
    names = [d["name"] for d in answer.json["documents"]]
    assert names[0] == "v1-original.json" and names[1].startswith("original.")
    kept = gateway.client.simulate_get(
        f"/v1/invoices/{invoice_id}/documents/v1-original.json", headers=member["headers"]
    )
    assert kept.json["lines"][0]["quantity"] == document["lines"][0]["quantity"]
    assert gateway.worker().run_once() == 1
    view = gateway.get_invoice(member, invoice_id)
    assert [h["status"] for h in view["history"]] == ["RECU", "EN_ERREUR", "RECU", "DEPOSEE"]
    assert ScriptedPlatform.histories.keys() == {invoice_id}
    assert lifecycle.next_actions(gateway.store.get_invoice(invoice_id)) == []


def test_a_correction_is_validated_like_a_new_invoice(tmp_path, sqlite_url):
    gateway, clock, directory = platform_gateway(tmp_path, sqlite_url)
    member = gateway.new_member()
    document = {**example("invoice-seine-maritime"), "number": "FA-7"}
    invoice_id = refuse_at_send(gateway, directory, member, document)
    path = f"/v1/invoices/{invoice_id}/correct"
    headers = member["headers"]
    invalid = gateway.client.simulate_post(
        path, json={**document, "buyer": {**document["buyer"], "siret": "123"}}, headers=headers
    )
    assert invalid.status_code == 422
    assert "buyer.siret" in {e["field"] for e in invalid.json["errors"]}
    both = io.BytesIO()
    with zipfile.ZipFile(both, "w") as archive:
        for number in ("FA-7", "FA-8"):
            archive.writestr(f"{number}.json", json.dumps({**document, "number": number}))
    several = gateway.client.simulate_post(
        path, body=both.getvalue(), headers={**headers, "Content-Type": "application/zip"}
    )
    assert several.status_code == 422
    assert several.json["errors"][0]["code"] == "correction.several_invoices"
    unchanged = gateway.get_invoice(member, invoice_id)
    assert (unchanged["status"], unchanged["version"]) == ("EN_ERREUR", 1)
    assert [d["name"] for d in unchanged["documents"]] == ["original.json"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_credit_notes_take_the_sequence_one_after_the_other(tmp_path, database_url):
    gateway, clock, _ = platform_gateway(tmp_path, database_url)
    member = gateway.new_member()
    document = example("invoice-seine-maritime")
    ids = [
        gateway.post_invoice(member, {**document, "number": f"FA-{n}"}).json["id"] for n in range(4)
    ]
    worker = gateway.worker(clock=clock)
    assert worker.run_once() == 4
    for invoice_id in ids:
        ScriptedPlatform.histories[invoice_id] += [
            ("DEPOSEE", clock.now, None),
            ("MISE_A_DISPOSITION", clock.now, None),
            ("REJETEE", clock.now, "Montant erroné"),
        ]
    clock.advance(minutes=2)
    assert worker.follow_once() == 4
    start = threading.Barrier(len(ids))
    request = {"reason": "Rejetée", "reissue": None, "lines": None, "force_partial": False}

    def credit(invoice_id: str) -> str:
        start.wait()  # all read the same next number, then queue on the sequence's lock
        view = gateway.services.corrections.credit_note(member["id"], invoice_id, request)
        (number,) = [link["number"] for link in view["links"] if link["rel"] == "credit_note"]
        return number

    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        numbers = list(pool.map(credit, ids))
    assert sorted(numbers) == [f"AV-2026-{n:05d}" for n in range(1, 5)]
    for invoice_id, number in zip(ids, numbers, strict=True):
        (row,) = [r for r in gateway.store.list_invoices(member["id"]) if r["number"] == number]
        assert row["data"]["preceding_invoice"]["number"] == f"FA-{ids.index(invoice_id)}"
    gateway.store.dispose()


def credited_and_reissued(tmp_path, sqlite_url):
    """An invoice the buyer refused, then credited and reissued on paper."""
    gateway, clock, _ = platform_gateway(tmp_path, sqlite_url)
    member = gateway.new_member()
    invoice_id = gateway.post_invoice(
        member, {**example("invoice-seine-maritime"), "number": "FA-5"}
    ).json["id"]
    worker = gateway.worker(clock=clock)
    assert worker.run_once() == 1
    ScriptedPlatform.histories[invoice_id] += [
        ("DEPOSEE", clock.now, None),
        ("MISE_A_DISPOSITION", clock.now, None),
        ("REJETEE", clock.now, "Adresser la facture sur papier"),
    ]
    clock.advance(minutes=2)
    assert worker.follow_once() == 1
    declared = gateway.client.simulate_put(
        f"/v1/customers/{SEINE.siret}",
        json={"name": SEINE.name, "channel": "paper"},
        headers=member["headers"],
    )
    assert declared.status_code in (200, 201), declared.json
    answer = gateway.client.simulate_post(
        f"/v1/invoices/{invoice_id}/credit-note",
        json={"reason": "Rejetée", "reissue": {"number": "FA-6"}},
        headers=member["headers"],
    )
    assert answer.status_code == 202, answer.json
    made = {link["rel"]: link["invoice_id"] for link in answer.json["links"]}
    return gateway, member, invoice_id, made


def test_the_credit_note_follows_its_invoice_and_the_reissue_the_customers_route(
    tmp_path, sqlite_url
):
    gateway, member, _, made = credited_and_reissued(tmp_path, sqlite_url)
    credit = gateway.get_invoice(member, made["credit_note"])
    reissue = gateway.get_invoice(member, made["reissue"])
    assert (credit["channel"], credit["outlet"]) == ("chorus", "scripted")
    assert (reissue["channel"], reissue["outlet"]) == ("paper", "memory")
    assert credit["history"][0]["comment"].startswith("Avoir total de la facture FA-5")

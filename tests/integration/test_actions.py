"""The corrective actions end to end: the buyer (the sandbox's control API) sends an invoice
back, the bookseller acts through the REST API, the worker carries the action out against
the Chorus Pro sandbox over HTTP, and the invoice reaches its next state.

Same set-up as ``test_chorus``: the real gateway (app, SQLite store, plugins from their
entry points, a worker thread), the sandbox in a subprocess; every wait polls a condition.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from gateway.actions import PendingAction
from gateway.codec import invoice_from_data
from gateway.outlets import Receipt, SendContext
from gateway.store import utcnow
from tests.gateway.test_openapi import check
from tests.integration.test_chorus import AUBE, Platform, invoice
from tests.plugins.chorus.sandbox import Sandbox

OTHER_MEMBER = ("Librairie du Marché", "79345612000013")
PDF = b"%PDF-1.4\n% bon de livraison\n%%EOF\n"


@pytest.fixture
def chorus(tmp_path, sqlite_url, sandbox):
    instance = Platform(tmp_path, sqlite_url, sandbox)
    yield instance
    instance.close()


def sent_back(chorus: Platform, status: str, reason: str) -> tuple[str, dict, dict]:
    """Deposit a new invoice, then play the buyer sending it back with ``status``: return the
    gateway's id, the document and the invoice as the platform holds it."""
    document = invoice()
    invoice_id = chorus.submit(document)
    chorus.start_worker()
    chorus.wait_status([invoice_id], "DEPOSEE")
    chorus.wait_platform_ids([invoice_id])
    on_platform = chorus.platform_invoice(document["number"])
    moved = chorus.sandbox.control.post(
        f"/invoices/{on_platform['id']}/status", json={"status": status, "reason": reason}
    )
    assert moved.status_code == 200, moved.text
    chorus.wait_status([invoice_id], status)
    return invoice_id, document, on_platform


def post(chorus: Platform, path: str, member: dict | None = None, headers=None, **kwargs):
    """POST as the platform's member (or ``member``), with extra ``headers``."""
    own = (member or chorus.member)["headers"]
    return chorus.gateway.client.simulate_post(path, headers={**own, **(headers or {})}, **kwargs)


def form(files: list[tuple[str, bytes, str]], comment: str | None = None) -> dict:
    """A multipart/form-data body, encoded by httpx as a client would send it."""
    parts = [("file", item) for item in files]
    if comment is not None:
        parts.append(("comment", (None, comment)))  # a field without a file name
    request = httpx.Request("POST", "http://gateway.invalid/", files=parts)
    return {"body": request.read(), "headers": {"Content-Type": request.headers["Content-Type"]}}


def needing_action(chorus: Platform) -> list[str]:
    listed = chorus.gateway.client.simulate_get(
        "/v1/invoices", params={"needs_action": "true"}, headers=chorus.member["headers"]
    )
    assert listed.status_code == 200, listed.json
    return [item["id"] for item in listed.json["items"]]


def statuses(view: dict) -> list[str]:
    return [entry["status"] for entry in view["history"]]


def codes(result) -> set[tuple[str, str | None]]:
    return {(error["code"], error["field"]) for error in result.json["errors"]}


def refusal(result, status: int) -> dict:
    assert result.status_code == status, result.json
    (error,) = result.json["errors"]
    return error


def test_an_invoice_to_recycle_goes_to_the_corrected_recipient_under_the_same_number(
    chorus, sandbox
):
    reason = "Mauvais destinataire : facturer le département de l'Aube"
    invoice_id, document, on_platform = sent_back(chorus, "A_RECYCLER", reason)
    view = chorus.view(invoice_id)
    assert view["next_actions"] == ["recycle", "credit-note"] and view["needs_action"] is True
    assert "recycle" in view["status_explanation"]
    assert view["history"][-1]["comment"] == reason
    assert needing_action(chorus) == [invoice_id]
    changed = [e for e in chorus.events(invoice_id) if e["data"].get("new") == "A_RECYCLER"]
    assert changed[-1]["data"]["next_actions"] == ["recycle", "credit-note"]

    path = f"/v1/invoices/{invoice_id}/recycle"
    # The corrected recipient is judged as a new invoice's: nothing is stored when refused.
    bad_siret = post(chorus, path, json={"buyer": {"siret": "22100005200012"}})
    assert bad_siret.status_code == 422, bad_siret.json
    assert ("siret.invalid", "buyer.siret") in codes(bad_siret), bad_siret.json
    no_service = post(chorus, path, json={"buyer": {"siret": AUBE}})
    assert no_service.status_code == 422, no_service.json
    assert ("service.required", "references.service_code") in codes(no_service)
    unknown = post(
        chorus,
        path,
        json={"buyer": {"siret": AUBE}, "references": {"service_code": "INCONNU"}},
    )
    assert ("service.unknown", "references.service_code") in codes(unknown)
    assert refusal(post(chorus, path, json={}), 422)["code"] == "field.required"
    # Another member does not see the invoice; complete is not this status's action.
    other = chorus.gateway.new_member(*OTHER_MEMBER)
    assert refusal(post(chorus, path, other, json={"buyer": {"siret": AUBE}}), 404)
    bon = [("bon.pdf", PDF, "application/pdf")]
    wrong = refusal(post(chorus, f"/v1/invoices/{invoice_id}/complete", **form(bon)), 409)
    assert wrong["code"] == "invoice.action_not_allowed"
    assert "A_RECYCLER" in wrong["message"] and "recycle" in wrong["message"]
    assert chorus.view(invoice_id)["pending_action"] is None

    fixed = {
        "buyer": {"siret": AUBE},
        "references": {"service_code": "DFCG", "engagement": "Ej-Aube-2026-4417"},
    }
    accepted = post(chorus, path, json=fixed)
    assert accepted.status_code == 202, accepted.json
    spec = chorus.gateway.client.simulate_get("/v1/openapi.json").json
    for answer in (accepted, no_service, post(chorus, path, json=fixed)):
        check(spec, "/v1/invoices/{invoice_id}/recycle", "post", answer)
    assert accepted.json["pending_action"]["action"] == "recycle"
    assert accepted.json["pending_action"]["buyer"] == {"siret": AUBE}
    assert accepted.json["next_actions"] == []
    again = refusal(post(chorus, path, json=fixed), 409)
    assert again["code"] == "invoice.action_not_allowed"

    chorus.wait_status([invoice_id], "DEPOSEE")
    view = chorus.view(invoice_id)
    assert statuses(view) == ["RECU", "DEPOSEE", "A_RECYCLER", "DEPOSEE"]
    assert "Recyclée vers le SIRET 22100005200011" in view["history"][-1]["comment"]
    # Received by a buyer once: a credit note may always cancel it.
    assert view["pending_action"] is None and view["next_actions"] == ["credit-note"]
    assert view["invoice"]["buyer"]["siret"] == AUBE and view["buyer_siret"] == AUBE
    assert view["invoice"]["references"]["service_code"] == "DFCG"
    assert view["number"] == document["number"]
    assert invoice_id not in needing_action(chorus)
    recycled = chorus.platform_invoice(document["number"])
    assert recycled["id"] == on_platform["id"]
    assert (recycled["recipient"], recycled["service"], recycled["status"]) == (
        AUBE,
        "DFCG",
        "DEPOSEE",
    )
    assert sandbox.deposits(document["number"]) == 1  # recycled, not deposited again
    types = [e["type"] for e in chorus.events(invoice_id)]
    assert "invoice.action_requested" in types
    last = chorus.events(invoice_id)[-1]["data"]
    assert (last["new"], last["action"], last["next_actions"]) == (
        "DEPOSEE",
        "recycle",
        ["credit-note"],
    )


def test_a_suspended_invoice_is_completed_with_the_missing_documents(chorus, sandbox):
    reason = "Bon de livraison manquant"
    invoice_id, document, on_platform = sent_back(chorus, "SUSPENDUE", reason)
    view = chorus.view(invoice_id)
    assert view["next_actions"] == ["complete", "credit-note"] and view["needs_action"] is True
    assert "complete" in view["status_explanation"]
    assert needing_action(chorus) == [invoice_id]
    path = f"/v1/invoices/{invoice_id}/complete"

    wrong = refusal(post(chorus, f"/v1/invoices/{invoice_id}/recycle", json={}), 409)
    assert wrong["code"] == "invoice.action_not_allowed" and "SUSPENDUE" in wrong["message"]
    refused = refusal(post(chorus, path, **form([("programme.exe", b"MZ", "x")])), 422)
    assert (refused["code"], refused["field"]) == ("attachment.invalid", "attachments[0]")
    assert "programme.exe" in refused["message"]
    assert refusal(post(chorus, path, **form([], "rien")), 422)["field"] == "file"
    as_json = post(chorus, path, json={"file": "bon.pdf"})
    assert refusal(as_json, 415)["code"] == "format.unsupported"
    other = chorus.gateway.new_member(*OTHER_MEMBER)
    files = [("bon-livraison.pdf", PDF, "application/pdf"), ("releve.txt", b"10 x", "text/plain")]
    assert refusal(post(chorus, path, other, **form(files)), 404)["code"] == "not_found"
    assert chorus.view(invoice_id)["pending_action"] is None

    accepted = post(chorus, path, **form(files, "Voici le bon de livraison signé"))
    assert accepted.status_code == 202, accepted.json
    spec = chorus.gateway.client.simulate_get("/v1/openapi.json").json
    for answer in (accepted, as_json, post(chorus, path, **form(files))):
        check(spec, "/v1/invoices/{invoice_id}/complete", "post", answer)
    assert accepted.json["pending_action"]["attachments"] == ["bon-livraison.pdf", "releve.txt"]
    names = [doc["name"] for doc in accepted.json["documents"]]
    assert {"complement.1.bon-livraison.pdf", "complement.2.releve.txt"} <= set(names)

    chorus.wait_status([invoice_id], "COMPLETEE")
    view = chorus.view(invoice_id)
    assert statuses(view) == ["RECU", "DEPOSEE", "SUSPENDUE", "COMPLETEE"]
    assert view["pending_action"] is None and view["needs_action"] is False
    assert view["next_actions"] == ["credit-note"]
    stored = chorus.gateway.client.simulate_get(
        f"/v1/invoices/{invoice_id}/documents/complement.1.bon-livraison.pdf",
        headers=chorus.member["headers"],
    )
    assert stored.content == PDF
    completed = chorus.platform_invoice(document["number"])
    assert completed["status"] == "COMPLETEE"
    assert completed["history"][-1]["comment"] == "Voici le bon de livraison signé"
    assert sandbox.calls("factures/v1/completer") >= 1
    # The buyer goes on with it: the gateway follows.
    chorus.move(on_platform["id"], "SERVICE_FAIT")
    chorus.wait_status([invoice_id], "SERVICE_FAIT")


def test_a_transient_failure_is_retried_and_the_action_is_asked_once(
    tmp_path, database_url, sandbox
):
    chorus = Platform(tmp_path, database_url, sandbox)  # SQLite, then PostgreSQL
    try:
        retried(chorus, sandbox)
    finally:
        chorus.close()


def retried(chorus: Platform, sandbox: Sandbox) -> None:
    invoice_id, document, _ = sent_back(chorus, "A_RECYCLER", "Mauvais service")
    before = sandbox.calls("factures/v1/recycler")
    sandbox.faults(fail_next=1, paths=["/cpro/factures/v1/recycler"])
    try:
        fixed = {
            "buyer": {"siret": AUBE},
            "references": {"service_code": "DFCG", "engagement": "Ej-Aube-2026-4417"},
        }
        assert post(chorus, f"/v1/invoices/{invoice_id}/recycle", json=fixed).status_code == 202
        chorus.wait_status([invoice_id], "DEPOSEE")
    finally:
        sandbox.clear_faults()
    assert sandbox.calls("factures/v1/recycler") == before + 2  # the failed call, then one
    row = chorus.gateway.store.get_invoice(invoice_id)
    assert row["action"] is None and row["last_error"] is None
    assert statuses(chorus.view(invoice_id)) == ["RECU", "DEPOSEE", "A_RECYCLER", "DEPOSEE"]


@pytest.mark.parametrize("polled_first", [False, True])
def test_an_action_a_dead_worker_took_is_recorded_without_asking_the_platform_again(
    tmp_path, sqlite_url, sandbox, polled_first
):
    chorus = Platform(tmp_path, sqlite_url, sandbox, lease_seconds=1)
    try:
        invoice_id, document, _ = sent_back(chorus, "A_RECYCLER", "Mauvais destinataire")
        chorus.stop.set()  # the worker thread stops: this test plays a worker that dies
        chorus.thread.join(timeout=30)
        fixed = {
            "buyer": {"siret": AUBE},
            "references": {"service_code": "DFCG", "engagement": "Ej-Aube-2026-4417"},
        }
        assert post(chorus, f"/v1/invoices/{invoice_id}/recycle", json=fixed).status_code == 202
        store, worker = chorus.gateway.store, chorus.gateway.worker(owner="mort")
        (entry,) = store.claim_due(
            "mort", worker.clock(), timedelta(seconds=1), 10, due="action_due_at"
        )
        with store.begin() as conn:
            store.update_invoice(conn, entry.seq, action_attempts=1)
        # It called the platform, then died before recording anything.
        action = PendingAction.from_row(store.get_invoice(invoice_id))
        outlet = chorus.gateway.services.registry.outlets["chorus"]
        receipt = Receipt("chorus", entry.outlet_reference, entry.status, invoice_id)
        receipt.data = dict(entry.receipt_data)
        context = SendContext(
            invoice_id, entry.member_id, 1, worker._settings(entry.member_id, "chorus"), None
        )
        outlet.recycle(receipt, action.recycled(invoice_from_data(entry.data)), context)
        calls = sandbox.calls("factures/v1/recycler")
        if polled_first:  # the platform's DEPOSEE is recorded before the action is taken over
            hour_later = lambda: utcnow() + timedelta(hours=1)  # noqa: E731 — its polls due
            later = chorus.gateway.worker(owner="suiveur", clock=hour_later)

            def polled() -> bool:
                later.follow_once()
                return store.get_invoice(invoice_id)["status"] == "DEPOSEE"

            chorus.until(polled, "the poll to record DEPOSEE")
            assert store.get_invoice(invoice_id)["action"] is not None

        chorus.stop.clear()
        chorus.start_worker()  # takes the action over once the dead one's lease expired
        chorus.wait_status([invoice_id], "DEPOSEE")
        chorus.until(lambda: store.get_invoice(invoice_id)["action"] is None, "the action done")
        assert sandbox.calls("factures/v1/recycler") == calls
        view = chorus.view(invoice_id)
        assert statuses(view) == ["RECU", "DEPOSEE", "A_RECYCLER", "DEPOSEE"]
        assert view["invoice"]["buyer"]["siret"] == AUBE
    finally:
        chorus.close()


def test_a_recycle_the_directory_no_longer_allows_is_given_up_and_may_be_asked_again(
    chorus, sandbox
):
    invoice_id, document, _ = sent_back(chorus, "A_RECYCLER", "Mauvais destinataire")
    chorus.stop.set()  # the directory changes between the request and the worker
    chorus.thread.join(timeout=30)
    fixed = {
        "buyer": {"siret": AUBE},
        "references": {"service_code": "DFCG", "engagement": "Ej-Aube-2026-4417"},
    }
    path = f"/v1/invoices/{invoice_id}/recycle"
    assert post(chorus, path, json=fixed).status_code == 202
    service = f"/structures/{AUBE}/services/DFCG"
    assert sandbox.control.patch(service, json={"status": "SUPPRIME"}).status_code == 200
    # The change comes seconds after the request's lookup (in life, later): no recent
    # lookup stands in for the one before the action.
    chorus.gateway.config.worker.recheck_within = 0
    try:
        before = sandbox.calls("factures/v1/recycler")
        chorus.stop.clear()
        chorus.start_worker()
        failed = chorus.until(
            lambda: [e for e in chorus.events(invoice_id) if e["type"] == "invoice.action_failed"],
            "the recycle given up",
        )
    finally:
        sandbox.control.patch(service, json={"status": "ACTIF"}).raise_for_status()
    assert sandbox.calls("factures/v1/recycler") == before  # refused before the platform
    (event,) = failed
    assert event["data"]["action"] == "recycle" and event["data"]["next_actions"] == [
        "recycle",
        "credit-note",
    ]
    assert ("service.inactive", "references.service_code") in {
        (error["code"], error["field"]) for error in event["data"]["errors"]
    }
    view = chorus.view(invoice_id)
    assert view["status"] == "A_RECYCLER" and view["pending_action"] is None
    assert view["next_actions"] == ["recycle", "credit-note"] and view["needs_action"] is True
    assert "La dernière demande a échoué" in view["status_explanation"]
    # Asked again with a service still active: it goes through.
    fixed["references"]["service_code"] = "DSDISTR1"
    again = post(chorus, path, json=fixed)
    assert again.status_code == 202, again.json
    chorus.wait_status([invoice_id], "DEPOSEE")
    assert chorus.platform_invoice(document["number"])["service"] == "DSDISTR1"


def test_the_files_are_read_within_the_body_limit_and_falcon_s_part_limits(chorus):
    invoice_id, _, _ = sent_back(chorus, "SUSPENDUE", "Pièces manquantes")
    path = f"/v1/invoices/{invoice_id}/complete"
    limit = chorus.gateway.config.max_body_bytes
    too_large = post(chorus, path, **form([("gros.pdf", b"%PDF" + b"0" * limit, "x")]))
    assert refusal(too_large, 413)["code"] == "request.too_large"
    many = post(chorus, path, **form([(f"p{n}.pdf", PDF, "application/pdf") for n in range(65)]))
    assert refusal(many, 422)["code"] == "format.unreadable"
    # A file above Falcon's own 1 MiB a part, below the platform's 10 MB, is taken.
    big = post(chorus, path, **form([("gros.pdf", b"%PDF" + b"0" * 2 * 1024 * 1024, "x")]))
    assert big.status_code == 202, big.json
    chorus.wait_status([invoice_id], "COMPLETEE")

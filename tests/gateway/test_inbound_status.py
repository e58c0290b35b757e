"""The member's answers about received invoices: checked by the state machine, recorded,
then sent once through ``Outlet.answer`` by the worker, retried after a failure."""

from __future__ import annotations

import pytest

from tests.conftest import Clock, Gateway, make_config
from tests.gateway.test_inbound_receive import flow, listing, receiving


@pytest.fixture
def failing(tmp_path, sqlite_url):
    """A gateway whose platform fails the first answer it is sent (transiently)."""
    config = make_config(tmp_path, sqlite_url)
    config.plugins["memory"]["answer_fail_times"] = 1
    gateway = Gateway(config, clock=Clock())
    yield gateway
    gateway.store.dispose()


def received(gateway, reference="FLUX-1") -> tuple[dict, dict, object]:
    member = gateway.new_member()
    receiving(gateway, member)
    outlet = gateway.services.registry.outlets["memory"]
    outlet.deliver(member["id"], flow(reference))
    worker = gateway.worker(clock=gateway.services.clock)
    worker.scheduler.run_due()
    item = listing(gateway, member)["items"][0]
    return member, item, worker


def answer(gateway, member, item, **body):
    return gateway.client.simulate_post(
        f"/v1/inbound-invoices/{item['id']}/status", json=body, headers=member["headers"]
    )


def events_of(gateway, member, prefix="inbound_invoice.status"):
    feed = gateway.client.simulate_get("/v1/events", headers=member["headers"]).json
    return [e for e in feed["events"] if e["type"].startswith(prefix)]


def test_approval_is_sent_once_even_after_a_transient_failure(failing):
    gateway = failing
    member, item, worker = received(gateway)
    outlet = gateway.services.registry.outlets["memory"]
    result = answer(gateway, member, item, status="205", comment="Bon pour paiement")
    assert result.status_code == 202, result.json
    assert result.json["status"] == "205" and result.json["label"] == "Approuvée"
    assert result.json["sending"] == "pending"

    worker.scheduler.run_due()  # the platform fails: retried later
    assert outlet.answers == []
    view = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}", headers=member["headers"]
    ).json
    assert view["status"] == "205"
    assert view["statuses"][0]["sending"] == "pending"
    assert view["statuses"][0]["error"]

    worker.scheduler.run_due()  # not due yet (backoff)
    assert outlet.answers == []
    gateway.services.clock.advance(minutes=1)
    worker.scheduler.run_due()
    worker.scheduler.run_due()
    assert [(a["reference"], a["status"], a["comment"]) for a in outlet.answers] == [
        ("FLUX-1", "205", "Bon pour paiement")
    ]
    view = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}", headers=member["headers"]
    ).json
    sent = view["statuses"][0]
    assert sent["sending"] == "sent" and sent["attempts"] == 2
    assert sent["message_reference"] == outlet.answers[0]["message"]
    assert [e["type"] for e in events_of(gateway, member)] == ["inbound_invoice.status_sent"]


def test_refusal_needs_a_known_reason(gateway):
    member, item, worker = received(gateway)
    result = answer(gateway, member, item, status="210")
    assert result.status_code == 422
    error = result.json["errors"][0]
    assert error["code"] == "inbound.reason_required" and error["field"] == "reason"
    assert "motif" in error["message"]
    result = answer(gateway, member, item, status="210", reason="PAS_ENVIE")
    assert result.status_code == 422
    assert result.json["errors"][0]["code"] == "inbound.reason_invalid"
    # known reasons, but not of these statuses (XP Z12-012): a platform refuses the CDAR
    for status, reason in (("210", "PU_ERR"), ("205", "DOUBLON"), ("208", "AUTRE")):
        result = answer(gateway, member, item, status=status, reason=reason)
        assert result.status_code == 422, (status, reason)
        assert result.json["errors"][0]["code"] == "inbound.reason_invalid"

    result = answer(gateway, member, item, status="210", reason="DOUBLON")
    assert result.status_code == 202
    worker.scheduler.run_due()
    outlet = gateway.services.registry.outlets["memory"]
    assert [(a["status"], a["reason"]) for a in outlet.answers] == [("210", "DOUBLON")]


def test_the_state_machine_refuses_what_makes_no_sense(gateway):
    member, item, worker = received(gateway)
    unknown = answer(gateway, member, item, status="999")
    assert unknown.status_code == 422
    assert unknown.json["errors"][0]["code"] == "inbound.status_invalid"
    assert unknown.json["errors"][0]["field"] == "status"
    assert answer(gateway, member, item, status="211").status_code == 409  # paid unapproved
    assert answer(gateway, member, item, status="210", reason="DOUBLON").status_code == 202
    after_refusal = answer(gateway, member, item, status="205")
    assert after_refusal.status_code == 409
    error = after_refusal.json["errors"][0]
    assert error["code"] == "inbound.transition_refused" and error["field"] == "status"
    assert "210 (Refusée)" in error["message"]
    amount_alone = answer(gateway, member, item, status="205", amount="10.00")
    assert amount_alone.status_code == 422
    missing = gateway.client.simulate_post(
        f"/v1/inbound-invoices/{item['id']}/status", json={}, headers=member["headers"]
    )
    assert missing.status_code == 422 and missing.json["errors"][0]["field"] == "status"
    assert answer(gateway, member, {"id": "rcv_nope"}, status="205").status_code == 404


def test_approval_then_payment_in_order(gateway):
    member, item, worker = received(gateway)
    assert answer(gateway, member, item, status="204").status_code == 202
    partial = answer(gateway, member, item, status="206", amount="12.50")
    assert partial.status_code == 202 and partial.json["amount"] == "12.50"
    assert answer(gateway, member, item, status="211").status_code == 202
    assert answer(gateway, member, item, status="205").status_code == 409  # nothing after 211
    # 212 Encaissée is the supplier's status, never the buyer's.
    cashed = answer(gateway, member, item, status="212")
    assert cashed.status_code == 422 and cashed.json["errors"][0]["field"] == "status"
    worker.scheduler.run_due()
    worker.scheduler.run_due()
    worker.scheduler.run_due()
    outlet = gateway.services.registry.outlets["memory"]
    assert [a["status"] for a in outlet.answers] == ["204", "206", "211"]
    assert outlet.answers[1]["comment"].startswith("Montant approuvé : 12.50")
    listed = listing(gateway, member, status="211")["items"]
    assert [i["id"] for i in listed] == [item["id"]]
    assert listing(gateway, member, status="none")["items"] == []


def test_an_idempotency_key_records_a_status_once(gateway):
    member, item, worker = received(gateway)
    path = f"/v1/inbound-invoices/{item['id']}/status"
    headers = {**member["headers"], "Idempotency-Key": "repondre-1"}
    first = gateway.client.simulate_post(path, json={"status": "204"}, headers=headers)
    again = gateway.client.simulate_post(path, json={"status": "204"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json == first.json
    other = gateway.client.simulate_post(path, json={"status": "205"}, headers=headers)
    assert other.status_code == 409
    assert other.json["errors"][0]["code"] == "idempotency.conflict"
    view = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}", headers=member["headers"]
    ).json
    assert [s["status"] for s in view["statuses"]] == ["204"]
    # A refused status keeps no record: the key serves again.
    refused = gateway.client.simulate_post(
        path, json={"status": "210"}, headers={**member["headers"], "Idempotency-Key": "k2"}
    )
    assert refused.status_code == 422
    accepted = gateway.client.simulate_post(
        path,
        json={"status": "210", "reason": "DOUBLON"},
        headers={**member["headers"], "Idempotency-Key": "k2"},
    )
    assert accepted.status_code == 202


def test_an_answer_given_up_on_is_an_event_for_the_member_and_the_admin(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    config.plugins["memory"]["answer_fail_times"] = 1
    config.worker.max_attempts = 1
    gateway = Gateway(config)
    try:
        member, item, worker = received(gateway)
        assert answer(gateway, member, item, status="205").status_code == 202
        worker.scheduler.run_due()
        failed = events_of(gateway, member)
        assert [e["type"] for e in failed] == ["inbound_invoice.status_failed"]
        assert failed[0]["data"]["inbound_invoice_id"] == item["id"]
        view = gateway.client.simulate_get(
            f"/v1/inbound-invoices/{item['id']}", headers=member["headers"]
        ).json
        assert view["statuses"][0]["sending"] == "failed"
        alerts = gateway.client.simulate_get("/v1/admin/events", headers=gateway.admin()).json
        assert "inbound_invoice.status_failed" in str(alerts)
        worker.scheduler.run_due()
        assert gateway.services.registry.outlets["memory"].answers == []  # not retried
        # What the platform never got does not hold the invoice: it may be answered again.
        assert view["status"] is None
        assert answer(gateway, member, item, status="205").status_code == 202
        worker.scheduler.run_due()
        sent = gateway.services.registry.outlets["memory"].answers
        assert [a["status"] for a in sent] == ["205"]
    finally:
        gateway.store.dispose()


def test_receive_and_answer_on_each_database(tmp_path, database_url):
    config = make_config(tmp_path, database_url)
    config.inbound.poll_minutes = 0  # pulled at every cycle
    gateway = Gateway(config)
    try:
        member, item, worker = received(gateway)
        outlet = gateway.services.registry.outlets["memory"]
        outlet.deliver(member["id"], flow(item["reference"]))  # again: stored once
        outlet.deliver(member["id"], flow("FLUX-2"))
        worker.scheduler.run_due()
        assert [i["reference"] for i in listing(gateway, member)["items"]] == ["FLUX-2", "FLUX-1"]
        assert answer(gateway, member, item, status="210", reason="DOUBLON").status_code == 202
        assert answer(gateway, member, item, status="205").status_code == 409
        worker.scheduler.run_due()
        assert [(a["reference"], a["status"]) for a in outlet.answers] == [("FLUX-1", "210")]
        assert listing(gateway, member, status="210")["items"][0]["id"] == item["id"]
    finally:
        gateway.store.dispose()

"""The inbound tables on SQLite and PostgreSQL: a flow stored once, answers leased in order,
receive cursors kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.store.inbound import ANSWER_SENT, InboundStore

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def member(store, member_id="mem_1") -> str:
    with store.begin() as conn:
        store.insert_member(conn, id=member_id, name="Librairie", created_at=NOW)
    return member_id


def flow(member_id: str, reference: str, inbound_id: str) -> dict:
    return {
        "id": inbound_id,
        "member_id": member_id,
        "outlet": "pa",
        "reference": reference,
        "received_at": NOW,
        "filename": "f.xml",
        "media_type": "application/xml",
        "size": 3,
        "sha256": "0" * 64,
        "platform_data": {},
        "problems": [],
        "created_at": NOW,
    }


def received(row: dict) -> dict:
    return {"type": "inbound_invoice.received", "data": {"inbound_invoice_id": row["id"]}}


def test_a_flow_is_stored_once_with_its_event_and_journal_entry(store):
    inbound = InboundStore(store)
    owner = member(store)
    assert inbound.add(flow(owner, "F1", "rcv_1"), b"abc", received) is not None
    assert inbound.add(flow(owner, "F1", "rcv_2"), b"abc", received) is None
    assert inbound.holds(owner, "pa", "F1") and not inbound.holds(owner, "pa", "F2")
    assert [e["type"] for e in store.list_events(owner)] == ["inbound_invoice.received"]
    assert [e["kind"] for e in store.invoice_journal("rcv_1")][0] == "inbound.archived"
    assert store.invoice_journal("rcv_2") == []


def test_answers_are_leased_one_invoice_at_a_time_in_order(store):
    inbound = InboundStore(store)
    owner = member(store)
    inbound.add(flow(owner, "F1", "rcv_1"), b"abc", received)
    for status in ("204", "205"):
        inbound.add_answer(
            "rcv_1", owner, lambda row: None, {"status": status, "at": NOW, "attempts": 0}
        )
    assert inbound.get("rcv_1", owner)["status"] == "205"
    lease = timedelta(minutes=2)
    first = inbound.claim_answers("w1", NOW, lease, 10)
    assert [a["status"] for a in first] == ["204"]  # 205 waits for 204
    assert inbound.claim_answers("w2", NOW, lease, 10) == []  # leased by w1
    assert not inbound.finish_answer(first[0], "w2", None, state=ANSWER_SENT)
    assert inbound.finish_answer(first[0], "w1", None, state=ANSWER_SENT)
    assert [a["status"] for a in inbound.claim_answers("w2", NOW, lease, 10)] == ["205"]
    assert inbound.add_answer("rcv_1", "mem_other", lambda row: None, {}) is None


def test_receive_cursor_is_kept_per_member_and_outlet(store):
    inbound = InboundStore(store)
    owner = member(store)
    assert inbound.cursor(owner, "pa")["state"] == {}
    inbound.request_pull(owner, "pa", NOW)
    assert inbound.pulls_requested(NOW) == [{"member_id": owner, "outlet": "pa"}]
    inbound.save_cursor(owner, "pa", state={"after": "x"}, requested_at=None, pulled_at=NOW)
    assert inbound.cursor(owner, "pa")["state"] == {"after": "x"}
    assert inbound.pulls_requested(NOW) == []
    # Asked again right after a pull: served once the spacing has passed, not before.
    inbound.request_pull(owner, "pa", NOW)
    assert inbound.pulls_requested(NOW - timedelta(seconds=1)) == []
    assert inbound.pulls_requested(NOW) == [{"member_id": owner, "outlet": "pa"}]

"""The journal: every event appended in its own transaction, chained by hashes, never forked
by concurrent writers; checkpoints signed with Ed25519 and checked with the public key alone."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import archive
from gateway.auth import create_key
from gateway.store import Store
from gateway.store.tables import journal_head
from tests.gateway.store.conftest import T0, add_member, waiting_sessions
from tests.gateway.store.test_store import add_invoice


def verify(store: Store, public_key: str | None = None) -> archive.Report:
    return archive.verify(store, store.blobs, public_key, lambda *_: None)


def test_entries_are_numbered_and_each_holds_the_hash_of_the_one_before(store):
    add_member(store)
    with store.begin() as conn:
        first = store.append_journal(conn, "test.first", {"b": 2, "a": "é"}, member_id="mem_a")
        second = store.append_journal(conn, "test.second", {}, invoice_id="inv_1")
    rows = store.journal_rows(1, 10)
    assert [r["seq"] for r in rows] == [1, 2]
    assert rows[0]["prev_hash"] == archive.GENESIS
    assert rows[1]["prev_hash"] == rows[0]["hash"] == first["hash"]
    assert rows[1]["hash"] == second["hash"]
    for row in rows:  # what is read back hashes to what was written
        assert archive.row_hash(row) == row["hash"]
    assert store.journal_head() == {"id": 1, "seq": 2, "hash": second["hash"]}
    assert verify(store).clean


def test_the_hash_covers_every_field(store):
    with store.begin() as conn:
        entry = store.append_journal(conn, "test", {"amount": "97.65"}, member_id="mem_a")
    for change in (
        {"seq": 2},
        {"at": entry["at"] + timedelta(microseconds=1)},
        {"kind": "other"},
        {"member_id": "mem_b"},
        {"invoice_id": "inv_x"},
        {"data": {"amount": "97.66"}},
        {"prev_hash": "1" * 64},
    ):
        assert archive.row_hash({**entry, **change}) != entry["hash"], change


def test_the_hash_has_two_levels_anyone_can_recompute():
    at = datetime(2026, 11, 20, 9, 30, 0, 123456, tzinfo=UTC)
    fields = '[7,"2026-11-20T09:30:00.123456Z","document.archived","mem_a","inv_1",{"a":"é","b":2}]'
    content = hashlib.sha256(fields.encode()).hexdigest()
    chained = hashlib.sha256(f'["{content}","{"1" * 64}"]'.encode()).hexdigest()
    data = {"b": 2, "a": "é"}
    assert archive.content_hash(7, at, "document.archived", "mem_a", "inv_1", data) == content
    assert archive.entry_hash(7, at, "document.archived", "mem_a", "inv_1", data, "1" * 64) == (
        chained
    )
    row = {"seq": 7, "at": at, "kind": "document.archived", "member_id": "mem_a"}
    row |= {"invoice_id": "inv_1", "data": data, "prev_hash": "1" * 64, "hash": chained}
    hidden = archive.redacted(row)
    assert hidden == {"seq": 7, "content_hash": content, "prev_hash": "1" * 64, "hash": chained}
    assert archive.row_hash(hidden) == chained  # a redacted entry still chains


def test_events_documents_and_keys_are_journaled_in_their_transaction(store):
    add_member(store)
    seq = add_invoice(store, "mem_a", "FA-1")
    with store.begin() as conn:
        store.add_event(conn, "mem_a", "invoice.received", {"new": "RECU"}, invoice_id="inv_1")
        store.add_document(conn, seq, "facture.xml", "application/xml", b"<a/>")
        key, record = create_key(store, conn, member_id="mem_a", role="member", now=T0)
    with pytest.raises(RuntimeError), store.begin() as conn:  # rolled back with its event
        store.add_event(conn, "mem_a", "invoice.lost", {}, invoice_id="inv_1")
        raise RuntimeError
    with store.begin() as conn:
        assert store.revoke_api_key(conn, record["id"], T0)
        assert not store.revoke_api_key(conn, record["id"], T0)  # nothing to journal twice
    rows = store.journal_rows(1, 100)
    assert [r["kind"] for r in rows] == [
        "invoice.received",
        "document.archived",
        "api_key.created",
        "api_key.revoked",
    ]
    assert rows[1]["data"]["sha256"] == store.list_documents(seq)[0]["sha256"]
    assert rows[1]["invoice_id"] == "inv_mem_a_FA-1" and rows[1]["member_id"] == "mem_a"
    assert key not in str(rows[2]["data"])  # never the key itself
    assert verify(store).clean


def test_concurrent_writers_never_fork_the_chain_on_postgresql(postgres):
    store = Store(postgres.create_database())
    store.migrate()
    try:
        holding = threading.Event()
        done: list[dict] = []

        def second_writer():
            holding.wait()
            with store.begin() as conn:
                done.append(store.append_journal(conn, "writer.second", {}))

        thread = threading.Thread(target=second_writer)
        thread.start()
        with store.begin() as conn:
            first = store.append_journal(conn, "writer.first", {})
            # As when this transaction chains its entries: the head row locked.
            conn.execute(sa.select(journal_head).with_for_update())
            holding.set()
            # The second writer must wait on the head row until this one commits.
            while waiting_sessions(store) < 1:
                assert thread.is_alive()
        thread.join()
        assert done[0]["seq"] == first["seq"] + 1
        assert done[0]["prev_hash"] == first["hash"]

        def many(name: str):
            for index in range(40):
                with store.begin() as conn:
                    store.append_journal(conn, name, {"index": index})

        threads = [threading.Thread(target=many, args=(f"writer.{n}",)) for n in range(3)]
        for each in threads:
            each.start()
        for each in threads:
            each.join()
        assert store.count_journal() == 122
        report = verify(store)
        assert report.clean, report.problems
        assert report.entries == 122
    finally:
        store.dispose()


def test_entries_are_chained_when_the_transaction_ends_after_its_other_writes(store):
    add_member(store)
    with store.begin() as conn:
        entry = store.append_journal(conn, "test.first", {}, member_id="mem_a")
        assert "seq" not in entry  # nothing chained, the head not locked, yet
        assert store.journal_head()["seq"] == 0
    assert (entry["seq"], entry["prev_hash"]) == (1, archive.GENESIS)
    assert store.journal_head()["hash"] == entry["hash"]
    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        store.append_journal(conn, "test.outside", {})  # would never be chained


# --- checkpoints --------------------------------------------------------------------------------


def test_a_checkpoint_verifies_with_the_public_key_alone(store):
    key = Ed25519PrivateKey.generate()
    with store.begin() as conn:
        entry = store.append_journal(conn, "test", {"n": 1})
    checkpoint = store.add_checkpoint(key, T0)
    assert (checkpoint["seq"], checkpoint["hash"]) == (1, entry["hash"])
    public = archive.public_key_hex(key)
    stored = store.list_checkpoints()[0]
    assert stored["public_key"] == public
    # What an inspector has: the stored row and the public key, no private key.
    assert archive.checkpoint_valid(public, stored)
    other = archive.public_key_hex(Ed25519PrivateKey.generate())
    assert not archive.checkpoint_valid(other, stored)
    for forged in ({"seq": 2}, {"hash": "f" * 64}, {"at": stored["at"] + timedelta(seconds=1)}):
        assert not archive.checkpoint_valid(public, {**stored, **forged}), forged
    report = verify(store, public)
    assert report.clean and report.checkpoints == 1


def test_the_signing_key_file_is_made_once_and_private(tmp_path):
    path = tmp_path / "var" / "archive-signing-key"
    archive.ensure_signing_key_file(path)
    text = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    archive.ensure_signing_key_file(path)
    assert path.read_text() == text
    key = archive.private_key(text)
    message = archive.checkpoint_message(3, "a" * 64, T0)
    key.public_key().verify(key.sign(message), message)


# --- a broken chain, on each database ---------------------------------------------------------


def chain(store: Store, entries: int = 8) -> None:
    for index in range(entries):
        with store.begin() as conn:
            store.append_journal(
                conn, f"test.{index % 3}", {"index": index}, member_id="mem_a", invoice_id="inv_1"
            )


def execute(store: Store, statement: str, **params) -> None:
    with store.begin() as conn:
        conn.execute(sa.text(statement), params)


def first_problem(store: Store, public_key: str | None = None) -> str:
    report = verify(store, public_key)
    assert not report.clean
    return report.problems[0].message


def test_a_deleted_entry_is_found_at_its_number(store):
    chain(store)
    execute(store, "DELETE FROM journal WHERE seq = 3")
    assert first_problem(store) == "journal : entrée 3 manquante (l'entrée 4 suit l'entrée 2)"


def test_entries_swapped_whole_are_found(store):
    chain(store)
    # Rows exchanged, numbers kept: each entry's content sits at the other's place.
    rows = {row["seq"]: row for row in store.journal_rows(4, 5)}
    for seq, other in ((4, rows[5]), (5, rows[4])):
        execute(
            store,
            "UPDATE journal SET at = :at, kind = :kind, data = :data, prev_hash = :prev_hash, "
            "hash = :hash WHERE seq = :seq",
            seq=seq,
            at=other["at"].replace(tzinfo=None),
            kind=other["kind"],
            data=json.dumps(other["data"]),
            prev_hash=other["prev_hash"],
            hash=other["hash"],
        )
    assert first_problem(store) == "journal : entrées 4 et 5 interverties"


def test_an_altered_entry_is_found_at_its_number(store):
    chain(store)
    execute(store, "UPDATE journal SET member_id = 'mem_b' WHERE seq = 6")
    assert first_problem(store) == "journal : entrée 6 altérée (test.2)"


def test_a_truncated_journal_is_found_by_its_checkpoint(store):
    chain(store)
    key = Ed25519PrivateKey.generate()
    store.add_checkpoint(key, T0)
    kept = store.journal_rows(5, 5)[0]
    execute(store, "DELETE FROM journal WHERE seq > 5")
    execute(store, "UPDATE journal_head SET seq = 5, hash = :hash", hash=kept["hash"])
    assert first_problem(store, archive.public_key_hex(key)) == (
        "journal tronqué : le point de contrôle du 2026-11-20 09:30:00 atteste l'entrée 8, "
        "le journal s'arrête à l'entrée 5"
    )


def test_a_truncated_journal_is_found_by_its_head_without_checkpoint(store):
    chain(store)
    execute(store, "DELETE FROM journal WHERE seq > 6")
    assert first_problem(store) == (
        "journal tronqué : sa tête indique l'entrée 8, le journal s'arrête à l'entrée 6"
    )


def test_the_daily_job_signs_a_checkpoint(store, tmp_path):
    from gateway.config import load_config
    from gateway.schedule import checkpoint_job

    config = load_config(tmp_path / "none.toml", env={"GATEWAY_HOME": str(tmp_path)})
    assert checkpoint_job(store, config, lambda: T0) is None  # no key yet: no job
    config.archive.ensure_signing_key()
    chain(store, 2)
    job = checkpoint_job(store, config, lambda: T0)
    assert job(None) == 1
    checkpoint = store.list_checkpoints()[0]
    assert (checkpoint["seq"], checkpoint["at"]) == (2, T0)
    public = archive.public_key_hex(config.archive.private_key())
    assert archive.checkpoint_valid(public, checkpoint)

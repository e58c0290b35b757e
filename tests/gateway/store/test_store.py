"""The store on both databases: schema, round-trips, constraints and outbox claims.

Every test runs twice through the ``database_url`` fixture: on an SQLite file and on a
PostgreSQL database of the server the test run starts.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from gateway.outbox import OutboxEntry
from gateway.store import MIGRATIONS, Store, metadata
from gateway.store.tables import UTCDateTime
from tests.gateway.store.conftest import T0, add_member

PARIS_SUMMER = timezone(timedelta(hours=2))
OUTBOX = ("RECU", "EN_ERREUR")
LEASE = timedelta(minutes=2)


def add_invoice(store: Store, member_id: str, number: str, **values) -> int:
    row = {
        "id": f"inv_{member_id}_{number}",
        "member_id": member_id,
        "number": number,
        "type": "invoice",
        "buyer_siret": "22760540900019",
        "status": "RECU",
        "channel": "chorus",
        "outlet": "memory",
        "source_format": "json",
        "data": {"number": number, "totals": {"payable": "97.65"}},
        "warnings": [],
        "created_at": T0,
        "updated_at": T0,
        "attempts": 0,
        "next_attempt_at": T0,
        **values,
    }
    with store.begin() as conn:
        return store.insert_invoice(conn, **row)


def claimed_seqs(entries: list[OutboxEntry]) -> list[int]:
    return [entry.seq for entry in entries]


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def schema_version(store: Store) -> list[str]:
    with store.read() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()


# --- schema -------------------------------------------------------------------------------


def test_migrations_form_one_line_of_revisions():
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1  # two branches would need a merge revision
    assert len(script.get_bases()) == 1


def test_migrations_apply_and_reapply_cleanly(database_url):
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    store = Store(database_url)
    try:
        store.migrate()
        store.migrate()  # a second run finds nothing to do and breaks nothing
        with store.read() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        assert set(metadata.tables) <= tables
        assert schema_version(store) == [head]
        # A second Store on the same database (another process starting) migrates too.
        other = Store(database_url)
        other.migrate()
        other.dispose()
        add_member(store)
        assert store.get_member("mem_a")["name"] == "Librairie des Quais"
    finally:
        store.dispose()


def test_nodes_migrating_at_once_take_turns(postgres):
    url = postgres.create_database()
    stores = [Store(url) for _ in range(3)]
    failures: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def migrate(store: Store) -> None:
        start.wait()
        try:
            store.migrate()
        except BaseException as ex:  # noqa: BLE001 — reported by the assertion below
            failures.append(ex)

    threads = [threading.Thread(target=migrate, args=(store,), daemon=True) for store in stores]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)  # without turns, concurrent DDL may wait on each other
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert schema_version(stores[0]) == [head]
    finally:
        for store in stores:
            store.dispose()


def test_a_database_of_the_first_revision_upgrades_with_its_data(database_url):
    script = ScriptDirectory.from_config(alembic_config())
    store = Store(database_url)
    try:
        config = alembic_config()
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, script.get_base())
        assert schema_version(store) == [script.get_base()]
        add_member(store)
        add_invoice(store, "mem_a", "FA-1")
        store.migrate()
        assert schema_version(store) == [script.get_current_head()]
        assert store.get_invoice("inv_mem_a_FA-1")["number"] == "FA-1"
    finally:
        store.dispose()


#: ``invoices.receipt`` before revision 0003, by invoice number: waiting for a retry, sent
#: and followed, sent and not polled yet, explicitly empty.
OLD_RECEIPTS = {
    "FA-1": {"state": {"uncertain_since": "2026-11-20T09:00:00+00:00"}},
    "FA-2": {
        "outlet": "chorus",
        "reference": "FLUX-2",
        "data": {"identifiantFactureCPP": 4242, "platform_history_applied": 3},
    },
    "FA-3": {"outlet": "chorus", "reference": "FLUX-3", "data": {"numeroFluxDepot": "FLUX-3"}},
    "FA-4": None,
}


def migrate_to(store: Store, revision: str, down: bool = False) -> None:
    config = alembic_config()
    with store.migrating() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_the_receipt_json_moves_to_the_outbox_columns_and_back(database_url):
    store = Store(database_url)
    old_invoices = sa.table("invoices", sa.column("number"), sa.column("receipt", sa.JSON))
    old_documents = sa.table(
        "documents",
        *(sa.column(name) for name in ("invoice_seq", "name", "media_type", "size", "sha256")),
        sa.column("content", sa.LargeBinary),
        sa.column("created_at", UTCDateTime),
    )
    try:
        migrate_to(store, "0002")
        add_member(store)
        seqs = {}
        for number, receipt in OLD_RECEIPTS.items():
            reference = receipt and receipt.get("reference")
            seqs[number] = add_invoice(
                store, "mem_a", number, outlet="chorus", outlet_reference=reference
            )
            with store.begin() as conn:
                conn.execute(
                    old_invoices.update()
                    .where(old_invoices.c.number == number)
                    .values(receipt=receipt)
                )
                # Rows referring to the invoice: SQLite rebuilds the table under them.
                store.add_history(conn, seqs[number], "RECU", T0, None)
                # Written as revision 0002 had it (Store.add_document writes today's schema).
                conn.execute(
                    old_documents.insert().values(
                        invoice_seq=seqs[number],
                        name="facture.xml",
                        media_type="application/xml",
                        size=4,
                        sha256=hashlib.sha256(b"<a/>").hexdigest(),
                        content=b"<a/>",
                        created_at=T0,
                    )
                )

        store.migrate()

        def outbox(number: str) -> tuple:
            row = store.get_invoice(f"inv_mem_a_{number}")
            assert "receipt" not in row
            return row["outlet_state"], row["receipt_data"], row["history_applied"]

        assert outbox("FA-1") == ({"uncertain_since": "2026-11-20T09:00:00+00:00"}, None, 0)
        assert outbox("FA-2") == (None, {"identifiantFactureCPP": 4242}, 3)
        assert outbox("FA-3") == (None, {"numeroFluxDepot": "FLUX-3"}, 0)
        assert outbox("FA-4") == (None, None, 0)
        assert store.get_invoice("inv_mem_a_FA-2")["outlet_reference"] == "FLUX-2"
        for seq in seqs.values():
            assert [h["status"] for h in store.history(seq)] == ["RECU"]
            assert [d["name"] for d in store.list_documents(seq)] == ["facture.xml"]

        migrate_to(store, "0002", down=True)
        with store.read() as conn:
            rows = conn.execute(sa.select(old_invoices.c.number, old_invoices.c.receipt)).all()
        assert dict(rows) == OLD_RECEIPTS
    finally:
        store.dispose()


def test_migrated_schema_matches_the_tables_module(store):
    with store.read() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


# --- round-trips ----------------------------------------------------------------------------


def test_member_round_trip_and_update(store):
    add_member(
        store,
        "mem_a",
        siret="81234567600017",
        email="compta@quais.example",
        settings_encrypted="gAAAA-opaque",
        created_at=T0,
    )
    add_member(store, "mem_b", name="Librairie du Marché", created_at=T0 + timedelta(hours=1))
    member = store.get_member("mem_a")
    assert member == {
        "id": "mem_a",
        "name": "Librairie des Quais",
        "siret": "81234567600017",
        "email": "compta@quais.example",
        "settings_encrypted": "gAAAA-opaque",
        "created_at": T0,
        "password_hash": None,
    }
    assert member["created_at"].tzinfo is not None
    assert [m["id"] for m in store.list_members()] == ["mem_a", "mem_b"]
    assert store.update_member("mem_b", email="contact@marche.example") is True
    assert store.get_member("mem_b")["email"] == "contact@marche.example"
    assert store.update_member("mem_missing", email="x@example.org") is False
    assert store.get_member("mem_missing") is None


def test_datetimes_come_back_aware_in_utc(store):
    local = datetime(2026, 7, 14, 11, 45, 30, 123456, tzinfo=PARIS_SUMMER)
    add_member(store, created_at=local)
    stored = store.get_member("mem_a")["created_at"]
    assert stored == local
    assert stored.utcoffset() == timedelta(0)
    assert (stored.hour, stored.microsecond) == (9, 123456)


def test_naive_datetimes_are_refused(store):
    with pytest.raises((ValueError, sa.exc.StatementError)):
        add_member(store, created_at=datetime(2026, 11, 20, 9, 30))
    assert store.list_members() == []


def test_api_key_round_trip(store):
    add_member(store)
    record = {
        "id": "key_1",
        "member_id": "mem_a",
        "role": "auditor",
        "key_hash": "ab" * 32,
        "prefix": "fgw_abcdefgh",
        "label": "commissaire aux comptes",
        "created_at": T0,
        "expires_at": T0 + timedelta(days=30),
        "revoked_at": None,
        "last_used_at": None,
    }
    with store.begin() as conn:
        store.insert_api_key(conn, **record)
    assert store.find_api_key("ab" * 32) == record
    assert store.find_api_key("cd" * 32) is None
    with pytest.raises(sa.exc.IntegrityError):  # hashes are unique
        with store.begin() as conn:
            store.insert_api_key(conn, **{**record, "id": "key_2"})


def test_customer_upsert_round_trip(store):
    add_member(store, "mem_a")
    add_member(store, "mem_b")
    created, is_new = store.upsert_customer(
        "mem_a",
        "22760540900019",
        name="DEPARTEMENT DE LA SEINE MARITIME",
        channel="chorus",
        copies=[{"channel": "paper"}],
    )
    assert is_new is True
    assert created["copies"] == [{"channel": "paper"}]
    assert created["created_at"] == created["updated_at"]
    updated, is_new = store.upsert_customer(
        "mem_a",
        "22760540900019",
        name="DEPARTEMENT DE LA SEINE MARITIME",
        channel="dilifac",
        copies=[],
    )
    assert is_new is False
    assert (updated["channel"], updated["copies"]) == ("dilifac", [])
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] >= created["updated_at"]
    store.upsert_customer(
        "mem_a", "22100005200011", name="DEPARTEMENT DE L'AUBE", channel="chorus", copies=[]
    )
    store.upsert_customer(
        "mem_b", "22100005200011", name="Aube (autre membre)", channel="paper", copies=[]
    )
    assert [c["siret"] for c in store.list_customers("mem_a")] == [
        "22100005200011",
        "22760540900019",
    ]
    assert store.get_customer("mem_b", "22100005200011")["name"] == "Aube (autre membre)"
    assert store.get_customer("mem_b", "22760540900019") is None


def test_invoice_round_trip_scoped_to_its_member(store):
    add_member(store, "mem_a")
    add_member(store, "mem_b")
    data = {
        "number": "FA-1",
        "lines": [{"name": "L'Étranger — Camus", "net_price": "7.68"}],
        "totals": {"payable": "97.65"},
    }
    seq = add_invoice(store, "mem_a", "FA-1", data=data, warnings=[{"code": "w"}])
    row = store.get_invoice("inv_mem_a_FA-1")
    assert row["seq"] == seq
    assert row["data"] == data
    assert row["warnings"] == [{"code": "w"}]
    outbox = (
        "status",
        "attempts",
        "lease_owner",
        "outlet_state",
        "receipt_data",
        "history_applied",
    )
    assert tuple(row[name] for name in outbox) == ("RECU", 0, None, None, None, 0)
    assert row["created_at"] == T0 and row["next_attempt_at"].tzinfo is not None
    assert store.get_invoice("inv_mem_a_FA-1", "mem_a")["id"] == "inv_mem_a_FA-1"
    assert store.get_invoice("inv_mem_a_FA-1", "mem_b") is None
    with store.begin() as conn:
        store.update_invoice(
            conn,
            seq,
            status="DEPOSEE",
            receipt_data={"flux": "MEM-1"},
            history_applied=2,
            outlet_reference="MEM-1",
            next_attempt_at=None,
        )
    row = store.get_invoice("inv_mem_a_FA-1")
    assert (row["status"], row["receipt_data"], row["history_applied"], row["next_attempt_at"]) == (
        "DEPOSEE",
        {"flux": "MEM-1"},
        2,
        None,
    )


def test_invoice_number_is_unique_per_member(store):
    add_member(store, "mem_a")
    add_member(store, "mem_b")
    add_invoice(store, "mem_a", "FA-1")
    add_invoice(store, "mem_b", "FA-1")  # another member may use the same number
    with pytest.raises(sa.exc.IntegrityError):
        add_invoice(store, "mem_a", "FA-1", id="inv_other")
    with store.read() as conn:
        assert store.invoice_number_taken(conn, "mem_a", "FA-1")
        assert not store.invoice_number_taken(conn, "mem_a", "FA-2")
    assert [r["id"] for r in store.list_invoices("mem_a")] == ["inv_mem_a_FA-1"]


def add_listed(store: Store, count: int, **value_of: Callable[[int], object]) -> None:
    """Members mem_a and mem_b; mem_a's invoices FA-0… (DEPOSEE when odd, else RECU; FA-4 to
    the Aube, the others to Seine-Maritime), each with ``value_of``'s values for its index."""
    add_member(store, "mem_a")
    add_member(store, "mem_b")
    for index in range(count):
        add_invoice(
            store,
            "mem_a",
            f"FA-{index}",
            status="DEPOSEE" if index % 2 else "RECU",
            buyer_siret="22100005200011" if index == 4 else "22760540900019",
            **{name: value(index) for name, value in value_of.items()},
        )


def test_list_invoices_filters_and_pages_newest_first(store):
    add_listed(store, 5, updated_at=lambda index: T0 + timedelta(days=index))
    add_invoice(store, "mem_b", "FB-0")
    numbers = [r["number"] for r in store.list_invoices("mem_a")]
    assert numbers == ["FA-4", "FA-3", "FA-2", "FA-1", "FA-0"]
    first = store.list_invoices("mem_a", limit=2)
    second = store.list_invoices("mem_a", limit=2, after_seq=first[-1]["seq"])
    assert [r["number"] for r in first + second] == numbers[:4]
    assert [r["number"] for r in store.list_invoices("mem_a", status=["DEPOSEE"])] == [
        "FA-3",
        "FA-1",
    ]
    assert [r["number"] for r in store.list_invoices("mem_a", buyer_siret="22100005200011")] == [
        "FA-4"
    ]
    since = T0 + timedelta(days=3)
    assert [r["number"] for r in store.list_invoices("mem_a", since=since)] == ["FA-4", "FA-3"]


def test_search_invoices_looks_at_a_bounded_window_of_the_newest(store):
    add_listed(store, 6, data=lambda index: {"totals": {"payable": f"{index}0.50"}})
    add_invoice(store, "mem_b", "fa-9", data={"totals": {"payable": "10.50"}})

    def numbers(**search) -> tuple[list[str], int, int | None]:
        rows, examined, lowest = store.search_invoices("mem_a", **{"scan": 10, **search})
        return [row["number"] for row in rows], examined, lowest

    assert numbers(number_prefix="fa-")[:2] == (["FA-5", "FA-4", "FA-3", "FA-2", "FA-1", "FA-0"], 6)
    assert numbers(payable="10.50")[0] == ["FA-1"]
    assert numbers(buyer_sirets=["22100005200011"], payable="30.50")[0] == ["FA-4", "FA-3"]
    assert numbers(number_prefix="FA-", status=["DEPOSEE"])[0] == ["FA-5", "FA-3", "FA-1"]
    assert numbers(number_prefix="FA-", buyer_siret="22100005200011")[0] == ["FA-4"]
    assert numbers(number_prefix="FA_")[0] == []  # "_" is no wildcard
    # Three looked at: the two matching, and where to go on below them.
    first = numbers(number_prefix="FA-", scan=3)
    assert first == (["FA-5", "FA-4", "FA-3"], 3, first[2]) and first[2] is not None
    rest = numbers(number_prefix="FA-", scan=3, after_seq=first[2])
    assert rest[0] == ["FA-2", "FA-1", "FA-0"]
    last = numbers(number_prefix="FA-", scan=4, after_seq=first[2])
    assert last == (["FA-2", "FA-1", "FA-0"], 3, None)
    assert store.invoice_holding("mem_a", "FA-0")["totals"] == {"payable": "00.50"}
    assert store.invoice_holding("mem_a", "fa-9") is None  # mem_b's
    with store.begin() as conn:
        store.update_invoice(conn, store.get_invoice("inv_mem_a_FA-5")["seq"], status="REJETEE")
    assert store.count_by_status("mem_a", ["RECU", "DEPOSEE", "REJETEE", "SUSPENDUE"], cap=2) == {
        "RECU": 2,
        "DEPOSEE": 2,
        "REJETEE": 1,
        "SUSPENDUE": 0,
        "needs_action": 1,
    }


def test_history_round_trip_in_order(store):
    add_member(store)
    seq = add_invoice(store, "mem_a", "FA-1")
    with store.begin() as conn:
        store.add_history(conn, seq, "RECU", T0, "Reçue")
        store.add_history(
            conn, seq, "EN_ERREUR", T0 + timedelta(seconds=5), "Échec : délai dépassé"
        )
        store.add_history(conn, seq, "DEPOSEE", T0 + timedelta(seconds=20), None)
    history = store.history(seq)
    assert [(h["status"], h["comment"]) for h in history] == [
        ("RECU", "Reçue"),
        ("EN_ERREUR", "Échec : délai dépassé"),
        ("DEPOSEE", None),
    ]
    assert history[1]["at"] == T0 + timedelta(seconds=5)
    assert all(h["at"].tzinfo is not None for h in history)


def test_documents_round_trip_byte_for_byte(store):
    add_member(store)
    seq = add_invoice(store, "mem_a", "FA-1")
    pdf = bytes(range(256)) * 40
    with store.begin() as conn:
        store.add_document(conn, seq, "original.json", "application/json", b'{"number": "FA-1"}')
        store.add_document(conn, seq, "facture.pdf", "application/pdf", pdf)
    listed = store.list_documents(seq)
    assert [d["name"] for d in listed] == ["original.json", "facture.pdf"]
    assert "content" not in listed[1]
    assert listed[1]["size"] == len(pdf)
    assert listed[1]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert store.get_document(seq, "facture.pdf")["content"] == pdf
    assert store.get_document(seq, "absent.xml") is None
    assert [d["content"] for d in store.documents_content(seq)] == [b'{"number": "FA-1"}', pdf]
    with pytest.raises(sa.exc.IntegrityError):  # one document per name
        with store.begin() as conn:
            store.add_document(conn, seq, "facture.pdf", "application/pdf", b"%PDF")


def test_events_round_trip_per_member_after_a_cursor(store):
    add_member(store, "mem_a")
    add_member(store, "mem_b")
    with store.begin() as conn:
        first = store.add_event(
            conn, "mem_a", "invoice.received", {"number": "FA-1", "new": "RECU"}, "inv_1"
        )
        store.add_event(conn, "mem_b", "invoice.received", {"number": "FB-1"}, "inv_2")
        third = store.add_event(
            conn, "mem_a", "invoice.status_changed", {"new": "DEPOSEE"}, "inv_1"
        )
    assert first["at"].tzinfo is not None
    events = store.list_events("mem_a")
    assert [(e["seq"], e["type"]) for e in events] == [
        (first["seq"], "invoice.received"),
        (third["seq"], "invoice.status_changed"),
    ]
    assert events[0]["data"] == {"number": "FA-1", "new": "RECU"}
    assert events[0]["invoice_id"] == "inv_1"
    assert [e["seq"] for e in store.list_events("mem_a", after=first["seq"])] == [third["seq"]]
    assert len(store.list_events("mem_a", limit=1)) == 1
    assert [e["data"] for e in store.list_events("mem_b")] == [{"number": "FB-1"}]


def test_idempotency_record_round_trip_and_key_is_unique_per_member(store):
    add_member(store, "mem_a")
    add_member(store, "mem_b")
    response = {"id": "inv_1", "totals": {"payable": "97.65"}, "warnings": []}
    for member, digest, answer in (("mem_a", "f", response), ("mem_b", "e", {"id": "inv_2"})):
        assert store.claim_idempotent(member, "essai-1", digest * 64, "c1", T0, T0) is None
        with store.begin() as conn:
            assert store.complete_idempotent(conn, member, "essai-1", "c1", 202, answer)
    record = store.get_idempotent("mem_a", "essai-1")
    assert (record["request_hash"], record["status_code"], record["response"]) == (
        "f" * 64,
        202,
        response,
    )
    assert record["created_at"].tzinfo is not None
    assert store.get_idempotent("mem_b", "essai-1")["response"] == {"id": "inv_2"}
    assert store.get_idempotent("mem_a", "essai-2") is None
    assert store.claim_idempotent("mem_a", "essai-1", "0" * 64, "c2", T0, T0)["response"] == (
        response
    )


def test_a_failed_transaction_writes_nothing(store):
    add_member(store)
    store.claim_idempotent("mem_a", "k", "a" * 64, "c1", T0, T0)
    invoice = dict(
        id="inv_x",
        member_id="mem_a",
        number="FA-9",
        type="invoice",
        status="RECU",
        channel="chorus",
        outlet="memory",
        source_format="json",
        data={},
        warnings=[],
        created_at=T0,
        updated_at=T0,
        attempts=0,
    )
    with pytest.raises(sa.exc.IntegrityError):
        with store.begin() as conn:
            seq = store.insert_invoice(conn, **invoice)
            store.add_history(conn, seq, "RECU", T0, None)
            assert store.complete_idempotent(conn, "mem_a", "k", "c1", 202, {})
            store.insert_invoice(conn, **{**invoice, "id": "inv_y"})  # the same number
    assert store.get_invoice("inv_x") is None
    assert store.get_idempotent("mem_a", "k")["state"] == "in_progress"


# --- the outbox -----------------------------------------------------------------------------


def test_claim_due_takes_only_due_outbox_rows_in_order(store):
    add_member(store)
    late = add_invoice(store, "mem_a", "late", next_attempt_at=T0 - timedelta(minutes=5))
    due = add_invoice(store, "mem_a", "due", next_attempt_at=T0)
    retry = add_invoice(
        store, "mem_a", "retry", status="EN_ERREUR", next_attempt_at=T0 - timedelta(minutes=1)
    )
    add_invoice(store, "mem_a", "future", next_attempt_at=T0 + timedelta(seconds=1))
    add_invoice(store, "mem_a", "abandoned", status="EN_ERREUR", next_attempt_at=None)
    add_invoice(store, "mem_a", "sent", status="DEPOSEE", next_attempt_at=T0 - timedelta(hours=1))
    rows = store.claim_due("w1", T0, LEASE, 10, OUTBOX)
    assert sorted(claimed_seqs(rows)) == sorted([late, due, retry])
    assert all(r.lease_owner == "w1" and r.lease_until == T0 + LEASE for r in rows)
    stored = store.get_invoice("inv_mem_a_due")
    assert (stored["lease_owner"], stored["lease_until"]) == ("w1", T0 + LEASE)


def test_claim_due_respects_limit_and_oldest_first(store):
    add_member(store)
    seqs = [
        add_invoice(store, "mem_a", f"FA-{i}", next_attempt_at=T0 - timedelta(seconds=10 - i))
        for i in range(7)
    ]
    first = store.claim_due("w1", T0, LEASE, 3, OUTBOX)
    second = store.claim_due("w1", T0, LEASE, 3, OUTBOX)
    third = store.claim_due("w1", T0, LEASE, 3, OUTBOX)
    assert claimed_seqs(first) == seqs[:3]
    assert claimed_seqs(second) == seqs[3:6]
    assert claimed_seqs(third) == seqs[6:]
    assert store.claim_due("w1", T0, LEASE, 3, OUTBOX) == []


def test_a_held_lease_is_respected_and_an_expired_one_reclaimed(store):
    add_member(store)
    seq = add_invoice(store, "mem_a", "FA-1")
    assert claimed_seqs(store.claim_due("w1", T0, LEASE, 5, OUTBOX)) == [seq]
    # Another worker, before and at the end of the lease: nothing.
    assert store.claim_due("w2", T0 + timedelta(seconds=30), LEASE, 5, OUTBOX) == []
    assert store.claim_due("w2", T0 + LEASE, LEASE, 5, OUTBOX) == []
    with store.while_leased(seq, "w1") as conn:
        assert conn is not None
    # w1 died: once its lease expired, w2 takes the row over and w1 no longer holds it.
    later = T0 + LEASE + timedelta(seconds=1)
    rows = store.claim_due("w2", later, LEASE, 5, OUTBOX)
    assert claimed_seqs(rows) == [seq]
    assert rows[0].lease_until == later + LEASE
    with store.while_leased(seq, "w2") as conn:
        assert conn is not None
    with store.while_leased(seq, "w1") as conn:
        assert conn is None


def test_claims_for_polling_follow_next_poll_at_whatever_the_status(store):
    add_member(store)
    deposited = add_invoice(
        store,
        "mem_a",
        "FA-1",
        status="DEPOSEE",
        next_attempt_at=None,
        next_poll_at=T0 - timedelta(seconds=1),
    )
    add_invoice(
        store,
        "mem_a",
        "FA-2",
        status="DEPOSEE",
        next_attempt_at=None,
        next_poll_at=T0 + timedelta(hours=1),
    )
    add_invoice(store, "mem_a", "FA-3")  # due for sending, not for polling
    assert claimed_seqs(store.claim_due("w1", T0, LEASE, 10, due="next_poll_at")) == [deposited]
    assert store.claim_due("w2", T0, LEASE, 10, due="next_poll_at") == []  # leased to w1


def test_directory_entries_round_trip_and_update(store):
    entry = {"siret": "22760540900019", "services": [{"code": "DFCG", "active": True}]}
    assert store.get_directory_entry("22760540900019") is None
    store.put_directory_entry("22760540900019", entry, T0)
    store.put_directory_entry("99999999999999", None, T0)  # the directory does not know it
    assert store.get_directory_entry("22760540900019") == {
        "siret": "22760540900019",
        "data": entry,
        "checked_at": T0,
    }
    assert store.get_directory_entry("99999999999999")["data"] is None
    later = T0 + timedelta(days=1)
    store.put_directory_entry("22760540900019", {**entry, "services": []}, later)
    refreshed = store.get_directory_entry("22760540900019")
    assert (refreshed["data"]["services"], refreshed["checked_at"]) == ([], later)


def test_stale_directory_entries_of_customers_are_claimed_once(store):
    add_member(store, "mem_a")
    add_member(store, "mem_b")
    for member in ("mem_a", "mem_b"):
        store.upsert_customer(
            member, "22760540900019", name="SEINE MARITIME", channel="chorus", copies=[]
        )
    store.upsert_customer("mem_a", "22100005200011", name="AUBE", channel="chorus", copies=[])
    store.put_directory_entry("22760540900019", {}, T0 - timedelta(days=3))
    store.put_directory_entry("22100005200011", {}, T0 - timedelta(days=2))
    store.put_directory_entry("11111111111111", {}, T0 - timedelta(days=9))  # nobody's customer
    store.put_directory_entry("22222222222222", {}, T0)  # fresh
    older_than = T0 - timedelta(days=1)
    first = store.claim_stale_directory_entry(older_than, T0)
    second = store.claim_stale_directory_entry(older_than, T0)
    assert [first["siret"], second["siret"]] == ["22760540900019", "22100005200011"]
    assert store.claim_stale_directory_entry(older_than, T0) is None
    assert store.get_directory_entry("22760540900019")["checked_at"] == T0
    assert sorted(store.members_with_customer("22760540900019")) == ["mem_a", "mem_b"]
    assert store.members_with_customer("11111111111111") == []


def claim_in_threads(claim: Callable[[str], list], threads: int = 4) -> dict[str, list]:
    """Call ``claim(owner)`` in a loop from several threads started together, each its own
    owner, until it returns nothing; return what each owner got."""
    claims: dict[str, list] = {f"worker-{n}": [] for n in range(threads)}
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def claimer(owner: str) -> None:
        try:
            start.wait()
            while taken := claim(owner):
                claims[owner].extend(taken)
        except BaseException as ex:  # surfaced by the assertion below
            errors.append(ex)

    running = [threading.Thread(target=claimer, args=(owner,)) for owner in claims]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=60)
    assert errors == []
    return claims


def test_concurrent_claimers_never_get_the_same_row(store):
    add_member(store)
    numbers = [f"FA-{i:03}" for i in range(60)]
    for number in numbers:
        add_invoice(store, "mem_a", number)

    claims = claim_in_threads(
        lambda owner: [entry.number for entry in store.claim_due(owner, T0, LEASE, 5, OUTBOX)]
    )

    everything = [number for taken in claims.values() for number in taken]
    assert sorted(everything) == numbers  # every row, exactly once
    for owner, taken in claims.items():
        for number in taken:  # and no later claim overwrote the lease
            assert store.get_invoice(f"inv_mem_a_{number}")["lease_owner"] == owner


def test_concurrent_directory_refreshers_never_take_the_same_entry(store):
    add_member(store)
    sirets = [f"2276054090{i:04}" for i in range(20)]
    for siret in sirets:
        store.upsert_customer("mem_a", siret, name=siret, channel="chorus", copies=[])
        store.put_directory_entry(siret, {}, T0 - timedelta(days=2))

    def claim(owner: str) -> list[str]:
        entry = store.claim_stale_directory_entry(T0 - timedelta(days=1), T0)
        return [entry["siret"]] if entry else []

    claims = claim_in_threads(claim)
    assert sorted(siret for taken in claims.values() for siret in taken) == sirets


def test_the_last_archive_verification_is_the_newest_with_its_problems_capped(store):
    assert store.last_verification() is None
    clean = {"clean": True, "verdict": "Archive intègre : 3 documents", "problems": []}
    store.record_verification(T0, clean)
    problems = [{"kind": "altéré", "message": f"document {n} altéré"} for n in range(30)]
    altered = {
        "clean": False,
        "verdict": "Archive ALTÉRÉE : document 0 altéré",
        "problems": problems,
    }
    store.record_verification(T0 + timedelta(days=1), altered)
    last = store.last_verification()
    assert last["at"] == T0 + timedelta(days=1) and last["clean"] is False
    assert last["verdict"] == altered["verdict"] and len(last["report"]["problems"]) == 20

"""Migration 0016_list_indexes: the listings' indexes come, the old one goes, and back."""

from __future__ import annotations

import sqlalchemy as sa

from gateway.store import Store
from tests.gateway.store.conftest import add_member
from tests.gateway.store.test_store import add_invoice, migrate_to

NEW = {"ix_invoices_member_id_status_seq", "ix_invoices_needing_action"}
OLD = "ix_invoices_member_id_status_updated_at"


def index_names(store: Store) -> set[str]:
    with store.read() as conn:
        return {index["name"] for index in sa.inspect(conn).get_indexes("invoices")}


def test_the_list_indexes_come_and_go_with_their_migration(database_url):
    store = Store(database_url)
    try:
        migrate_to(store, "0015_timestamps")
        add_member(store)
        add_invoice(store, "mem_a", "FA-1", status="REJETEE")
        add_invoice(store, "mem_a", "FA-2", status="DEPOSEE")
        assert OLD in index_names(store)

        migrate_to(store, "0016_list_indexes")
        assert NEW <= index_names(store)
        assert OLD not in index_names(store)
        assert [row["number"] for row in store.list_needing_action("mem_a")] == ["FA-1"]
        assert [row["number"] for row in store.list_invoices("mem_a", status=["DEPOSEE"])] == [
            "FA-2"
        ]

        migrate_to(store, "0015_timestamps", down=True)
        assert OLD in index_names(store)
        assert not NEW & index_names(store)
        assert store.get_invoice("inv_mem_a_FA-1")["status"] == "REJETEE"
    finally:
        store.dispose()

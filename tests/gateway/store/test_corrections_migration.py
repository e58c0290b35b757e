"""Revision 0008_corrections on an existing database: when a buyer first had each invoice is
read from the history kept, and a number is unique among the invoices not replaced."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.store import AlreadyExists, Store
from tests.gateway.store.conftest import T0, add_member
from tests.gateway.store.test_store import add_invoice, migrate_to


def test_reached_buyer_is_read_from_the_history_and_replaced_numbers_serve_again(database_url):
    store = Store(database_url)
    try:
        migrate_to(store, "0009_retries")
        add_member(store)
        statuses = {
            "FA-1": ["RECU", "DEPOSEE", "MISE_A_DISPOSITION", "REJETEE"],
            "FA-2": ["RECU", "DEPOSEE", "EN_ERREUR"],
        }
        for number, steps in statuses.items():
            seq = add_invoice(store, "mem_a", number, status=steps[-1])
            with store.begin() as conn:
                for minutes, status in enumerate(steps):
                    store.add_history(conn, seq, status, T0 + timedelta(minutes=minutes), None)

        store.migrate()

        received = store.get_invoice("inv_mem_a_FA-1")
        assert received["reached_buyer_at"] == T0 + timedelta(minutes=2)
        assert received["version"] == 1 and received["credited_at"] is None
        refused = store.get_invoice("inv_mem_a_FA-2")
        assert refused["reached_buyer_at"] is None
        with pytest.raises(AlreadyExists):
            add_invoice(store, "mem_a", "FA-2", id="inv_again")
        with store.begin() as conn:
            store.update_invoice(conn, refused["seq"], status="REMPLACEE")
        add_invoice(store, "mem_a", "FA-2", id="inv_again")  # the replaced one holds it no more
        with store.read() as conn:
            assert [r["id"] for r in store.invoices_numbered(conn, "mem_a", "FA-2")] == [
                "inv_mem_a_FA-2",
                "inv_again",
            ]
        with pytest.raises(RuntimeError, match="replaced"):
            migrate_to(store, "0009_retries", down=True)
    finally:
        store.dispose()

"""SQLite in WAL mode: a read does not wait for a write transaction (only writers queue)."""

from __future__ import annotations

import threading

from gateway.store import Store
from tests.gateway.store.conftest import add_member


def test_a_read_is_not_held_behind_an_open_write(sqlite_url):
    store = Store(sqlite_url)
    store.migrate()
    add_member(store, "mem_a")
    found = []
    try:
        with store.begin() as conn:
            store.update_invoice(conn, 0, status="RECU")  # takes the write lock
            reader = threading.Thread(target=lambda: found.append(store.get_member("mem_a")))
            reader.start()
            reader.join(timeout=10)
            assert not reader.is_alive(), "the read waited for the writer"
        assert found[0]["id"] == "mem_a"
    finally:
        store.dispose()

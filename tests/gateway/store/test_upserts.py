"""Upserts on PostgreSQL: a row another transaction inserts meanwhile is updated, not a crash.

The other transaction holds its new row uncommitted; the store's upsert, which cannot see
it yet, waits on it, then must update it instead of failing on the primary key.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from gateway.store import Store
from gateway.store.tables import customers, directory_entries
from tests.gateway.store.conftest import T0, add_member, waiting_sessions

# The ``store`` fixture on PostgreSQL only: ``database_url`` without its SQLite run.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def race(store: Store, insert, upsert) -> list:
    """Run ``upsert`` while another transaction holds the same row, inserted, uncommitted."""
    outcome: list = []

    def run():
        try:
            outcome.append(upsert())
        except Exception as ex:  # noqa: BLE001 — the outcome under test
            outcome.append(ex)

    with store.begin() as other:
        other.execute(insert)
        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 10
        while not outcome and not waiting_sessions(store):
            assert time.monotonic() < deadline, "the upsert neither waited nor finished"
    thread.join()
    return outcome


def test_a_customer_put_twice_at_once_is_updated(store):
    member = add_member(store)
    row = {"name": "Seine", "channel": "paper", "copies": [], "created_at": T0, "updated_at": T0}
    insert = customers.insert().values(member_id=member, siret="22760540900019", **row)
    (outcome,) = race(
        store,
        insert,
        lambda: store.upsert_customer(
            member, "22760540900019", name="Seine", channel="chorus", copies=[]
        ),
    )
    assert not isinstance(outcome, Exception), outcome
    assert store.get_customer(member, "22760540900019")["channel"] == "chorus"


def test_a_directory_entry_looked_up_twice_at_once_is_updated(store):
    insert = directory_entries.insert().values(siret="22760540900019", data=None, checked_at=T0)
    later = datetime(2026, 11, 21, tzinfo=UTC)
    (outcome,) = race(
        store, insert, lambda: store.put_directory_entry("22760540900019", {"a": 1}, later)
    )
    assert not isinstance(outcome, Exception), outcome
    entry = store.get_directory_entry("22760540900019")
    assert (entry["data"], entry["checked_at"]) == ({"a": 1}, later)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(directory_entries)).scalar() == 1

"""The pull feed on PostgreSQL: ids come from a sequence in insertion order, transactions
commit in any order; a reader must never see an event while an earlier one of the same
member is still to commit, or its cursor would skip that one for ever."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from gateway.store import Store
from tests.gateway.store.test_store import add_member


@pytest.fixture
def store(postgres):
    instance = Store(postgres.create_database())
    instance.migrate()
    yield instance
    instance.dispose()


def waiting_sessions(store: Store) -> int:
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()


def test_a_reader_never_sees_an_event_ahead_of_one_still_to_commit(store):
    member = add_member(store)
    later_done = threading.Event()

    def later_writer():
        with store.begin() as conn:
            store.add_event(conn, member, "invoice.received", {"n": 2})
        later_done.set()

    with store.begin() as first:
        store.add_event(first, member, "invoice.received", {"n": 1})
        writer = threading.Thread(target=later_writer)
        writer.start()
        deadline = time.monotonic() + 10
        while not later_done.is_set() and not waiting_sessions(store):
            assert time.monotonic() < deadline, "the second writer neither waited nor committed"
        seen = store.list_events(member)
        cursor = seen[-1]["seq"] if seen else 0
    writer.join()
    assert [event["data"]["n"] for event in seen] == []
    assert [event["data"]["n"] for event in store.list_events(member, after=cursor)] == [1, 2]

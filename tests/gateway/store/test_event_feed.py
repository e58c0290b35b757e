"""The pull feed on PostgreSQL: ids come from a sequence in insertion order, transactions
commit in any order; a reader must never see an event while an earlier one of the same
member is still to commit, or its cursor would skip that one for ever."""

from __future__ import annotations

import threading
import time

import pytest

from tests.gateway.store.conftest import add_member, waiting_sessions

# The ``store`` fixture on PostgreSQL only: ``database_url`` without its SQLite run.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


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

"""Each member's events are numbered in a sequence of its own, the feed's cursor; events
written before the upgrade keep their global number, so a cursor saved then still holds."""

from __future__ import annotations

import sqlalchemy as sa

from gateway.store import Store
from tests.gateway.store.conftest import T0, add_member
from tests.gateway.store.test_store import migrate_to


def test_each_member_counts_its_own_events_without_gaps(store):
    add_member(store, "mem_a")
    add_member(store, "mem_b", siret="79345612000013")
    with store.begin() as conn:
        for n in range(3):
            store.add_event(conn, "mem_a", "invoice.received", {"n": n})
            store.add_event(conn, "mem_b", "invoice.received", {"n": n})
    for member in ("mem_a", "mem_b"):
        events = store.list_events(member)
        assert [e["member_seq"] for e in events] == [1, 2, 3]
        assert [e["data"]["n"] for e in store.list_events(member, after=1)] == [1, 2]


def test_an_old_cursor_still_points_after_the_same_event(database_url):
    store = Store(database_url)
    try:
        migrate_to(store, "0006_trust")
        add_member(store, "mem_a")
        add_member(store, "mem_b", siret="79345612000013")
        with store.begin() as conn:
            for member, n in (("mem_a", 1), ("mem_b", 1), ("mem_a", 2), ("mem_b", 2)):
                conn.execute(
                    sa.text(
                        "INSERT INTO events (member_id, type, data, at) "
                        "VALUES (:m, 'invoice.received', :d, :at)"
                    ),
                    {"m": member, "d": f'{{"n": {n}}}', "at": T0.replace(tzinfo=None)},
                )
        old_cursor = 3  # the global id of mem_a's second event, as the feed gave it
        store.migrate()
        with store.begin() as conn:
            store.add_event(conn, "mem_a", "invoice.received", {"n": 3})
        after = store.list_events("mem_a", after=old_cursor)
        assert [e["data"]["n"] for e in after] == [3]
        assert [e["member_seq"] for e in store.list_events("mem_a")] == [1, 3, 4]
    finally:
        store.dispose()


def test_the_migration_goes_down_and_up_again_with_the_events(database_url):
    store = Store(database_url)
    try:
        store.migrate()
        add_member(store, "mem_a")
        with store.begin() as conn:
            store.add_event(conn, "mem_a", "invoice.received", {"n": 1})
        migrate_to(store, "0006_trust", down=True)
        store.migrate()
        assert [e["member_seq"] for e in store.list_events("mem_a")] == [1]
    finally:
        store.dispose()

"""Idempotency records past their retention are deleted, never a claim still held."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.gateway.store.conftest import T0, add_member

RETENTION = timedelta(hours=24)


def claim(store, key: str, at, lease: timedelta = timedelta(seconds=120)) -> None:
    assert store.claim_idempotent("mem_a", key, "0" * 64, f"c-{key}", at, at + lease) is None


def answer(store, key: str) -> None:
    with store.begin() as conn:
        assert store.complete_idempotent(conn, "mem_a", key, f"c-{key}", 202, {"id": key})


def test_records_past_their_retention_go_and_held_claims_stay(store):
    add_member(store)
    now = T0 + timedelta(hours=30)
    claim(store, "answered-long-ago", T0)
    answer(store, "answered-long-ago")
    claim(store, "answered-lately", now - timedelta(hours=22))
    answer(store, "answered-lately")
    claim(store, "died-long-ago", T0)  # its request died: the claim lapsed long ago
    # Claimed long ago and still held at ``now``: its request runs, its key stays taken.
    claim(store, "held-long", T0 + timedelta(hours=1), lease=timedelta(hours=30))
    claim(store, "held-now", now - timedelta(seconds=5))

    assert store.purge_idempotent(now - RETENTION, now) == 2
    keys = ("answered-long-ago", "answered-lately", "died-long-ago", "held-long", "held-now")
    left = {key for key in keys if store.get_idempotent("mem_a", key)}
    assert left == {"answered-lately", "held-long", "held-now"}
    assert store.purge_idempotent(now - RETENTION, now) == 0
    # Once its lease is over, the old claim goes too.
    later = T0 + timedelta(hours=31, seconds=1)
    assert store.purge_idempotent(later - RETENTION, later) == 1
    assert store.get_idempotent("mem_a", "held-long") is None


def test_the_purge_finds_old_records_by_an_index(store):
    with store.read() as conn:
        indexes = sa.inspect(conn).get_indexes("idempotency_keys")
    assert ["created_at"] in [index["column_names"] for index in indexes]

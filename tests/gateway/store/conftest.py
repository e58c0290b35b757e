"""The store's tests: a migrated store on each database, a member row to start from, and
the count of sessions waiting on a PostgreSQL lock (for races)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from gateway.store import Store

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def add_member(store: Store, member_id: str = "mem_a", **values) -> str:
    with store.begin() as conn:
        store.insert_member(
            conn,
            id=member_id,
            name=values.pop("name", "Librairie des Quais"),
            created_at=values.pop("created_at", T0),
            **values,
        )
    return member_id


def waiting_sessions(store: Store) -> int:
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()

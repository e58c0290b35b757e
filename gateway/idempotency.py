"""How long ``Idempotency-Key`` records are kept, and their purge by the worker.

A record answers a repeated request for as long as a client may retry it: 24 hours by
default, as the IETF Idempotency-Key draft suggests and Stripe does (``[server]
idempotency_retention_seconds``). Past that the worker deletes it, at most once every
:data:`PURGE_EVERY` (an indexed delete on ``created_at``); a claim whose request still
holds it stays, whatever its age.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.logs import get_logger
from gateway.store import Store

log = get_logger(__name__)

#: Records past their retention wait at most this long: purging is cheap, not free.
PURGE_EVERY = timedelta(minutes=5)


class IdempotencyPurge:
    """Delete the records past ``retention`` when called, unless it did less than
    :data:`PURGE_EVERY` ago (each worker process keeps its own pace)."""

    def __init__(self, store: Store, retention: timedelta, clock: Callable[[], datetime]):
        self.store = store
        self.retention = retention
        self.clock = clock
        self.last: datetime | None = None

    def __call__(self) -> int:
        """Purge if due; return how many records went."""
        now = self.clock()
        if self.last is not None and now - self.last < PURGE_EVERY:
            return 0
        self.last = now
        purged = self.store.purge_idempotent(now - self.retention, now)
        if purged:
            log.info("idempotency.purged", records=purged)
        return purged

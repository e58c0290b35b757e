"""How long ``Idempotency-Key`` records are kept, and their purge by the worker.

A record answers a repeated request for as long as a client may retry it: 24 hours by
default, as the IETF Idempotency-Key draft suggests and Stripe does (``[server]
idempotency_retention_seconds``). Past that a worker deletes it, a job of the schedule
run every :data:`PURGE_EVERY` by one worker (an indexed delete on ``created_at``); a claim
whose request still holds it stays, whatever its age.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.logs import get_logger
from gateway.store import Store

log = get_logger(__name__)

#: Records past their retention wait at most this long: purging is cheap, not free.
PURGE_EVERY = timedelta(minutes=5)


def purge_job(
    store: Store, retention: timedelta, clock: Callable[[], datetime]
) -> Callable[[threading.Event | None], int]:
    """Return the scheduled job (``gateway.schedule``) deleting the records past
    ``retention``; it returns how many went."""

    def run(stop: threading.Event | None) -> int:
        now = clock()
        purged = store.purge_idempotent(now - retention, now)
        if purged:
            log.info("idempotency.purged", records=purged)
        return purged

    return run

"""A token bucket per caller, in this process: the API's rate per member, and the web
pages' failed sign-ins per login."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime


class RateLimiter:
    """A token bucket per member, in this process: ``burst`` requests at once, then
    ``per_minute``. A member's keys share its bucket, so minting keys buys no more."""

    def __init__(self, per_minute: int, burst: int, clock: Callable[[], datetime]):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def wait(self, who: str) -> float:
        """Take a token for ``who``: 0 when granted, else the seconds until one is free.
        A refused request takes none, so hammering does not push the wait further."""
        now = self.clock().timestamp()
        with self.lock:
            tokens, at = self.buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
            granted = tokens >= 1
            self.buckets[who] = (tokens - 1 if granted else tokens, now)
        return 0.0 if granted else (1 - tokens) / self.rate

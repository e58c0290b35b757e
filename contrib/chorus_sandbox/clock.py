"""Time for the sandbox: an injectable clock that tests (or the control API) can move forward."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


class Clock:
    """Epoch seconds from a base clock, plus an offset the control API can advance."""

    def __init__(self, base: Callable[[], datetime] | None = None) -> None:
        self._base = base or (lambda: datetime.now(UTC))
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._base().timestamp() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
            return self._offset


def _paris(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, PARIS)


def iso(ts: float) -> str:
    """Format as the platform's search and report answers do: ISO 8601 with the Paris offset."""
    return _paris(ts).isoformat(timespec="seconds")


def day(ts: float) -> str:
    return _paris(ts).strftime("%Y-%m-%d")


def minute(ts: float) -> str:
    """Format as `histoStatutDatePassage`, `dateTraitement` and service dates (AAAA-MM-JJ HH:MI)."""
    return _paris(ts).strftime("%Y-%m-%d %H:%M")


def parse_day(value: str) -> float | None:
    """Read a request's `AAAA-MM-JJ` date (a date-time is cut to its day) as Paris midnight."""
    try:
        parsed = datetime.strptime(value[:10], "%Y-%m-%d")
    except (TypeError, ValueError):
        return None
    return parsed.replace(tzinfo=PARIS).timestamp()

"""Times as booksellers read them: stored in UTC, shown in UTC and in Paris time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def paris(at: datetime) -> datetime:
    return at.astimezone(PARIS)


def paris_iso(at: datetime | None) -> str | None:
    return None if at is None else paris(at).isoformat()


def said_in_paris(at: datetime, now: datetime) -> str:
    """Say when ``at`` is, in Paris time: « à 14:35 » today, « le 03/12 à 14:35 » another
    day (so that a sentence reads right either way: « prévu à 14:35 », « prévu le 03/12 … »)."""
    local = paris(at)
    clock = local.strftime("%H:%M")
    if local.date() == paris(now).date():
        return f"à {clock}"
    return f"le {local.strftime('%d/%m')} à {clock}"

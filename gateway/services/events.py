"""The member's event feed, pulled by its software after a cursor."""

from __future__ import annotations

from gateway.store import Store
from gateway.views import event_view


class EventService:
    def __init__(self, store: Store):
        self.store = store

    def feed(self, member_id: str, after: int = 0, limit: int = 100) -> dict:
        """Return the member's events after the cursor ``after``, oldest first, and the
        cursor to ask with next."""
        events = self.store.list_events(member_id, after=after, limit=limit)
        return {
            "events": [event_view(event) for event in events],
            "next_cursor": str(events[-1]["member_seq"] if events else after),
        }

"""The association's administrator's feed: what needs its attention, across members."""

from __future__ import annotations

from gateway.store import Store
from gateway.views import event_view
from gateway.worker import ABANDONED

#: Events the administrator must hear of, whichever member they concern.
ADMIN_EVENT_TYPES = (ABANDONED,)


class AlertService:
    def __init__(self, store: Store):
        self.store = store

    def feed(self, after: int = 0, limit: int = 100) -> dict:
        """Return every member's alerts after the cursor ``after``, oldest first, and the
        cursor to ask with next (the events' global sequence: this feed spans members)."""
        events = self.store.list_events_of_types(ADMIN_EVENT_TYPES, after=after, limit=limit)
        return {
            "events": [{**event_view(event), "member_id": event["member_id"]} for event in events],
            "next_cursor": str(events[-1]["seq"] if events else after),
        }

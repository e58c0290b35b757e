"""The association's administrator's feed: what needs its attention, across members."""

from __future__ import annotations

from gateway import lifecycle
from gateway.inbound import STATUS_FAILED
from gateway.store import Store
from gateway.views import event_view
from gateway.worker import ABANDONED

#: Events the administrator must hear of, whichever member they concern.
ADMIN_EVENT_TYPES = (ABANDONED, STATUS_FAILED)
#: Invoices given up on listed at once.
MAX_GIVEN_UP = 200


def alert_view(event: dict) -> dict:
    return {**event_view(event), "member_id": event["member_id"]}


class AlertService:
    def __init__(self, store: Store):
        self.store = store

    def recent(self, limit: int = 10) -> list[dict]:
        """Return the last ``limit`` alerts, newest first."""
        events = self.store.list_events_of_types(ADMIN_EVENT_TYPES, limit=limit, newest_first=True)
        return [alert_view(event) for event in events]

    def given_up(self) -> list[dict]:
        """Return the invoices the worker gave up sending (attempts exhausted, waited too
        long for the platform, or refused) and that nobody sent again since, with the
        last error: the reason."""
        return self.store.given_up_invoices(lifecycle.EN_ERREUR, MAX_GIVEN_UP)

    def feed(self, after: int = 0, limit: int = 100) -> dict:
        """Return every member's alerts after the cursor ``after``, oldest first, and the
        cursor to ask with next (the events' global sequence: this feed spans members)."""
        events = self.store.list_events_of_types(ADMIN_EVENT_TYPES, after=after, limit=limit)
        return {
            "events": [alert_view(event) for event in events],
            "next_cursor": str(events[-1]["seq"] if events else after),
        }

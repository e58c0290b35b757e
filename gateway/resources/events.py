from __future__ import annotations

import falcon

from gateway.resources import MAX_SEQ, int_param, member_id
from gateway.views import event_view


class EventsResource:
    def __init__(self, store):
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return the member's events after a cursor, oldest first (the pull feed)."""
        after = int_param(
            req,
            "after",
            default=0,
            minimum=0,
            maximum=MAX_SEQ,
            message="Le curseur « after » est l'identifiant d'un événement.",
        )
        limit = int_param(req, "limit", default=100, minimum=1, maximum=500)
        events = self.store.list_events(member_id(req), after=after, limit=limit)
        resp.media = {
            "events": [event_view(event) for event in events],
            "next_cursor": str(events[-1]["seq"] if events else after),
        }

from __future__ import annotations

import falcon

from gateway.resources import error, member_id
from gateway.views import event_view


class EventsResource:
    def __init__(self, store):
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return the member's events after a cursor, oldest first (the pull feed)."""
        after = req.get_param("after") or "0"
        limit = req.get_param_as_int("limit", min_value=1, max_value=500) or 100
        if not after.isdigit():
            raise error(
                422,
                "field.invalid",
                "Le curseur « after » est l'identifiant d'un événement.",
                field="after",
            )
        events = self.store.list_events(member_id(req), after=int(after), limit=limit)
        resp.media = {
            "events": [event_view(event) for event in events],
            "next_cursor": str(events[-1]["seq"]) if events else after,
        }

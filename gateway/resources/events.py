from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import Query, operation
from gateway.resources import acting_member, int_param
from gateway.services.events import EventService
from gateway.services.paging import MAX_SEQ

#: Most events one page holds.
MAX_PAGE = 500


class EventsResource:
    def __init__(self, service: EventService):
        self.service = service

    @operation(
        "Flux des événements après un curseur",
        {200: schemas.EventPageSchema},
        query={
            "after": Query(
                "Identifiant du dernier événement lu", {"type": "integer", "minimum": 0}
            ),
            "limit": Query(
                "Événements par page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
            ),
        },
    )
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
        limit = int_param(req, "limit", default=100, minimum=1, maximum=MAX_PAGE)
        resp.media = self.service.feed(acting_member(req), after=after, limit=limit)

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import Query, operation
from gateway.resources import acting_member, int_param
from gateway.services.events import EventService
from gateway.services.paging import MAX_SEQ

#: Most events one page holds.
MAX_PAGE = 500


def cursor_query(last: str, per_page: str) -> dict[str, Query]:
    """The query of a feed read after a cursor: ``after`` and ``limit``, as described."""
    return {
        "after": Query(last, {"type": "integer", "minimum": 0}),
        "limit": Query(per_page, {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
    }


def cursor_params(req: falcon.Request, one: str) -> tuple[int, int]:
    """Read ``after`` and ``limit`` of a feed whose items are each ``one`` (« d'un
    événement »)."""
    after = int_param(
        req,
        "after",
        default=0,
        minimum=0,
        maximum=MAX_SEQ,
        message=f"Le curseur « after » est l'identifiant {one}.",
    )
    return after, int_param(req, "limit", default=100, minimum=1, maximum=MAX_PAGE)


class EventsResource:
    def __init__(self, service: EventService):
        self.service = service

    @operation(
        "Flux des événements après un curseur",
        {200: schemas.EventPageSchema},
        query=cursor_query("Identifiant du dernier événement lu", "Événements par page"),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return the member's events after a cursor, oldest first (the pull feed)."""
        after, limit = cursor_params(req, "d'un événement")
        resp.media = self.service.feed(acting_member(req), after=after, limit=limit)

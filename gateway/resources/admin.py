"""What the association's administrator alone reads: the alerts of every member."""

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import Query, operation
from gateway.resources import int_param, principal
from gateway.resources.events import MAX_PAGE
from gateway.services.alerts import AlertService
from gateway.services.paging import MAX_SEQ


class AdminEventsResource:
    def __init__(self, service: AlertService):
        self.service = service

    @operation(
        "Alertes de tous les membres après un curseur (administrateur) : factures abandonnées",
        {200: schemas.AdminEventPageSchema},
        query={
            "after": Query(
                "Identifiant de la dernière alerte lue", {"type": "integer", "minimum": 0}
            ),
            "limit": Query(
                "Alertes par page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
            ),
        },
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return every member's alerts after a cursor, oldest first (admin only)."""
        principal(req).require_admin()
        after = int_param(
            req,
            "after",
            default=0,
            minimum=0,
            maximum=MAX_SEQ,
            message="Le curseur « after » est l'identifiant d'une alerte.",
        )
        limit = int_param(req, "limit", default=100, minimum=1, maximum=MAX_PAGE)
        resp.media = self.service.feed(after=after, limit=limit)

"""What the association's administrator alone reads: the alerts of every member."""

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import operation
from gateway.resources import principal
from gateway.resources.events import cursor_params, cursor_query
from gateway.services.alerts import AlertService


class AdminEventsResource:
    def __init__(self, service: AlertService):
        self.service = service

    @operation(
        "Alertes de tous les membres après un curseur (administrateur) : factures abandonnées",
        {200: schemas.AdminEventPageSchema},
        query=cursor_query("Identifiant de la dernière alerte lue", "Alertes par page"),
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return every member's alerts after a cursor, oldest first (admin only)."""
        principal(req).require_admin()
        after, limit = cursor_params(req, "d'une alerte")
        resp.media = self.service.feed(after=after, limit=limit)

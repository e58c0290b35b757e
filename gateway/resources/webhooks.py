from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import Query, operation
from gateway.resources import acting_member, int_param, load_json
from gateway.services.webhooks import DELIVERY_STATES, WebhookService

#: Most deliveries one page holds.
MAX_PAGE = 500


class WebhooksResource:
    def __init__(self, service: WebhookService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Enregistrer un webhook (le secret de signature n'est montré qu'une fois)",
        {201: schemas.WebhookSchema, 422: schemas.ErrorsSchema},
        request=schemas.WebhookCreateSchema,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Register a webhook; answer it with its signing secret, shown only this once."""
        member = acting_member(req)
        data = load_json(req, schemas.WebhookCreateSchema(), self.max_body)
        resp.status = falcon.HTTP_201
        resp.media = self.service.create(member, **data)

    @operation("Lister les webhooks du membre", {200: None})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the member's webhooks (never their secrets)."""
        resp.media = {"webhooks": self.service.list(acting_member(req))}


class WebhookResource:
    def __init__(self, service: WebhookService):
        self.service = service

    @operation("Voir un webhook", {200: schemas.WebhookSchema})
    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        """Show one of the member's webhooks."""
        resp.media = self.service.get(acting_member(req), webhook_id)

    @operation("Supprimer un webhook", {204: None})
    def on_delete(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        """Delete a webhook and what it had still to deliver."""
        self.service.delete(acting_member(req), webhook_id)
        resp.status = falcon.HTTP_204


class WebhookDeliveriesResource:
    def __init__(self, service: WebhookService):
        self.service = service

    @operation(
        "Livraisons d'un webhook (state=parked : abandonnées après 24 h d'échecs)",
        {200: schemas.WebhookDeliveryPageSchema, 422: schemas.ErrorsSchema},
        query={
            "state": Query("État des livraisons", {"type": "string", "enum": DELIVERY_STATES}),
            "limit": Query(
                "Livraisons par page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
            ),
        },
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        """List a webhook's deliveries, newest first."""
        limit = int_param(req, "limit", default=100, minimum=1, maximum=MAX_PAGE)
        resp.media = {
            "deliveries": self.service.deliveries(
                acting_member(req), webhook_id, state=req.get_param("state"), limit=limit
            )
        }


class WebhookRedeliverResource:
    def __init__(self, service: WebhookService):
        self.service = service

    @operation("Relivrer les livraisons abandonnées d'un webhook", {200: None})
    def on_post(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        """Put the webhook's parked deliveries back in line; answer how many."""
        resp.media = self.service.redeliver(acting_member(req), webhook_id)

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import operation
from gateway.resources import acting_member, load_json
from gateway.services.customers import CustomerService


class CustomersResource:
    def __init__(self, service: CustomerService):
        self.service = service

    @operation("Lister les clients publics du membre", {200: None})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the member's customers with their channel."""
        resp.media = {"customers": self.service.list(acting_member(req))}


class CustomerResource:
    def __init__(self, service: CustomerService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation("Voir un client", {200: schemas.CustomerSchema})
    def on_get(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        """Show one customer of the member."""
        resp.media = self.service.get(acting_member(req), siret)

    @operation(
        "Créer ou remplacer un client et son canal",
        {200: schemas.CustomerSchema, 201: schemas.CustomerSchema, 422: schemas.ErrorsSchema},
        request=schemas.CustomerWriteSchema,
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        """Create or replace a customer: its name, channel and copies."""
        member = acting_member(req)
        self.service.check_siret(siret)  # refused before the body is read
        data = load_json(req, schemas.CustomerWriteSchema(), self.max_body)
        view, created = self.service.put(member, siret, data)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = view


class CustomerRouteResource:
    def __init__(self, service: CustomerService):
        self.service = service

    @operation(
        "Prévoir l'acheminement des factures d'un client",
        {200: schemas.RoutePreviewSchema, 422: schemas.ErrorsSchema},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        """Show the route an invoice to this buyer would take now, and why: its channel and
        outlet, the paper fallback for a structure not active on Chorus Pro, the warning for
        a public buyer routed to paper, and what the directory says."""
        resp.media = self.service.route(acting_member(req), siret)

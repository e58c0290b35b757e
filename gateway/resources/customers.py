from __future__ import annotations

import falcon

from gateway import schemas
from gateway.resources import acting_member, load_json
from gateway.services.customers import CustomerService


class CustomersResource:
    def __init__(self, service: CustomerService):
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the member's customers with their channel."""
        resp.media = {"customers": self.service.list(acting_member(req))}


class CustomerResource:
    def __init__(self, service: CustomerService, max_body: int):
        self.service = service
        self.max_body = max_body

    def on_get(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        """Show one customer of the member."""
        resp.media = self.service.get(acting_member(req), siret)

    def on_put(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        """Create or replace a customer: its name, channel and copies."""
        member = acting_member(req)
        self.service.check_siret(siret)  # refused before the body is read
        data = load_json(req, schemas.CustomerWriteSchema(), self.max_body)
        view, created = self.service.put(member, siret, data)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = view

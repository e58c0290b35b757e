from __future__ import annotations

import falcon
from stdnum.fr import siret as siret_number

from gateway.resources import error, load_json, member_id, not_found, require_write
from gateway.schemas import CustomerWriteSchema


def customer_view(row: dict) -> dict:
    return {
        "siret": row["siret"],
        "name": row["name"],
        "channel": row["channel"],
        "copies": row["copies"],
        "updated_at": row["updated_at"].isoformat(),
    }


def check_siret(value: str) -> None:
    if not siret_number.is_valid(value):
        raise error(
            422,
            "siret.invalid",
            f"Le SIRET « {value} » n'est pas valide (14 chiffres, clé de contrôle).",
            field="siret",
        )


class CustomersResource:
    def __init__(self, store):
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the member's customers with their channel."""
        resp.media = {
            "customers": [customer_view(row) for row in self.store.list_customers(member_id(req))]
        }


class CustomerResource:
    def __init__(self, store, max_body: int):
        self.store = store
        self.max_body = max_body

    def on_get(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        """Show one customer of the member."""
        row = self.store.get_customer(member_id(req), siret)
        if row is None:
            raise not_found("Client")
        resp.media = customer_view(row)

    def on_put(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        """Create or replace a customer: its name, channel and copies."""
        require_write(req)
        member = member_id(req)
        check_siret(siret)
        data = load_json(req, CustomerWriteSchema(), self.max_body)
        row, created = self.store.upsert_customer(member, siret, **data)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = customer_view(row)

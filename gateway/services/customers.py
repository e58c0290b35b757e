"""A member's customers (public buyers) and the channel their invoices take."""

from __future__ import annotations

from stdnum.fr import siret as siret_number

from gateway.errors import InvalidInput, not_found
from gateway.pipeline import Pipeline
from gateway.store import Store


def customer_view(row: dict) -> dict:
    return {
        "siret": row["siret"],
        "name": row["name"],
        "channel": row["channel"],
        "copies": row["copies"],
        "updated_at": row["updated_at"].isoformat(),
    }


class CustomerService:
    def __init__(self, store: Store, pipeline: Pipeline):
        self.store = store
        self.pipeline = pipeline

    def list(self, member_id: str) -> list[dict]:
        return [customer_view(row) for row in self.store.list_customers(member_id)]

    def get(self, member_id: str, siret: str) -> dict:
        row = self.store.get_customer(member_id, siret)
        if row is None:
            raise not_found("Client")
        return customer_view(row)

    def check_siret(self, siret: str) -> None:
        if not siret_number.is_valid(siret):
            raise InvalidInput.of(
                "siret.invalid",
                f"Le SIRET « {siret} » n'est pas valide (14 chiffres, clé de contrôle).",
                field="siret",
            )

    def put(self, member_id: str, siret: str, values: dict) -> tuple[dict, bool]:
        """Create or replace a customer (name, channel, copies); return it and whether it
        was created."""
        self.check_siret(siret)
        row, created = self.store.upsert_customer(member_id, siret, **values)
        return customer_view(row), created

    def route(self, member_id: str, siret: str) -> dict:
        """Preview the route an invoice to ``siret`` would take now, and why (a buyer the
        member has not declared gets the default channel's)."""
        self.check_siret(siret)
        customer = self.pipeline.customer(member_id, siret)
        plan = self.pipeline.plan_route(member_id, None, customer, siret)
        if plan.route is None:
            raise InvalidInput(plan.findings)
        seen = plan.seen
        return {
            "siret": siret,
            "customer": customer is not None,
            **plan.route.as_dict(),
            "directory": None
            if seen is None
            else {
                "status": seen.status,
                "name": seen.name,
                "checked_at": seen.checked_at.isoformat() if seen.checked_at else None,
            },
            "warnings": [finding.as_dict() for finding in plan.findings],
        }

"""A member's webhooks: registered, listed, deleted, and their deliveries watched.

The signing secret is sealed by the secret box like outlet credentials, and shown once,
in the answer to its creation; the worker delivers (``gateway.webhooks``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from gateway.auth import new_id
from gateway.errors import InvalidInput, not_found
from gateway.outbound import OutboundRefused, check_outbound_url
from gateway.secretbox import SecretBox
from gateway.store import DELIVERY_DELIVERED, DELIVERY_PARKED, DELIVERY_PENDING, Store

#: What ``GET /v1/webhooks/{id}/deliveries?state=`` filters on.
DELIVERY_STATES = (DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_PARKED)
SECRET_PREFIX = "whsec_"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def webhook_view(row: dict, secret: str | None = None) -> dict:
    view = {
        "id": row["id"],
        "url": row["url"],
        "events": row["events"],
        "created_at": row["created_at"].isoformat(),
    }
    return view if secret is None else {**view, "secret": secret}


def delivery_view(row: dict) -> dict:
    return {
        "id": row["id"],
        "event_id": str(row["member_seq"]),
        "event_type": row["type"],
        "invoice_id": row["invoice_id"],
        "state": row["state"],
        "attempts": row["attempts"],
        "next_attempt_at": _iso(row["next_attempt_at"] if row["state"] == "pending" else None),
        "last_error": row["last_error"],
        "created_at": row["created_at"].isoformat(),
        "delivered_at": _iso(row["delivered_at"]),
    }


class WebhookService:
    def __init__(self, store: Store, secretbox: SecretBox, clock: Callable[[], datetime]):
        self.store = store
        self.secretbox = secretbox
        self.clock = clock

    def create(
        self, member_id: str, url: str, events: list[str], secret: str | None = None
    ) -> dict:
        """Register a webhook; answer it with its secret (generated when none is given),
        the only time the secret is shown."""
        try:
            check_outbound_url(url, setting="url")
        except OutboundRefused as ex:
            raise InvalidInput(ex.findings) from ex
        secret = secret or SECRET_PREFIX + secrets.token_urlsafe(32)
        row = {
            "id": new_id("whk"),
            "member_id": member_id,
            "url": url,
            "events": events,
            "secret_encrypted": self.secretbox.seal({"secret": secret}),
            "created_at": self.clock(),
        }
        self.store.insert_webhook(**row)
        return webhook_view(row, secret)

    def list(self, member_id: str) -> list[dict]:
        return [webhook_view(row) for row in self.store.list_webhooks(member_id)]

    def row(self, member_id: str, webhook_id: str) -> dict:
        """Return the member's webhook; NotFound for another member's."""
        row = self.store.get_webhook(member_id, webhook_id)
        if row is None:
            raise not_found("Webhook")
        return row

    def get(self, member_id: str, webhook_id: str) -> dict:
        return webhook_view(self.row(member_id, webhook_id))

    def delete(self, member_id: str, webhook_id: str) -> None:
        """Delete a webhook: what it had still to deliver is dropped with it."""
        if not self.store.delete_webhook(member_id, webhook_id):
            raise not_found("Webhook")

    def deliveries(
        self, member_id: str, webhook_id: str, state: str | None = None, limit: int = 100
    ) -> list[dict]:
        """Return the webhook's deliveries, newest first (``state="parked"``: given up on)."""
        self.row(member_id, webhook_id)
        if state is not None and state not in DELIVERY_STATES:
            raise InvalidInput.of(
                "field.invalid",
                "L'état d'une livraison est l'un de : " + ", ".join(DELIVERY_STATES) + ".",
                field="state",
            )
        rows = self.store.list_deliveries(webhook_id, state=state, limit=limit)
        return [delivery_view(row) for row in rows]

    def redeliver(self, member_id: str, webhook_id: str) -> dict:
        """Send the parked deliveries again, in their order, retried as new ones."""
        self.row(member_id, webhook_id)
        return {"redelivered": self.store.redeliver(webhook_id, self.clock())}

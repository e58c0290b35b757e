"""How stored rows are shown through the API (and to notifiers)."""

from __future__ import annotations

from gateway import lifecycle
from gateway.actions import PendingAction
from gateway.codec import invoice_from_data
from gateway.lifecycle import OUTBOX_STATUSES
from gateway.schemas import dump_invoice
from gateway.store import Store
from gateway.times import paris_iso


def iso(at) -> str | None:
    return None if at is None else at.isoformat()


def document_view(invoice_id: str, document: dict) -> dict:
    return {
        "name": document["name"],
        "media_type": document["media_type"],
        "size": document["size"],
        "sha256": document["sha256"],
        "created_at": document["created_at"].isoformat(),
        "url": f"/v1/invoices/{invoice_id}/documents/{document['name']}",
    }


def invoice_summary(row: dict) -> dict:
    return {
        "id": row["id"],
        "number": row["number"],
        "type": row["type"],
        "status": row["status"],
        "channel": row["channel"],
        "outlet": row["outlet"],
        "buyer_siret": row["buyer_siret"],
        "source_format": row["source_format"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        # When the worker tries again (waiting for the platform, or after an error).
        "retry_at": iso(row["next_attempt_at"]) if row["status"] in OUTBOX_STATUSES else None,
        "retry_at_paris": (
            paris_iso(row["next_attempt_at"]) if row["status"] in OUTBOX_STATUSES else None
        ),
        "waiting_since": iso(row["waiting_since"]),
        "outlet_reference": row["outlet_reference"],
        # The codec spells totals as the API does: no need to load the whole invoice.
        "totals": row["data"].get("totals"),
        "warnings": row["warnings"],
        "next_actions": lifecycle.next_actions(row),
        "needs_action": lifecycle.needs_bookseller(row),
        "status_explanation": lifecycle.explain(row),
        "pending_action": action.view() if (action := PendingAction.from_row(row)) else None,
    }


def invoice_view(store: Store, row: dict) -> dict:
    """Return the invoice as ``GET /v1/invoices/{id}`` shows it."""
    # In the order recorded: a platform's time may be coarser (minutes) than the gateway's.
    history = [
        {
            "status": entry["status"],
            "at": entry["at"].isoformat(),
            "at_paris": paris_iso(entry["at"]),
            "platform_at": entry["platform_at"],
            "comment": entry["comment"],
        }
        for entry in store.history(row["seq"])
    ]
    documents = [document_view(row["id"], doc) for doc in store.list_documents(row["seq"])]
    return {
        **invoice_summary(row),
        "history": history,
        "documents": documents,
        "invoice": dump_invoice(invoice_from_data(row["data"])),
    }


def event_view(event: dict) -> dict:
    """Return an event as the feed shows it and webhooks deliver it; its id is the member's
    own sequence number, the feed's cursor."""
    return {
        "id": str(event["member_seq"]),
        "type": event["type"],
        "invoice_id": event["invoice_id"],
        "at": event["at"].isoformat(),
        "data": event["data"],
    }

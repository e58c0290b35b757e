"""How stored rows are shown through the API (and to notifiers)."""

from __future__ import annotations

from gateway import lifecycle
from gateway.actions import PendingAction
from gateway.codec import invoice_from_data
from gateway.lifecycle import INVERSE_LINKS, OUTBOX_STATUSES
from gateway.model import Invoice
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
        "role": document["role"],
        "retention_until": iso(document["retention_until"]),
        "url": f"/v1/invoices/{invoice_id}/documents/{document['name']}",
    }


def invoice_summary(row: dict) -> dict:
    """Return the invoice as listings show it, from its whole row or from a listing's
    (``Store.SUMMARY``: the totals without the rest of the data)."""
    totals = row["totals"] if "totals" in row else row["data"].get("totals")
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
        "totals": totals,
        "warnings": row["warnings"],
        "next_actions": lifecycle.next_actions(row),
        "needs_action": lifecycle.needs_bookseller(row),
        "status_explanation": lifecycle.explain(row),
        "pending_action": action.view() if (action := PendingAction.from_row(row)) else None,
    }


def reference_links(invoice: Invoice) -> list[dict]:
    """The documents the invoice names that are no invoice of the gateway's (order,
    engagement, delivery notes…): links without an ``invoice_id``."""
    references = invoice.references
    named = [
        ("engagement", references.engagement),
        ("purchase_order", references.purchase_order),
        ("contract", references.contract),
        *(("delivery_note", note) for note in invoice.delivery_notes),
    ]
    if invoice.preceding_invoice is not None:
        named.append(("preceding_invoice", invoice.preceding_invoice.number))
    return [{"rel": rel, "invoice_id": None, "number": value} for rel, value in named if value]


def links_view(store: Store, row: dict, invoice: Invoice) -> list[dict]:
    """Return the invoice's links: the invoices made from it or it was made from, each
    named from this invoice's side, then the references its data carries."""
    made = [
        {
            "rel": link["rel"] if link["outgoing"] else INVERSE_LINKS[link["rel"]],
            "invoice_id": link["invoice_id"],
            "number": link["number"],
            "status": link["status"],
        }
        for link in store.links(row["seq"])
    ]
    return made + reference_links(invoice)


def copy_view(copy: dict) -> dict:
    return {
        "to": copy["recipient"],
        "label": copy["label"],
        "status": copy["status"],
        "attempts": copy["attempts"],
        "sent_at": iso(copy["sent_at"]),
        "last_error": copy["last_error"],
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
    invoice = invoice_from_data(row["data"])
    return {
        **invoice_summary(row),
        "version": row["version"],
        "route": row["route"],
        "history": history,
        "documents": documents,
        "links": links_view(store, row, invoice),
        "copies": [copy_view(copy) for copy in store.list_copies(row["seq"])],
        "invoice": dump_invoice(invoice),
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

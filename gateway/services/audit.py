"""The audit trail: what the journal says about an invoice, for a tax inspector, and every
request an auditor key makes, journaled (docs/archive.md)."""

from __future__ import annotations

from gateway import archive, lifecycle
from gateway.auth import Principal
from gateway.codec import invoice_from_data
from gateway.errors import not_found
from gateway.store import Store
from gateway.times import paris_iso
from gateway.views import document_view, iso, links_view

AUDITOR_READ = "auditor.read"
AUDITOR_REFUSED = "auditor.refused"

#: What each kind of journal entry means, for the inspector.
LABELS = {
    "invoice.received": "Facture reçue et validée par la passerelle",
    "invoice.status_changed": "Changement de statut",
    "invoice.action_requested": "Action demandée par le libraire",
    "invoice.action_failed": "Action demandée en échec",
    "invoice.corrected": "Facture corrigée (nouvelle version)",
    "invoice.credited": "Avoir émis",
    "invoice.send_abandoned": "Envoi abandonné",
    "invoice.copy_sent": "Copie d'information envoyée",
    "invoice.copy_parked": "Copie d'information abandonnée",
    "document.archived": "Document archivé",
    "document.read": "Document consulté",
    AUDITOR_READ: "Consultation par un auditeur",
    AUDITOR_REFUSED: "Demande d'un auditeur refusée",
}

#: Links to other invoices of the gateway's, each named from this invoice's side.
INVOICE_LINKS = frozenset(lifecycle.INVERSE_LINKS) | frozenset(lifecycle.INVERSE_LINKS.values())


def label(kind: str) -> str:
    return LABELS.get(kind, f"Événement « {kind} »")


def entry_view(entry: dict) -> dict:
    return {
        "seq": entry["seq"],
        "at": entry["at"].isoformat(),
        "at_paris": paris_iso(entry["at"]),
        "kind": entry["kind"],
        "label": label(entry["kind"]),
        "data": entry["data"],
        "hash": entry["hash"],
        "prev_hash": entry["prev_hash"],
    }


def chain_check(entries: list[dict], previous: dict[int, str]) -> dict:
    """Tell whether each entry still hashes to its ``hash`` and follows the entry before it
    in the journal (``previous``: the hash of each entry numbered one less)."""
    problems = []
    for entry in entries:
        if archive.row_hash(entry) != entry["hash"]:
            problems.append(f"entrée {entry['seq']} altérée ({entry['kind']})")
        expected = archive.GENESIS if entry["seq"] == 1 else previous.get(entry["seq"] - 1)
        if entry["prev_hash"] != expected:
            problems.append(f"entrée {entry['seq']} ne suit pas l'entrée {entry['seq'] - 1}")
    return {"intact": not problems, "entries": len(entries), "problems": problems}


def payment_view(invoice, history: list[dict]) -> dict:
    """The payment side of the chain: what the invoice asks, and when the buyer's
    accounting put it into payment (Chorus Pro's MISE_EN_PAIEMENT), if it did."""
    payment = invoice.payment
    put_into_payment = next(
        (h["at"] for h in history if h["status"] == lifecycle.MISE_EN_PAIEMENT), None
    )
    return {
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "means_code": payment.means_code if payment else None,
        "terms": payment.terms if payment else None,
        "remittance_information": payment.remittance_information if payment else None,
        "put_into_payment_at": iso(put_into_payment),
    }


class AuditService:
    def __init__(self, store: Store):
        self.store = store

    def trail(self, member_id: str | None, invoice_id: str) -> dict:
        """Return the audit trail of an invoice of ``member_id`` (any, for the admin: None)."""
        row = self.store.get_invoice(invoice_id, member_id)
        if row is None:
            raise not_found("Facture")
        entries = self.store.invoice_journal(invoice_id)
        previous = self.store.journal_hashes(entry["seq"] - 1 for entry in entries)
        checkpoint = self.store.latest_checkpoint(entries[-1]["seq"]) if entries else None
        history = self.store.history(row["seq"])
        invoice = invoice_from_data(row["data"])
        links = links_view(self.store, row, invoice)
        return {
            "invoice_id": row["id"],
            "number": row["number"],
            "type": row["type"],
            "status": row["status"],
            "entries": [entry_view(entry) for entry in entries],
            "chain": chain_check(entries, previous),
            "checkpoint": None
            if checkpoint is None
            else {
                "seq": checkpoint["seq"],
                "hash": checkpoint["hash"],
                "at": checkpoint["at"].isoformat(),
                "signature": checkpoint["signature"],
                "public_key": checkpoint["public_key"],
            },
            "documents": [
                document_view(row["id"], document)
                for document in self.store.list_documents(row["seq"])
            ],
            "invoices": [
                {**link, "audit_url": f"/v1/invoices/{link['invoice_id']}/audit"}
                for link in links
                if link["rel"] in INVOICE_LINKS
            ],
            "references": [link for link in links if link["rel"] not in INVOICE_LINKS],
            "payment": payment_view(invoice, history),
        }

    def record_auditor_request(
        self,
        principal: Principal,
        *,
        method: str,
        path: str,
        query: str,
        status: int,
        invoice_id: str | None,
    ) -> None:
        """Journal a request an auditor key made: ``auditor.read`` when served,
        ``auditor.refused`` otherwise. The entry names the invoice only when one of the
        auditor's member was served (another member's id stays in ``data``)."""
        served = status < 400
        with self.store.begin() as conn:
            self.store.append_journal(
                conn,
                AUDITOR_READ if served else AUDITOR_REFUSED,
                {
                    "key_id": principal.key_id,
                    "prefix": principal.prefix,
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": status,
                    "invoice_id": invoice_id,
                },
                member_id=principal.member_id,
                invoice_id=invoice_id if served else None,
            )

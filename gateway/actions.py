"""Corrective actions (recycle, complete): asked for through the API, carried out by the worker.

A request stores its action with the invoice's row (:class:`PendingAction`: its name, its
parameters, its attempts, when it is due) in the transaction that checked it. The worker
claims due actions as it claims sends (``Store.claim_due`` on ``action_due_at``, under the
invoice's lease, so that polling and acting never overlap), calls the outlet and records
the status the platform gives. A transient failure is retried with backoff; a worker that
dies leaves the action due again once its lease expires, and every later attempt first asks
the platform whether the action already took effect, so that nothing is asked twice.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gateway import lifecycle
from gateway.codec import invoice_from_data, invoice_to_data
from gateway.logs import get_logger
from gateway.model import Invoice
from gateway.outbox import RELEASED, OutboxEntry
from gateway.outlets import (
    Document,
    Outlet,
    PermanentOutletError,
    PollContext,
    Receipt,
    SendContext,
)

if TYPE_CHECKING:
    from gateway.worker import Worker

log = get_logger(__name__)

#: Column values of a row with no action pending.
NO_ACTION = {"action": None, "action_data": None, "action_attempts": 0, "action_due_at": None}


@dataclass(frozen=True)
class PendingAction:
    """An action the bookseller asked for, waiting for the worker (typed view of the row)."""

    name: str
    requested_at: datetime
    #: recycle: the corrected recipient, the three values the platform takes.
    buyer_siret: str | None = None
    service_code: str | None = None
    engagement: str | None = None
    #: complete: the stored documents to upload, [{"document", "name", "media_type"}], and
    #: the comment that goes with them.
    attachments: list[dict] = field(default_factory=list)
    comment: str = ""
    attempts: int = 0
    due_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict) -> PendingAction | None:
        if not row.get("action"):
            return None
        data = dict(row["action_data"] or {})
        data["requested_at"] = datetime.fromisoformat(data["requested_at"])
        return cls(
            name=row["action"],
            attempts=row["action_attempts"],
            due_at=row["action_due_at"],
            **data,
        )

    def columns(self) -> dict:
        """The row's column values that ask for this action now."""
        data = {
            key: value
            for key, value in dataclasses.asdict(self).items()
            if key not in ("name", "attempts", "due_at")
        }
        data["requested_at"] = self.requested_at.isoformat()
        return {
            "action": self.name,
            "action_data": data,
            "action_attempts": 0,
            "action_due_at": self.requested_at,
        }

    def view(self) -> dict:
        """The action as ``GET /v1/invoices/{id}`` shows it while it waits."""
        shown: dict = {
            "action": self.name,
            "requested_at": self.requested_at.isoformat(),
            "attempts": self.attempts,
            "next_attempt_at": self.due_at.isoformat() if self.due_at else None,
        }
        if self.name == lifecycle.RECYCLE:
            shown["buyer"] = {"siret": self.buyer_siret}
            shown["references"] = {
                "service_code": self.service_code,
                "engagement": self.engagement,
            }
        else:
            shown["attachments"] = [item["name"] for item in self.attachments]
            shown["comment"] = self.comment
        return shown

    def recycled(self, invoice: Invoice) -> Invoice:
        """Return ``invoice`` addressed to the corrected recipient (same number)."""
        return dataclasses.replace(
            invoice,
            buyer=dataclasses.replace(invoice.buyer, siret=self.buyer_siret),
            references=dataclasses.replace(
                invoice.references,
                service_code=self.service_code,
                engagement=self.engagement,
            ),
        )


class ActionRunner:
    """Carries out the pending actions for a :class:`gateway.worker.Worker`, with its store,
    plugins, lease, attempts and backoff settings."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.store = worker.store
        self.settings = worker.settings

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Carry out every due action once (or until ``stop`` is set); return how many."""
        handled = 0
        while stop is None or not stop.is_set():
            entries = self.store.claim_due(
                self.worker.owner,
                self.worker.clock(),
                timedelta(seconds=self.settings.lease_seconds),
                self.settings.batch_size,
                due="action_due_at",
            )
            if not entries:
                break
            for entry in entries:
                if stop is not None and stop.is_set():
                    self.worker._release(entry)
                    continue
                self.carry_out(entry)
                handled += 1
        return handled

    def carry_out(self, entry: OutboxEntry) -> None:
        row = self.store.get_invoice(entry.invoice_id)
        action = PendingAction.from_row(row)
        if action is None:  # withdrawn meanwhile
            self.worker._release(entry)
            return
        attempt = action.attempts + 1
        with self.worker._leased(entry) as conn:
            if conn is None:
                return
            # Committed before the outlet is called, as a send's attempt is.
            lease = timedelta(seconds=self.settings.lease_seconds)
            self.store.update_invoice(
                conn, entry.seq, action_attempts=attempt, lease_until=self.worker.clock() + lease
            )
        bound = log.bind(
            invoice_id=entry.invoice_id,
            member_id=entry.member_id,
            outlet=entry.outlet,
            action=action.name,
            attempt=attempt,
        )
        started = self.worker.clock()
        invoice = None
        try:
            recycled_before = action.name == lifecycle.RECYCLE and entry.status == lifecycle.DEPOSEE
            if attempt > 1 and recycled_before:
                # Back to DEPOSEE from A_RECYCLER: only a recycle does that, an earlier
                # attempt's (its worker died before recording it), which a poll recorded first.
                bound.info("action.already_taken")
                self._done(entry, action, None, action.recycled(invoice_from_data(entry.data)))
                return
            if action.name not in lifecycle.next_actions(entry.row()):
                raise PermanentOutletError(
                    f"la facture est passée au statut {entry.status} entre-temps"
                )
            outlet = self.worker.registry.outlets.get(entry.outlet)
            if outlet is None or action.name not in outlet.capabilities:
                raise PermanentOutletError(
                    f"la sortie « {entry.outlet} » ne sait pas faire cette action"
                )
            receipt = Receipt(
                outlet=outlet.name,
                reference=entry.outlet_reference or "",
                status=entry.status,
                invoice_id=entry.invoice_id,
                data=dict(entry.receipt_data),
            )
            settings = self.worker._settings(entry.member_id, outlet.name)
            if action.name == lifecycle.RECYCLE:
                invoice = action.recycled(invoice_from_data(entry.data))
            if attempt > 1 and self._taken(outlet, receipt, entry, settings):
                bound.info("action.already_taken")
                self._done(entry, action, None, invoice)
                return
            context = SendContext(
                invoice_id=entry.invoice_id,
                member_id=entry.member_id,
                attempt=attempt,
                settings=settings,
                render=self.worker.render,
            )
            if invoice is not None:
                self.worker.recheck(outlet, invoice)
                result = outlet.recycle(receipt, invoice, context)
            else:
                result = outlet.complete(
                    receipt, self._attachments(entry.seq, action), action.comment, context
                )
        except Exception as ex:
            elapsed = (self.worker.clock() - started).total_seconds()
            bound.warning("action.failed", duration_s=elapsed, error=repr(ex))
            self._failed(entry, action, attempt, ex)
            return
        elapsed = (self.worker.clock() - started).total_seconds()
        bound.info("action.done", duration_s=elapsed, status=result.status)
        self._done(entry, action, result, invoice)

    def _taken(self, outlet: Outlet, receipt: Receipt, entry: OutboxEntry, settings: dict) -> bool:
        """Whether the platform moved the invoice on already: an earlier attempt's call took
        effect (its worker died before recording it), or the buyer moved it meanwhile."""
        updates = outlet.poll([receipt], PollContext(entry.member_id, settings))
        return any(u.invoice_id == entry.invoice_id and u.status != entry.status for u in updates)

    def _attachments(self, seq: int, action: PendingAction) -> list[Document]:
        stored = {doc["name"]: doc for doc in self.store.documents_content(seq)}
        return [
            Document(
                name=item["name"],
                media_type=item["media_type"],
                content=stored[item["document"]]["content"],
            )
            for item in action.attachments
        ]

    def _done(
        self,
        entry: OutboxEntry,
        action: PendingAction,
        receipt: Receipt | None,
        invoice: Invoice | None,
    ) -> None:
        """Record the action carried out: the status the platform gave, or (``receipt`` None:
        it had taken it already) a poll at once, which records the platform's history."""
        now = self.worker.clock()
        updates = {**NO_ACTION, **RELEASED, "last_error": None}
        if invoice is not None:
            updates.update(data=invoice_to_data(invoice), buyer_siret=invoice.buyer.siret)
        recorder = lifecycle.Recorder(self.store, self.worker.registry.pm)
        with self.worker._leased(entry) as conn:
            if conn is None:
                return
            if receipt is None:
                self.store.update_invoice(conn, entry.seq, **updates, next_poll_at=now)
            else:
                delay = self.worker.poll_delay(receipt.status)
                recorder.change(
                    conn,
                    entry.row(),
                    receipt.status,
                    receipt.at or now,
                    receipt.comment,
                    extra={"action": action.name},
                    receipt_data=receipt.data,
                    next_poll_at=now + delay if delay else None,
                    **updates,
                )
        recorder.notify()

    def _failed(
        self, entry: OutboxEntry, action: PendingAction, attempt: int, error: Exception
    ) -> None:
        """Retry a transient failure later; give the action up after a permanent one or the
        last attempt, saying why (the bookseller may ask again)."""
        now = self.worker.clock()
        message = getattr(error, "message", None) or str(error) or error.__class__.__name__
        retry = getattr(error, "transient", True) and attempt < self.settings.max_attempts
        recorder = lifecycle.Recorder(self.store, self.worker.registry.pm)
        with self.worker._leased(entry) as conn:
            if conn is None:
                return
            if retry:
                from gateway.worker import backoff_delay  # the worker module imports this one

                delay = backoff_delay(
                    attempt, self.settings.backoff_base, self.settings.backoff_max, self.worker.rng
                )
                self.store.update_invoice(
                    conn,
                    entry.seq,
                    action_due_at=now + timedelta(seconds=delay),
                    last_error=message,
                    **RELEASED,
                )
                return
            self.store.update_invoice(conn, entry.seq, **NO_ACTION, **RELEASED, last_error=message)
            recorder.event(
                conn,
                entry.row(),
                "invoice.action_failed",
                {
                    "number": entry.number,
                    "action": action.name,
                    "reason": message,
                    "attempts": attempt,
                    "errors": [f.as_dict() for f in getattr(error, "findings", [])],
                    "next_actions": lifecycle.next_actions(self.store.invoice_in(conn, entry.seq)),
                },
            )
        log.error(
            "action.abandoned", invoice_id=entry.invoice_id, action=action.name, error=message
        )

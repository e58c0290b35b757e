"""The outbox worker: sends accepted invoices through their outlet, and retries.

Delivery is at-least-once from the worker's side (a worker killed after the outlet took an
invoice but before the store recorded it leaves the row leased; once the lease expires
another worker sends again) and exactly-once on the platform's side, because every
outlet receives a stable ``invoice_id`` and must not deposit the same invoice twice
(the memory outlet keeps a journal; the Chorus outlet looks the number up first).
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway import lifecycle
from gateway.config import Config
from gateway.logs import get_logger
from gateway.outlets import Document, OutletError, Receipt, SendContext
from gateway.plugins import Registry
from gateway.schemas import load_stored_invoice
from gateway.secretbox import SecretBox
from gateway.store import Store, utcnow

log = get_logger(__name__)

#: Documents handed to outlets: the rendering made at acceptance, and attachments.
SENDABLE_PREFIXES = ("facture.", "piece-jointe.")


def backoff_delay(attempt: int, base: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: about base x 2^(attempt-1), between half and all of it."""
    ceiling = min(maximum, base * 2 ** max(0, attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Worker:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        config: Config,
        secretbox: SecretBox,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
        rng: random.Random | None = None,
    ):
        self.store = store
        self.registry = registry
        self.config = config
        self.secretbox = secretbox
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.rng = rng or random.Random()
        self.settings = config.worker

    def run_once(self) -> int:
        """Send every due invoice once; return how many were handled."""
        handled = 0
        while True:
            rows = self.store.claim_due(
                self.owner,
                self.clock(),
                timedelta(seconds=self.settings.lease_seconds),
                self.settings.batch_size,
                lifecycle.OUTBOX_STATUSES,
            )
            if not rows:
                return handled
            for row in rows:
                self.send(row)
                handled += 1

    def run_forever(self, stop: threading.Event) -> None:
        log.info("worker.started", owner=self.owner)
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # the database went away: log, wait, try again
                log.exception("worker.cycle_failed")
                handled = 0
            if not handled:
                stop.wait(self.settings.poll_interval)
        log.info("worker.stopped", owner=self.owner)

    def render(self, renderer_name: str, invoice, profile: str = "chorus") -> bytes:
        return self.registry.renderers[renderer_name].render(invoice, profile=profile)

    def send(self, row: dict) -> None:
        """Hand one leased invoice to its outlet and record what happened."""
        bound = log.bind(invoice_id=row["id"], member_id=row["member_id"], outlet=row["outlet"])
        attempt = row["attempts"] + 1
        outlet = self.registry.outlets.get(row["outlet"])
        started = self.clock()
        try:
            if outlet is None:
                raise OutletError(f"la sortie « {row['outlet']} » n'est pas installée")
            invoice = load_stored_invoice(row["data"])
            documents = [
                Document(name=doc["name"], media_type=doc["media_type"], content=doc["content"])
                for doc in self.store.documents_content(row["seq"])
                if doc["name"].startswith(SENDABLE_PREFIXES)
            ]
            member = self.store.get_member(row["member_id"])
            settings = self.secretbox.open(member["settings_encrypted"]).get(outlet.name, {})
            context = SendContext(
                invoice_id=row["id"],
                member_id=row["member_id"],
                attempt=attempt,
                settings=settings,
                render=self.render,
            )
            receipt = outlet.send(invoice, documents, context)
        except Exception as ex:
            elapsed = (self.clock() - started).total_seconds()
            bound.warning("outlet.send_failed", attempt=attempt, duration_s=elapsed, error=repr(ex))
            self._failed(row, attempt, ex)
            return
        elapsed = (self.clock() - started).total_seconds()
        bound.info(
            "outlet.sent",
            attempt=attempt,
            duration_s=elapsed,
            reference=receipt.reference,
            status=receipt.status,
        )
        self._sent(row, attempt, receipt)

    def _sent(self, row: dict, attempt: int, receipt: Receipt) -> None:
        now = self.clock()
        recorder = lifecycle.Recorder(self.store, self.registry.pm)
        with self.store.begin() as conn:
            if not self.store.holds_lease(conn, row["seq"], self.owner):
                log.warning("worker.lease_lost", invoice_id=row["id"])
                return
            for document in receipt.documents:
                self.store.add_document(
                    conn, row["seq"], document.name, document.media_type, document.content
                )
            polls = "poll" in self.registry.outlets[row["outlet"]].capabilities
            recorder.change(
                conn,
                row,
                receipt.status,
                receipt.at or now,
                receipt.comment or f"Remise à « {receipt.outlet} » (référence {receipt.reference})",
                attempts=attempt,
                next_attempt_at=None,
                lease_owner=None,
                lease_until=None,
                last_error=None,
                outlet_reference=receipt.reference,
                receipt={
                    "outlet": receipt.outlet,
                    "reference": receipt.reference,
                    "data": receipt.data,
                },
                next_poll_at=now
                if polls and receipt.status not in lifecycle.FINAL_STATUSES
                else None,
            )
        recorder.notify()

    def _failed(self, row: dict, attempt: int, error: Exception) -> None:
        now = self.clock()
        transient = getattr(error, "transient", True)
        message = getattr(error, "message", None) or str(error) or error.__class__.__name__
        exhausted = attempt >= self.settings.max_attempts
        retry_at = None
        if transient and not exhausted:
            delay = backoff_delay(
                attempt, self.settings.backoff_base, self.settings.backoff_max, self.rng
            )
            retry_at = now + timedelta(seconds=delay)
            comment = f"Échec de l'envoi (tentative {attempt}) : {message}. Nouvel essai prévu."
        elif transient:
            comment = (
                f"Échec de l'envoi après {attempt} tentatives : {message}. Envois suspendus ; "
                "l'administrateur est alerté."
            )
        else:
            comment = (
                f"Envoi refusé : {message}. Corrigez la facture ou les réglages puis renvoyez-la."
            )
        recorder = lifecycle.Recorder(self.store, self.registry.pm)
        with self.store.begin() as conn:
            if not self.store.holds_lease(conn, row["seq"], self.owner):
                log.warning("worker.lease_lost", invoice_id=row["id"])
                return
            findings = [f.as_dict() for f in getattr(error, "findings", [])]
            recorder.change(
                conn,
                row,
                lifecycle.EN_ERREUR,
                now,
                comment,
                extra={
                    "attempt": attempt,
                    "retry_at": retry_at.isoformat() if retry_at else None,
                    "errors": findings,
                },
                attempts=attempt,
                next_attempt_at=retry_at,
                lease_owner=None,
                lease_until=None,
                last_error=message,
            )
            if retry_at is None:
                recorder.event(
                    conn,
                    row,
                    "invoice.send_abandoned",
                    {"number": row["number"], "reason": message, "attempts": attempt},
                )
        if retry_at is None:
            log.error(
                "worker.send_abandoned", invoice_id=row["id"], attempts=attempt, error=message
            )
        recorder.notify()

"""The outbox worker: sends accepted invoices through their outlet, and retries.

Delivery is at-least-once from the worker's side (a worker killed after the outlet took an
invoice but before the store recorded it leaves the row leased; once the lease expires
another worker sends again) and exactly-once on the platform's side, because every
outlet receives a stable ``invoice_id`` and must not deposit the same invoice twice
(the memory outlet keeps a journal; the Chorus outlet looks the number up first).
"""

from __future__ import annotations

import functools
import os
import random
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway import lifecycle
from gateway.config import Config
from gateway.directory import DirectoryService
from gateway.logs import get_logger
from gateway.outlets import (
    Document,
    OutletError,
    PermanentOutletError,
    PollContext,
    Receipt,
    SendContext,
    StatusUpdate,
)
from gateway.plugins import Registry
from gateway.schemas import load_stored_invoice
from gateway.secretbox import SecretBox
from gateway.store import Store, utcnow
from gateway.validation import errors_of, validate

log = get_logger(__name__)

#: Documents handed to outlets: the rendering made at acceptance, and attachments.
SENDABLE_PREFIXES = ("facture.", "piece-jointe.")


def backoff_delay(attempt: int, base: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: about base x 2^(attempt-1), between half and all of it."""
    ceiling = min(maximum, base * 2 ** min(max(0, attempt - 1), 60))
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
        self.directory = DirectoryService(
            registry.pm, store, timedelta(seconds=config.directory_ttl), clock
        )

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Send every due invoice once (or until ``stop`` is set); return how many."""
        handled = 0
        while stop is None or not stop.is_set():
            rows = self.store.claim_due(
                self.owner,
                self.clock(),
                timedelta(seconds=self.settings.lease_seconds),
                self.settings.batch_size,
                lifecycle.OUTBOX_STATUSES,
            )
            if not rows:
                return handled
            batches: dict[tuple[str, str], list[dict]] = {}
            for row in rows:
                outlet = self.registry.outlets.get(row["outlet"])
                if outlet is not None and "batch" in outlet.capabilities:
                    batches.setdefault((row["member_id"], row["outlet"]), []).append(row)
                    continue
                if stop is not None and stop.is_set():
                    self._release(row)
                    continue
                self.send(row)
                handled += 1
            for group in batches.values():
                if stop is not None and stop.is_set():
                    for row in group:
                        self._release(row)
                    continue
                self.send_batch(group)
                handled += len(group)
        return handled

    def _release(self, row: dict) -> None:
        """Give a leased invoice back untouched, for the next worker to take at once."""
        with self.store.begin() as conn:
            if self.store.holds_lease(conn, row["seq"], self.owner):
                self.store.update_invoice(conn, row["seq"], lease_owner=None, lease_until=None)

    def run_forever(self, stop: threading.Event) -> None:
        log.info("worker.started", owner=self.owner)
        while not stop.is_set():
            try:
                handled = (
                    self.run_once(stop)
                    + self.follow_once(stop)
                    + self.directory.refresh_one_stale()
                )
            except Exception:  # the database went away: log, wait, try again
                log.exception("worker.cycle_failed")
                handled = 0
            if not handled:
                stop.wait(self.settings.poll_interval)
        log.info("worker.stopped", owner=self.owner)

    # --- following sent invoices --------------------------------------------------------------

    def follow_once(self, stop: threading.Event | None = None) -> int:
        """Ask each outlet, once, what became of the invoices due for a poll; return how many."""
        polled: set[str] = set()
        while stop is None or not stop.is_set():
            rows = self.store.claim_due(
                self.owner,
                self.clock(),
                timedelta(seconds=self.settings.lease_seconds),
                self.settings.batch_size,
                due="next_poll_at",
            )
            again = [row for row in rows if row["id"] in polled]
            for row in again:  # due again already (a zero delay): next cycle
                self._release(row)
            rows = [row for row in rows if row["id"] not in polled]
            if not rows:
                break
            polled.update(row["id"] for row in rows)
            groups: dict[tuple[str, str], list[dict]] = {}
            for row in rows:
                groups.setdefault((row["member_id"], row["outlet"]), []).append(row)
            for (member_id, outlet_name), group in groups.items():
                self._follow(member_id, outlet_name, group)
        return len(polled)

    def poll_delay(self, status: str) -> timedelta | None:
        """Poll soon after deposit, daily once the invoice is with the buyer; never when final
        or refused before reaching the buyer (``EN_ERREUR``: the bookseller acts first)."""
        if status in lifecycle.FINAL_STATUSES or status == lifecycle.EN_ERREUR:
            return None
        fast = status in lifecycle.IN_TRANSIT_STATUSES
        return timedelta(seconds=self.settings.poll_fast if fast else self.settings.poll_slow)

    def _follow(self, member_id: str, outlet_name: str, rows: list[dict]) -> None:
        outlet = self.registry.outlets.get(outlet_name)
        by_id = {row["id"]: row for row in rows}
        updates: list[StatusUpdate] = []
        try:
            if outlet is None:
                raise OutletError(f"la sortie « {outlet_name} » n'est pas installée")
            receipts = [
                Receipt(
                    outlet=outlet_name,
                    reference=row["outlet_reference"] or "",
                    status=row["status"],
                    invoice_id=row["id"],
                    data=(row["receipt"] or {}).get("data", {}),
                )
                for row in rows
            ]
            updates = outlet.poll(
                receipts, PollContext(member_id, self._settings(member_id, outlet_name))
            )
        except Exception as ex:
            log.warning(
                "outlet.poll_failed", outlet=outlet_name, member_id=member_id, error=repr(ex)
            )
        recorder = lifecycle.Recorder(self.store, self.registry.pm)
        seen = set()
        for update in updates:
            row = by_id.get(update.invoice_id)
            if row is not None and update.invoice_id not in seen:
                seen.add(update.invoice_id)
                self._apply(recorder, row, update)
        for row in rows:
            if row["id"] not in seen:
                self._reschedule_poll(row, row["status"])
        recorder.notify()

    def _settings(self, member_id: str, outlet_name: str) -> dict:
        member = self.store.get_member(member_id)
        return self.secretbox.open(member["settings_encrypted"]).get(outlet_name, {})

    def _reschedule_poll(self, row: dict, status: str) -> None:
        delay = self.poll_delay(status)
        with self.store.begin() as conn:
            if self.store.holds_lease(conn, row["seq"], self.owner):
                self.store.update_invoice(
                    conn,
                    row["seq"],
                    lease_owner=None,
                    lease_until=None,
                    next_poll_at=self.clock() + delay if delay else None,
                )

    def _apply(self, recorder: lifecycle.Recorder, row: dict, update: StatusUpdate) -> None:
        """Record what the platform says: every status not seen yet, in order, then the new one."""
        now = self.clock()
        receipt = dict(row["receipt"] or {})
        data = {**receipt.get("data", {}), **update.data}
        # The platform's history only grows: apply what lies beyond what was applied before.
        applied = data.get("platform_history_applied", 0)
        entries = list(update.history[applied:])
        if not entries or entries[-1][0] != update.status:
            entries.append((update.status, update.at or now, update.comment))
        data["platform_history_applied"] = max(applied, len(update.history))
        findings = [f.as_dict() for f in update.findings]
        delay = self.poll_delay(update.status)
        with self.store.begin() as conn:
            if not self.store.holds_lease(conn, row["seq"], self.owner):
                return
            current = dict(row)
            for code, at, comment in entries:
                if code == current["status"]:
                    continue  # already recorded, e.g. DEPOSEE at deposit time
                recorder.change(
                    conn,
                    current,
                    code,
                    at or now,
                    comment,
                    extra={"errors": findings} if findings else None,
                    last_error="; ".join(f["message"] for f in findings) or None,
                )
                current["status"] = code
            self.store.update_invoice(
                conn,
                row["seq"],
                receipt={**receipt, "data": data},
                lease_owner=None,
                lease_until=None,
                next_poll_at=now + delay if delay else None,
            )

    def render(self, renderer_name: str, invoice, profile: str = "chorus") -> bytes:
        return self.registry.renderers[renderer_name].render(invoice, profile=profile)

    def send(self, row: dict) -> None:
        """Hand one leased invoice to its outlet and record what happened."""
        prepared = self._prepare(row)
        if prepared is None:
            return
        outlet, invoice, documents, context = prepared
        started = self.clock()
        try:
            result = outlet.send(invoice, documents, context)
        except Exception as ex:
            result = ex
        self._record(row, context.attempt, result, started)

    def send_batch(self, rows: list[dict]) -> None:
        """Hand invoices of one member to a batch outlet in one go (one flux, one call)."""
        ready = []
        entries: dict = {}  # a buyer is looked up afresh once per batch, not once per invoice
        for row in rows:
            prepared = self._prepare(row, entries)
            if prepared is not None:
                ready.append((row, prepared))
        if not ready:
            return
        outlet = ready[0][1][0]
        started = self.clock()
        try:
            results = outlet.send_batch([prepared[1:] for _, prepared in ready])
            if len(results) != len(ready):
                raise OutletError(f"la sortie « {outlet.name} » a rendu un résultat incomplet")
        except Exception as ex:
            results = [ex] * len(ready)
        for (row, prepared), result in zip(ready, results, strict=True):
            self._record(row, prepared[3].attempt, result, started)

    def _prepare(self, row: dict, entries: dict | None = None) -> tuple | None:
        """Count the attempt and gather what the outlet needs; None when it cannot be sent now.

        The batch may have outlived the lease: an invoice is sent only while still ours.
        A failure here (outlet missing, directory changed) is recorded as the attempt's result.
        """
        lease = timedelta(seconds=self.settings.lease_seconds)
        if not self.store.start_attempt(row["seq"], self.owner, self.clock() + lease):
            log.warning("worker.lease_lost_before_send", invoice_id=row["id"])
            return None
        attempt = row["attempts"] + 1
        started = self.clock()
        try:
            outlet = self.registry.outlets.get(row["outlet"])
            if outlet is None:
                raise OutletError(f"la sortie « {row['outlet']} » n'est pas installée")
            invoice = load_stored_invoice(row["data"])
            self.recheck(outlet, invoice, entries)
            documents = [
                Document(name=doc["name"], media_type=doc["media_type"], content=doc["content"])
                for doc in self.store.documents_content(row["seq"])
                if doc["name"].startswith(SENDABLE_PREFIXES)
            ]
            context = SendContext(
                invoice_id=row["id"],
                member_id=row["member_id"],
                attempt=attempt,
                settings=self._settings(row["member_id"], outlet.name),
                render=self.render,
                state=dict((row["receipt"] or {}).get("state", {})),
                remember=functools.partial(self._remember, row),
            )
        except Exception as ex:
            self._record(row, attempt, ex, started)
            return None
        return outlet, invoice, documents, context

    def _remember(self, row: dict, state: dict) -> None:
        """Keep an outlet's state with the invoice now, before the outlet goes on."""
        if not self.store.remember_state(row["seq"], self.owner, state):
            raise OutletError("la facture a été reprise par un autre processus d'envoi")

    def _record(self, row: dict, attempt: int, result, started: datetime) -> None:
        bound = log.bind(invoice_id=row["id"], member_id=row["member_id"], outlet=row["outlet"])
        elapsed = (self.clock() - started).total_seconds()
        if isinstance(result, Exception):
            bound.warning(
                "outlet.send_failed", attempt=attempt, duration_s=elapsed, error=repr(result)
            )
            self._failed(row, attempt, result)
            return
        bound.info(
            "outlet.sent",
            attempt=attempt,
            duration_s=elapsed,
            reference=result.reference,
            status=result.status,
        )
        self._sent(row, attempt, result)

    def recheck(self, outlet, invoice, entries: dict | None = None) -> None:
        """Check the buyer in the directory again: it may have changed since acceptance.

        ``entries`` keeps the entries read afresh for the invoices sent together."""
        siret = invoice.buyer.siret
        if "directory" not in outlet.capabilities or not siret:
            return
        entries = {} if entries is None else entries
        if siret not in entries:
            entries[siret] = self.directory.lookup(siret, fresh=True)
        entry = entries[siret]
        errors = errors_of(
            validate(
                self.registry.pm,
                invoice,
                directory_entry=entry,
                rule_sets=frozenset(self.settings.recheck_rule_sets),
            )
        )
        if errors:
            raise PermanentOutletError(
                "l'annuaire Chorus Pro a changé depuis l'acceptation de la facture : "
                + " ".join(error.message for error in errors),
                findings=errors,
            )

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
            delay = self.poll_delay(receipt.status)
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
                next_poll_at=now + delay if polls and delay else None,
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
            kept = (self.store.invoice_receipt(conn, row["seq"]) or {}).get("state", {})
            state = kept if getattr(error, "state", None) is None else error.state
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
                receipt={"state": state} if state else row["receipt"],
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

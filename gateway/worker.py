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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway import lifecycle, schedule
from gateway.actions import ActionRunner
from gateway.codec import invoice_from_data
from gateway.config import Config
from gateway.directory import COMPANY, DirectoryEntry, DirectoryService
from gateway.logs import get_logger
from gateway.model import Invoice
from gateway.outbox import RELEASED, OutboxEntry
from gateway.outlets import (
    Document,
    Outlet,
    OutletError,
    PermanentOutletError,
    PollContext,
    Receipt,
    SendContext,
    StatusUpdate,
    UnavailableOutletError,
)
from gateway.plugins import Registry
from gateway.routing import PA, company_fields, recipient_unknown
from gateway.secretbox import SecretBox
from gateway.store import Connection, Store, utcnow
from gateway.tenancy import refuse_foreign_seller
from gateway.times import paris, said_in_paris
from gateway.validation import errors_of, validate

log = get_logger(__name__)

#: The event an invoice given up on raises (the admin's feed lists them for every member).
ABANDONED = "invoice.send_abandoned"

#: A worker records that it is alive at most this often (``GET /v1/health``), and is said
#: alive while its last heartbeat is younger than ``ALIVE_WITHIN`` (or five poll intervals).
HEARTBEAT_EVERY = timedelta(seconds=5)
ALIVE_WITHIN = timedelta(seconds=60)
#: Workers silent this long are forgotten (stopped or gone for good).
FORGET_AFTER = timedelta(days=7)

#: Documents handed to outlets: the rendering made at acceptance, and attachments.
SENDABLE_PREFIXES = ("facture.", "piece-jointe.")


def backoff_delay(attempt: int, base: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: about base x 2^(attempt-1), between half and all of it."""
    ceiling = min(maximum, base * 2 ** min(max(0, attempt - 1), 60))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def wait_delay(waited: float, base: float, maximum: float, rng: random.Random) -> float:
    """Backoff while waiting for a platform, counted in time, not attempts: about as long
    again as already waited (so doubling), between ``base`` and ``maximum``, with jitter."""
    ceiling = min(maximum, max(base, waited))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass
class Sendable:
    """A leased invoice ready for its outlet, with what :meth:`Outlet.send` takes."""

    entry: OutboxEntry
    outlet: Outlet
    invoice: Invoice
    documents: list[Document]
    context: SendContext


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
        #: Webhook deliveries, directory refresh, digests, purges (gateway.schedule).
        self.scheduler = schedule.for_worker(self)
        self.actions = ActionRunner(self)
        self.last_beat: datetime | None = None

    def beat(self) -> None:
        """Record that this worker is alive, at most every ``HEARTBEAT_EVERY``."""
        now = self.clock()
        if self.last_beat is not None and now - self.last_beat < HEARTBEAT_EVERY:
            return
        if self.last_beat is None:
            self.store.forget_workers(now - FORGET_AFTER)
        self.store.beat(self.owner, socket.gethostname(), os.getpid(), now)
        self.last_beat = now

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Send every due invoice once (or until ``stop`` is set); return how many."""
        handled = 0
        while stop is None or not stop.is_set():
            self.beat()  # each cycle starts here, and a long backlog is no silence
            entries = self.store.claim_due(
                self.owner,
                self.clock(),
                timedelta(seconds=self.settings.lease_seconds),
                self.settings.batch_size,
                lifecycle.OUTBOX_STATUSES,
            )
            if not entries:
                return handled
            batches: dict[tuple[str, str], list[OutboxEntry]] = {}
            for entry in entries:
                outlet = self.registry.outlets.get(entry.outlet)
                if outlet is not None and "batch" in outlet.capabilities:
                    batches.setdefault((entry.member_id, entry.outlet), []).append(entry)
                    continue
                if stop is not None and stop.is_set():
                    self._release(entry)
                    continue
                self.send(entry)
                handled += 1
            for group in batches.values():
                if stop is not None and stop.is_set():
                    for entry in group:
                        self._release(entry)
                    continue
                self.send_batch(group)
                handled += len(group)
        return handled

    @contextmanager
    def _leased(self, entry: OutboxEntry) -> Iterator[Connection | None]:
        """Open a transaction on ``entry`` while this worker still leases it; None once
        another worker took it over (this one outlived its lease): nothing may be written."""
        with self.store.while_leased(entry.seq, self.owner) as conn:
            if conn is None:
                log.warning("worker.lease_lost", invoice_id=entry.invoice_id, owner=self.owner)
            yield conn

    def _release(self, entry: OutboxEntry) -> None:
        """Give a leased invoice back untouched, for the next worker to take at once."""
        with self._leased(entry) as conn:
            if conn is not None:
                self.store.update_invoice(conn, entry.seq, **RELEASED)

    def run_forever(self, stop: threading.Event) -> None:
        log.info("worker.started", owner=self.owner)
        while not stop.is_set():
            try:
                handled = (
                    self.run_once(stop)
                    + self.actions.run_once(stop)
                    + self.follow_once(stop)
                    + self.scheduler.run_due(stop)
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
            entries = self.store.claim_due(
                self.owner,
                self.clock(),
                timedelta(seconds=self.settings.lease_seconds),
                self.settings.batch_size,
                due="next_poll_at",
            )
            again = [entry for entry in entries if entry.invoice_id in polled]
            for entry in again:  # due again already (a zero delay): next cycle
                self._release(entry)
            entries = [entry for entry in entries if entry.invoice_id not in polled]
            if not entries:
                break
            polled.update(entry.invoice_id for entry in entries)
            groups: dict[tuple[str, str], list[OutboxEntry]] = {}
            for entry in entries:
                groups.setdefault((entry.member_id, entry.outlet), []).append(entry)
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

    def _follow(self, member_id: str, outlet_name: str, entries: list[OutboxEntry]) -> None:
        outlet = self.registry.outlets.get(outlet_name)
        by_id = {entry.invoice_id: entry for entry in entries}
        updates: list[StatusUpdate] = []
        try:
            if outlet is None:
                raise OutletError(f"la sortie « {outlet_name} » n'est pas installée")
            receipts = [
                Receipt(
                    outlet=outlet_name,
                    reference=entry.outlet_reference or "",
                    status=entry.status,
                    invoice_id=entry.invoice_id,
                    data=dict(entry.receipt_data),
                )
                for entry in entries
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
            entry = by_id.get(update.invoice_id)
            if entry is not None and update.invoice_id not in seen:
                seen.add(update.invoice_id)
                self._apply(recorder, entry, update)
        for entry in entries:
            if entry.invoice_id not in seen:
                self._reschedule_poll(entry)
        recorder.notify()

    def _settings(self, member_id: str, outlet_name: str) -> dict:
        member = self.store.get_member(member_id)
        return self.secretbox.open(member["settings_encrypted"]).get(outlet_name, {})

    def _reschedule_poll(self, entry: OutboxEntry) -> None:
        delay = self.poll_delay(entry.status)
        with self._leased(entry) as conn:
            if conn is not None:
                self.store.update_invoice(
                    conn,
                    entry.seq,
                    **RELEASED,
                    next_poll_at=self.clock() + delay if delay else None,
                )

    def _apply(
        self, recorder: lifecycle.Recorder, entry: OutboxEntry, update: StatusUpdate
    ) -> None:
        """Record what the platform says: every status not seen yet, in order, then the new one."""
        now = self.clock()
        # The platform's history only grows: apply what lies beyond what was applied before.
        steps = list(update.history[entry.history_applied :])
        if not steps or steps[-1][0] != update.status:
            steps.append((update.status, update.at, update.comment))
        findings = [f.as_dict() for f in update.findings]
        delay = self.poll_delay(update.status)
        with self._leased(entry) as conn:
            if conn is None:
                return
            current = entry.row()
            for code, at, comment in steps:
                if code == current["status"]:
                    continue  # already recorded, e.g. DEPOSEE at deposit time
                recorder.change(
                    conn,
                    current,
                    code,
                    at or now,
                    comment,
                    extra={"errors": findings} if findings else None,
                    platform_at=at.isoformat() if at else None,
                    updated_at=now,
                    last_error="; ".join(f["message"] for f in findings) or None,
                )
                current["status"] = code
            self.store.update_invoice(
                conn,
                entry.seq,
                receipt_data={**entry.receipt_data, **update.data},
                history_applied=max(entry.history_applied, len(update.history)),
                **RELEASED,
                next_poll_at=now + delay if delay else None,
            )

    def render(self, renderer_name: str, invoice, profile: str = "chorus") -> bytes:
        return self.registry.renderers[renderer_name].render(invoice, profile=profile)

    def send(self, entry: OutboxEntry) -> None:
        """Hand one leased invoice to its outlet and record what happened."""
        ready = self._prepare(entry)
        if ready is None:
            return
        started = self.clock()
        try:
            result = ready.outlet.send(ready.invoice, ready.documents, ready.context)
        except Exception as ex:
            result = ex
        self._record(entry, ready.context.attempt, result, started)

    def send_batch(self, entries: list[OutboxEntry]) -> None:
        """Hand invoices of one member to a batch outlet in one go (one flux, one call)."""
        found: dict = {}  # a buyer is looked up afresh once per batch, not once per invoice
        ready = [s for entry in entries if (s := self._prepare(entry, found)) is not None]
        if not ready:
            return
        outlet = ready[0].outlet
        started = self.clock()
        try:
            results = outlet.send_batch([(s.invoice, s.documents, s.context) for s in ready])
            if len(results) != len(ready):
                raise OutletError(f"la sortie « {outlet.name} » a rendu un résultat incomplet")
        except Exception as ex:
            results = [ex] * len(ready)
        for sendable, result in zip(ready, results, strict=True):
            self._record(sendable.entry, sendable.context.attempt, result, started)

    def _prepare(self, entry: OutboxEntry, found: dict | None = None) -> Sendable | None:
        """Count the attempt and gather what the outlet needs; None when it cannot be sent now.

        The batch may have outlived the lease: an invoice is sent only while still ours.
        A failure here (outlet missing, directory changed) is recorded as the attempt's result.
        """
        attempt = entry.attempts + 1
        with self._leased(entry) as conn:
            if conn is None:
                return None
            # Committed before the outlet is called: a worker that dies while sending leaves
            # a trace the next attempt sees.
            lease = timedelta(seconds=self.settings.lease_seconds)
            self.store.update_invoice(
                conn, entry.seq, attempts=attempt, lease_until=self.clock() + lease
            )
        started = self.clock()
        try:
            outlet = self.registry.outlets.get(entry.outlet)
            if outlet is None:
                raise OutletError(f"la sortie « {entry.outlet} » n'est pas installée")
            invoice = invoice_from_data(entry.data)
            refuse_foreign_seller(self.store.get_member(entry.member_id)["siret"], invoice)
            directory_entry = self.recheck(outlet, invoice, found)
            route = self.recheck_recipient(entry, invoice)
            documents = [
                Document(name=doc["name"], media_type=doc["media_type"], content=doc["content"])
                for doc in self.store.documents_content(entry.seq)
                if doc["name"].startswith(SENDABLE_PREFIXES)
            ]
            context = SendContext(
                invoice_id=entry.invoice_id,
                member_id=entry.member_id,
                attempt=attempt,
                settings=self._settings(entry.member_id, outlet.name),
                render=self.render,
                state=dict(entry.outlet_state),
                remember=functools.partial(self._remember, entry),
                directory_entry=directory_entry,
                route=route,
            )
        except Exception as ex:
            self._record(entry, attempt, ex, started)
            return None
        return Sendable(entry, outlet, invoice, documents, context)

    def _remember(self, entry: OutboxEntry, state: dict) -> None:
        """Keep an outlet's state with the invoice now, before the outlet goes on."""
        with self._leased(entry) as conn:
            if conn is None:
                raise OutletError("la facture a été reprise par un autre processus d'envoi")
            self.store.update_invoice(conn, entry.seq, outlet_state=state)

    def _record(self, entry: OutboxEntry, attempt: int, result, started: datetime) -> None:
        bound = log.bind(
            invoice_id=entry.invoice_id, member_id=entry.member_id, outlet=entry.outlet
        )
        elapsed = (self.clock() - started).total_seconds()
        if isinstance(result, Exception):
            bound.warning(
                "outlet.send_failed", attempt=attempt, duration_s=elapsed, error=repr(result)
            )
            self._failed(entry, attempt, result)
            return
        bound.info(
            "outlet.sent",
            attempt=attempt,
            duration_s=elapsed,
            reference=result.reference,
            status=result.status,
        )
        self._sent(entry, attempt, result)

    def recheck(self, outlet, invoice, found: dict | None = None) -> DirectoryEntry | None:
        """Check the buyer in the directory again: it may have changed since acceptance.
        Return the entry read (None for an outlet without the ``directory`` capability).

        ``found`` keeps the directory entries read afresh for the invoices sent together."""
        siret = invoice.buyer.siret
        if "directory" not in outlet.capabilities or not siret:
            return None
        found = {} if found is None else found
        if siret not in found:
            try:
                found[siret] = self.directory.lookup(
                    siret, max_age=timedelta(seconds=self.settings.recheck_within)
                )
            except PermanentOutletError:
                raise
            except Exception as ex:  # before anything left: a wait, not an attempt
                message = getattr(ex, "message", None) or str(ex) or ex.__class__.__name__
                raise UnavailableOutletError(
                    f"l'annuaire des structures publiques ne répond pas ({message}) ; la "
                    "facture n'est pas partie"
                ) from ex
        rule_sets = self.settings.recheck_rule_sets
        errors = errors_of(
            validate(
                self.registry.pm,
                invoice,
                directory_entry=found[siret],
                rule_sets=None if rule_sets is None else frozenset(rule_sets),
            )
        )
        if errors:
            raise PermanentOutletError(
                "l'annuaire des structures publiques a changé depuis l'acceptation de la "
                "facture : " + " ".join(error.message for error in errors),
                findings=errors,
            )
        return found[siret]

    def recheck_recipient(self, entry: OutboxEntry, invoice: Invoice) -> dict | None:
        """Return the invoice's route, its company's approved platform looked up now when
        the reform's directory could not say at acceptance (kept with the invoice)."""
        route = entry.route
        if not route or route.get("channel") != PA or route.get("scope") != COMPANY:
            return route
        if route.get("electronic_address") or not invoice.buyer.siret:
            return route
        try:
            found = self.directory.reform_lookup(
                invoice.buyer.siret, max_age=timedelta(seconds=self.settings.recheck_within)
            )
        except Exception as ex:  # before anything left: a wait, not an attempt
            message = getattr(ex, "message", None) or str(ex) or ex.__class__.__name__
            raise UnavailableOutletError(
                f"l'annuaire de la facturation électronique ne répond pas ({message}) ; la "
                "facture n'est pas partie"
            ) from ex
        if found is None or not found.active or not found.electronic_address:
            reason, warning = recipient_unknown(invoice.buyer.siret, None)
            raise PermanentOutletError(reason, findings=[warning])
        route = {**route, **company_fields(found)}
        with self._leased(entry) as conn:
            if conn is not None:
                self.store.update_invoice(conn, entry.seq, route=route)
        return route

    def _sent(self, entry: OutboxEntry, attempt: int, receipt: Receipt) -> None:
        now = self.clock()
        recorder = lifecycle.Recorder(self.store, self.registry.pm)
        self.store.keep_blobs([document.content for document in receipt.documents])
        with self._leased(entry) as conn:
            if conn is None:
                return
            for document in receipt.documents:
                self.store.add_document(
                    conn,
                    entry.seq,
                    document.name,
                    document.media_type,
                    document.content,
                    from_platform=True,
                )
            if receipt.status == lifecycle.A_IMPRIMER:  # joins its day's print batch
                self.store.add_to_print_batch(
                    conn, entry.member_id, paris(now).date().isoformat(), entry.seq, now
                )
            polls = "poll" in self.registry.outlets[entry.outlet].capabilities
            delay = self.poll_delay(receipt.status)
            recorder.change(
                conn,
                entry.row(),
                receipt.status,
                receipt.at or now,
                receipt.comment or f"Remise à « {receipt.outlet} » (référence {receipt.reference})",
                attempts=attempt,
                next_attempt_at=None,
                **RELEASED,
                last_error=None,
                # What the attempts kept is spent; a deposit starts a history of its own.
                outlet_state=None,
                waiting_since=None,
                outlet_reference=receipt.reference,
                receipt_data=receipt.data,
                history_applied=0,
                next_poll_at=now + delay if polls and delay else None,
            )
            # The original has left, whatever its first status: its copies may go.
            self.store.copies_due(conn, entry.seq, now)
            self.store.outlet_succeeded(conn, entry.outlet, entry.invoice_id, now)
        recorder.notify()

    def _failed(self, entry: OutboxEntry, attempt: int, error: Exception) -> None:
        """Record a send that did not deposit: wait for the platform (no attempt used up when
        nothing could have left), retry after a real error, or give up and alert."""
        now = self.clock()
        transient = getattr(error, "transient", True)
        waiting = transient and getattr(error, "waiting", False)
        if not getattr(error, "attempted", True):
            attempt -= 1  # nothing could have left: given back
        message = getattr(error, "message", None) or str(error) or error.__class__.__name__
        message = message.rstrip(".")  # the comments below end the sentence themselves
        # A wait is measured from the first of a row of waits, not from each one.
        waiting_since = None
        if waiting:
            already = entry.status == lifecycle.EN_ATTENTE_PLATEFORME and entry.waiting_since
            waiting_since = already or now
        waited_too_long = waiting and now - waiting_since >= timedelta(
            seconds=self.settings.max_wait_seconds
        )
        # An uncertain deposit is settled whatever the count: giving up could strand an
        # invoice the platform took.
        exhausted = not waiting and attempt >= self.settings.max_attempts
        retry_at = None
        if transient and not exhausted and not waited_too_long:
            base, maximum = self.settings.backoff_base, self.settings.backoff_max
            if waiting:
                waited = (now - waiting_since).total_seconds()
                delay = wait_delay(waited, base, maximum, self.rng)
            else:
                delay = backoff_delay(attempt, base, maximum, self.rng)
            asked = getattr(error, "retry_after", None)
            if asked:  # the platform said when to come back
                delay = max(delay, min(float(asked), maximum))
            retry_at = now + timedelta(seconds=delay)
        when = f"Nouvel essai prévu {said_in_paris(retry_at, now)}" if retry_at else ""
        if retry_at and waiting:
            status = lifecycle.EN_ATTENTE_PLATEFORME
            comment = f"En attente de la plateforme : {message}. {when} (heure de Paris)."
        elif retry_at:
            status = lifecycle.EN_ERREUR
            comment = (
                f"Échec de l'envoi (tentative {attempt}) : {message}. {when} (heure de Paris)."
            )
        elif waited_too_long:
            status = lifecycle.EN_ERREUR
            hours = self.settings.max_wait_seconds / 3600
            comment = (
                f"La plateforme n'a pas pu prendre la facture en {hours:g} heure(s) d'attente : "
                f"{message}. Envois suspendus ; l'administrateur est alerté."
            )
        elif transient:
            status = lifecycle.EN_ERREUR
            comment = (
                f"Échec de l'envoi après {attempt} tentatives : {message}. Envois suspendus ; "
                "l'administrateur est alerté."
            )
        else:
            status = lifecycle.EN_ERREUR
            comment = (
                f"Envoi refusé : {message}. Corrigez la facture ou les réglages puis renvoyez-la."
            )
        recorder = lifecycle.Recorder(self.store, self.registry.pm)
        with self._leased(entry) as conn:
            if conn is None:
                return
            findings = [f.as_dict() for f in getattr(error, "findings", [])]
            state = getattr(error, "state", None)
            if state is None:
                state = self.store.outlet_state(conn, entry.seq)
            updates = {
                "attempts": attempt,
                "next_attempt_at": retry_at,
                "waiting_since": waiting_since if retry_at else None,
                # An empty state speaks of this attempt only ("not taken"): what earlier
                # attempts kept (an uncertain deposit that may still surface) stays.
                "outlet_state": state or entry.outlet_state,
                **RELEASED,
                "last_error": message,
            }
            if status == entry.status == lifecycle.EN_ATTENTE_PLATEFORME:
                # Still waiting: a line of history, no new event for each knock on the door.
                self.store.add_history(conn, entry.seq, status, now, comment)
                self.store.update_invoice(conn, entry.seq, updated_at=now, **updates)
            else:
                recorder.change(
                    conn,
                    entry.row(),
                    status,
                    now,
                    comment,
                    extra={
                        "attempt": attempt,
                        "retry_at": retry_at.isoformat() if retry_at else None,
                        "errors": findings,
                    },
                    **updates,
                )
            if retry_at is None:
                recorder.event(
                    conn,
                    entry.row(),
                    ABANDONED,
                    {
                        "number": entry.number,
                        "reason": message,
                        "attempts": attempt,
                        **(
                            {"waited_seconds": (now - waiting_since).total_seconds()}
                            if waited_too_long
                            else {}
                        ),
                    },
                )
        if retry_at is None:
            log.error(
                "worker.send_abandoned",
                invoice_id=entry.invoice_id,
                attempts=attempt,
                error=message,
            )
        recorder.notify()

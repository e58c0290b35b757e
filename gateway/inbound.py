"""Suppliers' invoices received through the member's platform, and the member's answers.

The worker pulls each member's flows from the outlets that ``receive`` (every ``[inbound]
poll_minutes``, or at once when the platform notifies), archives and stores each original
once (a flow fetched twice is recognised by its reference), parses it when it can, and
keeps the outlet's cursor only once the flows are stored. The member answers with the
lifecycle statuses of XP Z12-012 (CDAR messages): recorded at once, then sent through
``Outlet.answer`` by the worker, retried like the outbox, each answer sent once.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gateway.auth import new_id
from gateway.codec import invoice_to_data
from gateway.config import Config
from gateway.errors import DomainError, Finding, InvalidInput
from gateway.logs import get_logger
from gateway.model import Invoice
from gateway.outlets import InboundFlow, OutletError, ReceiveContext
from gateway.plugins import Registry
from gateway.secretbox import SecretBox
from gateway.store.inbound import ANSWER_FAILED, ANSWER_SENT, InboundStore

log = get_logger(__name__)

#: The statuses a member may send about a received invoice (XP Z12-012), with their labels.
STATUSES: dict[str, str] = {
    "204": "Prise en charge",
    "205": "Approuvée",
    "206": "Partiellement approuvée",
    "207": "En litige",
    "208": "Suspendue",
    "210": "Refusée",
    "211": "Paiement transmis",
}
REFUSED = "210"
PARTIAL = "206"

#: What may follow each status (None: no status sent yet). Refused and paid are final: 212
#: Encaissée is the supplier's own status (XP Z12-012), not the buyer's.
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"204", "205", "206", "207", "208", "210"}),
    "204": frozenset({"205", "206", "207", "208", "210"}),
    "207": frozenset({"205", "206", "208", "210"}),
    "208": frozenset({"204", "205", "206", "207", "210"}),
    "205": frozenset({"211"}),
    "206": frozenset({"207", "211"}),
    "211": frozenset(),
    "210": frozenset(),
}

#: Reason codes of a refusal (210) or a dispute (207, 208), after XP Z12-012's list.
REASONS: dict[str, str] = {
    "DOUBLON": "Facture en doublon",
    "DEST_INC": "Destinataire inconnu",
    "DEST_ERR": "Erreur de destinataire",
    "EMMET_INC": "Émetteur inconnu",
    "SIRET_ERR": "SIRET erroné ou absent",
    "ADR_ERR": "Adresse de facturation erronée",
    "REF_CT_ABSENT": "Référence de contrat ou de commande absente",
    "CMD_ERR": "Commande erronée ou inconnue",
    "LIVR_INCOMP": "Livraison incomplète",
    "QTE_ERR": "Quantité facturée erronée",
    "PU_ERR": "Prix unitaire erroné",
    "REM_ERR": "Remise erronée",
    "ART_ERR": "Article erroné",
    "TX_TVA_ERR": "Taux de TVA erroné",
    "CALCUL_ERR": "Erreur de calcul",
    "MONTANTTOTAL_ERR": "Montant total erroné",
    "COORD_BANC_ERR": "Coordonnées bancaires erronées",
    "MODPAI_ERR": "Modalités de paiement erronées",
    "JUSTIF_ABS": "Justificatif absent",
    "NON_CONFORME": "Facture non conforme",
    "AUTRE": "Autre motif (précisé en commentaire)",
    "TRANSAC_INC": "Transaction inconnue",
    "CONTRAT_TERM": "Contrat terminé",
    "DOUBLE_FACT": "Double facturation",
    "CODE_ROUTAGE_ERR": "Code de routage erroné",
    "REF_ERR": "Référence erronée",
    "QUALITE_ERR": "Qualité non conforme",
    "ROUTAGE_ERR": "Erreur de routage",
}

_REFUSAL = (
    "TX_TVA_ERR", "MONTANTTOTAL_ERR", "CALCUL_ERR", "NON_CONFORME", "DOUBLON", "DEST_ERR",
    "TRANSAC_INC", "EMMET_INC", "CONTRAT_TERM", "DOUBLE_FACT", "CMD_ERR", "ADR_ERR",
    "REF_CT_ABSENT",
)  # fmt: skip
#: The reasons each status accepts (XP Z12-012's table of status reasons; 210: BR-FR-CDV-CL-09);
#: a status not listed takes none. A platform refuses the CDAR of any other pair.
STATUS_REASONS: dict[str, tuple[str, ...]] = {
    "206": ("COORD_BANC_ERR", "CMD_ERR", "SIRET_ERR", "CODE_ROUTAGE_ERR", "REF_CT_ABSENT",
            "REF_ERR"),
    "207": ("AUTRE", "COORD_BANC_ERR", *_REFUSAL, "SIRET_ERR", "CODE_ROUTAGE_ERR", "REF_ERR",
            "PU_ERR", "REM_ERR", "QTE_ERR", "ART_ERR", "MODPAI_ERR", "QUALITE_ERR",
            "LIVR_INCOMP"),
    "208": ("JUSTIF_ABS", "ROUTAGE_ERR", "CMD_ERR"),
    "210": _REFUSAL,
}  # fmt: skip

#: The events of the feed about inbound invoices (docs/webhooks.md).
RECEIVED = "inbound_invoice.received"
STATUS_SENT = "inbound_invoice.status_sent"
STATUS_FAILED = "inbound_invoice.status_failed"


class StatusRefused(DomainError):
    """An answer the state machine or its fields refuse (422 or 409 by its code)."""


def check_answer(current: str | None, status: str, reason: str | None, amount) -> list[Finding]:
    """Return why ``status`` (with ``reason`` and ``amount``) may not follow ``current``;
    [] when it may. ``field`` names the part at fault."""
    if status not in STATUSES:
        return [
            Finding(
                "inbound.status_invalid",
                f"Statut « {status} » inconnu ; statuts possibles : "
                + ", ".join(f"{code} ({label})" for code, label in STATUSES.items())
                + ".",
                field="status",
            )
        ]
    findings = []
    if status == REFUSED and not reason:
        findings.append(
            Finding(
                "inbound.reason_required",
                "Un refus (210) doit indiquer son motif (reason), par exemple « DOUBLON ».",
                field="reason",
            )
        )
    allowed = STATUS_REASONS.get(status, ())
    if reason and reason not in allowed:
        findings.append(
            Finding(
                "inbound.reason_invalid",
                f"Motif « {reason} » refusé avec le statut {status} ; motifs possibles : "
                + (", ".join(allowed) or "aucun")
                + ".",
                field="reason",
            )
        )
    if amount is not None and status != PARTIAL:
        findings.append(
            Finding(
                "inbound.amount_unexpected",
                "Seule une approbation partielle (206) indique un montant (amount).",
                field="amount",
            )
        )
    if findings:
        return findings
    if status not in TRANSITIONS[current]:
        said = "aucun statut envoyé" if current is None else f"{current} ({STATUSES[current]})"
        return [
            Finding(
                "inbound.transition_refused",
                f"Le statut {status} ({STATUSES[status]}) ne peut pas suivre : {said}.",
                field="status",
            )
        ]
    return []


def notify_token(config: Config, member_id: str, outlet: str) -> str:
    """The secret a platform presents to ask for a pull of ``member_id``'s flows through
    ``outlet`` (derived from the gateway's secret key: nothing to store)."""
    key = (config.secret_key or "").replace(",", " ").split()
    if not key:
        raise ValueError("no secret_key configured")
    message = f"inbound-notify:{member_id}:{outlet}".encode()
    return hmac.new(key[0].encode(), message, hashlib.sha256).hexdigest()


def aware(at: datetime | None) -> datetime | None:
    """A platform's time without a zone is taken as UTC (the store keeps aware times)."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _text(value) -> str | None:
    return None if value is None else str(value)


def summary(invoice: Invoice) -> dict:
    """The columns an inbound invoice's listing shows, from its parsed invoice."""
    totals = invoice.computed_totals()
    seller = invoice.seller
    # Column widths bound what a supplier's document may put in them.
    siret = seller.siret if seller.siret and len(seller.siret) == 14 else None
    siren = (seller.siret or "")[:9] or None
    return {
        "sender_name": seller.name[:200],
        "sender_siret": siret,
        "sender_siren": siren,
        "sender_vat_id": seller.vat_id[:40] if seller.vat_id else None,
        "number": invoice.number[:100],
        "issue_date": _text(invoice.issue_date),
        "due_date": _text(invoice.due_date),
        "type": str(invoice.type),
        "currency": (invoice.currency or "")[:3] or None,
        "totals": {
            "net": _text(totals.tax_exclusive),
            "vat": _text(totals.vat),
            "gross": _text(totals.tax_inclusive),
            "payable": _text(totals.payable),
        },
        "data": invoice_to_data(invoice),
    }


@dataclass
class Parsed:
    format: str | None
    values: dict
    problems: list[dict]


class Receiver:
    """Pulls members' flows from their receiving outlets and stores them."""

    def __init__(
        self,
        *,
        store: InboundStore,
        registry: Registry,
        secretbox: SecretBox,
        read: Callable[[bytes, str], tuple[str, Invoice]],
        clock: Callable[[], datetime],
        max_bytes: int,
        notify_spacing: timedelta,
    ):
        self.store = store
        self.max_bytes = max_bytes
        self.notify_spacing = notify_spacing
        self.registry = registry
        self.secretbox = secretbox
        #: Parse a document (bytes, media type): (format name, its single invoice), or raise
        #: a DomainError saying why not.
        self.read = read
        self.clock = clock

    def receiving(self) -> list[tuple[str, str, dict]]:
        """(member, outlet, settings) of every member with settings for an outlet that
        receives."""
        outlets = [
            name
            for name, outlet in self.registry.outlets.items()
            if "receive" in outlet.capabilities
        ]
        found = []
        for member in self.store.store.list_members():
            settings = self.secretbox.open(member["settings_encrypted"])
            for name in outlets:
                if isinstance(settings.get(name), dict):
                    found.append((member["id"], name, settings[name]))
        return found

    def pull_all(self, stop: threading.Event | None = None) -> int:
        """Pull every receiving member once; return how many flows were stored."""
        stored = 0
        for member_id, outlet, settings in self.receiving():
            if stop is not None and stop.is_set():
                break
            stored += self.pull(member_id, outlet, settings)
        return stored

    def pull_requested(self, stop: threading.Event | None = None) -> int:
        """Pull the members a platform's notification asked for."""
        stored = 0
        for wanted in self.store.pulls_requested(self.clock() - self.notify_spacing):
            if stop is not None and stop.is_set():
                break
            member = self.store.store.get_member(wanted["member_id"]) or {}
            settings = self.secretbox.open(member.get("settings_encrypted")).get(wanted["outlet"])
            outlet = self.registry.outlets.get(wanted["outlet"])
            if not isinstance(settings, dict) or outlet is None:
                self.store.save_cursor(wanted["member_id"], wanted["outlet"], requested_at=None)
                continue
            stored += self.pull(wanted["member_id"], wanted["outlet"], settings)
        return stored

    def pull(self, member_id: str, outlet_name: str, settings: dict) -> int:
        """Fetch the member's new flows, store each once, then keep the outlet's cursor;
        an outlet's failure is logged and kept, the cursor unchanged."""
        outlet = self.registry.outlets[outlet_name]
        cursor = self.store.cursor(member_id, outlet_name)
        # Cleared before the call: a notification arriving meanwhile asks for another pull.
        self.store.save_cursor(member_id, outlet_name, requested_at=None, pulled_at=self.clock())
        try:
            context = ReceiveContext(member_id, settings, dict(cursor["state"]))
            flows, state = outlet.receive(context)
        except Exception as ex:
            transient = not isinstance(ex, OutletError) or ex.transient
            log.warning(
                "inbound.receive_failed",
                outlet=outlet_name,
                member_id=member_id,
                transient=transient,
                error=repr(ex),
            )
            self.store.save_cursor(member_id, outlet_name, last_error=str(ex)[:1000])
            return 0
        stored = sum(self.keep(member_id, outlet_name, flow) for flow in flows)
        self.store.save_cursor(
            member_id, outlet_name, state=state or {}, pulled_at=self.clock(), last_error=None
        )
        return stored

    def keep(self, member_id: str, outlet: str, flow: InboundFlow) -> bool:
        """Archive and store one flow unless the member holds it already."""
        reference = str(flow.reference)[:200]
        if self.store.holds(member_id, outlet, reference):
            return False
        parsed = self.parse(flow)
        now = self.clock()
        values = {
            "id": new_id("rcv"),
            "member_id": member_id,
            "outlet": outlet,
            "reference": reference,
            "received_at": aware(flow.received_at) or now,
            "filename": (flow.filename or "facture")[:200],
            "media_type": (flow.media_type or "application/octet-stream")[:100],
            "size": len(flow.content),
            "sha256": hashlib.sha256(flow.content).hexdigest(),
            "platform_data": flow.data or {},
            "format": parsed.format,
            "problems": parsed.problems,
            "created_at": now,
            **parsed.values,
        }

        def event(row: dict) -> dict:
            return {"type": RECEIVED, "data": event_data(row)}

        return self.store.add(values, flow.content, event) is not None

    def parse(self, flow: InboundFlow) -> Parsed:
        if len(flow.content) > self.max_bytes:  # kept, not read: as an upload would be refused
            problem = Finding(
                "request.too_large",
                f"Document de {len(flow.content)} octets : au-delà de {self.max_bytes}, "
                "il est conservé sans être lu.",
            )
            return Parsed(None, {}, [problem.as_dict()])
        try:
            format_name, invoice = self.read(flow.content, flow.media_type or "")
        except DomainError as ex:
            return Parsed(None, {}, [finding.as_dict() for finding in ex.findings])
        except Exception as ex:  # a received document is kept whatever its parser does
            log.exception("inbound.parse_crashed", reference=flow.reference)
            problem = Finding("format.unreadable", f"Document illisible : {type(ex).__name__}.")
            return Parsed(None, {}, [problem.as_dict()])
        return Parsed(format_name, summary(invoice), [])


def event_data(row: dict) -> dict:
    """What the feed says of an inbound invoice."""
    return {
        "inbound_invoice_id": row["id"],
        "outlet": row["outlet"],
        "reference": row["reference"],
        "number": row.get("number"),
        "sender_siret": row.get("sender_siret"),
        "sender_name": row.get("sender_name"),
        "parsed": not row["problems"],
    }


class AnswerSender:
    """Sends the members' recorded statuses through ``Outlet.answer``, with retries."""

    def __init__(
        self,
        *,
        store: InboundStore,
        registry: Registry,
        secretbox: SecretBox,
        config: Config,
        clock: Callable[[], datetime],
        owner: str,
        rng: random.Random,
        backoff: Callable[[int, float, float, random.Random], float],
    ):
        self.store = store
        self.registry = registry
        self.secretbox = secretbox
        self.settings = config.worker
        self.clock = clock
        self.owner = owner
        self.rng = rng
        self.backoff = backoff

    def send_due(self, stop: threading.Event | None = None) -> int:
        answers = self.store.claim_answers(
            self.owner,
            self.clock(),
            timedelta(seconds=self.settings.lease_seconds),
            self.settings.batch_size,
        )
        for answer in answers:
            self.send(answer)
        return len(answers)

    def send(self, answer: dict) -> None:
        outlet = self.registry.outlets.get(answer["outlet"])
        attempt = answer["attempts"] + 1
        data = {
            "inbound_invoice_id": answer["inbound_id"],
            "status": answer["status"],
            "label": STATUSES[answer["status"]],
            "reason": answer["reason"],
        }
        try:
            if outlet is None:
                raise OutletError(f"la sortie « {answer['outlet']} » n'est pas installée")
            member = self.store.store.get_member(answer["member_id"])
            settings = self.secretbox.open(member["settings_encrypted"]).get(answer["outlet"], {})
            comment = answer["comment"]
            if answer["amount"] is not None:  # the platform's message has no amount field
                comment = f"Montant approuvé : {answer['amount']}" + (
                    f" — {comment}" if comment else ""
                )
            message = outlet.answer(
                answer["reference"],
                answer["status"],
                answer["reason"],
                comment,
                ReceiveContext(answer["member_id"], settings, answer_id=answer["id"]),
            )
        except Exception as ex:
            retry = (not isinstance(ex, OutletError) or ex.transient) and (
                attempt < self.settings.max_attempts
            )
            log.warning(
                "inbound.answer_failed",
                answer_id=answer["id"],
                outlet=answer["outlet"],
                attempt=attempt,
                retry=retry,
                error=repr(ex),
            )
            error = str(ex)[:1000]
            if retry:
                delay = self.backoff(
                    attempt, self.settings.backoff_base, self.settings.backoff_max, self.rng
                )
                self.store.finish_answer(
                    answer,
                    self.owner,
                    None,
                    attempts=attempt,
                    last_error=error,
                    next_attempt_at=self.clock() + timedelta(seconds=delay),
                )
            else:
                self.store.finish_answer(
                    answer,
                    self.owner,
                    {"type": STATUS_FAILED, "data": {**data, "error": error}},
                    attempts=attempt,
                    last_error=error,
                    state=ANSWER_FAILED,
                    next_attempt_at=None,
                )
            return
        self.store.finish_answer(
            answer,
            self.owner,
            {"type": STATUS_SENT, "data": {**data, "message_reference": message}},
            attempts=attempt,
            state=ANSWER_SENT,
            sent_at=self.clock(),
            message_reference=str(message)[:200] if message is not None else None,
            last_error=None,
            next_attempt_at=None,
        )


def reader(pipeline) -> Callable[[bytes, str], tuple[str, Invoice]]:
    """Parse a received document as the pipeline reads a submitted one (any installed
    format, found by its media type or its content, within the document budget)."""

    def read(content: bytes, media_type: str) -> tuple[str, Invoice]:
        with pipeline.budgeted():
            handler, invoices = pipeline.read(content, media_type, None)
        if len(invoices) != 1:
            raise InvalidInput.of(
                "inbound.several_invoices",
                f"Le document contient {len(invoices)} factures ; une seule est attendue.",
            )
        return handler.name, invoices[0]

    return read


def amount_of(value) -> Decimal | None:
    """The amount of a partial approval, or None; ValueError when it is no amount."""
    if value is None:
        return None
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(value)
    return amount


def for_worker(worker) -> tuple[Receiver, AnswerSender]:
    """The receiver and the answers' sender of ``worker`` (a :class:`gateway.worker.Worker`)."""
    from gateway.pipeline import Pipeline
    from gateway.worker import backoff_delay

    store = InboundStore(worker.store)
    pipeline = Pipeline(
        store=worker.store,
        registry=worker.registry,
        config=worker.config,
        secretbox=worker.secretbox,
        directory=worker.directory,
        clock=worker.clock,
    )
    receiver = Receiver(
        store=store,
        registry=worker.registry,
        secretbox=worker.secretbox,
        read=reader(pipeline),
        clock=worker.clock,
        max_bytes=worker.config.max_body_bytes,
        notify_spacing=timedelta(seconds=worker.config.inbound.notify_spacing_seconds),
    )
    answers = AnswerSender(
        store=store,
        registry=worker.registry,
        secretbox=worker.secretbox,
        config=worker.config,
        clock=worker.clock,
        owner=worker.owner,
        rng=worker.rng,
        backoff=backoff_delay,
    )
    return receiver, answers

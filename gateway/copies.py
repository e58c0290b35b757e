"""Information copies by e-mail: the invoice PDF stamped « COPIE — ne pas payer », sent to
the addresses a customer lists in its ``copies`` (the service that receives the books is
often not the one that pays).

A copy is queued with its invoice (``copy_deliveries``, in the invoice's transaction) but
due only once the original has left (``Worker._sent`` makes it due in the same
transaction). The worker then leases due copies (``Store.claim_copies``, ``SKIP LOCKED`` on
PostgreSQL), renders the ``pdf-copy`` document (a renderer plugin: plain PDF, no XML,
never an original) and hands the e-mail to ``[smtp]``. A refusal or a silent server is
retried with backoff for ``[copies] retry_for`` from the first failure, then the copy is
parked. Sent and parked copies are logged and written to the member's feed
(``invoice.copy_sent``, ``invoice.copy_parked``). A copy never changes its invoice's status.

Delivery is at least once: a worker dying between the server's acceptance and the record
leaves the copy to be sent again once its lease expires, with the same ``Message-ID``
(one per copy), so that mail software can tell the duplicate.
"""

from __future__ import annotations

import random
import re
import smtplib
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage

from gateway.codec import invoice_from_data
from gateway.config import CopyConfig
from gateway.logs import get_logger
from gateway.mail import Mailer
from gateway.model import Invoice, InvoiceType
from gateway.plugins import Registry
from gateway.store import COPY_PARKED, COPY_SENT, Store
from gateway.validation import french_amount
from gateway.webhooks import failed_try

log = get_logger(__name__)

#: The renderer of the attached document (``plugins.en16931``); the core knows its name only.
COPY_RENDERER = "pdf-copy"
COPY_SENT_EVENT = "invoice.copy_sent"
COPY_PARKED_EVENT = "invoice.copy_parked"

#: How the original went to the buyer, said to the copy's reader.
CHANNEL_WORDS = {
    "chorus": "le portail public de facturation Chorus Pro",
    "dilifac": "le service Dilifac de Dilicom, vers le portail Chorus Pro",
    "manual_pdf": "un dépôt sur le portail public de facturation Chorus Pro",
    "paper": "courrier postal",
}
UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def by_email(copies: list[dict]) -> list[dict]:
    """Return the copies this module sends: those by e-mail (the only channel so far)."""
    return [copy for copy in copies if copy.get("channel") == "email" and copy.get("to")]


def _words(invoice: Invoice) -> tuple[str, str, str]:
    """Return the document's name, « de la facture » and « émise », agreed in gender."""
    if invoice.type == InvoiceType.CREDIT_NOTE:
        return "avoir", "de l'avoir", "émis"
    return "facture", "de la facture", "émise"


def subject(invoice: Invoice) -> str:
    return (
        f"Copie pour information — {_words(invoice)[0]} N° {invoice.number} de "
        f"{invoice.seller.name} — ne pas payer"
    )


def body(invoice: Invoice, channel_words: str, label: str | None) -> str:
    _, of_the, issued_by = _words(invoice)
    issued = f" du {invoice.issue_date:%d/%m/%Y}" if invoice.issue_date else ""
    payable = invoice.totals.payable if invoice.totals else None
    amount = f", d'un montant de {french_amount(payable)}\u00a0€" if payable is not None else ""
    lines = ["Bonjour,", ""]
    if label:
        lines += [f"À l'attention de : {label}", ""]
    lines += [
        f"Vous trouverez ci-joint, pour information, une copie {of_the} N° "
        f"{invoice.number}{issued} {issued_by} par {invoice.seller.name} à "
        f"{invoice.buyer.name}{amount}.",
        "",
        f"L'original a été transmis à {invoice.buyer.name} par {channel_words}. "
        "Cette copie ne doit pas être payée : seul l'original fait foi et donne lieu au "
        "règlement.",
        "",
        "Ce message est envoyé automatiquement ; merci de ne pas y répondre.",
    ]
    return "\n".join(lines) + "\n"


def message_id(copy: dict, sender: str) -> str:
    """Return the copy's own ``Message-ID``, the same at every attempt."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<copie.{copy['id']}.{copy['invoice_id']}@{domain}>"


def smtp_error(ex: Exception) -> str:
    """Say in French why the mail server did not take the copy (never a credential)."""
    if isinstance(ex, smtplib.SMTPRecipientsRefused):
        refusals = "; ".join(
            f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
            for code, text in ex.recipients.values()
        )
        return f"le serveur de messagerie a refusé le destinataire ({refusals})"
    if isinstance(ex, smtplib.SMTPResponseException):
        text = ex.smtp_error
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        return f"le serveur de messagerie a refusé la copie ({ex.smtp_code} {text})"
    if isinstance(ex, smtplib.SMTPException | OSError):
        return f"le serveur de messagerie ne répond pas ({ex.__class__.__name__})"
    return f"la copie n'a pas pu être préparée ({ex.__class__.__name__}: {ex})"


class CopyDeliverer:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        mailer: Mailer,
        settings: CopyConfig,
        clock: Callable[[], datetime],
        owner: str,
        rng: random.Random,
        backoff: Callable[[int, float, float, random.Random], float],
    ):
        self.store = store
        self.registry = registry
        self.mailer = mailer
        self.settings = settings
        self.clock = clock
        self.owner = owner
        self.rng = rng
        self.backoff = backoff

    def deliver_due(self, stop: threading.Event | None = None) -> int:
        """Send every due copy once (or until ``stop`` is set); return how many tries.
        Without a mail server configured, copies wait."""
        if not self.mailer.configured:
            return 0
        tried = 0
        # Each copy may take the server's time-out to connect and again to send.
        lease = timedelta(seconds=self.mailer.settings.timeout * 2 * self.settings.batch_size + 60)
        while stop is None or not stop.is_set():
            due = self.store.claim_copies(self.owner, self.clock(), lease, self.settings.batch_size)
            if not due:
                break
            for copy in due:
                self.deliver(copy)
                tried += 1
        return tried

    def compose(self, copy: dict) -> EmailMessage:
        """Return the e-mail of one copy, its stamped PDF attached."""
        invoice = invoice_from_data(copy["data"])
        renderer = self.registry.renderers.get(COPY_RENDERER)
        if renderer is None:
            raise LookupError(f"le rendu « {COPY_RENDERER} » n'est pas installé")
        pdf = renderer.render(invoice)
        outlet = self.registry.outlets.get(copy["outlet"])
        channel_words = CHANNEL_WORDS.get(copy["invoice_channel"]) or (
            outlet.label if outlet is not None and outlet.label else copy["invoice_channel"]
        )
        message = self.mailer.message(
            [copy["recipient"]], subject(invoice), body(invoice, channel_words, copy["label"])
        )
        message["Message-ID"] = message_id(copy, self.mailer.settings.sender)
        name = UNSAFE_IN_NAME.sub("-", invoice.number).strip("-") or "facture"
        message.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=f"copie-{name}.pdf"
        )
        return message

    def deliver(self, copy: dict) -> None:
        """Send one leased copy and record the outcome."""
        bound = log.bind(
            copy_id=copy["id"],
            invoice_id=copy["invoice_id"],
            member_id=copy["member_id"],
            to=copy["recipient"],
        )
        attempts = copy["attempts"] + 1
        started = self.clock()
        error = None
        sent_id = None
        try:
            message = self.compose(copy)
            sent_id = message["Message-ID"]
            self.mailer.deliver(message)
        except Exception as ex:
            error = smtp_error(ex)
        now = self.clock()
        bound = bound.bind(attempts=attempts, duration_s=(now - started).total_seconds())
        about = {"number": copy["number"], "to": copy["recipient"], "label": copy["label"]}
        if error is None:
            bound.info("copy.sent", message_id=sent_id)
            self.store.finish_copy(
                copy["id"],
                self.owner,
                (COPY_SENT_EVENT, {**about, "message_id": sent_id}),
                status=COPY_SENT,
                attempts=attempts,
                sent_at=now,
                message_id=sent_id,
                next_attempt_at=None,
                last_error=None,
            )
            return
        parked, values = failed_try(
            attempts, copy["retry_from"], now, error, self.settings, self.backoff, self.rng
        )
        if parked:
            bound.warning("copy.parked", error=error)
            event = (COPY_PARKED_EVENT, {**about, "reason": error, "attempts": attempts})
            self.store.finish_copy(copy["id"], self.owner, event, status=COPY_PARKED, **values)
            return
        bound.info("copy.failed", error=error)
        self.store.finish_copy(copy["id"], self.owner, **values)

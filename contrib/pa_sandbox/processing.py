"""Asynchronous acknowledgement: a deposited flow is `Pending` until the platform has checked
it, then `Ok` or `Error` (XP Z12-013, FlowAckStatus).

It happens on the control API's `POST /control/step`, or, with an acknowledgement delay, at
the first call once the delay is over: tests never wait for the wall clock.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from contrib.chorus_sandbox.documents import InvoiceFacts

from . import cdar
from .checks import INVOICE_SYNTAXES, Verdict, check_flow, siren_of
from .flows import flow_view
from .lifecycle import BUYER_ANSWERS, SELLER_ANSWERS, forward, give_status, status_problem

if TYPE_CHECKING:
    from .app import Sandbox


class Processor:
    def __init__(self, sandbox: Sandbox, ack_delay: float | None) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.ack_delay = ack_delay
        self._lock = threading.Lock()

    def run_due(self) -> list[str]:
        """Acknowledge the flows whose delay is over (none without a delay)."""
        if self.ack_delay is None:
            return []
        return self._acknowledge(self.sandbox.now() - self.ack_delay)

    def step(self) -> list[str]:
        """Acknowledge every pending flow now; return their ids."""
        return self._acknowledge(None)

    def _acknowledge(self, before: float | None) -> list[str]:
        with self._lock:
            done = []
            for flow in self.store.pending(before):
                self.acknowledge(flow)
                done.append(flow["flow_id"])
            return done

    def acknowledge(self, flow: dict) -> None:
        same_file = [
            other
            for other in self.store.find_flows(owner=flow["owner"], sha256=flow["sha256"])
            if other["seq"] < flow["seq"] and other["direction"] == "Out"
        ]
        verdict = check_flow(flow, known_hashes=bool(same_file))
        changes: dict = {}
        answers: list[tuple[dict, cdar.StatusMessage]] = []
        if verdict.facts is not None:
            changes = invoice_columns(verdict.facts)
        elif verdict.ok and flow["syntax"] == "CDAR":
            answers = self._answers(flow, verdict)
            if verdict.ok:
                invoice = answers[0][0]
                changes["about"] = invoice["flow_id"]
                changes["flow_type"] = (
                    "SupplierInvoiceLC" if invoice["direction"] == "In" else "CustomerInvoiceLC"
                )
        changes["ack_status"] = "Ok" if verdict.ok else "Error"
        changes["ack_details"] = json.dumps(verdict.details) if verdict.details else None
        self.store.update_flow(flow["flow_id"], self.sandbox.now(), **changes)
        self.sandbox.notifier.notify(flow_view(self.sandbox, self.store.flow(flow["flow_id"])))
        if not verdict.ok:
            return
        if verdict.facts is not None:
            invoice = self.store.flow(flow["flow_id"])
            give_status(self.sandbox, invoice, "200", None, "platform")
            forward(self.sandbox, invoice)
        for invoice, message in answers:
            source = "recipient" if invoice["direction"] == "In" else "issuer"
            give_status(
                self.sandbox, invoice, message.code, message.reason, source, flow["flow_id"]
            )

    def _answers(self, flow: dict, verdict: Verdict) -> list[tuple[dict, cdar.StatusMessage]]:
        """The invoices a member's CDAR speaks of, each with its status; problems go to the
        verdict (reason codes InvoiceLC* of the annex)."""
        messages = cdar.read(verdict.root)
        if not messages:
            verdict.error("file", "FlowTypeError", "Le fichier n'est pas un message CDAR.")
        found = []
        for message in messages:
            invoice = self._invoice(flow["owner"], message)
            if invoice is None:
                verdict.error(
                    "MDT-87", "InvoiceLCRuleError", "La facture visée est inconnue de ce membre."
                )
                continue
            allowed = BUYER_ANSWERS if invoice["direction"] == "In" else SELLER_ANSWERS
            if message.code not in allowed:
                verdict.error(
                    "MDT-105",
                    "InvoiceLCStatusError",
                    f"Le statut {message.code} n'est pas permis ici "
                    f"(permis : {', '.join(sorted(allowed))}).",
                )
                continue
            problem = status_problem(message.code, message.reason)
            if problem:
                verdict.error("MDT-113", "InvoiceLCRuleError", problem)
                continue
            found.append((invoice, message))
        return found

    def _invoice(self, owner: str, message: cdar.StatusMessage) -> dict | None:
        """The member's invoice (received or sent) with this number and issuer."""
        if not message.invoice_number:
            return None
        for invoice in self.store.find_flows(
            owner=owner, invoice_number=message.invoice_number, ack_status="Ok"
        ):
            if invoice["syntax"] in INVOICE_SYNTAXES and message.invoice_issuer in (
                None,
                invoice["sender"],
            ):
                return invoice
        return None


def invoice_columns(facts: InvoiceFacts) -> dict[str, str | None]:
    """What the sandbox keeps of an invoice it read."""
    return {
        "sender": siren_of(facts.seller_legal, facts.seller_global),
        "recipient": siren_of(facts.buyer_legal, facts.buyer_global),
        "invoice_number": facts.number,
        "invoice_date": facts.issue_date,
        "recipient_name": facts.buyer_name,
    }

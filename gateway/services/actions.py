"""The corrective actions the bookseller asks for: recycle (``A_RECYCLER``) and complete
(``SUSPENDUE``). Each is checked now, stored with the invoice, and carried out by the
worker (:mod:`gateway.actions`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from datetime import datetime

from gateway import lifecycle
from gateway.actions import PendingAction
from gateway.codec import invoice_from_data
from gateway.errors import Conflict, Finding, InvalidInput, not_found
from gateway.outlets import Document
from gateway.pipeline import Pipeline
from gateway.store import Store
from gateway.validation import errors_of
from gateway.views import invoice_view

#: Stored names of the files a ``complete`` adds: ``complement.<n>.<file name>``.
COMPLEMENT = "complement."
#: A file name as it can be stored, shown and sent back in a header: no path, no quote,
#: no control character.
FILE_NAME = re.compile(r'[^"\\/\x00-\x1f\x7f]{1,100}')


def refused_now(name: str) -> Conflict:
    return Conflict.of(
        "invoice.action_not_allowed",
        f"L'action « {name} » vient d'être demandée ou la facture a changé de statut : "
        "consultez-la de nouveau.",
        field="status",
    )


class ActionService:
    def __init__(self, store: Store, pipeline: Pipeline, pm, clock: Callable[[], datetime]):
        self.store = store
        self.pipeline = pipeline
        self.registry = pipeline.registry
        self.pm = pm
        self.clock = clock

    def check(self, member_id: str, invoice_id: str, name: str) -> dict:
        """Return the member's invoice if action ``name`` may be taken on it now: NotFound
        for another member's, Conflict ``invoice.action_not_allowed`` otherwise."""
        row = self.store.get_invoice(invoice_id, member_id)
        if row is None:
            raise not_found("Facture")
        lifecycle.require_action(row, name)
        outlet = self.registry.outlets.get(row["outlet"])
        if outlet is None or name not in outlet.capabilities:
            raise Conflict.of(
                "invoice.action_not_allowed",
                f"La sortie « {row['outlet']} » de cette facture ne permet pas l'action "
                f"« {name} » : faites-la sur le portail de la plateforme.",
                field="outlet",
            )
        return row

    def recycle(self, member_id: str, invoice_id: str, changes: dict) -> dict:
        """Send an ``A_RECYCLER`` invoice, same number, to the corrected recipient.

        ``changes`` holds what changes only: ``{"buyer": {"siret"}, "references":
        {"service_code", "engagement"}}`` (null removes a reference). The corrected invoice
        is judged as a new one (directory, rule sets) before anything is stored.
        """
        row = self.check(member_id, invoice_id, lifecycle.RECYCLE)
        buyer = changes.get("buyer") or {}
        references = changes.get("references") or {}
        if not buyer and not references:
            raise InvalidInput.of(
                "field.required",
                "Indiquez ce qui change : le SIRET du destinataire (buyer.siret), son code "
                "service (references.service_code) ou le numéro d'engagement "
                "(references.engagement).",
                field="buyer",
            )
        invoice = invoice_from_data(row["data"])
        action = PendingAction(
            name=lifecycle.RECYCLE,
            requested_at=self.clock(),
            buyer_siret=buyer.get("siret", invoice.buyer.siret),
            service_code=references.get("service_code", invoice.references.service_code),
            engagement=references.get("engagement", invoice.references.engagement),
        )
        prepared = self.pipeline.prepare(member_id, action.recycled(invoice))
        errors = prepared.errors
        if prepared.route is not None and prepared.route.outlet != row["outlet"]:
            errors.append(
                Finding(
                    code="route.changed",
                    field="buyer.siret",
                    message=(
                        f"Ce destinataire reçoit ses factures par « {prepared.route.channel} » : "
                        "une facture recyclée repart par la même plateforme. Émettez plutôt un "
                        "avoir et une nouvelle facture."
                    ),
                )
            )
        if errors:
            raise InvalidInput(errors + prepared.warnings)
        # The rule sets may have completed the invoice (a stripped reference): send that.
        fixed = prepared.invoice
        action = dataclasses.replace(
            action,
            buyer_siret=fixed.buyer.siret,
            service_code=fixed.references.service_code,
            engagement=fixed.references.engagement,
        )
        return self._ask(row, action)

    def complete(
        self, member_id: str, invoice_id: str, files: list[Document], comment: str
    ) -> dict:
        """Add the missing documents to a ``SUSPENDUE`` invoice: checked against the
        platform's rules now, kept as the invoice's documents, uploaded by the worker."""
        row = self.check(member_id, invoice_id, lifecycle.COMPLETE)
        if not files:
            raise InvalidInput.of(
                "field.required",
                "Joignez au moins un fichier (partie « file » du formulaire).",
                field="file",
            )
        findings = [
            Finding(
                code="attachment.invalid",
                field=f"attachments[{index}]",
                message=(
                    f"Pièce jointe « {file.name} » refusée : son nom fait de 1 à 100 caractères, "
                    "sans guillemet, barre oblique ni caractère de contrôle."
                ),
            )
            for index, file in enumerate(files)
            if not FILE_NAME.fullmatch(file.name)
        ]
        outlet = self.registry.outlets[row["outlet"]]
        findings += outlet.completion_findings(files, comment)
        if errors_of(findings):
            raise InvalidInput(findings)
        documents = self.store.list_documents(row["seq"])
        taken = sum(document["name"].startswith(COMPLEMENT) for document in documents)
        stored = [
            (f"{COMPLEMENT}{taken + index}.{file.name}", file)
            for index, file in enumerate(files, start=1)
        ]
        action = PendingAction(
            name=lifecycle.COMPLETE,
            requested_at=self.clock(),
            attachments=[
                {"document": name, "name": file.name, "media_type": file.media_type}
                for name, file in stored
            ],
            comment=comment,
        )
        return self._ask(row, action, stored)

    def _ask(
        self, row: dict, action: PendingAction, documents: Sequence[tuple[str, Document]] = ()
    ) -> dict:
        """Store the action (and its documents) for the worker, with its event; return the
        invoice as shown now."""
        recorder = lifecycle.Recorder(self.store, self.pm)
        with self.store.begin() as conn:
            if not self.store.ask_action(conn, row["seq"], row["status"], **action.columns()):
                raise refused_now(action.name)
            for name, document in documents:
                self.store.add_document(
                    conn, row["seq"], name, document.media_type, document.content
                )
            recorder.event(
                conn,
                row,
                "invoice.action_requested",
                {"number": row["number"], "status": row["status"], **action.view()},
            )
        return invoice_view(self.store, self.store.get_invoice(row["id"]))

"""One invoice's page (status, history, documents, links, audit trail), its documents, and
the pages of its corrective actions: each a form over the same services as the REST routes
``POST /v1/invoices/{id}/<action>``."""

from __future__ import annotations

import dataclasses
import io
from datetime import datetime

import falcon

from gateway import lifecycle, schemas
from gateway.errors import Conflict, DomainError, InvalidInput, NotFound
from gateway.outlets import Document
from gateway.resources import load_with, read_body
from gateway.resources.actions import multipart_handler
from gateway.times import PARIS
from gateway.web.site import (
    ACTION_PAGES,
    Page,
    Site,
    findings_by_field,
    form_value,
    member_of,
    session_of,
)

#: Statuses a buyer sent the invoice back with: their last comment is the buyer's reason.
SENT_BACK = (lifecycle.A_RECYCLER, lifecycle.SUSPENDUE, lifecycle.REJETEE)
#: How the page names each link to another invoice or document.
LINK_LABELS = {
    lifecycle.CREDIT_NOTE_LINK: "Avoir qui l'annule",
    "credited_invoice": "Facture annulée par cet avoir",
    lifecycle.REISSUE: "Facture réémise à sa place",
    "reissue_of": "Réémise à la place de",
    lifecycle.REPLACES: "Remplace la facture refusée",
    "replaced_by": "Remplacée par",
    "engagement": "Numéro d'engagement",
    "purchase_order": "Bon de commande",
    "contract": "Contrat",
    "delivery_note": "Bon de livraison",
    "preceding_invoice": "Facture d'origine",
}
#: What a document served inline may be: a PDF, previewed in the page. Anything else an
#: upload may hold (HTML, SVG…) is downloaded, never shown from the site's origin.
INLINE_TYPES = ("application/pdf",)
#: A document's answer: nothing it holds runs; only the invoice's page may frame it.
DOCUMENT_POLICY = "default-src 'none'; frame-ancestors 'self'"


def invoice_url(invoice_id: str) -> str:
    return f"/app/factures/{invoice_id}"


def buyer_reason(invoice: dict) -> str | None:
    """Why the buyer sent the invoice back, if it did: its last status's comment."""
    if invoice["status"] in SENT_BACK and invoice["history"]:
        return invoice["history"][-1]["comment"]
    return None


class InvoicePage(Page):
    """Everything about one invoice, and a button per action it allows now."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        member = member_of(req)
        invoice = self.services.invoices.get(member, invoice_id)
        self.site.render(
            req,
            resp,
            "facture.html",
            invoice=invoice,
            customer=self.customer_name(member, invoice["buyer_siret"]),
            reason=buyer_reason(invoice),
            trail=self.services.audit.trail(member, invoice_id),
            link_labels=LINK_LABELS,
            preview=next(
                (d for d in invoice["documents"] if d["media_type"] in INLINE_TYPES), None
            ),
        )

    def customer_name(self, member: str, siret: str) -> str | None:
        try:
            return self.services.customers.get(member, siret)["name"]
        except NotFound:
            return None


class DocumentFile(Page):
    """A document's bytes: shown in the page (a PDF), or downloaded (``?telecharger``)."""

    content_security_policy = DOCUMENT_POLICY

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, invoice_id: str, name: str
    ) -> None:
        principal = session_of(req).principal
        document = self.services.invoices.document(
            member_of(req),
            invoice_id,
            name,
            reader={"key_id": principal.key_id, "role": principal.role},
        )
        inline = req.get_param("telecharger") is None and document["media_type"] in INLINE_TYPES
        resp.content_type = document["media_type"]
        resp.data = document["content"]
        disposition = "inline" if inline else "attachment"
        resp.set_header("Content-Disposition", f'{disposition}; filename="{name}"')


class ActionPage(Page):
    """A corrective action's page: GET shows its form (or why the action is not possible
    now); POST performs it, then goes back to the invoice with a message, or shows the form
    again with each refusal beside its field."""

    action: str
    template: str
    #: The message the invoice's page shows once the action is done.
    done: str
    #: The form's fields (canonical names: a service's findings land beside them).
    fields: tuple[str, ...] = ()
    #: The page's title, before the invoice's number.
    heading: str

    def check(self, member: str, invoice_id: str) -> None:
        self.services.invoices.check_action(member, invoice_id, self.action)

    def defaults(self, invoice: dict) -> dict:
        """The form's values before anything is typed."""
        return {}

    def context(self, req: falcon.Request, invoice: dict, values: dict) -> dict:
        """What the template needs besides the invoice and the form."""
        return {}

    def read(self, req: falcon.Request) -> dict:
        return req.get_media()

    def perform(self, member: str, invoice_id: str, values: dict) -> None:
        raise NotImplementedError

    def on_get(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        self.show(req, resp, invoice_id)

    def on_post(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        member = member_of(req)
        values: dict = {}
        try:
            # Before the body is read: a refused action reads no upload.
            self.check(member, invoice_id)
            values = self.read(req)
            self.perform(member, invoice_id, values)
        except InvalidInput as ex:
            resp.status = falcon.HTTP_422
            return self.show(req, resp, invoice_id, values, findings=ex.findings)
        except Conflict as ex:
            return self.show(req, resp, invoice_id, values, refusal=ex)
        self.site.redirect(resp, invoice_url(invoice_id), flash=self.done, req=req)

    def show(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        invoice_id: str,
        values: dict | None = None,
        findings=(),
        refusal: DomainError | None = None,
    ) -> None:
        member = member_of(req)
        invoice = self.services.invoices.get(member, invoice_id)
        if refusal is None:
            try:
                self.check(member, invoice_id)
            except Conflict as ex:
                refusal = ex
        if refusal is not None:
            resp.status = falcon.HTTP_409
        shown = findings_by_field(findings)
        values = {**self.defaults(invoice), **(values or {})}
        self.site.render(
            req,
            resp,
            f"actions/{self.template}.html",
            title=f"{self.heading} {invoice['number']}",
            invoice=invoice,
            reason=buyer_reason(invoice),
            values=values,
            shown=shown,
            # Findings of no field of the form, shown above it.
            general=[m for field, ms in shown.items() if field not in self.fields for m in ms],
            refusal=[finding.message for finding in refusal.findings] if refusal else [],
            action_url=f"{invoice_url(invoice_id)}/{ACTION_PAGES[self.action]}",
            **({} if refusal else self.context(req, invoice, values)),
        )


def read_multipart(req: falcon.Request, limit: int) -> dict:
    """A multipart form's text fields, and the list of its files under ``file`` (the parts
    of that name: no text field can take their place; a file input left empty sends
    none), read within ``limit`` bytes."""
    if not (req.content_type or "").lower().startswith("multipart/form-data"):
        raise InvalidInput.of(
            "format.unsupported", "Envoyez ce formulaire depuis la page de la passerelle."
        )
    data = read_body(req, limit)
    values: dict = {"file": []}
    try:
        parts = multipart_handler(limit).deserialize(io.BytesIO(data), req.content_type, len(data))
        for part in parts:
            if part.name != "file":
                values[part.name] = (part.get_text() or "").strip()
            elif part.filename:
                values["file"].append(
                    Document(
                        name=part.secure_filename,
                        media_type=part.content_type or "application/octet-stream",
                        content=part.get_data(),
                    )
                )
    except falcon.MediaMalformedError as ex:
        raise InvalidInput.of(
            "format.unreadable", "Formulaire illisible : rechargez la page et recommencez."
        ) from ex
    return values


def nested(values: dict, names: tuple[str, ...], empty=None) -> dict:
    """The dotted ``names`` of a form (``references.engagement``) as canonical JSON; an
    empty field is ``empty``."""
    document: dict = {}
    for name in names:
        *parents, last = name.split(".")
        target = document
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = form_value(values, name) or empty
    return document


def invoice_fields(invoice: dict, names: tuple[str, ...]) -> dict:
    """The current values of the invoice's dotted ``names``, to prefill a form."""
    values = {}
    for name in names:
        value = invoice["invoice"]
        for part in name.split("."):
            value = (value or {}).get(part)
        values[name] = value or ""
    return values


class RecyclePage(ActionPage):
    """A_RECYCLER: the corrected recipient, chosen among the directory's active services."""

    action = lifecycle.RECYCLE
    heading = "Recycler la facture"
    template = "recycler"
    done = "Recyclage demandé : la facture repart vers le destinataire corrigé."
    fields = ("buyer.siret", "references.service_code", "references.engagement")

    def check(self, member: str, invoice_id: str) -> None:
        self.services.actions.check(member, invoice_id, self.action)

    def defaults(self, invoice: dict) -> dict:
        return invoice_fields(invoice, self.fields)

    def context(self, req: falcon.Request, invoice: dict, values: dict) -> dict:
        siret = (req.get_param("siret") or values["buyer.siret"]).strip()
        structure, problems = None, []
        try:
            structure = self.services.structures.show(siret)
        except DomainError as ex:
            problems = [finding.message for finding in ex.findings]
        return {"siret": siret, "structure": structure, "lookup_problems": problems}

    def perform(self, member: str, invoice_id: str, values: dict) -> None:
        changes = load_with(schemas.RecycleSchema(), nested(values, self.fields))
        self.services.actions.recycle(member, invoice_id, changes)


class CompletePage(ActionPage):
    """SUSPENDUE: the documents the buyer asked for, uploaded."""

    action = lifecycle.COMPLETE
    heading = "Compléter la facture"
    template = "completer"
    done = "Pièces jointes envoyées : la facture passera au statut « Complétée »."
    fields = ("file", "comment")

    def check(self, member: str, invoice_id: str) -> None:
        self.services.actions.check(member, invoice_id, self.action)

    def read(self, req: falcon.Request) -> dict:
        return read_multipart(req, self.site.config.max_body_bytes)

    def perform(self, member: str, invoice_id: str, values: dict) -> None:
        try:
            self.services.actions.complete(
                member, invoice_id, values["file"], values.get("comment", "")
            )
        except InvalidInput as ex:
            # Each file's findings (attachments[n]) beside the file input.
            raise InvalidInput(
                [
                    dataclasses.replace(f, field="file")
                    if (f.field or "").startswith("attachments")
                    else f
                    for f in ex.findings
                ]
            ) from ex

    def context(self, req: falcon.Request, invoice: dict, values: dict) -> dict:
        return {"max_mb": self.site.config.max_body_bytes // (1024 * 1024)}


class CreditNotePage(ActionPage):
    """An invoice the buyer received (rejected, most often): its total credit note, and
    the invoice reissued corrected under a new number."""

    action = lifecycle.CREDIT_NOTE
    heading = "Émettre l'avoir de la facture"
    template = "avoir"
    done = "Avoir émis : il part vers le destinataire avec la facture réémise, s'il y en a une."
    reissued = (
        "reissue.number",
        "reissue.references.engagement",
        "reissue.references.purchase_order",
    )
    fields = ("reason", "reemettre", *reissued)

    def defaults(self, invoice: dict) -> dict:
        kept = invoice_fields(
            invoice, tuple(name.removeprefix("reissue.") for name in self.reissued)
        )
        return {f"reissue.{name}": value for name, value in kept.items() if name != "number"}

    def perform(self, member: str, invoice_id: str, values: dict) -> None:
        request = nested(values, ("reason",))
        if form_value(values, "reemettre"):
            request.update(nested(values, self.reissued))
        request = load_with(schemas.CreditNoteRequestSchema(), request)
        self.services.corrections.credit_note(member, invoice_id, request)


class CorrectPage(ActionPage):
    """An invoice refused before any buyer had it: corrected and sent again under its
    number, from the fields most often wrong or from a corrected document."""

    action = lifecycle.CORRECT
    heading = "Corriger et renvoyer la facture"
    template = "corriger"
    done = "Facture corrigée : sa nouvelle version repart vers la plateforme."
    fields = (
        "buyer.siret",
        "references.service_code",
        "references.engagement",
        "references.purchase_order",
        "file",
    )

    def defaults(self, invoice: dict) -> dict:
        return invoice_fields(invoice, self.fields[:-1])

    def read(self, req: falcon.Request) -> dict:
        return read_multipart(req, self.site.config.max_body_bytes)

    def perform(self, member: str, invoice_id: str, values: dict) -> None:
        corrections = self.services.corrections
        if len(values["file"]) > 1:
            raise InvalidInput.of(
                "field.invalid",
                "Joignez un seul document : la facture corrigée, entière.",
                field="file",
            )
        if values["file"]:
            (document,) = values["file"]
            corrections.correct(member, invoice_id, document.content, document.media_type)
        else:
            corrections.correct_fields(member, invoice_id, nested(values, self.fields[:-1]))


class ManualDepositPage(ActionPage):
    """A_DEPOSER: the documents to upload on the Chorus Pro portal, then the upload
    confirmed."""

    action = lifecycle.MANUAL_DEPOSIT
    heading = "Confirmer le dépôt de la facture"
    template = "depot_manuel"
    done = "Dépôt confirmé : la facture est enregistrée comme déposée sur Chorus Pro."
    fields = ("platform_invoice_id", "deposited_at", "comment")

    def perform(self, member: str, invoice_id: str, values: dict) -> None:
        body = {name: form_value(values, name) for name in self.fields if form_value(values, name)}
        if "deposited_at" in body:
            body["deposited_at"] = paris_moment(body["deposited_at"])
        body = load_with(schemas.ManualDepositSchema(), body)
        self.services.deposits.confirm(member, invoice_id, body)


def paris_moment(value: str) -> str:
    """A ``datetime-local`` field's value (Paris time, no zone) with its zone; as typed
    when unreadable (the schema then says so)."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=PARIS).isoformat()
    except ValueError:
        return value


class RetryPage(ActionPage):
    """EN_ERREUR: sent again once its cause is fixed."""

    action = lifecycle.RETRY
    heading = "Renvoyer la facture"
    template = "renvoyer"
    done = "Renvoi demandé : la facture repart vers la plateforme."

    def perform(self, member: str, invoice_id: str, values: dict) -> None:
        self.services.invoices.retry(member, invoice_id)


def routes(site: Site) -> list[tuple[str, object]]:
    pages = [
        RecyclePage(site),
        CompletePage(site),
        CreditNotePage(site),
        CorrectPage(site),
        ManualDepositPage(site),
        RetryPage(site),
    ]
    return [
        ("/app/factures/{invoice_id}", InvoicePage(site)),
        ("/app/factures/{invoice_id}/documents/{name}", DocumentFile(site)),
        *((f"/app/factures/{{invoice_id}}/{ACTION_PAGES[p.action]}", p) for p in pages),
    ]

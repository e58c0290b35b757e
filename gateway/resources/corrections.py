"""The corrections of an invoice: correct and resend, credit note (and reissue)."""

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import operation
from gateway.resources import acting_member, load_json, read_body
from gateway.resources.invoices import FORMAT
from gateway.services.corrections import CorrectionService

REFUSALS = {
    404: schemas.ErrorsSchema,
    409: schemas.ErrorsSchema,
    413: schemas.ErrorsSchema,
    422: schemas.ErrorsSchema,
}


class CorrectResource:
    def __init__(self, service: CorrectionService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Corriger et renvoyer, sous le même numéro, une facture refusée avant d'atteindre "
        "l'acheteur (le document entier, comme au dépôt)",
        {202: schemas.InvoiceViewSchema, 415: schemas.ErrorsSchema, **REFUSALS},
        request=schemas.InvoiceSchema,
        query={"format": FORMAT},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Replace a refused invoice by its corrected document and send it again."""
        member = acting_member(req)
        data = read_body(req, self.max_body)
        resp.media = self.service.correct(
            member, invoice_id, data, req.content_type or "", req.get_param("format")
        )
        resp.status = falcon.HTTP_202


class CreditNoteResource:
    def __init__(self, service: CorrectionService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Annuler une facture reçue par un avoir total, et la réémettre corrigée",
        {202: schemas.InvoiceViewSchema, **REFUSALS},
        request=schemas.CreditNoteRequestSchema,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Issue the credit note of an invoice a buyer received, and its reissue if asked."""
        member = acting_member(req)
        request = load_json(req, schemas.CreditNoteRequestSchema(), self.max_body)
        resp.media = self.service.credit_note(member, invoice_id, request)
        resp.status = falcon.HTTP_202

"""The bookseller confirms a manual upload on the Chorus Pro portal."""

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import operation
from gateway.resources import acting_member, load_json
from gateway.services.deposits import ManualDepositService


class ManualDepositResource:
    def __init__(self, service: ManualDepositService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Confirmer le dépôt manuel d'une facture sur le portail Chorus Pro",
        {
            200: schemas.InvoiceViewSchema,
            404: schemas.ErrorsSchema,
            409: schemas.ErrorsSchema,
            413: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
        },
        request=schemas.ManualDepositSchema,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Record an A_DEPOSER invoice as DEPOSEE, followed on Chorus Pro when it can be."""
        body = load_json(req, schemas.ManualDepositSchema(), self.max_body)
        resp.media = self.service.confirm(acting_member(req), invoice_id, body)

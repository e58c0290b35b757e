from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import operation
from gateway.resources import principal
from gateway.services.audit import AuditService


class InvoiceAuditResource:
    def __init__(self, service: AuditService):
        self.service = service

    @operation(
        "Piste d'audit d'une facture : journal, documents, factures et pièces liées",
        {200: schemas.AuditTrailSchema, 404: schemas.ErrorsSchema},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Show an invoice's audit trail (its member, its auditor, or the admin)."""
        resp.media = self.service.trail(principal(req).member_id, invoice_id)

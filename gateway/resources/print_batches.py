"""The print batches of the paper route: see one, fetch its PDF, confirm it was printed."""

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import operation
from gateway.resources import acting_member
from gateway.services.print_batches import PrintBatchService

REFUSALS = {404: schemas.ErrorsSchema, 422: schemas.ErrorsSchema}


class PrintBatchResource:
    def __init__(self, service: PrintBatchService):
        self.service = service

    @operation(
        "Voir le lot d'impression d'un jour (date AAAA-MM-JJ, heure de Paris)",
        {200: schemas.PrintBatchSchema, **REFUSALS},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, date: str) -> None:
        """Show the member's paper invoices of a day, and whether they were fetched and printed."""
        resp.media = self.service.get(acting_member(req), date)


class PrintBatchPdfResource:
    def __init__(self, service: PrintBatchService):
        self.service = service

    @operation(
        "Télécharger le lot d'impression (PDF prêt à imprimer, une facture par jeu de feuilles)",
        {200: None, 503: schemas.ErrorsSchema, **REFUSALS},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, date: str) -> None:
        """Download the day's print-ready PDF; the invoices it holds are the ones a
        confirmation marks printed."""
        document = self.service.pdf(acting_member(req), date)
        resp.content_type = document.media_type
        resp.data = document.content
        resp.set_header("Content-Disposition", f'attachment; filename="{document.name}"')


class PrintBatchConfirmResource:
    def __init__(self, service: PrintBatchService):
        self.service = service

    @operation(
        "Confirmer l'impression du lot téléchargé",
        {200: schemas.PrintBatchSchema, 409: schemas.ErrorsSchema, **REFUSALS},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, date: str) -> None:
        """Mark printed (IMPRIMEE) the invoices the fetched PDF held."""
        resp.media = self.service.confirm(acting_member(req), date)

"""The archive's export for a tax inspector: one zip per member and year."""

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import Query, operation
from gateway.resources import principal
from gateway.services.archive import FIRST_YEAR, LAST_YEAR, ArchiveService


class ArchiveExportResource:
    def __init__(self, service: ArchiveService):
        self.service = service

    @operation(
        "Exporter l'archive d'une année (zip : documents, manifestes, journal signé)",
        {
            200: None,
            404: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
            503: schemas.ErrorsSchema,
        },
        query={
            "year": Query(
                "L'année des factures exportées (date de facture, BT-2)",
                {"type": "integer", "minimum": FIRST_YEAR, "maximum": LAST_YEAR},
            ),
            "member_id": Query("Le membre exporté (obligatoire avec la clé de l'administrateur)"),
        },
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Stream the zip of a member's invoices of a year, verifiable offline with
        ``facture-gateway archive verify --export``."""
        export = self.service.export(
            principal(req), req.get_param("year"), req.get_param("member_id")
        )
        resp.content_type = "application/zip"
        resp.set_header("Content-Disposition", f'attachment; filename="{export.filename}"')
        resp.stream = export.chunks

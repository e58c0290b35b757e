"""Suppliers' invoices received through the platform, the member's answers, and the
platform's pull notification (docs/inbound.md)."""

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import Query, operation
from gateway.resources import acting_member, int_param, load_json, principal
from gateway.resources.invoices import IDEMPOTENCY_KEY, csv_param, idempotency_key
from gateway.services.inbound import MAX_PAGE, InboundService

NOT_FOUND = {404: schemas.ErrorsSchema}


class InboundInvoicesResource:
    def __init__(self, service: InboundService):
        self.service = service

    @operation(
        "Lister les factures reçues (filtres status, sender, received_after, received_before, "
        "number ; curseur)",
        # 404: another member named in member_id.
        {200: schemas.InboundInvoicePageSchema, **NOT_FOUND},
        query={
            "status": Query(
                "Derniers statuts envoyés gardés, séparés par des virgules (none : sans réponse)"
            ),
            "sender": Query("SIREN ou SIRET du fournisseur"),
            "received_after": Query("Reçues à partir de (ISO 8601 avec fuseau)"),
            "received_before": Query("Reçues avant (ISO 8601 avec fuseau)"),
            "number": Query("Numéro de la facture"),
            "member_id": Query("Le membre (clé de l'administrateur seulement)"),
            "cursor": Query("Curseur de la page suivante (next_cursor)"),
            "limit": Query(
                "Factures par page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
            ),
        },
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the inbound invoices, newest first, with filters and cursor pagination."""
        resp.media = self.service.list(
            principal(req),
            member_id=req.get_param("member_id"),
            status=csv_param(req, "status"),
            sender=req.get_param("sender"),
            received_after=req.get_param("received_after"),
            received_before=req.get_param("received_before"),
            number=req.get_param("number"),
            cursor=req.get_param("cursor"),
            limit=int_param(req, "limit", default=50, minimum=1, maximum=MAX_PAGE),
        )


class InboundInvoiceResource:
    def __init__(self, service: InboundService):
        self.service = service

    @operation(
        "Voir une facture reçue : fournisseur, montants, facture lue, statuts envoyés",
        {200: schemas.InboundInvoiceViewSchema, **NOT_FOUND},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, inbound_id: str) -> None:
        """Show one inbound invoice, its problems if unparsed, and the statuses sent."""
        resp.media = self.service.get(principal(req), inbound_id)


class InboundOriginalResource:
    def __init__(self, service: InboundService):
        self.service = service

    @operation(
        "Télécharger l'original d'une facture reçue, octet pour octet",
        # 500 archive.document_missing: its bytes are missing from the archive.
        {200: None, 500: schemas.ErrorsSchema, **NOT_FOUND},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, inbound_id: str) -> None:
        """Download the original as received (its reading is journaled)."""
        row, content = self.service.original(principal(req), inbound_id)
        resp.content_type = row["media_type"]
        resp.data = content
        resp.etag = row["sha256"]
        resp.set_header("X-Content-SHA256", row["sha256"])
        resp.set_header("Content-Disposition", f'attachment; filename="{row["id"]}"')


class InboundPdfResource:
    def __init__(self, service: InboundService):
        self.service = service

    @operation(
        "Télécharger une facture reçue en PDF lisible (le Factur-X reçu, ou la facture lue "
        "mise en page)",
        {200: None, 409: schemas.ErrorsSchema, 500: schemas.ErrorsSchema, **NOT_FOUND},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, inbound_id: str) -> None:
        """Download a readable PDF of the inbound invoice (409 when it could not be read)."""
        document = self.service.pdf(principal(req), inbound_id)
        resp.content_type = document.media_type
        resp.data = document.content
        resp.set_header("Content-Disposition", f'attachment; filename="{document.name}"')


class InboundStatusResource:
    def __init__(self, service: InboundService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Envoyer un statut sur une facture reçue (204 Prise en charge, 205 Approuvée, "
        "210 Refusée…) : enregistré, puis transmis à la plateforme",
        {
            202: schemas.InboundStatusAcceptedSchema,
            409: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
            **NOT_FOUND,
        },
        request=schemas.InboundStatusRequestSchema,
        headers={"Idempotency-Key": IDEMPOTENCY_KEY},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, inbound_id: str) -> None:
        """Record the status (202: pending its sending by the worker), or refuse it."""
        member = acting_member(req)
        key = idempotency_key(req)
        body = load_json(req, schemas.InboundStatusRequestSchema(), self.max_body)
        resp.status = falcon.HTTP_202
        resp.media = self.service.answer(member, inbound_id, body, key)


class InboundNotifyResource:
    """Called by the platform: no API key, the member's notification token instead."""

    auth_required = False

    def __init__(self, service: InboundService):
        self.service = service

    @operation(
        "Notification de la plateforme : des factures attendent (jeton X-Inbound-Token ; "
        "le corps n'est pas lu)",
        {202: None, 403: schemas.ErrorsSchema},
        headers={
            "X-Inbound-Token": Query(
                "Jeton de notification du membre et de la sortie "
                "(facture-gateway inbound notify-token)"
            )
        },
    )
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, member_id: str, outlet: str
    ) -> None:
        """Schedule a pull of the member's flows; the body is never trusted nor read."""
        self.service.notify(member_id, outlet, req.get_header("X-Inbound-Token"))
        resp.status = falcon.HTTP_202
        resp.media = {"scheduled": True}

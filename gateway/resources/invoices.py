from __future__ import annotations

import falcon

from gateway import schemas
from gateway.errors import InvalidInput
from gateway.openapi import Query, operation
from gateway.resources import acting_member, int_param, principal, read_body
from gateway.services.invoices import MAX_PAGE, InvoiceService


def idempotency_key(req: falcon.Request) -> str | None:
    key = req.get_header("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 200:
        raise InvalidInput.of(
            "field.invalid",
            "La clé d'idempotence fait de 1 à 200 caractères.",
            field="Idempotency-Key",
        )
    return key


def csv_param(req: falcon.Request, name: str) -> list[str] | None:
    """Return a comma-separated parameter (``?status=A,B`` or repeated) as a list."""
    values = req.get_param_as_list(name)
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def needs_action(req: falcon.Request) -> bool:
    value = req.get_param("needs_action")
    if value in (None, "", "false"):
        return False
    if value == "true":
        return True
    raise InvalidInput.of(
        "field.invalid", "Le paramètre « needs_action » vaut true ou false.", field="needs_action"
    )


def rule_sets(req: falcon.Request) -> frozenset[str] | None:
    rules = csv_param(req, "rules")
    return frozenset(rules) if rules else None


#: Same key and same body: the first answer again, nothing sent twice; another body: 409.
IDEMPOTENCY_KEY = Query(
    "Clé d'idempotence choisie par le client (même clé, même corps : même réponse)",
    {"type": "string", "minLength": 1, "maxLength": 200},
)

#: ``?format=``: the documents' format, when neither Content-Type nor sniffing tells it.
FORMAT = Query("Format du document (nom d'un format installé), au lieu du Content-Type")


class InvoicesResource:
    def __init__(self, service: InvoiceService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Déposer une facture (JSON canonique ou tout format installé)",
        {
            # One invoice, or {"invoices": [...]} for a file that holds several.
            202: {"oneOf": [schemas.InvoiceAcceptedSchema, schemas.InvoiceBatchAcceptedSchema]},
            409: schemas.ErrorsSchema,
            413: schemas.ErrorsSchema,
            415: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
            503: schemas.ErrorsSchema,
        },
        request=schemas.InvoiceSchema,
        query={"format": FORMAT},
        headers={"Idempotency-Key": IDEMPOTENCY_KEY},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Accept an invoice document in any registered format (202), or refuse it (422)."""
        member = acting_member(req)
        key = idempotency_key(req)
        data = read_body(req, self.max_body)
        accepted = self.service.submit(
            member, data, req.content_type or "", req.get_param("format"), key
        )
        resp.status = falcon.HTTP_202
        resp.media = accepted.body

    @operation(
        "Lister les factures (filtres status, customer, since, needs_action ; curseur)",
        {200: schemas.InvoicePageSchema},
        query={
            "status": Query("Statuts gardés, séparés par des virgules"),
            "customer": Query("SIRET de l'acheteur"),
            "since": Query("Changées depuis (ISO 8601 avec fuseau)"),
            "cursor": Query("Curseur de la page suivante (next_cursor)"),
            "limit": Query(
                "Factures par page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
            ),
            "needs_action": Query(
                "true : seulement les factures qui attendent le libraire, la plus ancienne "
                "d'abord (avec customer, cursor et limit)",
                {"type": "boolean"},
            ),
        },
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the member's invoices, newest first, with filters and cursor pagination."""
        member = acting_member(req)
        resp.media = self.service.list(
            member,
            limit=int_param(req, "limit", default=50, minimum=1, maximum=MAX_PAGE),
            status=csv_param(req, "status"),
            customer=req.get_param("customer"),
            since=req.get_param("since"),
            cursor=req.get_param("cursor"),
            needs_action=needs_action(req),
        )


class ValidateResource:
    def __init__(self, service: InvoiceService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Contrôler une facture sans l'envoyer",
        {
            200: {"oneOf": [schemas.ValidationResultSchema, schemas.ValidationBatchSchema]},
            413: schemas.ErrorsSchema,
            415: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
            503: schemas.ErrorsSchema,
        },
        request=schemas.InvoiceSchema,
        query={
            "format": FORMAT,
            "rules": Query("Jeux de règles appliqués, séparés par des virgules (tous sinon)"),
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Check a document without storing or sending anything (dry run)."""
        member = acting_member(req)
        data = read_body(req, self.max_body)
        resp.media = self.service.dry_run(
            member, data, req.content_type or "", req.get_param("format"), rule_sets(req)
        )


class InvoiceResource:
    def __init__(self, service: InvoiceService):
        self.service = service

    @operation(
        "Voir une facture, son historique et ses documents",
        {200: schemas.InvoiceViewSchema, 404: schemas.ErrorsSchema},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Show one invoice: status, history, documents and the canonical invoice."""
        resp.media = self.service.get(acting_member(req), invoice_id)


class RetryResource:
    def __init__(self, service: InvoiceService):
        self.service = service

    @operation(
        "Renvoyer une facture en erreur, sa cause corrigée",
        {202: schemas.InvoiceViewSchema, 404: schemas.ErrorsSchema, 409: schemas.ErrorsSchema},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Send an EN_ERREUR invoice again, once its cause is fixed (settings, directory…)."""
        view = self.service.retry(acting_member(req), invoice_id)
        resp.status = falcon.HTTP_202
        resp.media = view


class DocumentResource:
    def __init__(self, service: InvoiceService):
        self.service = service

    @operation(
        "Télécharger un document archivé",
        # 500 archive.document_missing: its bytes are missing from the archive.
        {200: None, 404: schemas.ErrorsSchema, 500: schemas.ErrorsSchema},
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, invoice_id: str, name: str
    ) -> None:
        """Download one document of an invoice, byte for byte as archived."""
        caller = principal(req)
        document = self.service.document(
            caller.acting_member(),
            invoice_id,
            name,
            reader={"key_id": caller.key_id, "role": caller.role},
        )
        resp.content_type = document["media_type"]
        resp.data = document["content"]
        resp.set_header("Content-Disposition", f'attachment; filename="{name}"')
        resp.set_header("X-Content-SHA256", document["sha256"])

"""The OpenAPI document, generated from the marshmallow schemas (apispec)."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway import __version__, schemas

# (path, method, summary, request schema or media note, {status: schema}, authenticated)
OPERATIONS = [
    ("/v1/health", "get", "État de la passerelle", None, {200: schemas.HealthSchema}, False),
    ("/v1/openapi.json", "get", "Ce document", None, {200: None}, False),
    (
        "/v1/members",
        "post",
        "Créer un membre (administrateur)",
        schemas.MemberCreateSchema,
        {201: schemas.MemberSchema, 422: schemas.ErrorsSchema},
        True,
    ),
    ("/v1/members", "get", "Lister les membres (administrateur)", None, {200: None}, True),
    ("/v1/members/{member_id}", "get", "Voir un membre", None, {200: schemas.MemberSchema}, True),
    (
        "/v1/members/{member_id}",
        "patch",
        "Modifier les réglages d'un membre",
        schemas.MemberCreateSchema,
        {200: schemas.MemberSchema, 422: schemas.ErrorsSchema},
        True,
    ),
    (
        "/v1/members/{member_id}/keys",
        "post",
        "Créer une clé (membre ou auditeur)",
        schemas.ApiKeyCreateSchema,
        {201: schemas.ApiKeySchema, 404: schemas.ErrorsSchema, 422: schemas.ErrorsSchema},
        True,
    ),
    ("/v1/customers", "get", "Lister les clients publics du membre", None, {200: None}, True),
    ("/v1/customers/{siret}", "get", "Voir un client", None, {200: schemas.CustomerSchema}, True),
    (
        "/v1/customers/{siret}",
        "put",
        "Créer ou remplacer un client et son canal",
        schemas.CustomerWriteSchema,
        {200: schemas.CustomerSchema, 201: schemas.CustomerSchema, 422: schemas.ErrorsSchema},
        True,
    ),
    (
        "/v1/invoices",
        "post",
        "Déposer une facture (JSON canonique ou tout format installé)",
        schemas.InvoiceSchema,
        {
            # One invoice, or {"invoices": [...]} for a file that holds several.
            202: {"oneOf": [schemas.InvoiceAcceptedSchema, schemas.InvoiceBatchAcceptedSchema]},
            409: schemas.ErrorsSchema,
            413: schemas.ErrorsSchema,
            415: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
        },
        True,
    ),
    (
        "/v1/invoices",
        "get",
        "Lister les factures (filtres status, customer, since ; curseur)",
        None,
        {200: schemas.InvoicePageSchema},
        True,
    ),
    (
        "/v1/invoices/validate",
        "post",
        "Contrôler une facture sans l'envoyer",
        schemas.InvoiceSchema,
        {
            200: {"oneOf": [schemas.ValidationResultSchema, schemas.ValidationBatchSchema]},
            413: schemas.ErrorsSchema,
            415: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
        },
        True,
    ),
    (
        "/v1/invoices/{invoice_id}",
        "get",
        "Voir une facture, son historique et ses documents",
        None,
        {200: schemas.InvoiceViewSchema, 404: schemas.ErrorsSchema},
        True,
    ),
    (
        "/v1/invoices/{invoice_id}/retry",
        "post",
        "Renvoyer une facture en erreur, sa cause corrigée",
        None,
        {202: schemas.InvoiceViewSchema, 404: schemas.ErrorsSchema, 409: schemas.ErrorsSchema},
        True,
    ),
    (
        "/v1/invoices/{invoice_id}/documents/{name}",
        "get",
        "Télécharger un document archivé",
        None,
        {200: None, 404: schemas.ErrorsSchema},
        True,
    ),
    (
        "/v1/events",
        "get",
        "Flux des événements après un curseur",
        None,
        {200: schemas.EventPageSchema},
        True,
    ),
    (
        "/v1/directory/{siret}",
        "get",
        "Voir une structure publique dans l'annuaire Chorus Pro",
        None,
        {
            200: schemas.DirectoryEntrySchema,
            404: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
            503: schemas.ErrorsSchema,
        },
        True,
    ),
]


def build_spec() -> dict:
    marshmallow_plugin = MarshmallowPlugin()
    spec = APISpec(
        title="facture-gateway",
        version=__version__,
        openapi_version="3.0.3",
        info={
            "description": "Passerelle de facturation électronique des libraires vers Chorus Pro."
        },
        plugins=[marshmallow_plugin],
    )
    marshmallow_plugin.map_to_openapi_type(schemas.DecimalString, "string", "decimal")
    spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer"})
    paths: dict[str, dict] = {}
    for path, method, summary, request, responses, authenticated in OPERATIONS:
        operation: dict = {"summary": summary, "responses": {}}
        if authenticated:
            operation["security"] = [{"apiKey": []}]
            responses = {401: schemas.ErrorsSchema, **responses}
        parameters = [
            {"in": "path", "name": name.strip("{}"), "required": True, "schema": {"type": "string"}}
            for name in path.split("/")
            if name.startswith("{")
        ]
        if parameters:
            operation["parameters"] = parameters
        if request is not None:
            operation["requestBody"] = {"content": {"application/json": {"schema": request}}}
        for status, schema in responses.items():
            content = {"application/json": {"schema": schema}} if schema else {}
            operation["responses"][str(status)] = {"description": summary, "content": content}
        paths.setdefault(path, {})[method] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()

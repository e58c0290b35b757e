"""The corrective actions on an invoice: recycle (JSON) and complete (multipart files)."""

from __future__ import annotations

import io

import falcon
from falcon.media.multipart import MultipartFormHandler, MultipartParseOptions

from gateway import lifecycle, schemas
from gateway.errors import InvalidInput, UnsupportedFormat
from gateway.openapi import operation
from gateway.outlets import Document
from gateway.resources import acting_member, load_json, read_body
from gateway.services.actions import ActionService

#: What an action answers besides 202 with the invoice.
REFUSALS = {
    404: schemas.ErrorsSchema,
    409: schemas.ErrorsSchema,
    413: schemas.ErrorsSchema,
    422: schemas.ErrorsSchema,
}


class RecycleResource:
    def __init__(self, service: ActionService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Recycler une facture à recycler : destinataire corrigé, même numéro",
        {202: schemas.InvoiceViewSchema, **REFUSALS},
        request=schemas.RecycleSchema,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Send an A_RECYCLER invoice again to the corrected SIRET, service or engagement."""
        member = acting_member(req)
        self.service.check(member, invoice_id, lifecycle.RECYCLE)
        changes = load_json(req, schemas.RecycleSchema(), self.max_body)
        resp.status = falcon.HTTP_202
        resp.media = self.service.recycle(member, invoice_id, changes)


def multipart_handler(max_body: int) -> MultipartFormHandler:
    """Falcon's multipart parser, each part bounded by the body limit only: its own default
    (1 MiB a part) is below the platform's 10 MB attachments. It keeps its 64 parts at most
    and 8 KiB of headers a part."""
    options = MultipartParseOptions()
    options.max_body_part_buffer_size = max_body
    return MultipartFormHandler(options)


class CompleteResource:
    def __init__(self, service: ActionService, max_body: int):
        self.service = service
        self.max_body = max_body
        self.form = multipart_handler(max_body)

    @operation(
        "Compléter une facture suspendue : pièces jointes (multipart, parties « file ») et "
        "commentaire",
        {202: schemas.InvoiceViewSchema, 415: schemas.ErrorsSchema, **REFUSALS},
        request=schemas.COMPLETE_FORM,
        request_type="multipart/form-data",
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Add the missing documents to a SUSPENDUE invoice; the worker uploads them."""
        member = acting_member(req)
        # Before the files are read: another member's invoice is 404 whatever is sent.
        self.service.check(member, invoice_id, lifecycle.COMPLETE)
        files, comment = self.read_form(req)
        resp.status = falcon.HTTP_202
        resp.media = self.service.complete(member, invoice_id, files, comment)

    def read_form(self, req: falcon.Request) -> tuple[list[Document], str]:
        """Return the ``file`` parts and the ``comment`` of a multipart/form-data body read
        within the body limit (413 beyond it)."""
        if req.content_type is None or not req.content_type.lower().startswith(
            "multipart/form-data"
        ):
            raise UnsupportedFormat.of(
                "format.unsupported",
                "Envoyez les pièces jointes en multipart/form-data : une partie « file » par "
                "fichier, et « comment » pour le commentaire.",
                field="Content-Type",
            )
        data = read_body(req, self.max_body)
        files, comment = [], ""
        try:
            for part in self.form.deserialize(io.BytesIO(data), req.content_type, len(data)):
                if part.name == "file":
                    files.append(
                        Document(
                            name=part.secure_filename,
                            media_type=part.content_type or "application/octet-stream",
                            content=part.get_data(),
                        )
                    )
                elif part.name == "comment":
                    comment = part.get_text() or ""
                else:
                    raise InvalidInput.of(
                        "field.unknown",
                        f"Partie « {part.name} » inconnue : le formulaire prend « file » et "
                        "« comment ».",
                        field=part.name,
                    )
        except falcon.MediaMalformedError as ex:
            raise InvalidInput.of(
                "format.unreadable",
                "Formulaire multipart illisible : chaque fichier doit être une partie « file » "
                "nommée (filename), 64 parties au plus.",
                field="file",
            ) from ex
        return files, comment.strip()

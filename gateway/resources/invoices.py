from __future__ import annotations

import base64
from datetime import datetime

import falcon

from gateway import lifecycle
from gateway.pipeline import Pipeline
from gateway.resources import (
    MAX_SEQ,
    error,
    int_param,
    member_id,
    not_found,
    read_body,
    require_write,
)
from gateway.views import invoice_summary, invoice_view

MAX_PAGE = 200


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "seq" or not (value.isascii() and value.isdigit()) or int(value) > MAX_SEQ:
            raise ValueError(cursor)
        return int(value)
    except (ValueError, UnicodeDecodeError) as ex:
        raise error(422, "field.invalid", "Curseur de pagination invalide.", field="cursor") from ex


def idempotency_key(req: falcon.Request) -> str | None:
    key = req.get_header("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 200:
        raise error(
            422,
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


def rule_sets(req: falcon.Request) -> frozenset[str] | None:
    rules = csv_param(req, "rules")
    return frozenset(rules) if rules else None


class InvoicesResource:
    def __init__(self, store, pipeline: Pipeline, max_body: int):
        self.store = store
        self.pipeline = pipeline
        self.max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Accept an invoice document in any registered format (202), or refuse it (422)."""
        require_write(req)
        member = member_id(req)
        key = idempotency_key(req)
        data = read_body(req, self.max_body)
        status, body = self.pipeline.submit(
            member, data, req.content_type or "", req.get_param("format"), key
        )
        resp.status = falcon.code_to_http_status(status)
        resp.media = body

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the member's invoices, newest first, with filters and cursor pagination."""
        member = member_id(req)
        limit = int_param(req, "limit", default=50, minimum=1, maximum=MAX_PAGE)
        cursor = req.get_param("cursor")
        since = req.get_param("since")
        try:
            since_at = datetime.fromisoformat(since) if since else None
        except ValueError as ex:
            raise error(
                422,
                "field.invalid",
                "La date « since » doit être au format ISO 8601.",
                field="since",
            ) from ex
        if since_at is not None and since_at.tzinfo is None:
            raise error(
                422,
                "field.invalid",
                "La date « since » doit indiquer son fuseau (Z ou +01:00).",
                field="since",
            )
        rows = self.store.list_invoices(
            member,
            status=csv_param(req, "status"),
            buyer_siret=req.get_param("customer"),
            since=since_at,
            after_seq=decode_cursor(cursor) if cursor else None,
            limit=limit + 1,
        )
        page, more = rows[:limit], len(rows) > limit
        resp.media = {
            "items": [invoice_summary(row) for row in page],
            "next_cursor": encode_cursor(page[-1]["seq"]) if more else None,
        }


class ValidateResource:
    def __init__(self, pipeline: Pipeline, max_body: int):
        self.pipeline = pipeline
        self.max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Check a document without storing or sending anything (dry run)."""
        member = member_id(req)
        data = read_body(req, self.max_body)
        resp.media = self.pipeline.dry_run(
            member, data, req.content_type or "", req.get_param("format"), rule_sets(req)
        )


class InvoiceResource:
    def __init__(self, store):
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Show one invoice: status, history, documents and the canonical invoice."""
        row = self.store.get_invoice(invoice_id, member_id(req))
        if row is None:
            raise not_found("Facture")
        resp.media = invoice_view(self.store, row)


class RetryResource:
    def __init__(self, store, pm, clock):
        self.store = store
        self.pm = pm
        self.clock = clock

    def on_post(self, req: falcon.Request, resp: falcon.Response, invoice_id: str) -> None:
        """Send an EN_ERREUR invoice again, once its cause is fixed (settings, directory…).

        It goes back to the outbox (RECU); the worker checks the directory afresh and the
        outlet, seeing a later attempt, looks for an earlier deposit before sending.
        """
        require_write(req)
        row = self.store.get_invoice(invoice_id, member_id(req))
        if row is None:
            raise not_found("Facture")
        if row["status"] != lifecycle.EN_ERREUR:
            raise error(
                409,
                "invoice.not_retryable",
                f"Seule une facture en erreur peut être renvoyée ; celle-ci est {row['status']}.",
                field="status",
            )
        now = self.clock()
        recorder = lifecycle.Recorder(self.store, self.pm)
        with self.store.begin() as conn:
            recorder.change(
                conn,
                row,
                lifecycle.RECU,
                now,
                "Renvoi demandé : la facture repart vers sa sortie",
                next_attempt_at=now,
                lease_owner=None,
                lease_until=None,
            )
        recorder.notify()
        resp.status = falcon.HTTP_202
        resp.media = invoice_view(self.store, self.store.get_invoice(invoice_id))


class DocumentResource:
    def __init__(self, store):
        self.store = store

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, invoice_id: str, name: str
    ) -> None:
        """Download one document of an invoice, byte for byte as archived."""
        row = self.store.get_invoice(invoice_id, member_id(req))
        document = self.store.get_document(row["seq"], name) if row else None
        if document is None:
            raise not_found("Document")
        resp.content_type = document["media_type"]
        resp.data = document["content"]
        resp.set_header("Content-Disposition", f'attachment; filename="{name}"')
        resp.set_header("X-Content-SHA256", document["sha256"])

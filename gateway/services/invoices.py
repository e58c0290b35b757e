"""Invoices: submit, dry run, read, list, documents, and the actions on them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from gateway import lifecycle
from gateway.archive import BlobMissing
from gateway.errors import Conflict, Damaged, InvalidInput, not_found
from gateway.logs import get_logger
from gateway.model import Invoice
from gateway.pipeline import Accepted, Pipeline
from gateway.services.paging import (
    decode_cursor,
    decode_time_cursor,
    encode_cursor,
    encode_time_cursor,
)
from gateway.store import Store
from gateway.views import invoice_summary, invoice_view

log = get_logger(__name__)

#: Most invoices one page of a listing holds.
MAX_PAGE = 200
#: Invoices one search looks at, the newest below its cursor: its cost, whatever the member's
#: number of invoices (the next page goes on below them).
SEARCH_SCAN = 2000
#: What a search text may be as an amount: ``97,65``, ``97.65``, ``1 234,5``.
AMOUNT = re.compile(r"\d{1,12}(?:[.,]\d{1,2})?")


class InvoiceService:
    def __init__(self, store: Store, pipeline: Pipeline, pm, clock: Callable[[], datetime]):
        self.store = store
        self.pipeline = pipeline
        self.pm = pm
        self.clock = clock

    def submit(
        self,
        member_id: str,
        data: bytes,
        media_type: str = "",
        format_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """Accept a document (any installed format) into the outbox, or refuse it."""
        return self.pipeline.submit(member_id, data, media_type, format_name, idempotency_key)

    def dry_run(
        self,
        member_id: str | None,
        data: bytes,
        media_type: str = "",
        format_name: str | None = None,
        rule_sets: frozenset[str] | None = None,
    ) -> dict:
        """Return what submitting would find and where it would go, storing nothing.
        Without a member: no duplicate check, and the default route."""
        return self.pipeline.dry_run(member_id, data, media_type, format_name, rule_sets)

    def read(
        self, data: bytes, media_type: str = "", format_name: str | None = None
    ) -> list[Invoice]:
        """Return the invoices a document holds, checked for nothing but being readable."""
        _, invoices = self.pipeline.read(data, media_type, format_name)
        return invoices

    def _row(self, member_id: str, invoice_id: str) -> dict:
        row = self.store.get_invoice(invoice_id, member_id)
        if row is None:
            raise not_found("Facture")
        return row

    def get(self, member_id: str, invoice_id: str) -> dict:
        """Return the invoice: status, history, documents and the canonical invoice."""
        return invoice_view(self.store, self._row(member_id, invoice_id))

    def check_action(self, member_id: str, invoice_id: str, name: str) -> None:
        """NotFound for another member's invoice; Conflict ``invoice.action_not_allowed``
        when action ``name`` may not be taken on it now, saying why."""
        lifecycle.require_action(self._row(member_id, invoice_id), name)

    def list(
        self,
        member_id: str,
        *,
        status: list[str] | None = None,
        customer: str | None = None,
        since: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        needs_action: bool = False,
        with_reasons: bool = False,
    ) -> dict:
        """Return a page of the member's invoices, newest first, and the next page's cursor.
        ``since`` (ISO 8601 with its time zone) keeps those changed since then;
        ``needs_action`` lists instead those the bookseller must act on, the longest
        waiting first. ``with_reasons`` adds each one's last status comment (``reason``:
        the buyer's, for an invoice sent back), read in one query."""
        if needs_action:
            page = self._needing_action(member_id, status, customer, since, cursor, limit)
        else:
            page = self._listing(member_id, status, customer, since, cursor, limit)
        rows = page.pop("rows")
        if with_reasons:
            histories = self.store.histories([row["seq"] for row in rows])
            for item, row in zip(page["items"], rows, strict=True):
                last = histories[row["seq"]][-1:] or [{"comment": None}]
                item["reason"] = last[0]["comment"]
        return page

    def _listing(
        self,
        member_id: str,
        status: list[str] | None,
        customer: str | None,
        since: str | None,
        cursor: str | None,
        limit: int,
    ) -> dict:
        rows = self.store.list_invoices(
            member_id,
            status=status,
            buyer_siret=customer,
            since=parse_since(since),
            after_seq=decode_cursor(cursor) if cursor else None,
            limit=limit + 1,
            summary=True,
        )
        page, more = rows[:limit], len(rows) > limit
        return {
            "items": [invoice_summary(row) for row in page],
            "next_cursor": encode_cursor(page[-1]["seq"]) if more else None,
            "rows": page,
        }

    def search(
        self,
        member_id: str,
        text: str,
        *,
        status: list[str] | None = None,
        customer: str | None = None,
        since: str | None = None,
        needs_action: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> dict:
        """Return a page of the member's invoices whose number starts with ``text``, whose
        buyer it names (SIRET, or part of a customer's name) or whose payable total it is
        (``97,65``), with the filters of :meth:`list`, newest first.

        A page looks at :data:`SEARCH_SCAN` invoices at most (``examined``); when they do
        not fill it, ``next_cursor`` goes on with the older ones. The invoice whose number
        is ``text`` exactly heads the first page however old it is (the unique index finds
        it)."""
        text = text.strip()
        compact = re.sub(r"[\s\u202f\u00a0]", "", text)
        wanted = text.casefold()
        sirets = [
            row["siret"]
            for row in self.store.list_customers(member_id)
            if wanted and wanted in (row["name"] or "").casefold()
        ]
        if len(compact) == 14 and compact.isdigit():
            sirets.append(compact)
        payable = None
        if AMOUNT.fullmatch(compact):
            payable = f"{Decimal(compact.replace(',', '.')):.2f}"
        since_at = parse_since(since)
        rows, examined, lowest = self.store.search_invoices(
            member_id,
            scan=SEARCH_SCAN,
            status=status,
            after_seq=decode_cursor(cursor) if cursor else None,
            number_prefix=text or None,
            buyer_sirets=sirets,
            payable=payable,
            buyer_siret=customer,
            since=since_at,
            needs_action=needs_action,
            limit=limit + 1,
        )
        page = rows[:limit]
        if len(rows) > limit:
            next_cursor = encode_cursor(page[-1]["seq"])
        else:
            next_cursor = encode_cursor(lowest) if lowest is not None else None
        exact = self.store.invoice_holding(member_id, text) if text and not cursor else None
        if (
            exact is not None
            and exact["seq"] not in {row["seq"] for row in page}
            and (not status or exact["status"] in status)
            and (not customer or exact["buyer_siret"] == customer)
            and (since_at is None or exact["updated_at"] >= since_at)
            and (not needs_action or lifecycle.needs_bookseller(exact))
        ):
            page.insert(0, exact)
        return {
            "items": [invoice_summary(row) for row in page],
            "next_cursor": next_cursor,
            "examined": examined,
        }

    def count_by_status(self, member_id: str, cap: int) -> dict[str, int]:
        """How many of the member's invoices each status holds, and how many wait for the
        bookseller (``needs_action``), counted up to ``cap``."""
        return self.store.count_by_status(member_id, list(lifecycle.STATUS_LABELS), cap)

    def _needing_action(
        self,
        member_id: str,
        status: list[str] | None,
        customer: str | None,
        since: str | None,
        cursor: str | None,
        limit: int,
    ) -> dict:
        if status or since:
            raise InvalidInput.of(
                "field.invalid",
                "« needs_action » choisit déjà les statuts et l'ordre : ne le combinez pas avec "
                "« status » ni « since ».",
                field="needs_action",
            )
        rows = self.store.list_needing_action(
            member_id,
            buyer_siret=customer,
            after=decode_time_cursor(cursor) if cursor else None,
            limit=limit + 1,
            summary=True,
        )
        page, more = rows[:limit], len(rows) > limit
        last = page[-1] if page else None
        return {
            "items": [invoice_summary(row) for row in page],
            "next_cursor": encode_time_cursor(last["updated_at"], last["seq"]) if more else None,
            "rows": page,
        }

    def document(
        self, member_id: str, invoice_id: str, name: str, reader: dict | None = None
    ) -> dict:
        """Return one document of an invoice (``content`` byte for byte as archived), and
        journal that ``reader`` (``key_id``, ``role``) read it."""
        row = self.store.get_invoice(invoice_id, member_id)
        try:
            document = self.store.get_document(row["seq"], name) if row else None
        except BlobMissing as ex:
            log.error("archive.document_missing", invoice_id=invoice_id, name=name, sha256=str(ex))
            raise Damaged.of(
                "archive.document_missing",
                f"Le contenu du document « {name} » manque dans l'archive. Prévenez "
                "l'administrateur de la passerelle : il lance « facture-gateway archive verify » "
                "pour voir l'étendue du problème et restaure l'archive depuis sa sauvegarde.",
                field="name",
            ) from ex
        if document is None:
            raise not_found("Document")
        self.store.record_document_read(row["member_id"], row["id"], document, reader)
        return document

    def retry(self, member_id: str, invoice_id: str) -> dict:
        """Send an EN_ERREUR invoice again, once its cause is fixed (settings, directory…).

        It goes back to the outbox (RECU); the worker checks the directory afresh and the
        outlet, seeing a later attempt, looks for an earlier deposit before sending.
        """
        row = self._row(member_id, invoice_id)
        if row["status"] != lifecycle.EN_ERREUR:
            raise Conflict.of(
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
        return invoice_view(self.store, self.store.get_invoice(invoice_id))


def parse_since(since: str | None) -> datetime | None:
    """``since`` of a listing: ISO 8601 with its time zone."""
    try:
        since_at = datetime.fromisoformat(since) if since else None
    except ValueError as ex:
        raise InvalidInput.of(
            "field.invalid", "La date « since » doit être au format ISO 8601.", field="since"
        ) from ex
    if since_at is not None and since_at.tzinfo is None:
        raise InvalidInput.of(
            "field.invalid",
            "La date « since » doit indiquer son fuseau (Z ou +01:00).",
            field="since",
        )
    return since_at

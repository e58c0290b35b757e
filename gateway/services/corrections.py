"""Corrections: an invoice refused before reaching a buyer corrected under its number, and
an invoice a buyer received cancelled by a credit note, with the invoice reissued.

Both go through the pipeline as a new document would (read, validated, routed, rendered)
and back to the outbox; the invoices made from one another are linked (``invoice_links``).
"""

from __future__ import annotations

import dataclasses
import json
import string
from collections.abc import Callable
from datetime import date, datetime

from gateway import lifecycle
from gateway.codec import invoice_from_data, invoice_to_data
from gateway.errors import DomainError, Finding, InvalidInput, not_found
from gateway.formats import FormatHandler
from gateway.model import Invoice
from gateway.pipeline import DUPLICATE, Pipeline, Prepared, original_document
from gateway.schemas import dump_invoice
from gateway.store import Store
from gateway.times import PARIS
from gateway.views import invoice_view

#: An invoice the corrections made, ready to store: as prepared, its format, its document.
Made = tuple[Prepared, FormatHandler, bytes]
JSON = "application/json"


def prefixed(findings: list[Finding], prefix: str) -> list[Finding]:
    """Name each finding's field from the request body's ``prefix`` (``reissue.number``)."""
    return [
        dataclasses.replace(f, field=f"{prefix}.{f.field}" if f.field else prefix) for f in findings
    ]


def merged(base: dict, changes: dict) -> dict:
    """Return ``base`` with ``changes`` applied: objects merged key by key, anything else
    (lists included: lines are given whole) replaced."""
    result = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def pattern_fields(pattern: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    except ValueError:
        return set()


def credit_note_number(pattern: str, year: int, seq: int) -> str:
    return pattern.format(year=year, seq=seq)


def bad_pattern(pattern: str) -> InvalidInput:
    return InvalidInput.of(
        "settings.invalid",
        f"Le modèle de numéro d'avoir « {pattern} » n'est pas valable : il doit contenir "
        "{seq} (le numéro de la séquence, par exemple {seq:05d}) et ne peut contenir que "
        "{year} en plus. Corrigez le réglage credit_notes.pattern du membre.",
        field="settings.credit_notes.pattern",
    )


def partial_refusal() -> InvalidInput:
    return InvalidInput.of(
        "credit_note.partial",
        "Un avoir partiel est déconseillé par l'opérateur de Chorus Pro : émettez un avoir "
        "total du montant de la facture (sans « lines ») puis une nouvelle facture corrigée "
        "(« reissue »). Pour émettre malgré tout cet avoir partiel, ajoutez "
        '"force_partial": true.',
        field="lines",
    )


class CorrectionService:
    def __init__(self, store: Store, pipeline: Pipeline, clock: Callable[[], datetime]):
        self.store = store
        self.pipeline = pipeline
        self.clock = clock

    def _row(self, member_id: str, invoice_id: str) -> dict:
        row = self.store.get_invoice(invoice_id, member_id)
        if row is None:
            raise not_found("Facture")
        return row

    def _today(self) -> date:
        return self.clock().astimezone(PARIS).date()

    # --- correct and resend -------------------------------------------------------------

    def correct(
        self,
        member_id: str,
        invoice_id: str,
        data: bytes,
        media_type: str = "",
        format_name: str | None = None,
    ) -> dict:
        """Replace an invoice refused before any buyer had it by its corrected document (any
        format, same number), validated like a new one, and send it again.

        The earlier version's documents stay, renamed ``v<version>-…``; its history goes on.
        """
        row = self._row(member_id, invoice_id)
        lifecycle.require_action(row, lifecycle.CORRECT)
        handler, invoices = self.pipeline.read(data, media_type, format_name)
        if len(invoices) != 1:
            raise InvalidInput.of(
                "correction.several_invoices",
                f"Le document contient {len(invoices)} factures : la correction en attend une "
                f"seule, la facture « {row['number']} » corrigée.",
            )
        if invoices[0].number != row["number"]:
            raise InvalidInput.of(
                "correction.number_changed",
                f"La facture corrigée doit garder le numéro « {row['number']} » de celle "
                f"qu'elle remplace (elle porte « {invoices[0].number} ») ; une autre facture "
                "se dépose par POST /v1/invoices.",
                field="number",
            )
        (item,) = self.pipeline.prepare_all(member_id, handler, data, invoices)
        if item.errors:
            raise InvalidInput(item.errors + item.warnings)
        invoice = item.invoice.with_computed_amounts()
        now = self.clock()
        recorder = lifecycle.Recorder(self.store, self.pipeline.pm)
        with self.store.begin() as conn:
            self.store.lock_feed(conn, member_id)
            current = self.store.lock_invoice(conn, invoice_id, member_id)
            lifecycle.require_action(current, lifecycle.CORRECT)  # a concurrent action won
            version = current["version"] + 1
            self.store.version_documents(conn, current["seq"], current["version"])
            recorder.change(
                conn,
                current,
                lifecycle.RECU,
                now,
                f"Corrigée (version {version}) : la facture corrigée remplace la précédente, "
                "gardée dans ses documents, et repart vers sa sortie",
                event_type="invoice.corrected",
                extra={"version": version},
                type=invoice.type.value,
                buyer_siret=invoice.buyer.siret,
                channel=item.route.channel,
                outlet=item.route.outlet,
                source_format=handler.name,
                data=invoice_to_data(invoice),
                warnings=[w.as_dict() for w in item.warnings],
                version=version,
                next_attempt_at=now,
                lease_owner=None,
                lease_until=None,
                last_error=None,
                next_poll_at=None,
                # The refused deposit's receipt speaks of the earlier version (outlet_state,
                # an uncertain deposit to look for, stays).
                outlet_reference=None,
                receipt_data=None,
                history_applied=0,
            )
            for document in (original_document(handler, data), item.document):
                if document is not None:
                    self.store.add_document(
                        conn, current["seq"], document.name, document.media_type, document.content
                    )
        recorder.notify()
        return invoice_view(self.store, self.store.get_invoice(invoice_id))

    def correct_fields(self, member_id: str, invoice_id: str, changes: dict) -> dict:
        """Correct the invoice from the fields that change (canonical JSON names, as a web
        form gives them), the rest as stored: :meth:`correct` with that document."""
        row = self._row(member_id, invoice_id)
        document = merged(self._base(invoice_from_data(row["data"])), changes)
        return self.correct(
            member_id, invoice_id, json.dumps(document, ensure_ascii=False).encode(), JSON
        )

    # --- credit note and reissue --------------------------------------------------------

    def credit_note(self, member_id: str, invoice_id: str, request: dict) -> dict:
        """Cancel an invoice a buyer received by a credit note, and reissue it corrected.

        ``request`` is ``CreditNoteRequestSchema``'s. The credit note is total (the whole
        invoice) unless ``lines`` names some of its lines and ``force_partial`` is set. It
        names the invoice (BT-25, BT-26) and carries its references (engagement…); its
        number comes from the member's sequence. ``reissue`` (the fields that change, a new
        ``number`` among them) makes the new invoice in the same transaction: both are
        stored, or neither.
        """
        row = self._row(member_id, invoice_id)
        lifecycle.require_action(row, lifecycle.CREDIT_NOTE)
        original = invoice_from_data(row["data"])
        lines, total = self._credited_lines(original, request)
        reissue = None
        if request.get("reissue") is not None:
            reissue = self._prepare_reissue(member_id, original, request["reissue"])
        pattern = self._pattern(member_id)
        today = self._today()  # read once: the clock is not read under the lock
        year = today.year
        period = str(year) if "year" in pattern_fields(pattern) else ""

        def prepare(seq: int) -> Made:
            document = self._credit_note_document(
                original,
                credit_note_number(pattern, year, seq),
                today,
                lines,
                total,
                request["reason"],
            )
            return self._prepare(
                member_id, document, "credit_note", (row["channel"], row["outlet"])
            )

        # Validated before the sequence is locked; again under the lock only if another
        # credit note took the number meanwhile (which this early check may already see).
        guess = self.store.credit_note_seq(member_id, period) + 1
        try:
            credit = prepare(guess)
        except InvalidInput as ex:
            if any(f.code != DUPLICATE for f in ex.findings if f.is_error):
                raise
            credit = None
        now = self.clock()
        recorder = lifecycle.Recorder(self.store, self.pipeline.pm)
        with self.store.begin() as conn:
            self.store.lock_feed(conn, member_id)
            current = self.store.lock_invoice(conn, invoice_id, member_id)
            lifecycle.require_action(current, lifecycle.CREDIT_NOTE)  # a concurrent one won
            seq = self.store.next_credit_note_seq(conn, member_id, period)
            if credit is None or seq != guess:
                credit = prepare(seq)
            credit_row = self._insert(
                conn,
                recorder,
                member_id,
                credit,
                "credit_note",
                f"Avoir {'total' if total else 'partiel'} de la facture {row['number']}, "
                "émis par la passerelle",
                now,
            )
            self.store.add_link(conn, current["seq"], lifecycle.CREDIT_NOTE_LINK, credit_row["seq"])
            made = {"credit_note": {"id": credit_row["id"], "number": credit_row["number"]}}
            if reissue is not None:
                reissued = self._insert(
                    conn,
                    recorder,
                    member_id,
                    reissue,
                    "reissue",
                    f"Réémise par la passerelle à la place de la facture {row['number']}",
                    now,
                )
                self.store.add_link(conn, current["seq"], lifecycle.REISSUE, reissued["seq"])
                made["reissue"] = {"id": reissued["id"], "number": reissued["number"]}
            if total:
                self.store.update_invoice(conn, current["seq"], credited_at=now)
            recorder.event(
                conn,
                current,
                "invoice.credited",
                {"number": row["number"], "reason": request["reason"], "total": total, **made},
            )
        recorder.notify()
        return invoice_view(self.store, self.store.get_invoice(invoice_id))

    def _pattern(self, member_id: str) -> str:
        settings = self.pipeline.member_settings(member_id).get("credit_notes") or {}
        pattern = settings.get("pattern") or self.pipeline.config.credit_note_pattern
        fields = pattern_fields(pattern)
        if "seq" not in fields or not fields <= {"seq", "year"}:
            raise bad_pattern(pattern)
        try:
            credit_note_number(pattern, 2000, 1)
        except (ValueError, KeyError, IndexError) as ex:
            raise bad_pattern(pattern) from ex
        return pattern

    @staticmethod
    def _credited_lines(original: Invoice, request: dict) -> tuple[list[str], bool]:
        """Return the ids of the lines credited, and whether that is the whole invoice."""
        every = [line.id for line in original.lines]
        wanted = request.get("lines")
        if wanted is None:
            return every, True
        unknown = [
            Finding(
                code="field.invalid",
                field=f"lines[{index}]",
                message=f"La facture n'a pas de ligne « {line_id} » (lignes : {', '.join(every)}).",
            )
            for index, line_id in enumerate(wanted)
            if line_id not in every
        ]
        if unknown:
            raise InvalidInput(unknown)
        if set(wanted) == set(every):
            return every, True
        if not request.get("force_partial"):
            raise partial_refusal()
        return [line_id for line_id in every if line_id in wanted], False

    def _credit_note_document(
        self,
        original: Invoice,
        number: str,
        issued: date,
        lines: list[str],
        total: bool,
        reason: str,
    ) -> dict:
        """The canonical JSON of the credit note: the invoice's own parties, references and
        (credited) lines, naming it as the invoice it cancels."""
        document = self._base(original)
        document.update(
            number=number,
            type="credit_note",
            issue_date=issued.isoformat(),
            due_date=None,
            payment=None,  # the buyer pays nothing back through it (payment.forbidden)
            preceding_invoice={
                "number": original.number,
                "issue_date": original.issue_date.isoformat(),
            },
            lines=[line for line in document["lines"] if line["id"] in lines],
            notes=[
                f"Avoir {'total' if total else 'partiel'} annulant la facture "
                f"{original.number} du {original.issue_date.strftime('%d/%m/%Y')} : {reason}"
            ],
            prepaid_amount="0.00",
        )
        if not total:  # what the whole invoice bears is not credited line by line
            document.update(allowances=[], charges=[], rounding_amount="0")
        return document

    def _prepare_reissue(self, member_id: str, original: Invoice, changes: dict) -> Made:
        number = changes.get("number")
        if not number or number == original.number:
            raise InvalidInput.of(
                "reissue.number_required",
                "La facture réémise prend un nouveau numéro, jamais utilisé : donnez-le dans "
                f"« reissue.number » (celui de la facture annulée, « {original.number} », ne "
                "peut pas resservir).",
                field="reissue.number",
            )
        base = self._base(original)
        today = self._today()
        if original.due_date is not None:  # the same term from the new issue date
            base["due_date"] = (today + (original.due_date - original.issue_date)).isoformat()
        base["issue_date"] = today.isoformat()
        return self._prepare(member_id, merged(base, changes), "reissue")

    @staticmethod
    def _base(original: Invoice) -> dict:
        """The invoice's canonical JSON without what is computed again from its lines."""
        document = dump_invoice(original)
        for computed in ("totals", "vat_breakdown"):
            document.pop(computed, None)
        return document

    def _prepare(
        self, member_id: str, document: dict, prefix: str, outlet: tuple[str, str] | None = None
    ) -> Made:
        """Read and judge ``document`` as ``POST /v1/invoices`` would (through ``outlet``,
        channel and outlet, when given); refusals name their fields under ``prefix``."""
        data = json.dumps(document, ensure_ascii=False).encode()
        try:
            handler, invoices = self.pipeline.read(data, JSON, None)
            (item,) = self.pipeline.prepare_all(member_id, handler, data, invoices, outlet=outlet)
            if item.errors:
                raise InvalidInput(item.errors + item.warnings)
        except DomainError as ex:
            raise type(ex)(prefixed(ex.findings, prefix), ex.retry_after) from ex
        return item, handler, data

    def _insert(
        self, conn, recorder, member_id, made: Made, prefix: str, comment: str, now: datetime
    ) -> dict:
        item, handler, data = made
        try:
            return self.pipeline.insert_prepared(
                conn,
                recorder,
                member_id,
                item,
                handler.name,
                [original_document(handler, data), item.document],
                comment,
                now,
            )
        except InvalidInput as ex:  # its number taken meanwhile
            raise InvalidInput(prefixed(ex.findings, prefix)) from ex

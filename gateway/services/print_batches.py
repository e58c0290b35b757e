"""Print batches: each member's paper invoices of a day (``A_IMPRIMER``), fetched as one
print-ready document and confirmed once printed (``IMPRIMEE``).

The core reads no PDF: the outlet of the batch's invoices assembles the document through
its ``print`` capability (:meth:`gateway.outlets.Outlet.print_batch`), and says how many
pages it has.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from gateway import lifecycle
from gateway.codec import invoice_from_data
from gateway.errors import Conflict, InvalidInput, Unavailable, not_found
from gateway.logs import get_logger
from gateway.outlets import Document, PrintContext
from gateway.pipeline import Pipeline
from gateway.store import Store
from gateway.times import paris

log = get_logger(__name__)


def batch_day(text: str) -> str:
    """Return the batch's day as stored (``YYYY-MM-DD``); InvalidInput otherwise."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as ex:
        raise InvalidInput.of(
            "field.invalid",
            "La date du lot d'impression s'écrit AAAA-MM-JJ (par exemple 2026-12-01).",
            field="date",
        ) from ex


class PrintBatchService:
    def __init__(self, store: Store, pipeline: Pipeline, pm, clock: Callable[[], datetime]):
        self.store = store
        self.pipeline = pipeline
        self.registry = pipeline.registry
        self.pm = pm
        self.clock = clock

    def _batch(self, member_id: str, text: str) -> tuple[str, dict]:
        day = batch_day(text)
        batch = self.store.get_print_batch(member_id, day)
        if batch is None:  # another member's batch of that day is not found either
            raise not_found("Lot d'impression")
        return day, batch

    def _view(self, day: str, batch: dict, rows: list[dict]) -> dict:
        return {
            "date": day,
            "invoices": [
                {
                    "id": row["id"],
                    "number": row["number"],
                    "buyer": (row["data"].get("buyer") or {}).get("name") or row["buyer_siret"],
                    "status": row["status"],
                    "in_fetched_pdf": row["item_fetched_at"] is not None,
                }
                for row in rows
            ],
            "pages": batch["pages"],
            "fetched_at": batch["fetched_at"].isoformat() if batch["fetched_at"] else None,
            "confirmed_at": batch["confirmed_at"].isoformat() if batch["confirmed_at"] else None,
            "pdf": f"/v1/print-batches/{day}/pdf",
        }

    def get(self, member_id: str, text: str) -> dict:
        """Return the member's batch of that day: its invoices, when it was fetched, how
        many pages it had then, and when it was confirmed."""
        day, batch = self._batch(member_id, text)
        return self._view(day, batch, self.store.print_batch_invoices(member_id, day))

    def pdf(self, member_id: str, text: str) -> Document:
        """Return the print-ready document of the invoices still to print (all of them again,
        a reprint, once every one is printed), and record which invoices it holds."""
        day, _ = self._batch(member_id, text)
        rows = self.store.print_batch_invoices(member_id, day)
        waiting = [row for row in rows if row["status"] == lifecycle.A_IMPRIMER]
        chosen = waiting or rows
        outlet = self.registry.outlets.get(chosen[0]["outlet"])
        if outlet is None or "print" not in outlet.capabilities:
            raise Unavailable.of(
                "print_batch.unavailable",
                f"La sortie « {chosen[0]['outlet']} » de ce lot n'est pas installée ou ne sait "
                "pas imprimer : l'administrateur doit l'installer.",
                field="date",
            )
        context = PrintContext(
            member_id=member_id,
            day=date.fromisoformat(day),
            settings=self.pipeline.member_settings(member_id).get(outlet.name, {}),
            render=lambda name, invoice: self.registry.renderers[name].render(invoice),
        )
        try:
            printout = outlet.print_batch([invoice_from_data(r["data"]) for r in chosen], context)
        except Exception as ex:
            log.exception("print_batch.failed", outlet=outlet.name, member_id=member_id, day=day)
            raise Unavailable.of(
                "print_batch.failed",
                "Le lot d'impression n'a pas pu être préparé ; réessayez, et prévenez "
                "l'administrateur si cela se reproduit.",
                field="date",
            ) from ex
        self.store.record_print_fetch(
            member_id, day, [row["seq"] for row in waiting], printout.pages, self.clock()
        )
        return printout.document

    def confirm(self, member_id: str, text: str) -> dict:
        """Mark printed (``IMPRIMEE``) every invoice the fetched document held that still
        waited; one added since stays ``A_IMPRIMER`` until a document holding it is fetched."""
        day, batch = self._batch(member_id, text)
        if batch["fetched_at"] is None:
            raise Conflict.of(
                "print_batch.not_fetched",
                "Le lot d'impression n'a pas encore été téléchargé : téléchargez-le (PDF), "
                "imprimez-le, puis confirmez l'impression.",
                field="date",
            )
        now = self.clock()
        fetched = f"{paris(batch['fetched_at']):%d/%m/%Y à %H:%M}"
        recorder = lifecycle.Recorder(self.store, self.pm)
        confirmed = []
        rows = self.store.print_batch_invoices(member_id, day)
        with self.store.begin() as conn:
            for row in rows:
                current = self.store.invoice_in(conn, row["seq"])
                if row["item_fetched_at"] is None or current["status"] != lifecycle.A_IMPRIMER:
                    continue
                recorder.change(
                    conn,
                    current,
                    lifecycle.IMPRIMEE,
                    now,
                    f"Imprimée pour un envoi papier (lot du {day}, téléchargé le {fetched})",
                )
                confirmed.append(row)
            self.store.confirm_print_batch(
                conn, member_id, day, [row["seq"] for row in confirmed], now
            )
        recorder.notify()
        view = self.get(member_id, day)
        view["confirmed"] = [row["id"] for row in confirmed]
        return view

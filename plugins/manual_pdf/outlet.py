"""The ``manual_pdf`` outlet.

Since August 2026 the portal's single-invoice upload refuses Factur-X (PDF/A-3) files: the
bookseller uploads the ``pdf`` rendering (PDF/A-2b, no attachment) and types the recipient
and the totals in the portal's fields, as the deposit sheet lists them. The invoice waits
in ``A_DEPOSER`` until the bookseller confirms (``POST /v1/invoices/{id}/manual-deposit``).
The CII is still rendered at acceptance, so that the EN 16931 rules judge the invoice; it
is archived, not sent.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from gateway.plugin_api import (
    ConfigError,
    ConfigField,
    Cost,
    Document,
    Invoice,
    Outlet,
    Receipt,
    SendContext,
)
from plugins.manual_pdf.sheet import ATTACHMENT_PREFIX, deposit_sheet

#: What the bookseller downloads, as the invoice's documents.
PORTAL_PDF = "facture-portail.pdf"
SHEET = "fiche-de-depot.pdf"
PDF = "application/pdf"


def minutes_setting(config: dict, name: str) -> Decimal:
    """Return the ``minutes_per_invoice`` setting as a positive Decimal; ConfigError naming it."""
    try:
        minutes = Decimal(str(config["minutes_per_invoice"]))
    except (InvalidOperation, ValueError):
        minutes = Decimal(-1)
    if not minutes.is_finite() or minutes < 0:
        raise ConfigError(
            f"Réglage « minutes_per_invoice » de la sortie {name} : un nombre de minutes "
            f"positif est attendu, pas « {config['minutes_per_invoice']} »."
        )
    return minutes


class ManualPdfOutlet(Outlet):
    name = "manual_pdf"
    label = "Dépôt manuel sur le portail Chorus Pro (PDF et fiche de dépôt)"
    capabilities = frozenset({"send", "directory"})
    config_fields = {
        "minutes_per_invoice": ConfigField(
            "the bookseller's minutes to upload one invoice on the portal", default=5
        ),
    }
    cost = Cost(
        minutes_per_invoice=Decimal(5),
        note="gratuit (portail Chorus Pro), mais du temps du libraire",
    )

    def __init__(self, config: dict | None = None):
        super().__init__(config)
        self.minutes = minutes_setting(self.config, self.name)

    def price_list(self) -> Cost:
        return Cost(minutes_per_invoice=self.minutes, note=self.cost.note)

    def document_format(self, settings: dict) -> tuple[str, str] | None:
        return "cii", "chorus"

    def send(self, invoice: Invoice, documents: list[Document], context: SendContext) -> Receipt:
        invoice = invoice.with_computed_amounts()
        attachments = [
            document.name.removeprefix(ATTACHMENT_PREFIX)
            for document in documents
            if document.name.startswith(ATTACHMENT_PREFIX)
        ]
        plain = context.render("pdf", invoice)
        sheet = deposit_sheet(invoice, PORTAL_PDF, attachments, context.directory_entry)
        return Receipt(
            outlet=self.name,
            reference=invoice.number,
            status="A_DEPOSER",
            comment=(
                f"À déposer sur le portail Chorus Pro : fichier « {PORTAL_PDF} », à saisir "
                f"comme l'indique « {SHEET} »"
            ),
            data={"number": invoice.number},
            documents=[Document(PORTAL_PDF, PDF, plain), Document(SHEET, PDF, sheet)],
        )

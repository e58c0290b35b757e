"""The ``paper`` outlet: the invoice joins its day's print batch (``A_IMPRIMER``); the
bookseller fetches the batch's PDF (``print`` capability: :meth:`PaperOutlet.print_batch`),
prints it, posts it and confirms (``IMPRIMEE``). Nothing leaves by the network."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from gateway.plugin_api import (
    ConfigError,
    ConfigField,
    Cost,
    Document,
    Finding,
    Invoice,
    Outlet,
    PermanentOutletError,
    PrintContext,
    Printout,
    Receipt,
    SendContext,
)
from plugins.paper.batch import assemble

POSTAGE_NOTE = "impression et affranchissement à la charge du libraire"


def _amount(config: dict, key: str) -> Decimal:
    try:
        value = Decimal(str(config[key]))
    except (InvalidOperation, ValueError):
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        raise ConfigError(
            f"Réglage « {key} » de la sortie paper : un nombre positif est attendu, "
            f"pas « {config[key]} »."
        )
    return value


def address_findings(invoice: Invoice) -> list[Finding]:
    """What the envelope's window would miss: a street line, a postcode and a city."""
    address = invoice.buyer.address
    missing = [
        label
        for label, value in (
            ("la ligne d'adresse", address.line1),
            ("le code postal", address.postcode),
            ("la ville", address.city),
        )
        if not value
    ]
    if not missing:
        return []
    return [
        Finding(
            code="buyer.address_incomplete",
            field="buyer.address",
            message=(
                "Adresse postale du destinataire incomplète pour un envoi papier : il manque "
                + ", ".join(missing)
                + "."
            ),
        )
    ]


class PaperOutlet(Outlet):
    name = "paper"
    label = "Envoi papier (lot d'impression du jour, enveloppe à fenêtre)"
    capabilities = frozenset({"send", "print"})
    config_fields = {
        "minutes_per_invoice": ConfigField(
            "the bookseller's minutes to print, fold and post one invoice", default=3
        ),
        "postage": ConfigField(
            "euros excluding VAT of paper, envelope and stamp for one invoice", default=0
        ),
        "duplex": ConfigField(
            "pad each invoice to an even page count, for printing on both sides", default=True
        ),
    }
    cost = Cost(minutes_per_invoice=Decimal(3), note=POSTAGE_NOTE)

    def __init__(self, config: dict | None = None):
        super().__init__(config)
        self.minutes = _amount(self.config, "minutes_per_invoice")
        self.postage = _amount(self.config, "postage")
        if not isinstance(self.config["duplex"], bool):
            raise ConfigError(
                "Réglage « duplex » de la sortie paper : true ou false est attendu, "
                f"pas « {self.config['duplex']} »."
            )

    def price_list(self) -> Cost:
        return Cost(per_invoice=self.postage, minutes_per_invoice=self.minutes, note=POSTAGE_NOTE)

    def send(self, invoice: Invoice, documents: list[Document], context: SendContext) -> Receipt:
        findings = address_findings(invoice)
        if findings:
            raise PermanentOutletError(findings[0].message, findings=findings)
        return Receipt(
            outlet=self.name,
            reference=invoice.number,
            status="A_IMPRIMER",
            comment="Ajoutée au lot d'impression du jour",
            data={"number": invoice.number},
        )

    def print_batch(self, invoices: list[Invoice], context: PrintContext) -> Printout:
        content, pages = assemble(
            [(invoice, context.render("pdf", invoice)) for invoice in invoices],
            duplex=self.config["duplex"],
        )
        name = f"lot-impression-{context.day.isoformat()}.pdf"
        return Printout(Document(name, "application/pdf", content), pages)

"""The deposit sheet: one A4 page telling the bookseller what to type on the Chorus Pro
portal for one invoice (fpdf2, Source Sans Pro for French text)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import font_source_sans_pro
from fpdf import FPDF

from gateway.plugin_api import (
    DirectoryEntry,
    Invoice,
    InvoiceType,
    euros,
    french_date,
)

#: Stored names of an invoice's attachments (``piece-jointe.<file name>``).
ATTACHMENT_PREFIX = "piece-jointe."
PORTAL = "https://chorus-pro.gouv.fr/"
PARIS = ZoneInfo("Europe/Paris")
FAMILY = "sourcesans"
MARGIN = 15
WIDTH = 210 - 2 * MARGIN
LABEL = 58  # width of the labels' column, in mm
GREY = (232, 236, 240)


def _yes(flag: bool) -> str:
    return "oui" if flag else "non"


def _kind(invoice: Invoice) -> str:
    return "Avoir" if invoice.type == InvoiceType.CREDIT_NOTE else "Facture"


def portal_fields(invoice: Invoice, entry: DirectoryEntry | None) -> list[tuple[str, str]]:
    """What to type in the portal's fields, in its order: recipient, references, totals."""
    refs, totals = invoice.references, invoice.totals
    not_asked = "ne rien saisir (non demandé)"
    rows = [
        ("Type de document", _kind(invoice)),
        ("Destinataire : SIRET", invoice.buyer.siret or ""),
        ("Destinataire : raison sociale", entry.name if entry else invoice.buyer.name),
        ("Code service", refs.service_code or not_asked),
        ("N° d'engagement", refs.engagement or not_asked),
        (
            "N° d'avoir" if invoice.type == InvoiceType.CREDIT_NOTE else "N° de facture",
            invoice.number,
        ),
        ("Date", french_date(invoice.issue_date)),
        ("Montant HT", euros(totals.tax_exclusive, invoice.currency)),
        ("Montant TVA", euros(totals.vat, invoice.currency)),
        ("Montant TTC", euros(totals.tax_inclusive, invoice.currency)),
    ]
    if invoice.preceding_invoice:
        rows.insert(7, ("N° de la facture d'origine", invoice.preceding_invoice.number))
    if totals.payable != totals.tax_inclusive:
        rows.append(("Net à payer", euros(totals.payable, invoice.currency)))
    return rows


def directory_facts(invoice: Invoice, entry: DirectoryEntry | None) -> tuple[str, list[str]]:
    """The directory's word on the recipient (title with the date checked, then facts)."""
    if entry is None:
        return "Annuaire Chorus Pro : non consulté", [
            "La passerelle n'a pas pu lire la fiche de cette structure : vérifiez-la sur le "
            "portail (« Rechercher structure publique ») avant de déposer."
        ]
    when = ""
    if entry.checked_at:
        local = entry.checked_at.astimezone(PARIS)
        when = f" (vérifié le {local:%d/%m/%Y à %H:%M}, heure de Paris)"
    facts = [
        f"Structure {entry.siret} : {entry.status}",
        f"Service obligatoire : {_yes(entry.service_required)} ; engagement obligatoire : "
        f"{_yes(entry.engagement_required)} ; service ou engagement obligatoire : "
        f"{_yes(entry.service_or_engagement_required)}",
    ]
    code = invoice.references.service_code
    service = entry.service(code) if code else None
    if service is not None:
        facts.append(
            f"Service « {service.code} » ({service.name}) : {service.status} ; engagement "
            f"obligatoire pour ce service : {_yes(service.engagement_required)}"
        )
    elif code:
        facts.append(f"Service « {code} » : absent de l'annuaire")
    return f"Annuaire Chorus Pro{when}", facts


def steps(invoice: Invoice, pdf_name: str) -> list[str]:
    kind = _kind(invoice).lower()
    return [
        f"Connectez-vous sur {PORTAL} avec votre compte fournisseur.",
        "Dans « Accès rapide », cliquez sur « + Déposer une facture ».",
        f"Choisissez le dépôt d'un fichier PDF et chargez « {pdf_name} » ({kind} "
        f"n° {invoice.number}).",
        "Cadre de facturation : « Dépôt par un fournisseur d'une facture » (A1).",
        "Saisissez le destinataire, les références et le pied de facture exactement comme "
        "ci-dessous (code service et engagement : respectez majuscules et minuscules).",
        "Ajoutez les pièces jointes indiquées plus bas, puis validez le dépôt.",
        "Notez le numéro de facture Chorus Pro affiché, puis confirmez le dépôt dans votre "
        "logiciel avec ce numéro : la passerelle suivra alors le statut de la facture.",
    ]


class _Sheet(FPDF):
    def __init__(self):
        super().__init__(orientation="P", unit="mm", format="A4", enforce_compliance="PDF/A-2B")
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN)
        self.add_font(FAMILY, "", font_source_sans_pro.font_files_ttf["SourceSansPro"])
        self.add_font(FAMILY, "B", font_source_sans_pro.font_files_ttf["SourceSansProBold"])

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font(FAMILY, "B", 11)
        self.set_fill_color(*GREY)
        self.cell(WIDTH, 6.5, text, fill=True, new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def text_lines(self, lines: list[str], size: float = 9.5, height: float = 4.6) -> None:
        self.set_font(FAMILY, "", size)
        for line in lines:
            self.multi_cell(WIDTH, height, line, new_x="LMARGIN", new_y="NEXT")


def deposit_sheet(
    invoice: Invoice,
    pdf_name: str,
    attachments: list[str],
    entry: DirectoryEntry | None,
) -> bytes:
    """Return the one-page deposit sheet of ``invoice`` (computed amounts) as a PDF."""
    pdf = _Sheet()
    title = f"Fiche de dépôt sur le portail Chorus Pro — {_kind(invoice).lower()} {invoice.number}"
    pdf.set_title(title)
    pdf.set_author(invoice.seller.name)
    pdf.set_creator("facture-gateway")
    pdf.set_lang("fr-FR")
    pdf.add_page()
    pdf.set_font(FAMILY, "B", 16)
    pdf.cell(WIDTH, 8, "Fiche de dépôt sur le portail Chorus Pro", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    pdf.cell(
        WIDTH,
        5.5,
        f"{_kind(invoice)} n° {invoice.number} du {french_date(invoice.issue_date)} — "
        f"{invoice.seller.name} à {invoice.buyer.name}",
        new_x="LMARGIN",
        new_y="NEXT",
    )

    pdf.heading("Ce que vous faites sur le portail")
    pdf.set_font(FAMILY, "", 9.5)
    for number, step in enumerate(steps(invoice, pdf_name), start=1):
        pdf.cell(6, 4.8, f"{number}.")
        pdf.multi_cell(WIDTH - 6, 4.8, step, new_x="LMARGIN", new_y="NEXT")

    pdf.heading("À saisir sur le portail")
    for label, value in portal_fields(invoice, entry):
        pdf.set_font(FAMILY, "", 10)
        pdf.cell(LABEL, 6.2, label, border="B")
        pdf.set_font(FAMILY, "B", 11)
        pdf.cell(WIDTH - LABEL, 6.2, value, border="B", new_x="LMARGIN", new_y="NEXT")

    pdf.heading("Pièces jointes à ajouter")
    if attachments:
        pdf.text_lines([f"• {name}" for name in attachments])
    else:
        hints = []
        if invoice.delivery_notes:
            hints.append("bon(s) de livraison " + ", ".join(invoice.delivery_notes))
        if invoice.references.purchase_order:
            hints.append(f"bon de commande {invoice.references.purchase_order}")
        lines = ["Aucune : le PDF de la facture suffit."]
        if hints:
            lines.append(
                f"Si le destinataire demande des justificatifs ({', '.join(hints)}), "
                "ajoutez-les en pièces jointes complémentaires."
            )
        pdf.text_lines(lines)

    title, facts = directory_facts(invoice, entry)
    pdf.heading(title)
    pdf.text_lines(facts)

    pdf.ln(3)
    pdf.set_font(FAMILY, "", 8)
    pdf.set_text_color(90)
    pdf.multi_cell(
        WIDTH,
        3.8,
        "Depuis août 2026, le dépôt unitaire du portail refuse les PDF Factur-X (PDF/A-3) : "
        f"« {pdf_name} » est un PDF/A-2b sans pièce jointe, à déposer tel quel.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())

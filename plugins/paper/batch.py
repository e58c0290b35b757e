"""The print-ready batch: for each invoice, an address sheet for a window envelope, then the
invoice's own pages, every page numbered within its invoice, each invoice on sheets of
its own. Pages are drawn with fpdf2 (Source Sans Pro) and put together with pypdf.

Measurements, in millimetres from the A4 sheet's top left corner. French window envelopes
(DL 110 x 220 and C5 162 x 229, NF EN ISO 269) have their window, about 100 x 45, 15 to 20
from the right edge and 45 to 50 from the top once the sheet is folded in three (DL) or
in two (C5): the address is written in :data:`ADDRESS_BOX`, inside the window wherever
it lies within those bounds. Fold marks in the left margin at a third and two thirds of
the height (99, 198).
"""

from __future__ import annotations

import io

import font_source_sans_pro
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from gateway.plugin_api import Invoice, InvoiceType, euros, french_date

FAMILY = "sourcesans"
MARGIN = 15
#: The window's interior the address keeps to: 5 mm from every edge of a 100 x 45 window
#: placed 20 from the right edge and 47.5 from the top (the middle of 45 to 50).
WINDOW = (90.0, 47.5, 100.0, 45.0)  # x, y, width, height
ADDRESS_BOX = (WINDOW[0] + 5, WINDOW[1] + 4, WINDOW[2] - 10, WINDOW[3] - 8)
ADDRESS_LINE = 4.6
#: Lines of a postal address (NF Z10-011): 7 x 4.6 mm fit the window's 37 mm.
MAX_ADDRESS_LINES = 7
#: Where a page's number within its invoice is written: top right, above the invoice's own
#: 11 mm margin and inside any printer's unprintable edge (about 4 mm).
NUMBER_BASELINE = 8.0
FOLDS = (99.0, 198.0)


def _fonts(pdf: FPDF) -> None:
    pdf.add_font(FAMILY, "", font_source_sans_pro.font_files_ttf["SourceSansPro"])
    pdf.add_font(FAMILY, "B", font_source_sans_pro.font_files_ttf["SourceSansProBold"])


def _new_pdf() -> FPDF:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_creator("facture-gateway")
    _fonts(pdf)
    return pdf


def postal_lines(invoice: Invoice) -> list[str]:
    """The buyer's address as the post reads it: name, service, street, postcode and city
    (upper case, as La Poste asks), country when abroad; at most 7 lines (NF Z10-011)."""
    buyer, address = invoice.buyer, invoice.buyer.address
    lines = [buyer.name]
    if invoice.references.service_code:
        lines.append(f"Service {invoice.references.service_code}")
    lines += [value for value in (address.line1, address.line2, address.line3) if value]
    lines.append(" ".join(value for value in (address.postcode, address.city) if value).upper())
    if address.country and address.country != "FR":
        lines.append(address.country)
    return lines[:MAX_ADDRESS_LINES]


def _kind(invoice: Invoice) -> str:
    return "Avoir" if invoice.type == InvoiceType.CREDIT_NOTE else "Facture"


def _address_sheet(pdf: FPDF, invoice: Invoice, invoice_pages: int) -> None:
    pdf.add_page()
    seller = invoice.seller
    # The sender, top left: clear of the window.
    pdf.set_xy(MARGIN, MARGIN)
    pdf.set_font(FAMILY, "B", 12)
    pdf.cell(70, 6, seller.trading_name or seller.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 9)
    address = seller.address
    sender = [value for value in (address.line1, address.line2, address.line3) if value]
    sender.append(" ".join(value for value in (address.postcode, address.city) if value))
    if seller.siret:
        sender.append(f"SIRET {seller.siret}")
    for line in sender:
        pdf.set_x(MARGIN)
        pdf.cell(70, 4.2, line, new_x="LMARGIN", new_y="NEXT")
    # The recipient, in the window.
    x, y, width, _ = ADDRESS_BOX
    name, *rest = postal_lines(invoice)
    pdf.set_font(FAMILY, "B", 10.5)
    lines = [(line, "B") for line in wrapped(pdf, name, width, 2)] + [(line, "") for line in rest]
    for index, (line, style) in enumerate(lines[:MAX_ADDRESS_LINES]):
        pdf.set_font(FAMILY, style, 10.5)
        pdf.set_xy(x, y + index * ADDRESS_LINE)
        pdf.cell(width, ADDRESS_LINE, pdf_fit(pdf, line, width))
    # What the envelope holds.
    refs, totals = invoice.references, invoice.totals
    pdf.set_xy(MARGIN, 110)
    pdf.set_font(FAMILY, "B", 11)
    kind = _kind(invoice)
    pdf.cell(0, 6, f"{kind} n° {invoice.number} du {french_date(invoice.issue_date)}", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    rows = [
        ("Code service", refs.service_code),
        ("N° d'engagement", refs.engagement),
        ("Bon de commande", refs.purchase_order),
        ("Montant HT", euros(totals.tax_exclusive, invoice.currency)),
        ("Montant TTC", euros(totals.tax_inclusive, invoice.currency)),
        ("Net à payer", euros(totals.payable, invoice.currency)),
    ]
    for label, value in rows:
        if value:
            pdf.set_x(MARGIN)
            pdf.cell(40, 5.5, f"{label} :")
            pdf.cell(0, 5.5, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_x(MARGIN)
    pdf.multi_cell(
        210 - 2 * MARGIN,
        5,
        f"Veuillez trouver ci-joint notre {kind.lower()} n° {invoice.number} "
        f"({invoice_pages} page(s)).",
    )
    pdf.set_draw_color(170)
    for fold in FOLDS:
        pdf.line(3, fold, 8, fold)
    pdf.set_draw_color(0)


def wrapped(pdf: FPDF, text: str, width: float, most: int) -> list[str]:
    """Break ``text`` into at most ``most`` lines of ``width`` (the last one may be cut)."""
    room = width - 2 * pdf.c_margin
    lines: list[str] = []
    for word in text.split():
        if lines and pdf.get_string_width(f"{lines[-1]} {word}") <= room:
            lines[-1] = f"{lines[-1]} {word}"
        elif len(lines) < most:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}"  # cut by pdf_fit
    return lines


def pdf_fit(pdf: FPDF, text: str, width: float) -> str:
    """Cut ``text`` to ``width`` in the current font, so that nothing leaves the window."""
    room = width - 2 * pdf.c_margin
    if pdf.get_string_width(text) <= room:
        return text
    while text and pdf.get_string_width(text + "…") > room:
        text = text[:-1]
    return text + "…"


def _stamp(pdf: FPDF, invoice: Invoice, number: int, total: int) -> None:
    """Add an overlay page: its number within the invoice's set of ``total`` pages."""
    pdf.add_page()
    pdf.set_font(FAMILY, "", 7.5)
    pdf.set_text_color(90)
    text = f"{_kind(invoice)} {invoice.number} — page {number}/{total}"
    pdf.text(210 - MARGIN + 4 - pdf.get_string_width(text), NUMBER_BASELINE, text)


def _blank(pdf: FPDF) -> None:
    """Add the overlay of a duplex padding page, saying why it is blank."""
    pdf.add_page()
    pdf.set_font(FAMILY, "", 8)
    pdf.set_text_color(120)
    text = "Page laissée blanche (impression recto verso)"
    pdf.text((210 - pdf.get_string_width(text)) / 2, 148, text)


def _pages(pdf: FPDF) -> list:
    return list(PdfReader(io.BytesIO(bytes(pdf.output()))).pages)


def assemble(items: list[tuple[Invoice, bytes]], *, duplex: bool) -> tuple[bytes, int]:
    """Return the batch PDF of (invoice, its ``pdf`` rendering) pairs and its page count.

    Each invoice's set is its address sheet and its pages; with ``duplex``, a blank page
    ends a set of odd length, so that the next invoice starts on a sheet of its own. The
    address sheets, and the overlays, are drawn in one document each: the font is parsed
    and embedded once a batch, not once an invoice."""
    rendered = [
        (invoice.with_computed_amounts(), PdfReader(io.BytesIO(content)).pages)
        for invoice, content in items
    ]
    covers, overlays = _new_pdf(), _new_pdf()
    sets = []  # (invoice pages, padded) per invoice
    for invoice, pages in rendered:
        _address_sheet(covers, invoice, len(pages))
        total = len(pages) + 1
        padded = duplex and total % 2 == 1
        for number in range(1, total + 1):
            _stamp(overlays, invoice, number, total)
        if padded:
            _blank(overlays)
        sets.append((pages, padded))
    cover_pages, overlay_pages = iter(_pages(covers)), iter(_pages(overlays))
    writer = PdfWriter()
    for pages, padded in sets:
        for page in [next(cover_pages), *pages]:
            writer.add_page(page).merge_page(next(overlay_pages))  # merged once held
        if padded:
            writer.add_blank_page(210 / 25.4 * 72, 297 / 25.4 * 72).merge_page(next(overlay_pages))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue(), len(writer.pages)

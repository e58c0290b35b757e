"""The human-readable invoice: a PDF/A page in French, drawn with fpdf2.

Used bare by the ``pdf`` renderer as PDF/A-2b (the Chorus Pro portal's single-invoice upload
refuses PDF/A-3 files since August 2026) and, as PDF/A-3b with the CII embedded, by the
``facturx`` renderer: fpdf2 attaches the CII as it writes the file, with the Factur-X XMP of
the factur-x library (whose ``generate_from_binary`` re-read and rewrote the whole PDF with
pypdf, an eighth of the time). The font (Source Sans Pro, from the
``font-source-sans-pro`` package, SIL OFL) is parsed once per process: fpdf2 parses a TTF
on every ``add_font`` and then subsets that parsed copy in place when the document is
written, so each document gets a light copy of a parsed template and, when it is written,
its own fontTools object opened on bytes kept in memory. Subsetting costs partly in
proportion to the glyphs of that font program: a document whose characters are all in
``COMMON`` (what French invoices use) is subset from a program of those glyphs alone, a
fifth of the font.
"""

from __future__ import annotations

import copy
import io
import threading
from dataclasses import dataclass

import font_source_sans_pro
from facturx.facturx import FACTURX_FILENAME, FACTURX_LEVEL2xmp, generate_xmp_object
from fontTools import subset
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import SubsetMap
from fpdf.output import OutputProducer
from lxml import etree

from gateway.plugin_api import (
    NBSP,
    Invoice,
    InvoiceType,
    Line,
    Mentions,
    checkpoint,
    euros,
    french_date,
    french_number,
)
from plugins.en16931.mapping import siren_of, written_figures

FAMILY = "sourcesans"
FONT_FILES = {
    "": font_source_sans_pro.font_files_ttf["SourceSansPro"],
    "B": font_source_sans_pro.font_files_ttf["SourceSansProBold"],
}
#: Tables fpdf2 does not use (it drops them from the subset anyway, after decompiling them:
#: removing them once saves that work on every document).
UNUSED_TABLES = ("GSUB", "GPOS", "GDEF", "kern", "hdmx", "FFTM", "meta")
#: Unicode blocks of the smaller font program: Latin-1, Latin Extended-A (Œ, œ), general
#: punctuation (’, «, », the narrow no-break space of French numbers), currency signs (€)
#: and letterlike symbols (№, ™).
COMMON = (
    (0x20, 0x7E),
    (0xA0, 0x17F),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x2100, 0x214F),
)

TITLES = {
    InvoiceType.INVOICE: "FACTURE",
    InvoiceType.CREDIT_NOTE: "AVOIR",
    InvoiceType.CORRECTED_INVOICE: "FACTURE RECTIFICATIVE",
    InvoiceType.SELF_BILLED: "AUTOFACTURATION",
    InvoiceType.PREPAYMENT: "FACTURE D'ACOMPTE",
}
#: UNTDID 4461 codes a bookseller meets, in words.
PAYMENT_MEANS = {
    "10": "Espèces",
    "20": "Chèque",
    "30": "Virement",
    "42": "Virement sur compte bancaire",
    "48": "Carte bancaire",
    "49": "Prélèvement",
    "57": "Ordre permanent",
    "58": "Virement SEPA",
    "59": "Prélèvement SEPA",
    "97": "Compensation",
}


@dataclass(frozen=True)
class _Program:
    """A font program ready to be subset: TTF bytes and the glyph order its cmap refers to
    (glyph names are handed over instead of decoded from ``post`` on every document)."""

    data: bytes
    glyph_order: tuple[str, ...]
    names: frozenset[str]

    @classmethod
    def of(cls, font: TTFont) -> _Program:
        glyph_order = tuple(font.getGlyphOrder())
        font["post"].formatType = 3.0
        buffer = io.BytesIO()
        font.save(buffer)
        return cls(buffer.getvalue(), glyph_order, frozenset(glyph_order))

    def open(self) -> TTFont:
        font = TTFont(io.BytesIO(self.data), recalcTimestamp=False, recalcBBoxes=False, lazy=True)
        font.setGlyphOrder(list(self.glyph_order))
        return font


@dataclass(frozen=True)
class _Template:
    fontkey: str
    font: object  # fpdf.fonts.TTFFont, parsed once
    full: _Program  # the font without its unused tables
    common: _Program  # the glyphs of the COMMON characters alone

    def program_for(self, glyph_names: list[str]) -> _Program:
        return self.common if self.common.names.issuperset(glyph_names) else self.full


def _common_subset(font: TTFont) -> TTFont:
    """Return the glyphs of ``font`` the COMMON characters need (components included), the
    hinting and glyph names kept: the same glyphs as in the full font, fewer of them."""
    wanted = {
        glyph
        for code, glyph in font.getBestCmap().items()
        if any(first <= code <= last for first, last in COMMON)
    }
    options = subset.Options(
        notdef_outline=True,
        recommended_glyphs=True,
        glyph_names=True,
        name_IDs=["*"],
        name_languages=["*"],
        layout_features=[],
    )
    subsetter = subset.Subsetter(options)
    subsetter.populate(glyphs=sorted(wanted))
    subsetter.subset(font)
    return font


class _Fonts:
    """Parse the TTF files once per process and hand each document its own usable copy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._templates: list[_Template] | None = None

    def _load(self) -> list[_Template]:
        host = FPDF()
        templates = []
        for style, path in FONT_FILES.items():
            host.add_font(FAMILY, style, path)
            font = host.fonts[f"{FAMILY}{style}"]
            font.close()  # its glyph metrics are read; the program is reopened per document
            stripped = TTFont(path, recalcTimestamp=False)
            for tag in UNUSED_TABLES:
                if tag in stripped:
                    del stripped[tag]
            # One Unicode subtable is enough: glyphs are chosen from the template's cmap.
            cmap = stripped["cmap"]
            cmap.tables = [
                table for table in cmap.tables if table.isUnicode() and table.format == 4
            ][:1]
            full = _Program.of(stripped)
            common = _Program.of(_common_subset(full.open()))
            templates.append(_Template(font.fontkey, font, full, common))
        return templates

    def install(self, pdf: FPDF) -> None:
        with self._lock:
            if self._templates is None:
                self._templates = self._load()
        for template in self._templates:
            # Shares the immutable parts (metrics, cmap); fresh subset, program set by embed().
            font = copy.copy(template.font)
            font.i = len(pdf.fonts) + 1
            font.missing_glyphs = []
            font.subset = SubsetMap(font)
            pdf.fonts[template.fontkey] = font

    def embed(self, pdf: FPDF) -> None:
        """Give each font of ``pdf`` the smallest program holding the glyphs it used, for
        fpdf2 to subset as the document is written."""
        for template in self._templates:
            font = pdf.fonts[template.fontkey]
            font.ttfont = template.program_for(font.subset.get_all_glyph_names()).open()


FONTS = _Fonts()


class _Producer(OutputProducer):
    """fpdf2's writer, the font programs chosen once the document's last glyph is drawn
    (the footer of the last page is drawn by ``output``)."""

    def bufferize(self) -> bytearray:
        FONTS.embed(self.fpdf)
        return super().bufferize()


# Layout, in millimetres (A4, 11 mm margins).
MARGIN = 11
WIDTH = 210 - 2 * MARGIN
LINE_HEIGHT = 4.2
COLUMNS = (  # title, width, alignment
    ("ISBN / EAN", 25, "L"),
    ("Désignation", 68, "L"),
    ("Qté", 11, "R"),
    ("Prix public HT", 19, "R"),
    ("Remise", 15, "R"),
    ("Prix net HT", 17, "R"),
    ("TVA", 10, "R"),
    ("Montant HT", 23, "R"),
)
DESIGNATION = 1  # the only column that wraps


#: The stamp of an information copy (``pdf-copy``): never to be paid, never an original.
COPY_STAMP = "COPIE — ne pas payer"
STAMP_RED = (200, 30, 30)
#: The PDF/A level of each use: plain (no attachment possible) or the Factur-X base.
PLAIN = "PDF/A-2B"
FACTURX_BASE = "PDF/A-3B"
#: The Factur-X profile of the embedded CII (factur-x's level name), and the namespace of
#: its XMP properties. EXTENDED-CTC-FR extends Factur-X EXTENDED: its XMP says EXTENDED.
FACTURX_LEVEL = "en16931"
XMP_LEVELS = {**FACTURX_LEVEL2xmp, "extended-ctc-fr": FACTURX_LEVEL2xmp["extended"]}
#: Said on the PDF when the seller pays VAT on debits (CGI annexe III art. 77).
VAT_ON_DEBITS = "Option pour le paiement de la taxe d'après les débits."
FACTURX_URN = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
PRODUCER = "fpdf2"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


class _Page(FPDF):
    def __init__(self, invoice: Invoice, compliance: str, stamp: str | None = None):
        super().__init__(orientation="P", unit="mm", format="A4", enforce_compliance=compliance)
        self.invoice = invoice
        self.stamp = stamp
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=16)
        self.alias_nb_pages()
        FONTS.install(self)

    def output(self, *args, **kwargs) -> bytearray:
        return super().output(*args, output_producer_class=_Producer, **kwargs)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 7.5)
        self.set_text_color(110)
        inv = self.invoice
        self.cell(
            0,
            4,
            f"{TITLES[inv.type].capitalize()} {inv.number} — {inv.seller.name} — "
            f"page {self.page_no()}/{{nb}}",
            align="C",
        )
        self.set_text_color(0)
        if self.stamp:
            self._stamp()

    def header(self) -> None:
        if self.stamp:  # in the top margin, above the title
            self.set_xy(MARGIN, 4)
            self.set_font(FAMILY, "B", 9)
            self.set_text_color(*STAMP_RED)
            self.cell(0, 5, self.stamp.upper(), align="R")
            self.set_text_color(0)
            self.set_xy(MARGIN, MARGIN)

    def _stamp(self) -> None:
        """Write the stamp across the page, over the content (translucent, so the invoice
        stays legible), and once more plainly above the footer."""
        self.set_text_color(*STAMP_RED)
        self.set_font(FAMILY, "B", 52)
        width = self.get_string_width(self.stamp)
        x, y = self.w / 2, self.h / 2
        with self.local_context(fill_opacity=0.18), self.rotation(angle=40, x=x, y=y):
            self.text(x - width / 2, y + 6, self.stamp)
        self.set_font(FAMILY, "B", 9)
        self.set_y(-17)
        self.cell(
            0,
            4,
            "COPIE POUR INFORMATION — NE PAS PAYER : seul l'original remis au destinataire "
            "fait foi",
            align="C",
        )
        self.set_text_color(0)


def _party_lines(invoice_party) -> list[str]:  # noqa: ANN001 (gateway.model.Party)
    address = invoice_party.address
    lines = [value for value in (address.line1, address.line2, address.line3) if value]
    city = " ".join(value for value in (address.postcode, address.city) if value)
    if city:
        lines.append(city)
    if address.country and address.country != "FR":
        lines.append(address.country)
    if invoice_party.siret:
        lines.append(f"SIRET {invoice_party.siret}")
    if invoice_party.vat_id:
        lines.append(f"TVA intracommunautaire {invoice_party.vat_id}")
    if invoice_party.email:
        lines.append(invoice_party.email)
    return lines


def _references(invoice: Invoice) -> list[tuple[str, str]]:
    refs = invoice.references
    rows = [
        ("Code service", refs.service_code),
        ("N° d'engagement", refs.engagement),
        ("N° de marché", refs.contract),
        ("Bon de commande", refs.purchase_order),
        ("Référence comptable", refs.buyer_accounting_reference),
        ("Bon(s) de livraison", ", ".join(invoice.delivery_notes)),
        ("Date de livraison", french_date(invoice.delivery_date)),
    ]
    if invoice.preceding_invoice:
        previous = invoice.preceding_invoice
        when = f" du {french_date(previous.issue_date)}" if previous.issue_date else ""
        rows.insert(0, ("Facture d'origine", f"{previous.number}{when}"))
    return [(label, value) for label, value in rows if value]


def _line_cells(line: Line, currency: str) -> list[str]:
    unit = "" if line.base_quantity in (None, 1) else f" / {french_number(line.base_quantity)}"
    discount = ""
    if line.price_discount:
        discount = euros(line.price_discount, currency)
        if line.gross_price:
            percent = line.price_discount * 100 / line.gross_price
            discount = f"{french_number(percent, 1)}{NBSP}%"
    text = line.name
    if line.description:
        text += f"\n{line.description}"
    if line.note:
        text += f"\n{line.note}"
    return [
        line.item_id or line.seller_item_id or "",
        text,
        french_number(line.quantity),
        euros(line.gross_price, currency) + unit if line.gross_price is not None else "",
        discount,
        euros(line.net_price, currency) + unit,
        f"{french_number(line.vat_rate)}{NBSP}%",
        euros(line.line_amount or line.computed_amount(), currency),
    ]


class _Writer:
    def __init__(
        self,
        invoice: Invoice,
        stamp: str | None = None,
        cii: bytes | None = None,
        mentions: Mentions | None = None,
        level: str = FACTURX_LEVEL,
    ):
        self.inv = written_figures(invoice)  # the very figures the embedded XML carries
        self.pdf = _Page(self.inv, FACTURX_BASE if cii else PLAIN, stamp)
        self.cii = cii
        self.mentions = mentions or Mentions()
        self.level = level

    def write(self) -> bytes:
        pdf, inv = self.pdf, self.inv
        title = f"{TITLES[inv.type].capitalize()} {inv.number}"
        pdf.set_title(f"{title} ({pdf.stamp})" if pdf.stamp else title)
        pdf.set_author(inv.seller.name)
        pdf.set_subject(f"{TITLES[inv.type].capitalize()} {inv.number} à {inv.buyer.name}")
        pdf.set_creator("facture-gateway")
        pdf.set_lang("fr-FR")
        pdf.add_page()
        self._head()
        self._lines()
        self._allowances_charges()
        self._totals()
        self._payment()
        self._notes()
        if self.cii:
            self._attach()
        return bytes(pdf.output())

    def _attach(self) -> None:
        """Embed the CII as Factur-X wants it (an associated file ``factur-x.xml``, its
        relationship ``Data``) and declare it in the XMP with the Factur-X extension schema."""
        pdf = self.pdf
        pdf.embed_file(
            bytes=self.cii,
            basename=FACTURX_FILENAME,
            desc="Factur-X XML file",
            mime_type="text/xml",
            associated_file_relationship="Data",
            modification_date=pdf.creation_date,
            compress=True,
            checksum=True,
        )
        pdf.page_mode = "USE_ATTACHMENTS"  # readers show the XML at once
        xmp = generate_xmp_object(
            {
                "pdfa3_flavor": "B",
                "title": pdf.title,
                "author": pdf.author,
                "subject": pdf.subject,
                "producer": PRODUCER,
                "creator_tool": pdf.creator,
                "timestamp": pdf.creation_date.isoformat(timespec="seconds"),
                "version": "1.0",
                "documenttype": "INVOICE",
                "xml_filename": FACTURX_FILENAME,
                "xmp_level": XMP_LEVELS[self.level],
                "urn": FACTURX_URN,
            }
        )
        # PDF/A's XMP wants rdf:about on every description (the library writes none).
        for description in xmp.iter(f"{{{RDF}}}Description"):
            description.set(f"{{{RDF}}}about", "")
        pdf.set_xmp_metadata(etree.tostring(xmp, encoding="unicode"))

    def text(self, size: float, style: str = "") -> None:
        self.pdf.set_font(FAMILY, style, size)

    def width(self, text: str) -> float:
        """``get_string_width`` without its text analysis (markdown, bidi fragments): none
        of it applies here (no markdown, shaping, spacing nor stretching), and it was most
        of the cost of measuring the hundreds of words of an invoice."""
        pdf = self.pdf
        return pdf.current_font.get_text_width(text, pdf.font_size_pt, None)[1] / pdf.k

    def wrap(self, text: str, width: float) -> list[str]:
        """Break ``text`` into lines of ``width`` mm in the current font.

        Greedy, word by word: fpdf2's multi_cell re-measures the whole line for every
        character, which made it most of an invoice's rendering time. Each word is measured
        once: a line's width is the sum of its words' and spaces' (no kerning here).
        """
        room = width - 2 * self.pdf.c_margin
        space = self.width(" ")
        lines = []
        for paragraph in text.split("\n"):
            current, used = "", 0.0
            for word in paragraph.split(" "):
                size = self.width(word)
                if current and used + space + size > room:
                    lines.append(current)
                    current, used = word, size
                elif current:
                    current, used = f"{current} {word}", used + space + size
                else:
                    current, used = word, size
            lines.append(current)
        return lines

    def line_text(self, x: float, y: float, width: float, text: str, align: str) -> None:
        """Write one line where ``cell(width, LINE_HEIGHT, …)`` at (x, y) would.

        Used for the invoice lines: cell() costs several times more, for every line.
        """
        pdf = self.pdf
        if align == "R":
            x += width - pdf.c_margin - self.width(text)
        else:
            x += pdf.c_margin
        pdf.text(x, y + LINE_HEIGHT / 2 + 0.3 * pdf.font_size, text)

    def para(self, width: float, height: float, text: str) -> None:
        """Write ``text`` wrapped to ``width``, each line under the last, from the current x."""
        x = self.pdf.get_x()
        for line in self.wrap(text, width):
            self.pdf.set_x(x)
            self.pdf.cell(width, height, line, new_x="LEFT", new_y="NEXT")

    def _head(self) -> None:
        pdf, inv = self.pdf, self.inv
        top = pdf.get_y()
        self.text(15, "B")
        self.para(105, 7, inv.seller.trading_name or inv.seller.name)
        self.text(9)
        if inv.seller.trading_name:
            self.para(105, LINE_HEIGHT, inv.seller.name)
        self.para(105, LINE_HEIGHT, "\n".join(_party_lines(inv.seller)))
        seller_bottom = pdf.get_y()
        pdf.set_xy(MARGIN + 110, top)
        self.text(17, "B")
        pdf.cell(WIDTH - 110, 8, TITLES[inv.type], align="R", new_x="LEFT", new_y="NEXT")
        self.text(10)
        rows = [("N°", inv.number), ("Date", french_date(inv.issue_date))]
        if inv.due_date:
            rows.append(("Échéance", french_date(inv.due_date)))
        for label, value in rows:
            pdf.set_x(MARGIN + 110)
            pdf.cell(WIDTH - 110, 5, f"{label} : {value}", align="R", new_x="LEFT", new_y="NEXT")
        pdf.set_y(max(seller_bottom, pdf.get_y()) + 5)

        # Buyer (right) and Chorus Pro references (left), side by side.
        top = pdf.get_y()
        pdf.set_xy(MARGIN + 98, top)
        self.text(8, "B")
        pdf.cell(0, 4, "FACTURÉ À", new_x="LEFT", new_y="NEXT")
        self.text(10.5, "B")
        self.para(WIDTH - 98, 5, inv.buyer.name)
        self.text(9)
        self.para(WIDTH - 98, LINE_HEIGHT, "\n".join(_party_lines(inv.buyer)))
        buyer_bottom = pdf.get_y()
        pdf.rect(MARGIN + 96, top - 2, WIDTH - 96, buyer_bottom - top + 4)
        pdf.set_xy(MARGIN, top)
        self.text(8, "B")
        pdf.cell(90, 4, "RÉFÉRENCES", new_x="LMARGIN", new_y="NEXT")
        for label, value in _references(inv):
            self.text(9)
            pdf.cell(34, LINE_HEIGHT, f"{label} :")
            self.text(9, "B")
            self.para(56, LINE_HEIGHT, value)
            pdf.set_x(MARGIN)
        pdf.set_y(max(buyer_bottom, pdf.get_y()) + 7)

    def _header_row(self) -> None:
        pdf = self.pdf
        self.text(8, "B")
        pdf.set_fill_color(232, 236, 240)
        for title, width, align in COLUMNS:
            pdf.cell(width, 6, title, border="TB", align=align, fill=True)
        pdf.ln(6)

    def _lines(self) -> None:
        pdf, inv = self.pdf, self.inv
        self._header_row()
        for line in inv.lines:
            checkpoint()
            cells = _line_cells(line, inv.currency)
            self.text(8.5)
            wrapped = self.wrap(cells[DESIGNATION], COLUMNS[DESIGNATION][1])
            height = len(wrapped) * LINE_HEIGHT + 1.6
            if pdf.will_page_break(height):
                pdf.add_page()
                self._header_row()
                self.text(8.5)
            top = pdf.get_y()
            x = MARGIN
            for column, ((_, width, align), value) in enumerate(zip(COLUMNS, cells, strict=True)):
                for row, text in enumerate(wrapped if column == DESIGNATION else [value]):
                    self.line_text(x, top + 0.8 + row * LINE_HEIGHT, width, text, align)
                x += width
            pdf.set_draw_color(205)
            pdf.line(MARGIN, top + height, MARGIN + WIDTH, top + height)
            pdf.set_draw_color(0)
            pdf.set_xy(MARGIN, top + height)
        if not inv.lines:
            self.text(9)
            pdf.cell(WIDTH, 6, "Facture sans détail de lignes.", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    def _allowances_charges(self) -> None:
        pdf, inv = self.pdf, self.inv
        rows = [("Remise", item, -1) for item in inv.allowances]
        rows += [("Frais", item, 1) for item in inv.charges]
        for kind, item, sign in rows:
            self.text(9)
            label = item.reason or kind
            if item.percent is not None:
                label += f" ({french_number(item.percent)}{NBSP}%)"
            pdf.cell(WIDTH - 33, 5, label, align="R")
            pdf.cell(10, 5, f"{french_number(item.vat_rate)}{NBSP}%", align="R")
            pdf.cell(23, 5, euros(sign * item.amount, inv.currency), align="R")
            pdf.ln(5)
        if rows:
            pdf.ln(2)

    def _totals(self) -> None:
        pdf, inv = self.pdf, self.inv
        totals = inv.totals
        if pdf.will_page_break(48):
            pdf.add_page()
        top = pdf.get_y()
        # VAT breakdown, left.
        self.text(8, "B")
        pdf.set_fill_color(232, 236, 240)
        for title, width in (("Taux de TVA", 25), ("Base HT", 30), ("Montant TVA", 30)):
            pdf.cell(width, 6, title, border="TB", align="R", fill=True)
        pdf.ln(6)
        self.text(9)
        for row in inv.vat_breakdown:
            rate = f"{french_number(row.rate)}{NBSP}% ({row.category})"
            pdf.cell(25, 5, rate, align="R")
            pdf.cell(30, 5, euros(row.taxable_amount, inv.currency), align="R")
            pdf.cell(
                30, 5, euros(row.tax_amount, inv.currency), align="R", new_x="LMARGIN", new_y="NEXT"
            )
        if inv.vat_exemption_reason:
            self.para(85, LINE_HEIGHT, f"Exonération : {inv.vat_exemption_reason}")
        left_bottom = pdf.get_y()
        # Totals, right.
        rows = [("Total des lignes HT", totals.lines)]
        if totals.allowances:
            rows.append(("Remises", -totals.allowances))
        if totals.charges:
            rows.append(("Frais", totals.charges))
        rows += [
            ("Total HT", totals.tax_exclusive),
            ("TVA", totals.vat),
            ("Total TTC", totals.tax_inclusive),
        ]
        if totals.prepaid:
            rows.append(("Déjà payé", -totals.prepaid))
        if totals.rounding:
            rows.append(("Arrondi", totals.rounding))
        pdf.set_y(top)
        for label, value in rows:
            pdf.set_x(MARGIN + WIDTH - 80)
            self.text(9.5)
            pdf.cell(50, 5.5, label, align="R")
            pdf.cell(30, 5.5, euros(value, inv.currency), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(MARGIN + WIDTH - 80)
        self.text(11, "B")
        pdf.set_fill_color(232, 236, 240)
        label = "Montant à rembourser" if inv.type == InvoiceType.CREDIT_NOTE else "Net à payer"
        pdf.cell(50, 7.5, label, align="R", border="T", fill=True)
        pdf.cell(30, 7.5, euros(totals.payable, inv.currency), align="R", border="T", fill=True)
        pdf.set_y(max(left_bottom, pdf.get_y() + 7.5) + 6)

    def _payment(self) -> None:
        pdf, inv = self.pdf, self.inv
        payment = inv.payment
        rows = []
        if inv.due_date:
            rows.append(("Échéance", french_date(inv.due_date)))
        if payment:
            if payment.means_code:
                means = PAYMENT_MEANS.get(payment.means_code, f"code {payment.means_code}")
                rows.append(("Mode de paiement", means))
            if payment.iban:
                rows.append(("IBAN", payment.iban))
            if payment.bic:
                rows.append(("BIC", payment.bic))
            if payment.account_name:
                rows.append(("Titulaire du compte", payment.account_name))
            if payment.remittance_information:
                rows.append(("Référence à rappeler", payment.remittance_information))
            if payment.terms:
                rows.append(("Conditions de paiement", payment.terms))
        if not rows:
            return
        self.text(8, "B")
        pdf.cell(0, 5, "RÈGLEMENT", new_x="LMARGIN", new_y="NEXT")
        for label, value in rows:
            self.text(9)
            pdf.cell(40, LINE_HEIGHT + 0.4, f"{label} :")
            self.text(9, "B")
            self.para(WIDTH - 40, LINE_HEIGHT + 0.4, value)
            pdf.set_x(MARGIN)
        pdf.ln(3)

    def _notes(self) -> None:
        pdf, inv = self.pdf, self.inv
        if inv.notes:
            self.text(9)
            for note in inv.notes:
                self.para(WIDTH, LINE_HEIGHT, note)
            pdf.ln(2)
        self.text(7.5)
        pdf.set_text_color(80)
        mentions = list(self.mentions.coded_notes.values())
        if self.mentions.vat_on_debits:
            mentions.append(VAT_ON_DEBITS)
        siren = siren_of(inv.seller.siret)
        if siren:
            mentions.append(f"{inv.seller.name} — SIREN {siren}.")
        self.para(WIDTH, 3.6, "\n".join(mentions))
        pdf.set_text_color(0)


def render_invoice_pdf(
    invoice: Invoice, stamp: str | None = None, mentions: Mentions | None = None
) -> bytes:
    """Return the human-readable invoice (computed amounts), without any XML, as PDF/A-2b;
    ``stamp`` is written across every page (an information copy); ``mentions`` are the
    member's legal mentions (None: the defaults)."""
    return _Writer(invoice, stamp, mentions=mentions).write()


def render_facturx_pdf(
    invoice: Invoice,
    cii: bytes,
    mentions: Mentions | None = None,
    level: str = FACTURX_LEVEL,
) -> bytes:
    """Return the human-readable invoice as a Factur-X PDF/A-3b carrying ``cii``, the CII of
    ``invoice`` at factur-x ``level`` (not checked here: the validation engine checks
    the document before anything leaves)."""
    return _Writer(invoice, cii=cii, mentions=mentions, level=level).write()

"""The Liseron invoice export: fixed-width records, one a line, in Windows-1252.

Liseron is a fictional bookshop management program; its "export factures" writes the
layout described in README.md. Amounts have implied decimals, as in most formats of
that generation: ``0000076800`` with four implied decimals is 7.68.

A format plugin is a :class:`gateway.formats.FormatHandler`: ``sniff`` says cheaply
whether the bytes look like this format, ``parse`` turns them into canonical invoices or
raises :class:`gateway.errors.FormatError` saying where (``line``) and what (``field``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gateway.plugin_api import (
    Address,
    AllowanceCharge,
    FormatError,
    FormatHandler,
    Invoice,
    InvoiceType,
    Line,
    Party,
    Payment,
    PrecedingInvoice,
    References,
    Totals,
)

ENCODING = "cp1252"
TYPES = {"F": InvoiceType.INVOICE, "A": InvoiceType.CREDIT_NOTE}
#: Liseron's payment codes → UNTDID 4461.
MEANS = {"VI": "30", "CH": "20", "PR": "49"}

#: Each record type's fields: name → (first column, width), columns counted from 1.
# fmt: off
LAYOUTS: dict[str, dict[str, tuple[int, int]]] = {
    "ENT": {"type": (4, 1), "number": (5, 20), "issue_date": (25, 8), "due_date": (33, 8),
            "currency": (41, 3), "means": (44, 2), "iban": (46, 34), "bic": (80, 11)},
    "VEN": {"siret": (4, 14), "vat_id": (18, 13), "name": (31, 40), "address": (71, 40),
            "postcode": (111, 5), "city": (116, 30)},
    "CLI": {"siret": (4, 14), "name": (18, 40), "address": (58, 40), "postcode": (98, 5),
            "city": (103, 30)},
    "REF": {"service_code": (4, 20), "engagement": (24, 50), "purchase_order": (74, 20),
            "contract": (94, 20)},
    "ORI": {"number": (4, 20), "issue_date": (24, 8)},
    "LIG": {"item_id": (4, 13), "name": (17, 50), "quantity": (67, 7), "net_price": (74, 10),
            "vat_rate": (84, 4), "line_amount": (88, 12)},
    "POR": {"amount": (4, 10), "vat_rate": (14, 4)},
    "PIE": {"line_count": (4, 4), "tax_exclusive": (8, 12), "vat": (20, 12),
            "tax_inclusive": (32, 12)},
}
# fmt: on
#: Records an invoice has exactly once (besides LIG, one or more).
REQUIRED = ("ENT", "VEN", "CLI", "PIE")


class Record:
    """One line of the file, cut into its named fields."""

    def __init__(self, line: int, text: str):
        self.line = line
        self.kind = text[:3]
        padded = text.ljust(150)  # editors strip trailing blanks
        self.fields = {
            name: padded[start - 1 : start - 1 + width].strip()
            for name, (start, width) in LAYOUTS[self.kind].items()
        }

    def fail(self, message: str, field: str | None = None) -> FormatError:
        message = f"Ligne {self.line} ({self.kind}) : {message}"
        return FormatError(message, line=self.line, field=field)

    def text(self, name: str) -> str | None:
        return self.fields[name] or None

    def required(self, name: str, field: str, label: str) -> str:
        value = self.fields[name]
        if not value:
            raise self.fail(f"{label} manquant(e).", field)
        return value

    def date(self, name: str, field: str, label: str | None = None) -> date | None:
        """Read AAAAMMJJ; a ``label`` makes the date required."""
        value = self.fields[name]
        if not value:
            if label:
                raise self.fail(f"{label} manquante.", field)
            return None
        try:
            return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        except ValueError:
            raise self.fail(f"date « {value} » invalide (attendu AAAAMMJJ).", field) from None

    def number(self, name: str, decimals: int, field: str) -> Decimal:
        """Read digits with an optional leading sign and ``decimals`` implied decimals."""
        value = self.fields[name]
        digits = value[1:] if value[:1] in ("+", "-") else value
        if not digits.isdigit():
            raise self.fail(f"« {value} » n'est pas un nombre.", field)
        return Decimal(value).scaleb(-decimals)


def _invoice(records: list[Record]) -> Invoice:
    """Build one invoice from its records, ENT first and PIE last."""
    by_kind: dict[str, list[Record]] = {}
    for record in records:
        by_kind.setdefault(record.kind, []).append(record)
    header = records[0]
    for kind in (*REQUIRED, "REF", "ORI", "POR"):
        found = by_kind.get(kind, [])
        if len(found) > 1 or (kind in REQUIRED and not found):
            raise header.fail(f"la facture doit avoir un enregistrement {kind}, et un seul.")
    lines = by_kind.get("LIG", [])
    footer = by_kind["PIE"][0]
    if footer.number("line_count", 0, "lines") != len(lines):
        announced = footer.fields["line_count"]
        raise footer.fail(f"le pied annonce {announced} lignes, il y en a {len(lines)}.")
    seller, buyer = by_kind["VEN"][0], by_kind["CLI"][0]
    kind = TYPES.get(header.fields["type"])
    if kind is None:
        raise header.fail("type de pièce attendu : F (facture) ou A (avoir).", "type")
    refs = by_kind.get("REF", [None])[0]
    origin = by_kind.get("ORI", [None])[0]
    shipping = by_kind.get("POR", [None])[0]
    means = header.text("means")
    return Invoice(
        number=header.required("number", "number", "numéro de facture"),
        issue_date=header.date("issue_date", "issue_date", "date de facture"),
        due_date=header.date("due_date", "due_date"),
        type=kind,
        currency=header.text("currency") or "EUR",
        seller=Party(
            name=seller.required("name", "seller.name", "nom du vendeur"),
            siret=seller.text("siret"),
            vat_id=seller.text("vat_id"),
            address=Address(
                line1=seller.text("address"),
                postcode=seller.text("postcode"),
                city=seller.text("city"),
            ),
        ),
        buyer=Party(
            name=buyer.required("name", "buyer.name", "nom du client"),
            siret=buyer.text("siret"),
            address=Address(
                line1=buyer.text("address"),
                postcode=buyer.text("postcode"),
                city=buyer.text("city"),
            ),
        ),
        references=References(
            service_code=refs.text("service_code"),
            engagement=refs.text("engagement"),
            purchase_order=refs.text("purchase_order"),
            contract=refs.text("contract"),
        )
        if refs
        else References(),
        preceding_invoice=PrecedingInvoice(
            origin.required("number", "preceding_invoice.number", "facture d'origine"),
            origin.date("issue_date", "preceding_invoice.issue_date"),
        )
        if origin
        else None,
        lines=[_line(record, index) for index, record in enumerate(lines)],
        charges=[
            AllowanceCharge(
                amount=shipping.number("amount", 2, "charges[0].amount"),
                vat_rate=shipping.number("vat_rate", 2, "charges[0].vat_rate"),
                reason="Frais de port",
                reason_code="FC",
            )
        ]
        if shipping
        else [],
        payment=Payment(
            means_code=MEANS.get(means, means), iban=header.text("iban"), bic=header.text("bic")
        )
        if means or header.text("iban")
        else None,
        totals=Totals(
            lines=None,
            allowances=None,
            charges=None,
            prepaid=None,
            rounding=None,
            tax_exclusive=footer.number("tax_exclusive", 2, "totals.tax_exclusive"),
            vat=footer.number("vat", 2, "totals.vat"),
            tax_inclusive=footer.number("tax_inclusive", 2, "totals.tax_inclusive"),
            payable=footer.number("tax_inclusive", 2, "totals.payable"),
        ),
    )


def _line(record: Record, index: int) -> Line:
    field = f"lines[{index}]"
    return Line(
        name=record.required("name", f"{field}.name", "titre"),
        item_id=record.text("item_id"),
        quantity=record.number("quantity", 0, f"{field}.quantity"),
        net_price=record.number("net_price", 4, f"{field}.net_price"),
        vat_rate=record.number("vat_rate", 2, f"{field}.vat_rate"),
        line_amount=record.number("line_amount", 2, f"{field}.line_amount"),
    )


class LiseronFormat(FormatHandler):
    name = "liseron"
    media_types = ("application/vnd.liseron.factures",)
    extensions = (".lis",)
    description = "Liseron bookshop software invoice export (fixed width, Windows-1252)"

    def sniff(self, data: bytes) -> bool:
        # Every export starts with an invoice header record: ENT then F or A.
        return data[:3] == b"ENT" and data[3:4] in (b"F", b"A")

    def parse(self, data: bytes) -> list[Invoice]:
        try:
            text = data.decode(ENCODING)
        except UnicodeDecodeError as ex:
            line = data.count(b"\n", 0, ex.start) + 1
            raise FormatError(
                f"Ligne {line} : octet 0x{data[ex.start]:02X} illisible en Windows-1252.", line=line
            ) from ex
        invoices: list[Invoice] = []
        block: list[Record] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            if raw[:3] not in LAYOUTS:
                raise FormatError(
                    f"Ligne {number} : enregistrement « {raw[:3]} » inconnu.", line=number
                )
            record = Record(number, raw)
            starts = record.kind == "ENT"
            if (starts and block) or (not starts and not block):
                raise record.fail("chaque facture commence par ENT et finit par PIE.")
            block.append(record)
            if record.kind == "PIE":
                invoices.append(_invoice(block))
                block = []
        if block:
            raise block[0].fail("facture sans enregistrement PIE final : fichier tronqué ?")
        if not invoices:
            raise FormatError("Le fichier ne contient aucune facture Liseron.", line=1)
        return invoices

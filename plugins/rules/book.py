"""The book-trade rule set ``book``.

- A book (an ISBN-13, EAN prefix 978 or 979) is taxed at the reduced rate of 5.5 % in
  metropolitan France (CGI art. 278-0 bis); another rate is most often a mistake.
- The amounts the bookseller's software gave (line amounts, totals) are those the gateway
  computes, to the cent (``totals.mismatch`` shows both figures).
- The discount a bookseller grants to a public body buying books for its libraries is
  capped at 9 % of the public price (loi n° 81-766 du 10 août 1981, art. 3, as amended by
  loi n° 2003-517 du 18 juin 2003). Above it, warn: the price is no longer lawful.
"""

from __future__ import annotations

from decimal import Decimal

from stdnum import isbn

from gateway.plugin_api import (
    Finding,
    Invoice,
    Line,
    hookimpl,
    totals_findings,
)

RULE_SET = "book"
BOOK_RATE = Decimal("5.5")
LIBRARY_DISCOUNT_CAP = Decimal("9")


def is_book(line: Line) -> bool:
    item = (line.item_id or "").replace("-", "")
    return len(item) == 13 and item[:3] in ("978", "979")


#: Prices carry rounding: a discount up to half a cent per unit above the cap is no breach.
ROUNDING_TOLERANCE = Decimal("0.005")


def discount_percent(line: Line) -> Decimal | None:
    if line.gross_price and line.price_discount is not None:
        return line.price_discount / line.gross_price * 100
    return None


def above_cap(line: Line) -> bool:
    cap = line.gross_price * LIBRARY_DISCOUNT_CAP / 100
    return line.price_discount > cap + ROUNDING_TOLERANCE


def _warning(code: str, field: str, message: str) -> Finding:
    return Finding(code=code, field=field, message=message, severity="warning", rule=RULE_SET)


def line_findings(index: int, line: Line) -> list[Finding]:
    if not is_book(line):
        return []
    findings = []
    if not isbn.is_valid(line.item_id):
        findings.append(
            _warning(
                "book.isbn_invalid",
                f"lines[{index}].item_id",
                f"L'ISBN « {line.item_id} » de la ligne {index + 1} a une clé de contrôle fausse.",
            )
        )
    if line.vat_rate != BOOK_RATE:
        findings.append(
            _warning(
                "book.vat_rate",
                f"lines[{index}].vat_rate",
                f"La ligne {index + 1} est un livre (ISBN {line.item_id}) mais porte une TVA à "
                f"{line.vat_rate} % : le livre est taxé à 5,5 %.",
            )
        )
    discount = discount_percent(line)
    if discount is not None and above_cap(line):
        shown = format(discount, ".2f").replace(".", ",")
        findings.append(
            _warning(
                "book.discount_cap",
                f"lines[{index}].price_discount",
                f"La remise de la ligne {index + 1} ({shown} % du prix public) dépasse le "
                "plafond de 9 % fixé par la loi du 10 août 1981 (modifiée en 2003) pour les "
                "achats de livres des collectivités destinés à leurs bibliothèques.",
            )
        )
    return findings


@hookimpl
def gateway_validate_invoice(invoice: Invoice, rule_sets: frozenset[str] | None) -> list[Finding]:
    if rule_sets is not None and RULE_SET not in rule_sets:
        return []
    if invoice.buyer.address.country != "FR":
        return []  # French book law and French public buyers: EN 16931 alone judges the rest
    lines = [
        finding
        for index, line in enumerate(invoice.lines)
        for finding in line_findings(index, line)
    ]
    return totals_findings(invoice) + lines

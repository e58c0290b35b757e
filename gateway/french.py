"""Numbers, amounts and dates written the French way, for what booksellers read (PDF pages,
e-mails); plugins get them through :mod:`gateway.plugin_api`."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

NBSP = "\u00a0"
NNBSP = "\u202f"  # French thousands separator


def french_number(value: Decimal, places: int | None = None) -> str:
    """Write ``value`` the French way: ``1 234,56`` (narrow no-break space, comma)."""
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    elif value == value.to_integral():
        value = value.quantize(Decimal(1))
    else:
        value = value.normalize()
    sign = "-" if value < 0 else ""
    whole, _, fraction = format(abs(value), "f").partition(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    text = NNBSP.join(groups) or "0"
    return f"{sign}{text},{fraction}" if fraction else f"{sign}{text}"


def euros(value: Decimal, currency: str = "EUR") -> str:
    symbol = "€" if currency == "EUR" else currency
    return f"{french_number(value, 2)}{NBSP}{symbol}"


def french_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``count`` and its noun agreed the French way: 0 and 1 take the singular."""
    return f"{count} {singular if count <= 1 else plural or singular + 's'}"

"""What a member's invoices cost, per outlet, and what another route would have cost.

Each outlet declares its price list (:meth:`gateway.outlets.Outlet.price_list`): a price per
invoice by number of lines, archiving per block of lines, a yearly subscription, and the
bookseller's minutes. A period's cost is computed from the invoices accepted in it that
left the gateway (those refused, waiting or replaced cost nothing), every line of the
computation shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from gateway import lifecycle
from gateway.errors import InvalidInput
from gateway.outlets import Cost, CostItem
from gateway.plugins import Registry
from gateway.store import Store
from gateway.times import PARIS, paris

CENT = Decimal("0.01")
PERIOD = re.compile(r"(?P<year>\d{4})(?:-(?P<month>\d{2}))?")
#: Statuses of invoices that never left (or were replaced before leaving): no cost.
NOT_SENT = (
    lifecycle.RECU,
    lifecycle.EN_ERREUR,
    lifecycle.EN_ATTENTE_PLATEFORME,
    lifecycle.REMPLACEE,
)


def parse_period(text: str | None, today: date) -> tuple[str, date, date, int]:
    """Return (period, first day, day after the last, months) of ``YYYY-MM`` or ``YYYY``;
    the current month when none is given."""
    text = text or f"{today.year:04d}-{today.month:02d}"
    match = PERIOD.fullmatch(text)
    month = int(match["month"]) if match and match["month"] else None
    if match is None or (month is not None and not 1 <= month <= 12):
        raise InvalidInput.of(
            "period.invalid",
            f"Période « {text} » illisible : une année (2026) ou un mois (2026-11) est attendu.",
            field="period",
        )
    year = int(match["year"])
    if month is None:
        return text, date(year, 1, 1), date(year + 1, 1, 1), 12
    after = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return text, date(year, month, 1), after, 1


def euros(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def subscription_item(cost: Cost, months: int) -> CostItem | None:
    if not cost.per_year:
        return None
    return CostItem(
        f"Abonnement annuel de {cost.per_year} € HT, part de la période ({months} mois sur 12)",
        Decimal(months),
        "mois",
        (cost.per_year / 12).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
        (cost.per_year * months / 12).quantize(CENT, rounding=ROUND_HALF_UP),
    )


def outlet_costs(cost: Cost, rows: list[dict], months: int) -> dict:
    """The cost of ``rows`` through an outlet of price list ``cost``: the subscription's share,
    each invoice's computation, the total in euros and the bookseller's minutes."""
    subscription = subscription_item(cost, months)
    invoices = []
    total = subscription.amount if subscription else Decimal(0)
    for row in rows:
        lines = row["line_count"] or 0
        items = cost.items(lines)
        amount = sum((item.amount for item in items), Decimal(0))
        total += amount
        invoices.append(
            {
                "id": row["id"],
                "number": row["number"],
                "lines": lines,
                "items": [item.as_dict() for item in items],
                "amount": str(amount),
            }
        )
    return {
        "note": cost.note,
        "subscription": subscription.as_dict() if subscription else None,
        "invoices": invoices,
        "amount": euros(total),
        "minutes": str(cost.minutes_per_invoice * len(rows)),
    }


class CostService:
    def __init__(self, store: Store, registry: Registry, channels: dict[str, str], clock: Callable):
        self.store = store
        self.registry = registry
        self.channels = channels
        self.clock = clock

    def compared_outlets(self) -> list[str]:
        """The installed outlets serving a channel, each once, in the channels' order."""
        names = dict.fromkeys(self.channels.values())
        return [name for name in names if name in self.registry.outlets]

    def period(self, member_id: str, period: str | None) -> dict:
        now: datetime = self.clock()
        text, first, after, months = parse_period(period, paris(now).date())
        start = datetime.combine(first, datetime.min.time(), PARIS)
        end = datetime.combine(after, datetime.min.time(), PARIS)
        rows = self.store.invoices_costed(member_id, start, end, NOT_SENT)
        by_outlet: dict[str, list[dict]] = {}
        for row in rows:
            by_outlet.setdefault(row["outlet"], []).append(row)
        outlets = []
        for name, taken in by_outlet.items():
            outlet = self.registry.outlets.get(name)
            cost = outlet.price_list() if outlet else Cost(note="sortie désinstallée")
            outlets.append(
                {
                    "outlet": name,
                    "label": outlet.label if outlet else name,
                    "count": len(taken),
                    "lines": sum(row["line_count"] or 0 for row in taken),
                    **outlet_costs(cost, taken, months),
                }
            )
        actual = sum((Decimal(item["amount"]) for item in outlets), Decimal(0))
        alternatives = []
        for name in self.compared_outlets():
            outlet = self.registry.outlets[name]
            other = outlet_costs(outlet.price_list(), rows, months)
            alternatives.append(
                {
                    "outlet": name,
                    "label": outlet.label,
                    "note": other["note"],
                    "subscription": other["subscription"],
                    "amount": other["amount"],
                    "minutes": other["minutes"],
                    "difference": euros(Decimal(other["amount"]) - actual),
                }
            )
        return {
            "period": text,
            "start": first.isoformat(),
            "end": after.isoformat(),
            "currency": "EUR",
            "count": len(rows),
            "outlets": outlets,
            "amount": euros(actual),
            "minutes": str(sum((Decimal(item["minutes"]) for item in outlets), Decimal(0))),
            "alternatives": alternatives,
        }

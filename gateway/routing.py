"""Per-customer routing: which outlet an invoice leaves by, and which copies go with it."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The channels a customer can be routed to (DESIGN §4), fixed by the REST contract.
CHANNELS = ("chorus", "dilifac", "manual_pdf", "paper")


@dataclass
class Customer:
    """A public buyer as one member knows it, with the channel its invoices take."""

    siret: str
    name: str
    channel: str = "chorus"
    copies: list[dict] = field(default_factory=list)
    member_id: str | None = None


@dataclass
class Route:
    """Where an invoice goes: the channel, the outlet plugin serving it, and the copies."""

    channel: str
    outlet: str
    copies: list[dict] = field(default_factory=list)
    reason: str | None = None

    def as_dict(self) -> dict:
        return {
            "channel": self.channel,
            "outlet": self.outlet,
            "copies": self.copies,
            "reason": self.reason,
        }


def default_route(
    customer: Customer | None, channel_outlets: dict[str, str], default_channel: str
) -> Route:
    """Return the route a customer's own settings give, before any plugin overrides it."""
    channel = customer.channel if customer else default_channel
    copies = list(customer.copies) if customer else []
    reason = None if customer else "client inconnu du membre : canal par défaut"
    return Route(channel=channel, outlet=channel_outlets[channel], copies=copies, reason=reason)

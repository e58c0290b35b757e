"""The outbox's record of an invoice: where its delivery and its following stand.

Its columns live on the invoice's row, so that claiming one is a single statement on one
table; :class:`OutboxEntry` is the typed view the store hands the worker. What an outlet
keeps (``SendContext.state``, ``Receipt.data``) is stored apart from what the core keeps
(how much of the platform's history it recorded), so each side sees only its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: Column values that give a leased row back.
RELEASED = {"lease_owner": None, "lease_until": None}


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    invoice_id: str
    member_id: str
    number: str
    status: str
    outlet: str
    #: The invoice, as :mod:`gateway.codec` stores it.
    data: dict
    #: Calls that could have deposited the invoice so far (counted before the outlet is
    #: called; given back when the outlet says nothing left, ``OutletError.attempted``).
    attempts: int = 0
    #: When to send (again); None once sent or given up.
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    #: What the outlet asked to keep between attempts (``SendContext.state``).
    outlet_state: dict = field(default_factory=dict)
    #: The outlet's reference for the invoice once it took it (a Chorus flux number…).
    outlet_reference: str | None = None
    #: What the outlet needs to follow the invoice (``Receipt.data``, then each
    #: ``StatusUpdate.data`` merged in), handed back to its ``poll``.
    receipt_data: dict = field(default_factory=dict)
    #: How many entries of the platform's history were recorded: it only grows, so the
    #: next poll records those beyond.
    history_applied: int = 0
    last_error: str | None = None
    #: When to ask the outlet what became of the invoice; None when nothing more is expected.
    next_poll_at: datetime | None = None
    #: Since when the invoice waits for its platform; None when it does not.
    waiting_since: datetime | None = None
    #: The route it took (``gateway.routing.Route.as_dict()``); None before 0013.
    route: dict | None = None

    @classmethod
    def from_row(cls, row: dict) -> OutboxEntry:
        return cls(
            seq=row["seq"],
            invoice_id=row["id"],
            member_id=row["member_id"],
            number=row["number"],
            status=row["status"],
            outlet=row["outlet"],
            data=row["data"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            lease_owner=row["lease_owner"],
            lease_until=row["lease_until"],
            outlet_state=row["outlet_state"] or {},
            outlet_reference=row["outlet_reference"],
            receipt_data=row["receipt_data"] or {},
            history_applied=row["history_applied"],
            last_error=row["last_error"],
            next_poll_at=row["next_poll_at"],
            waiting_since=row["waiting_since"],
            route=row.get("route"),
        )

    def row(self) -> dict:
        """Return the invoice's identity and status, as :class:`lifecycle.Recorder` takes them."""
        return {
            "seq": self.seq,
            "id": self.invoice_id,
            "member_id": self.member_id,
            "number": self.number,
            "status": self.status,
        }

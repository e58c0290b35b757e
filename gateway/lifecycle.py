"""The life of an invoice: its statuses, and recording a change of status.

Gateway statuses come before the platform's. Codes the platform sends that this module
does not know are kept verbatim, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gateway.errors import Conflict
from gateway.logs import get_logger
from gateway.plugins import call_each

log = get_logger(__name__)

# Gateway statuses, before the invoice leaves.
RECU = "RECU"
EN_ERREUR = "EN_ERREUR"
#: Waiting for the platform (unavailable, or an uncertain deposit to settle): not an error,
#: a new try is planned (``retry_at``); nothing for the bookseller to do.
EN_ATTENTE_PLATEFORME = "EN_ATTENTE_PLATEFORME"
A_DEPOSER = "A_DEPOSER"
IMPRIMEE = "IMPRIMEE"
# Chorus Pro statuses (exact spelling of the platform).
DEPOSEE = "DEPOSEE"
EN_COURS_ACHEMINEMENT = "EN_COURS_ACHEMINEMENT"
MISE_A_DISPOSITION = "MISE_A_DISPOSITION"
COMPLETEE = "COMPLETEE"
SERVICE_FAIT = "SERVICE_FAIT"
MANDATEE = "MANDATEE"
MISE_A_DISPOSITION_COMPTABLE = "MISE_A_DISPOSITION_COMPTABLE"
COMPTABILISEE = "COMPTABILISEE"
MISE_EN_PAIEMENT = "MISE_EN_PAIEMENT"
A_RECYCLER = "A_RECYCLER"
SUSPENDUE = "SUSPENDUE"
REJETEE = "REJETEE"

GATEWAY_STATUSES = (RECU, EN_ERREUR, EN_ATTENTE_PLATEFORME, A_DEPOSER, IMPRIMEE)
PLATFORM_STATUSES = (
    DEPOSEE,
    EN_COURS_ACHEMINEMENT,
    MISE_A_DISPOSITION,
    COMPLETEE,
    SERVICE_FAIT,
    MANDATEE,
    MISE_A_DISPOSITION_COMPTABLE,
    COMPTABILISEE,
    MISE_EN_PAIEMENT,
    A_RECYCLER,
    SUSPENDUE,
    REJETEE,
)
#: Statuses the outbox worker sends from.
OUTBOX_STATUSES = (RECU, EN_ERREUR, EN_ATTENTE_PLATEFORME)
#: Just sent: the platform is still routing it, so it is followed closely.
IN_TRANSIT_STATUSES = frozenset({DEPOSEE, EN_COURS_ACHEMINEMENT, COMPLETEE})
#: No further change is expected (polling stops).
FINAL_STATUSES = frozenset({MISE_EN_PAIEMENT, REJETEE, IMPRIMEE})


# --- What the bookseller can do now -------------------------------------------------------

#: The corrective actions, named as in the REST contract (``POST /v1/invoices/{id}/<path>``).
RETRY = "retry"
RECYCLE = "recycle"
COMPLETE = "complete"


@dataclass(frozen=True)
class Action:
    name: str
    #: Whether the action may be taken on an invoice row now.
    allowed: Callable[[dict], bool]


def _in(*statuses: str) -> Callable[[dict], bool]:
    return lambda row: row["status"] in statuses


#: Every action, in the order ``next_actions`` lists them.
ACTIONS = (
    Action(RETRY, _in(EN_ERREUR)),
    Action(RECYCLE, _in(A_RECYCLER)),
    Action(COMPLETE, _in(SUSPENDUE)),
)


def next_actions(row: dict) -> list[str]:
    """Return the names of the actions allowed on the invoice ``row`` now."""
    return [action.name for action in ACTIONS if action.allowed(row)]


def require_action(row: dict, name: str) -> None:
    """Refuse (:class:`Conflict` ``invoice.action_not_allowed``) an action the invoice's
    status does not allow, naming the status and what may be done instead."""
    allowed = next_actions(row)
    if name in allowed:
        return
    instead = ", ".join(allowed) if allowed else "aucune pour l'instant"
    raise Conflict.of(
        "invoice.action_not_allowed",
        f"L'action « {name} » n'est pas possible sur une facture au statut {row['status']} "
        f"(actions possibles : {instead}).",
        field="status",
    )


@dataclass
class StatusChange:
    invoice_id: str
    member_id: str
    old: str | None
    new: str
    event: dict


@dataclass
class Recorder:
    """Records status changes inside a transaction; notifies plugins once it committed."""

    store: object
    pm: object
    changes: list[StatusChange] = field(default_factory=list)

    def change(
        self,
        conn,
        row: dict,
        new: str,
        at: datetime,
        comment: str | None = None,
        event_type: str = "invoice.status_changed",
        extra: dict | None = None,
        platform_at: str | None = None,
        **updates,
    ) -> None:
        """Set ``row``'s status to ``new``, append to its history and to the event feed.

        ``platform_at``: the time as the platform gave it, with its offset, for its steps."""
        old = row.get("status")
        # ``at`` may be the platform's, coarser or older than the gateway's own time:
        # ``updated_at`` (the ``since`` filter) never goes back.
        updates.setdefault("updated_at", at)
        self.store.update_invoice(conn, row["seq"], status=new, **updates)
        self.store.add_history(conn, row["seq"], new, at, comment, platform_at=platform_at)
        data = {
            "number": row["number"],
            "old": old,
            "new": new,
            "comment": comment,
            **(extra or {}),
        }
        event = self.store.add_event(conn, row["member_id"], event_type, data, invoice_id=row["id"])
        self.changes.append(StatusChange(row["id"], row["member_id"], old, new, event))

    def created(self, conn, row: dict, at: datetime, comment: str) -> None:
        """Record the first status of a newly inserted invoice row."""
        self.store.add_history(conn, row["seq"], row["status"], at, comment)
        data = {"number": row["number"], "old": None, "new": row["status"], "comment": comment}
        event = self.store.add_event(
            conn, row["member_id"], "invoice.received", data, invoice_id=row["id"]
        )
        self.changes.append(StatusChange(row["id"], row["member_id"], None, row["status"], event))

    def event(self, conn, row: dict, event_type: str, data: dict) -> dict:
        return self.store.add_event(conn, row["member_id"], event_type, data, invoice_id=row["id"])

    def notify(self) -> None:
        """Call ``gateway_invoice_status_changed`` for every recorded change (after commit)."""
        if not self.changes:
            return
        from gateway.views import event_view, invoice_view

        for change in self.changes:
            invoice = invoice_view(self.store, self.store.get_invoice(change.invoice_id))
            call_each(
                self.pm,
                "gateway_invoice_status_changed",
                invoice=invoice,
                old=change.old,
                new=change.new,
                event=event_view(change.event),
            )
        self.changes.clear()

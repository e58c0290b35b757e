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
from gateway.times import paris

log = get_logger(__name__)

# Gateway statuses, before the invoice leaves.
RECU = "RECU"
EN_ERREUR = "EN_ERREUR"
#: Waiting for the platform (unavailable, or an uncertain deposit to settle): not an error,
#: a new try is planned (``retry_at``); nothing for the bookseller to do.
EN_ATTENTE_PLATEFORME = "EN_ATTENTE_PLATEFORME"
A_DEPOSER = "A_DEPOSER"
#: Paper route: in the member's print batch of its day, waiting to be printed.
A_IMPRIMER = "A_IMPRIMER"
IMPRIMEE = "IMPRIMEE"
#: Refused before any buyer had it, then replaced by a later invoice of the same number.
REMPLACEE = "REMPLACEE"
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
# Statuses of the reform's lifecycle (XP Z12-012 CDAR codes, through an approved platform)
# that no Chorus Pro status says: 204, 211, 212, 220 (plugins/pa maps every CDAR code).
PRISE_EN_CHARGE = "PRISE_EN_CHARGE"
PAIEMENT_TRANSMIS = "PAIEMENT_TRANSMIS"
ENCAISSEE = "ENCAISSEE"
ANNULEE = "ANNULEE"

GATEWAY_STATUSES = (
    RECU,
    EN_ERREUR,
    EN_ATTENTE_PLATEFORME,
    A_DEPOSER,
    A_IMPRIMER,
    IMPRIMEE,
    REMPLACEE,
)
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
    PRISE_EN_CHARGE,
    PAIEMENT_TRANSMIS,
    ENCAISSEE,
    ANNULEE,
)
#: Each status as a bookseller reads it (the web pages' chips, their filters).
STATUS_LABELS = {
    RECU: "Reçue, en attente d'envoi",
    EN_ERREUR: "Envoi en erreur",
    EN_ATTENTE_PLATEFORME: "En attente de la plateforme",
    A_DEPOSER: "À déposer sur le portail",
    A_IMPRIMER: "À imprimer",
    IMPRIMEE: "Imprimée",
    REMPLACEE: "Remplacée",
    DEPOSEE: "Déposée",
    EN_COURS_ACHEMINEMENT: "En cours d'acheminement",
    MISE_A_DISPOSITION: "Mise à disposition",
    COMPLETEE: "Complétée",
    SERVICE_FAIT: "Service fait",
    MANDATEE: "Mandatée",
    MISE_A_DISPOSITION_COMPTABLE: "Mise à disposition du comptable",
    COMPTABILISEE: "Comptabilisée",
    MISE_EN_PAIEMENT: "Mise en paiement",
    A_RECYCLER: "À recycler",
    SUSPENDUE: "Suspendue",
    REJETEE: "Rejetée",
    PRISE_EN_CHARGE: "Prise en charge",
    PAIEMENT_TRANSMIS: "Paiement transmis",
    ENCAISSEE: "Encaissée",
    ANNULEE: "Annulée",
}
#: The corrective actions, named as in the REST contract (``POST /v1/invoices/{id}/<path>``).
RETRY = "retry"
RECYCLE = "recycle"
COMPLETE = "complete"
CORRECT = "correct"
CREDIT_NOTE = "credit-note"
MANUAL_DEPOSIT = "manual-deposit"
#: The corrective actions as the pages' buttons name them.
ACTION_BUTTONS = {
    RETRY: "Renvoyer",
    RECYCLE: "Recycler",
    COMPLETE: "Compléter",
    CORRECT: "Corriger et renvoyer",
    CREDIT_NOTE: "Émettre l'avoir",
    MANUAL_DEPOSIT: "Confirmer le dépôt",
}

#: Statuses the outbox worker sends from.
OUTBOX_STATUSES = (RECU, EN_ERREUR, EN_ATTENTE_PLATEFORME)
#: Just sent: the platform is still routing it, so it is followed closely.
IN_TRANSIT_STATUSES = frozenset({DEPOSEE, EN_COURS_ACHEMINEMENT, COMPLETEE})
#: No further change is expected (polling stops).
FINAL_STATUSES = frozenset({MISE_EN_PAIEMENT, REJETEE, IMPRIMEE, REMPLACEE, ENCAISSEE, ANNULEE})
#: The buyer paid: Chorus Pro's transfer ordered, a platform's payment sent or received.
PAID_STATUSES = frozenset({MISE_EN_PAIEMENT, PAIEMENT_TRANSMIS, ENCAISSEE})
#: The bookseller must act: listed by ``GET /v1/invoices?needs_action=true``.
NEEDS_BOOKSELLER = (A_RECYCLER, SUSPENDUE, REJETEE, EN_ERREUR, A_DEPOSER, A_IMPRIMER)
#: Waiting for the bookseller's own hands (upload, print): recalled in the digest once they
#: wait longer than ``[digests] deposit_reminder_days``.
MANUAL_STATUSES = (A_DEPOSER, A_IMPRIMER)

# --- The state machine --------------------------------------------------------------------

#: With the buyer: any status of processing or rejection may follow, in any order (a
#: buyer reports only some of them, and the platform's minute-precise times tie).
_WITH_BUYER = frozenset(
    {
        MISE_A_DISPOSITION,
        SERVICE_FAIT,
        MANDATEE,
        MISE_A_DISPOSITION_COMPTABLE,
        COMPTABILISEE,
        MISE_EN_PAIEMENT,
        A_RECYCLER,
        SUSPENDUE,
        REJETEE,
        PRISE_EN_CHARGE,
        PAIEMENT_TRANSMIS,
        ENCAISSEE,
        ANNULEE,
    }
)
#: A buyer has the invoice (or had it: a buyer's refusal is one of these). Printed counts:
#: the gateway cannot tell when the post delivers it.
BUYER_STATUSES = _WITH_BUYER | {COMPLETEE, IMPRIMEE}
#: Which status may follow which (None: a new invoice). Gateway statuses are reached by
#: the gateway's own steps; platform statuses as Chorus Pro moves the invoice on.
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({RECU}),
    RECU: frozenset({DEPOSEE, EN_ERREUR, EN_ATTENTE_PLATEFORME, A_DEPOSER, A_IMPRIMER, IMPRIMEE}),
    # A send that failed again, a retry asked for, or a deposit on a later attempt.
    # Replaced: refused before any buyer had it, its number taken by a new invoice.
    EN_ERREUR: frozenset(
        {
            EN_ERREUR,
            EN_ATTENTE_PLATEFORME,
            RECU,
            DEPOSEE,
            A_DEPOSER,
            A_IMPRIMER,
            IMPRIMEE,
            REMPLACEE,
        }
    ),
    REMPLACEE: frozenset(),
    # Waiting for the platform: another wait, the deposit at last, or a real failure.
    EN_ATTENTE_PLATEFORME: frozenset(
        {EN_ATTENTE_PLATEFORME, EN_ERREUR, RECU, DEPOSEE, A_DEPOSER, A_IMPRIMER, IMPRIMEE}
    ),
    A_DEPOSER: frozenset({DEPOSEE, EN_ERREUR}),
    # Printed once the bookseller confirms the fetched batch went through the printer.
    A_IMPRIMER: frozenset({IMPRIMEE}),
    IMPRIMEE: frozenset(),
    # A flux the platform rejects sends the invoice back to the bookseller (EN_ERREUR).
    DEPOSEE: frozenset({EN_COURS_ACHEMINEMENT, EN_ERREUR}) | _WITH_BUYER,
    EN_COURS_ACHEMINEMENT: _WITH_BUYER,
    MISE_A_DISPOSITION: _WITH_BUYER,
    COMPLETEE: _WITH_BUYER,
    SERVICE_FAIT: _WITH_BUYER,
    MANDATEE: _WITH_BUYER,
    MISE_A_DISPOSITION_COMPTABLE: _WITH_BUYER,
    COMPTABILISEE: _WITH_BUYER,
    MISE_EN_PAIEMENT: frozenset(),
    PRISE_EN_CHARGE: _WITH_BUYER,
    # Paid by the buyer: the supplier's platform says when the money came (ENCAISSEE).
    PAIEMENT_TRANSMIS: _WITH_BUYER,
    ENCAISSEE: frozenset(),
    ANNULEE: frozenset(),
    # Recycled: deposited again for the corrected recipient; the buyer may still reject.
    A_RECYCLER: frozenset({DEPOSEE, REJETEE}),
    # Completed with the missing documents; the buyer may still reject.
    SUSPENDUE: frozenset({COMPLETEE, REJETEE}),
    REJETEE: frozenset(),
}


def may_follow(old: str | None, new: str) -> bool:
    """Whether ``new`` may follow ``old``. A code this module does not know (the platform's
    own, kept verbatim) may come and go at any point: the platform is the authority."""
    if old not in TRANSITIONS or new not in TRANSITIONS:
        return True
    return new in TRANSITIONS[old]


#: What each status means for the bookseller, and what to do.
EXPLANATIONS = {
    RECU: "Reçue et validée par la passerelle, la facture attend son envoi.",
    EN_ERREUR: (
        "L'envoi a échoué. Lisez l'erreur indiquée : une fois sa cause corrigée (réglages, "
        "annuaire), renvoyez la facture (action « retry ») ; si c'est la facture elle-même "
        "qui est en cause, envoyez-la corrigée sous le même numéro (action « correct »)."
    ),
    EN_ATTENTE_PLATEFORME: (
        "La plateforme est momentanément indisponible : rien n'est parti. La passerelle "
        "réessaiera d'elle-même à l'heure indiquée ; vous n'avez rien à faire."
    ),
    REMPLACEE: (
        "Refusée avant d'atteindre un destinataire, la facture a été remplacée par une "
        "nouvelle facture du même numéro : rien d'autre n'est attendu."
    ),
    A_DEPOSER: (
        "La facture est à déposer vous-même sur le portail Chorus Pro : déposez le PDF "
        "fourni (facture-portail.pdf) en suivant la fiche de dépôt (fiche-de-depot.pdf), "
        "puis confirmez le dépôt (action « manual-deposit »)."
    ),
    A_IMPRIMER: (
        "La facture est dans le lot d'impression du jour : téléchargez le lot, imprimez-le et "
        "mettez-le sous enveloppe à fenêtre, puis confirmez l'impression du lot."
    ),
    IMPRIMEE: "La facture est imprimée pour un envoi papier : rien d'autre n'est attendu.",
    DEPOSEE: "La facture est déposée sur Chorus Pro, qui la transmet au destinataire.",
    EN_COURS_ACHEMINEMENT: "Chorus Pro achemine la facture vers le destinataire.",
    MISE_A_DISPOSITION: "La facture est à la disposition du destinataire, qui va la traiter.",
    COMPLETEE: (
        "Les pièces jointes demandées ont été ajoutées : la facture repart en traitement "
        "chez le destinataire."
    ),
    SERVICE_FAIT: "Le destinataire a constaté le service fait : il peut liquider et mandater.",
    MANDATEE: "La facture est mandatée : elle part chez le comptable public.",
    MISE_A_DISPOSITION_COMPTABLE: "La facture est à la disposition du comptable public.",
    COMPTABILISEE: "Le comptable public a validé la facture.",
    MISE_EN_PAIEMENT: (
        "Le virement est ordonné par le comptable public : le paiement arrive sous quelques jours."
    ),
    PRISE_EN_CHARGE: (
        "Le destinataire a pris la facture en charge : il la traite (approbation, paiement)."
    ),
    PAIEMENT_TRANSMIS: (
        "Le destinataire a transmis le paiement : l'encaissement sera confirmé par votre "
        "plateforme."
    ),
    ENCAISSEE: "Le paiement de la facture est encaissé : rien d'autre n'est attendu.",
    ANNULEE: "La facture est annulée sur la plateforme : rien d'autre n'est attendu.",
    A_RECYCLER: (
        "Le destinataire renvoie la facture : elle ne lui est pas adressée (SIRET, code service "
        "ou numéro d'engagement). Corrigez le destinataire (action « recycle ») : la facture "
        "repart sous le même numéro."
    ),
    SUSPENDUE: (
        "Le destinataire a suspendu la facture : des pièces justificatives manquent (voir son "
        "commentaire). Ajoutez-les (action « complete ») pour qu'elle passe au statut COMPLETEE."
    ),
    REJETEE: (
        "Le destinataire a rejeté la facture (voir son commentaire). Émettez un avoir total du "
        "même montant, qui cite le numéro de la facture et son engagement, puis une nouvelle "
        "facture : l'action « credit-note » fait les deux."
    ),
}
ACTION_LABELS = {RECYCLE: "Le recyclage", COMPLETE: "Le complément de pièces jointes"}


def explain(row: dict) -> str:
    """Say in French what the invoice's status means and what the bookseller can do."""
    pending = row.get("action")
    if pending:
        label = ACTION_LABELS.get(pending, f"L'action « {pending} »")
        return f"{label} demandé est en cours de transmission à la plateforme."
    status = row["status"]
    if row.get("credited_at") is not None:
        return (
            f"Statut {status} : un avoir total a annulé cette facture (voir ses liens) ; "
            "rien d'autre n'est attendu."
        )
    explanation = EXPLANATIONS.get(status) or (
        f"Statut « {status} » transmis par la plateforme, que la passerelle ne connaît pas : "
        "il est conservé tel quel."
    )
    if row.get("last_error") and status in (A_RECYCLER, SUSPENDUE):
        explanation += f" La dernière demande a échoué : {row['last_error']}"
    if status in OUTBOX_STATUSES and status != RECU:
        retry_at = row.get("next_attempt_at")
        explanation += (
            f" Nouvel essai automatique prévu le {paris(retry_at):%d/%m à %H:%M} (heure de Paris)."
            if retry_at
            else " Aucun nouvel essai automatique n'est prévu : la passerelle attend votre action."
        )
    return explanation


def needs_bookseller(row: dict) -> bool:
    """Whether the bookseller must act on the invoice now: nothing pending already, and
    not cancelled by a credit note (what a rejection asks for is then done)."""
    return (
        row["status"] in NEEDS_BOOKSELLER
        and not row.get("action")
        and row.get("credited_at") is None
    )


# --- What the bookseller can do now -------------------------------------------------------


@dataclass(frozen=True)
class Action:
    name: str
    #: Whether the action may be taken on an invoice row now.
    allowed: Callable[[dict], bool]
    #: Why it may not, when the status alone does not say it (French, for the bookseller).
    why_not: Callable[[dict], str | None] = lambda row: None


def _in(*statuses: str) -> Callable[[dict], bool]:
    return lambda row: row["status"] in statuses


def refused_before_buyer(row: dict) -> bool:
    """Whether the invoice was refused before any buyer had it, and nothing will send it
    again by itself: stopped by the gateway's check before sending, or its flux rejected
    by the platform (``EN_ERREUR`` with no attempt planned, no buyer status ever reached)."""
    return (
        row["status"] == EN_ERREUR
        and row.get("reached_buyer_at") is None
        and row.get("next_attempt_at") is None
    )


def holds_number(row: dict) -> bool:
    """Whether the invoice keeps its number from another invoice of the member's: any
    invoice a buyer received or that is on its way does; one refused before any buyer had
    it (:func:`refused_before_buyer`) or replaced already does not."""
    return row["status"] != REMPLACEE and not refused_before_buyer(row)


def creditable(row: dict) -> bool:
    """Whether a credit note may cancel the invoice: a buyer received it, it is no credit
    note itself, and no total credit note cancelled it yet."""
    return (
        row.get("reached_buyer_at") is not None
        and row["type"] != "credit_note"
        and row.get("credited_at") is None
    )


def _why_no_credit_note(row: dict) -> str | None:
    if row["type"] == "credit_note":
        return "un avoir ne s'annule pas par un autre avoir."
    if row.get("credited_at") is not None:
        return "un avoir total l'a déjà annulée."
    if row.get("reached_buyer_at") is None:
        return (
            "aucun acheteur ne l'a reçue : il n'y a rien à annuler. Corrigez-la et renvoyez-la "
            "sous le même numéro (action « correct ») si elle a été refusée."
        )
    return None


def _why_no_correction(row: dict) -> str | None:
    if row.get("reached_buyer_at") is not None:
        return (
            "un acheteur l'a reçue : elle ne peut plus être remplacée. Émettez un avoir total "
            "puis une nouvelle facture (action « credit-note »)."
        )
    return None


#: Every action, in the order ``next_actions`` lists them.
ACTIONS = (
    Action(RETRY, _in(EN_ERREUR)),
    Action(RECYCLE, _in(A_RECYCLER)),
    Action(COMPLETE, _in(SUSPENDUE)),
    Action(CORRECT, refused_before_buyer, _why_no_correction),
    Action(CREDIT_NOTE, creditable, _why_no_credit_note),
    Action(MANUAL_DEPOSIT, _in(A_DEPOSER)),
)


def next_actions(row: dict) -> list[str]:
    """Return the names of the actions allowed on the invoice ``row`` now: none while one
    it asked for is still being carried out."""
    if row.get("action"):
        return []
    return [action.name for action in ACTIONS if action.allowed(row)]


def require_action(row: dict, name: str) -> None:
    """Refuse (:class:`Conflict` ``invoice.action_not_allowed``) an action the invoice's
    status does not allow, naming the status and what may be done instead."""
    allowed = next_actions(row)
    if name in allowed:
        return
    instead = ", ".join(allowed) if allowed else "aucune pour l'instant"
    action = next((action for action in ACTIONS if action.name == name), None)
    reason = action.why_not(row) if action else None
    raise Conflict.of(
        "invoice.action_not_allowed",
        f"L'action « {name} » n'est pas possible sur une facture au statut {row['status']} "
        f"(actions possibles : {instead})." + (f" En effet, {reason}" if reason else ""),
        field="status",
    )


# --- Links between invoices -------------------------------------------------------------

#: Stored from the first invoice to the one made from it (``Store.add_link``): its credit
#: note, the invoice reissued in its place, the invoice refused under the same number it
#: replaced.
CREDIT_NOTE_LINK = "credit_note"
REISSUE = "reissue"
REPLACES = "replaces"
#: How each link reads from the other end.
INVERSE_LINKS = {
    CREDIT_NOTE_LINK: "credited_invoice",
    REISSUE: "reissue_of",
    REPLACES: "replaced_by",
}


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
        if not may_follow(old, new):
            # Recorded all the same: the platform's word is the invoice's status.
            log.warning("lifecycle.unexpected_transition", invoice_id=row["id"], old=old, new=new)
        # ``at`` may be the platform's, coarser or older than the gateway's own time:
        # ``updated_at`` (the ``since`` filter) never goes back.
        updates.setdefault("updated_at", at)
        self.store.update_invoice(conn, row["seq"], status=new, **updates)
        self.store.add_history(conn, row["seq"], new, at, comment, platform_at=platform_at)
        if new in BUYER_STATUSES:
            self.store.mark_reached_buyer(conn, row["seq"], at)
        data = {
            "number": row["number"],
            "old": old,
            "new": new,
            "comment": comment,
            # What the row allows once changed (a buyer status opens the credit note).
            "next_actions": next_actions(self.store.invoice_in(conn, row["seq"])),
            **(extra or {}),
        }
        event = self.store.add_event(conn, row["member_id"], event_type, data, invoice_id=row["id"])
        self.changes.append(StatusChange(row["id"], row["member_id"], old, new, event))

    def created(self, conn, row: dict, at: datetime, comment: str) -> None:
        """Record the first status of a newly inserted invoice row."""
        self.store.add_history(conn, row["seq"], row["status"], at, comment)
        data = {
            "number": row["number"],
            "old": None,
            "new": row["status"],
            "comment": comment,
            "next_actions": next_actions(row),
        }
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
        if not self.pm.hook.gateway_invoice_status_changed.get_hookimpls():
            self.changes.clear()  # nobody listens: the views would cost queries for nothing
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

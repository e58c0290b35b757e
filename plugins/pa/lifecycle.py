"""The one table from the reform's lifecycle codes (XP Z12-012, carried by CDAR messages) to
the gateway's statuses, and the French words for each. docs/lifecycle.md and
docs/outlets/pa.md show it beside Chorus Pro's vocabulary; keep the three alike.
"""

from __future__ import annotations

#: CDAR status code → (gateway status, the code's French label in XP Z12-012).
CDAR_STATUSES: dict[str, tuple[str, str]] = {
    "200": ("DEPOSEE", "Déposée"),
    "201": ("EN_COURS_ACHEMINEMENT", "Émise"),
    "202": ("EN_COURS_ACHEMINEMENT", "Reçue"),
    "203": ("MISE_A_DISPOSITION", "Mise à disposition"),
    "204": ("PRISE_EN_CHARGE", "Prise en charge"),
    "205": ("SERVICE_FAIT", "Approuvée"),
    "206": ("SERVICE_FAIT", "Partiellement approuvée"),
    "207": ("SUSPENDUE", "En litige"),
    "208": ("SUSPENDUE", "Suspendue"),
    "209": ("COMPLETEE", "Complétée"),
    "210": ("REJETEE", "Refusée"),
    "211": ("PAIEMENT_TRANSMIS", "Paiement transmis"),
    "212": ("ENCAISSEE", "Encaissée"),
    "213": ("REJETEE", "Rejetée"),
    "214": ("SERVICE_FAIT", "Visée"),
    "220": ("ANNULEE", "Annulée"),
    "221": ("A_RECYCLER", "Erreur de routage"),
}
#: The platform refused the flow itself (acknowledgement ``Error``, XP Z12-013): no buyer had
#: it, the bookseller corrects it and sends it again under the same number.
ACK_ERROR_STATUS = "EN_ERREUR"
#: Codes that refuse the invoice and carry a reason code.
REFUSALS = frozenset({"210", "213"})


def gateway_status(code: str) -> str | None:
    """The gateway status of a CDAR code; None for a code the standard does not list."""
    known = CDAR_STATUSES.get(code)
    return known[0] if known else None


def comment(code: str, reason_code: str | None = None, reason: str | None = None) -> str:
    """What the history says of a CDAR status, in French (code, label, reason)."""
    label = CDAR_STATUSES.get(code, (None, "statut inconnu"))[1]
    text = f"{label} ({code})"
    if reason_code or reason:
        text += " : motif " + " – ".join(part for part in (reason_code, reason) if part)
    return text

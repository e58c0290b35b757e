"""The invoice lifecycle of XP Z12-012: status codes, their labels, and how a flow shows them."""

from __future__ import annotations

from .web import iso

#: XP Z12-012 lifecycle statuses (code → French label).
STATUSES = {
    "200": "Déposée",
    "201": "Émise",
    "202": "Reçue",
    "203": "Mise à disposition",
    "204": "Prise en charge",
    "205": "Approuvée",
    "206": "Partiellement approuvée",
    "207": "En litige",
    "208": "Suspendue",
    "209": "Complétée",
    "210": "Refusée",
    "211": "Paiement transmis",
    "212": "Encaissée",
    "213": "Rejetée",
    "214": "Visée",
    "220": "Annulée",
    "221": "Erreur de routage",
}


def lifecycle_view(steps: list[dict]) -> list[dict]:
    """An invoice's statuses, oldest first: code, label, date and, when given, reason."""
    view = []
    for step in steps:
        item = {"status": step["code"], "label": STATUSES[step["code"]], "date": iso(step["at"])}
        if step["reason"]:
            item["reasonCode"] = step["reason"]
        view.append(item)
    return view

"""Trust between tenants: a member invoices only in its own name.

A member's SIRET is set by the gateway's administrator, and one SIRET belongs to one
member (``member.siret_taken``): an invoice whose seller is another SIRET is refused,
so that no member can make the shared worker send in another's name. The worker asks
again right before sending: the administrator may have changed the SIRET since.
"""

from __future__ import annotations

from gateway.errors import Finding
from gateway.model import Invoice
from gateway.outlets import PermanentOutletError

SELLER_NOT_MEMBER = "seller.not_member"


def seller_findings(member_siret: str | None, invoice: Invoice) -> list[Finding]:
    """Return the refusal of ``invoice`` when its seller is not the member (of SIRET
    ``member_siret``, None while the administrator has not set it)."""
    seller = invoice.seller.siret
    if member_siret is None:
        message = (
            "Votre compte n'a pas encore de SIRET : demandez à l'administrateur de la "
            "passerelle de l'enregistrer, puis déposez à nouveau la facture."
        )
    elif seller is None:
        message = (
            f"La facture ne donne pas le SIRET du vendeur ; ce doit être le vôtre ({member_siret})."
        )
    elif seller != member_siret:
        message = (
            f"Le SIRET du vendeur ({seller}) n'est pas celui de votre compte ({member_siret}) : "
            "une librairie ne dépose des factures qu'à son propre nom."
        )
    else:
        return []
    # A missing or malformed SIRET another rule already faults needs one explanation only.
    return [Finding(code=SELLER_NOT_MEMBER, field="seller.siret", message=message, restates=True)]


def refuse_foreign_seller(member_siret: str | None, invoice: Invoice) -> None:
    """Raise a permanent outlet error (nothing sent, no retry) when ``invoice``, accepted
    earlier, is no longer in the name of its member (of SIRET ``member_siret`` now)."""
    findings = seller_findings(member_siret, invoice)
    if findings:
        raise PermanentOutletError(
            "le SIRET de votre compte a changé depuis l'acceptation de la facture. "
            + " ".join(finding.message for finding in findings),
            findings=findings,
        )

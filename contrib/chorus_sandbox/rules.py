"""Business rules the platform applies to an invoice, and the errors it answers with.

Return codes: 20000 (GDP_MSG_11.008, TRA_MSG_00.015), 20001 (GDP_MSG_11.005, GDP_MSG_11.022)
and 20002 (GDP_MSG_11.033) come from public clients and the platform's annex. Every other code
below is the sandbox's own numbering, since no public source gives the real one; the README lists
them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .store import Store

RESERVED_SERVICE = "FACTURES_PUBLIQUES"
NUMBER_PATTERN = re.compile(r"[A-Za-z0-9_/+\-]{1,20}")
MAX_ENGAGEMENT = 50


class BusinessError(Exception):
    """A functional refusal: `codeRetour` ≠ 0 with its `libelle`."""

    def __init__(self, code: int, libelle: str, **extra: object) -> None:
        super().__init__(f"{code} {libelle}")
        self.code = code
        self.libelle = libelle
        self.extra = extra  # fields answered along, e.g. an empty list and its paging


# Known messages of the real platform.
def search_empty() -> BusinessError:
    return BusinessError(20000, "TRA_MSG_00.015")


def invoice_not_found() -> BusinessError:
    return BusinessError(20000, "GDP_MSG_11.008")


def not_allowed() -> BusinessError:
    return BusinessError(20001, "GDP_MSG_11.005")


def file_too_large() -> BusinessError:
    return BusinessError(20001, "GDP_MSG_11.022")


def not_suspended() -> BusinessError:
    return BusinessError(20002, "GDP_MSG_11.033")


# The sandbox's own codes.
def invalid(detail: str) -> BusinessError:
    return BusinessError(20003, f"Paramètre invalide : {detail}")


def not_to_recycle(status: str) -> BusinessError:
    return BusinessError(
        20004,
        f"La facture est au statut {status} : seule une facture A_RECYCLER peut être recyclée.",
    )


def structure_not_found() -> BusinessError:
    return BusinessError(20016, "La structure demandée n'existe pas.")


def service_not_found() -> BusinessError:
    return BusinessError(20017, "Le service demandé n'existe pas pour cette structure.")


def flux_not_found(numero: str) -> BusinessError:
    return BusinessError(20020, f"Le flux {numero} n'existe pas pour ce fournisseur.")


def invalid_attachment(detail: str) -> BusinessError:
    return BusinessError(20015, f"Pièce jointe refusée : {detail}")


def inconsistent_amounts(detail: str) -> BusinessError:
    return BusinessError(20018, f"Montants incohérents : {detail}")


@dataclass(frozen=True)
class Violation:
    """An invoice refused by a rule: a DP error in a flux, a business error elsewhere."""

    code: int
    message: str

    def error(self) -> BusinessError:
        return BusinessError(self.code, self.message)


class Refused(Exception):
    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message)
        self.violation = violation


def check_number(numero: str | None) -> Violation | None:
    if not numero or not NUMBER_PATTERN.fullmatch(numero):
        return Violation(
            20014,
            f"Le numéro de facture « {numero or ''} » est invalide : 20 caractères au plus, "
            "lettres, chiffres et - _ / + uniquement.",
        )
    return None


def duplicate(numero: str, supplier_siret: str) -> Violation:
    return Violation(
        20013, f"Le numéro de facture {numero} existe déjà pour le fournisseur {supplier_siret}."
    )


def route(
    store: Store,
    supplier: dict,
    siret: str | None,
    service_code: str | None,
    engagement: str | None,
) -> tuple[dict, dict | None]:
    """Apply the directory rules to a recipient, service and engagement; return the structure and
    service the invoice goes to, or raise Refused."""
    recipient = store.structure(siret=siret) if siret else None
    if recipient is None or not recipient["public"]:
        shown = f" ({siret})" if siret else ""
        raise Refused(
            Violation(
                20005,
                f"L'identifiant destinataire de la demande de paiement{shown} n'est pas "
                "référencé dans notre système.",
            )
        )
    if not recipient["active"]:
        raise Refused(
            Violation(
                20006,
                f"La structure destinataire {siret} n'est pas active : elle ne peut pas recevoir "
                "de factures.",
            )
        )
    service = None
    if service_code:
        service = store.service(recipient["id"], code=service_code)
        if service is None:
            raise Refused(
                Violation(
                    20008,
                    f"Le code service {service_code} n'existe pas pour la structure destinataire "
                    f"{siret}.",
                )
            )
        if not service["active"]:
            raise Refused(
                Violation(
                    20009,
                    f"Le service {service_code} de la structure destinataire {siret} n'est pas "
                    "actif.",
                )
            )
        if service_code == RESERVED_SERVICE and not supplier["public"]:
            raise Refused(
                Violation(
                    20012,
                    f"Le service {RESERVED_SERVICE} est réservé aux factures émises par une "
                    "structure publique.",
                )
            )
    elif recipient["service_required"]:
        raise Refused(
            Violation(
                20007, f"Le code service est obligatoire pour la structure destinataire {siret}."
            )
        )
    if not engagement:
        if recipient["engagement_required"]:
            raise Refused(
                Violation(
                    20010,
                    "Le numéro d'engagement est obligatoire pour la structure destinataire "
                    f"{siret}.",
                )
            )
        if service is not None and service["engagement_required"]:
            raise Refused(
                Violation(
                    20010,
                    f"Le numéro d'engagement est obligatoire pour le service {service_code} de la "
                    f"structure destinataire {siret}.",
                )
            )
        if recipient["service_or_engagement"] and service is None:
            raise Refused(
                Violation(
                    20011,
                    "Le code service ou le numéro d'engagement doit être renseigné pour la "
                    f"structure destinataire {siret}.",
                )
            )
    elif len(engagement) > MAX_ENGAGEMENT:
        raise Refused(
            Violation(
                20019, f"Le numéro d'engagement dépasse {MAX_ENGAGEMENT} caractères : {engagement}."
            )
        )
    return recipient, service

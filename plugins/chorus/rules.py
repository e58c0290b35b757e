"""The Chorus Pro directory rule set ``chorus`` (DESIGN §4): is the buyer reachable, and
does the invoice carry exactly the service code and engagement number it asks for?

It judges the invoice against the directory entry the core looked up (None when the
route has no directory or it could not be reached: then it says nothing, and the core
checks again before sending). A SIRET Chorus Pro does not know comes as an entry whose
status is :data:`UNKNOWN`. Codes are compared exactly: case matters on the platform.

A service code or engagement number the structure does not ask for is refused by
default, as the guide says the invoice must not carry one; with the ``strip`` policy
(``forbidden_references = "strip"`` in ``[plugins.chorus]``) ``gateway_enrich_invoice``
removes it, with a warning, before the invoice is rendered and judged.

The platform's limits (invoice number, engagement number, service code, the size of the
document) are checked on every invoice to a French buyer, directory or not: Chorus Pro
serves French structures only (:mod:`plugins.chorus.limits`).
"""

from __future__ import annotations

from gateway.plugin_api import (
    UNKNOWN,
    Config,
    ConfigError,
    DirectoryEntry,
    Document,
    Finding,
    Invoice,
    Service,
)
from plugins.chorus.api import SETTINGS_TABLE
from plugins.chorus.limits import limit_findings

RULE_SET = "chorus"
#: Reserved to invoices between public structures (reference §2.9).
PUBLIC_INVOICES = "FACTURES_PUBLIQUES"
POLICIES = ("refuse", "strip")
SERVICE_FIELD = "references.service_code"
ENGAGEMENT_FIELD = "references.engagement"
#: How many service codes a message lists at most.
LISTED_CODES = 12


def _finding(code: str, field: str, message: str, severity: str = "error") -> Finding:
    return Finding(code=code, field=field, message=message, severity=severity, rule=RULE_SET)


def _structure(entry: DirectoryEntry, start: bool = False) -> str:
    if entry.name:
        return f"« {entry.name} » (SIRET {entry.siret})"
    return f"{'Le' if start else 'le'} SIRET {entry.siret}"


def chosen_service(invoice: Invoice, entry: DirectoryEntry) -> Service | None:
    """Return the invoice's service, when the structure accepts one and it exists."""
    code = invoice.references.service_code
    if not code or not (entry.service_required or entry.service_or_engagement_required):
        return None
    return entry.service(code)


def _engagement_by_service(service: Service | None) -> bool:
    return service is not None and service.active and service.engagement_required


def _active_codes(entry: DirectoryEntry) -> str:
    codes = [service.code for service in entry.services if service.active]
    listed = ", ".join(codes[:LISTED_CODES]) + (" …" if len(codes) > LISTED_CODES else "")
    return f"codes actifs : {listed}" if codes else "aucun service actif n'est déclaré"


def directory_findings(invoice: Invoice, entry: DirectoryEntry) -> list[Finding]:
    """Is the buyer a known, active structure? Say what to do when it is not."""
    if entry.status == UNKNOWN:
        return [
            _finding(
                "directory.unknown",
                "buyer.siret",
                f"Le SIRET {entry.siret} n'est pas inscrit comme destinataire public dans "
                "l'annuaire Chorus Pro. Vérifiez "
                "le SIRET sur le bon de commande ; si c'est bien celui du client, il doit "
                "s'inscrire sur Chorus Pro pour recevoir des factures. En attendant, envoyez-lui "
                "la facture sur papier (canal « paper » pour ce client).",
            )
        ]
    if not entry.active:
        return [
            _finding(
                "directory.inactive",
                "buyer.siret",
                f"{_structure(entry, start=True)} est connu de Chorus Pro mais n'y est pas "
                f"actif (statut {entry.status}) : la facture serait refusée. Prévenez le "
                "client : il doit s'inscrire sur Chorus Pro pour recevoir des factures. En "
                "attendant, acheminez ce client sur papier (canal « paper »).",
            )
        ]
    return []


def forbidden_findings(
    invoice: Invoice, entry: DirectoryEntry, severity: str = "error"
) -> list[Finding]:
    """A service code or engagement number the structure does not ask for."""
    references = invoice.references
    findings = []
    either = entry.service_or_engagement_required
    if references.service_code and not entry.service_required and not either:
        findings.append(
            _finding(
                "service.forbidden",
                SERVICE_FIELD,
                f"{_structure(entry, start=True)} ne demande pas de code service : la facture "
                f"ne doit pas en porter. "
                + (
                    f"Le code « {references.service_code} » est retiré."
                    if severity == "warning"
                    else f"Retirez le code « {references.service_code} »."
                ),
                severity,
            )
        )
    by_service = _engagement_by_service(chosen_service(invoice, entry))
    if references.engagement and not entry.engagement_required and not by_service and not either:
        findings.append(
            _finding(
                "engagement.forbidden",
                ENGAGEMENT_FIELD,
                f"{_structure(entry, start=True)} ne demande pas de numéro d'engagement : la "
                "facture ne doit pas en porter. "
                + (
                    f"Le numéro « {references.engagement} » est retiré."
                    if severity == "warning"
                    else f"Retirez le numéro « {references.engagement} »."
                ),
                severity,
            )
        )
    return findings


def service_findings(invoice: Invoice, entry: DirectoryEntry) -> list[Finding]:
    """The service code: required, existing (exact case) and active; not the public one."""
    code = invoice.references.service_code
    if not code:
        if not entry.service_required:
            return []
        return [
            _finding(
                "service.required",
                SERVICE_FIELD,
                f"{_structure(entry, start=True)} exige un code service : indiquez celui du bon "
                f"de commande ({_active_codes(entry)}).",
            )
        ]
    if not entry.service_required and not entry.service_or_engagement_required:
        return []  # forbidden_findings speaks of it
    service = entry.service(code)
    if service is None:
        near = next((s.code for s in entry.services if s.code.lower() == code.lower()), None)
        hint = f" Vouliez-vous dire « {near} » ? Les majuscules comptent." if near else ""
        return [
            _finding(
                "service.unknown",
                SERVICE_FIELD,
                f"Le code service « {code} » n'existe pas chez {_structure(entry)}.{hint} "
                f"Vérifiez-le sur le bon de commande ({_active_codes(entry)}).",
            )
        ]
    if not service.active:
        return [
            _finding(
                "service.inactive",
                SERVICE_FIELD,
                f"Le service « {code} » ({service.name}) de {_structure(entry)} n'est plus actif "
                f"(statut {service.status}) : demandez au client le service à facturer "
                f"({_active_codes(entry)}).",
            )
        ]
    if code == PUBLIC_INVOICES and any(
        s.active and s.code != PUBLIC_INVOICES for s in entry.services
    ):
        return [
            _finding(
                "service.reserved_public",
                SERVICE_FIELD,
                f"Le service {PUBLIC_INVOICES} est réservé aux factures entre structures "
                f"publiques : Chorus Pro le refuse à une librairie. Choisissez le service du bon "
                f"de commande ({_active_codes(entry)}).",
                "warning",
            )
        ]
    return []


def engagement_findings(invoice: Invoice, entry: DirectoryEntry) -> list[Finding]:
    """The engagement number, when the structure or the chosen service requires one; and at
    least one of the two references when the structure asks for "service or engagement"."""
    references = invoice.references
    service = chosen_service(invoice, entry)
    if not references.engagement:
        if entry.engagement_required or _engagement_by_service(service):
            who = (
                _structure(entry)
                if entry.engagement_required
                else f"le service « {service.code} » de {_structure(entry)}"
            )
            return [
                _finding(
                    "engagement.required",
                    ENGAGEMENT_FIELD,
                    f"Un numéro d'engagement juridique est exigé par {who}. Indiquez-le tel "
                    "que le client l'a communiqué, majuscules et minuscules comprises : il peut "
                    "différer du numéro de bon de commande et avoir changé depuis la commande "
                    "(vérifiez-le dans l'annuaire Chorus Pro).",
                )
            ]
    either = entry.service_or_engagement_required
    if either and not references.service_code and not references.engagement:
        return [
            _finding(
                "service_or_engagement.required",
                SERVICE_FIELD,
                f"{_structure(entry, start=True)} exige un code service ou un numéro "
                f"d'engagement : indiquez au moins l'un des deux ({_active_codes(entry)}).",
            )
        ]
    return []


def chorus_findings(
    invoice: Invoice,
    entry: DirectoryEntry | None,
    policy: str = "refuse",
    document: Document | None = None,
) -> list[Finding]:
    """Return the findings of the rule set on ``invoice`` for this directory ``entry`` and
    the ``document`` that will leave."""
    limits = limit_findings(invoice, document) if invoice.buyer.address.country == "FR" else []
    if entry is None:
        return limits
    findings = directory_findings(invoice, entry)
    if findings:
        return limits + findings
    severity = "warning" if policy == "strip" else "error"
    return (
        limits
        + forbidden_findings(invoice, entry, severity)
        + service_findings(invoice, entry)
        + engagement_findings(invoice, entry)
    )


def strip_forbidden_references(invoice: Invoice, entry: DirectoryEntry | None) -> list[Finding]:
    """Remove the references ``entry`` does not ask for; return one warning for each."""
    if entry is None or directory_findings(invoice, entry):
        return []
    findings = forbidden_findings(invoice, entry, "warning")
    for finding in findings:
        if finding.field == SERVICE_FIELD:
            invoice.references.service_code = None
        else:
            invoice.references.engagement = None
    return findings


def read_policy(config: Config) -> str:
    """Return ``forbidden_references`` of ``[plugins.chorus]``: ``refuse`` unless told."""
    policy = config.plugin_config(SETTINGS_TABLE).get("forbidden_references") or "refuse"
    if policy not in POLICIES:
        raise ConfigError(
            f"[plugins.{SETTINGS_TABLE}] forbidden_references must be one of "
            f"{', '.join(POLICIES)}, not {policy!r}"
        )
    return policy

"""Per-customer routing: which outlet an invoice leaves by, which copies go with it, and why.

A customer's channel is the member's choice; a plugin may decide otherwise
(``gateway_choose_route``). Then the directory has its say: a structure Chorus Pro does
not know as active cannot receive an invoice through it (the route says so and, when the
member allows it, falls back to paper), and a public buyer routed to paper gets a warning,
since public buyers must receive electronic invoices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.directory import UNKNOWN, DirectoryEntry, ReformDirectoryEntry
from gateway.errors import Finding

#: The channels a customer can be routed to (DESIGN §4), fixed by the REST contract: new
#: ones are added, none renamed. ``auto`` is a customer's channel only: the gateway turns
#: it into one of the others by the directories (a route never has it).
CHANNELS = ("chorus", "dilifac", "manual_pdf", "paper", "pa", "auto")
CHORUS = "chorus"
PAPER = "paper"
PA = "pa"
AUTO = "auto"
#: The channels in words, for the bookseller.
CHANNEL_WORDS = {
    "chorus": "Chorus Pro, par l'API",
    "dilifac": "le service Dilifac de Dilicom, vers Chorus Pro",
    "manual_pdf": "un dépôt à la main sur le portail Chorus Pro",
    "paper": "le papier",
    "pa": "une plateforme agréée (PA)",
    "auto": "le choix de la passerelle selon les annuaires (Chorus Pro, plateforme agréée "
    "ou hors champ)",
}
#: A member's routing settings (``settings.routing``).
PREFERENCES = ("paper_fallback", "out_of_scope_channel")
#: Where a member's invoices outside the e-invoicing scope go unless it says otherwise.
DEFAULT_OUT_OF_SCOPE_CHANNEL = PAPER
#: The channels an out-of-scope invoice may take: the others deliver to Chorus Pro or a PA,
#: which take no invoice to a consumer or a foreign buyer.
OUT_OF_SCOPE_CHANNELS = (PAPER,)


@dataclass
class Customer:
    """A buyer as one member knows it, with the channel its invoices take."""

    siret: str
    name: str
    channel: str = "chorus"
    copies: list[dict] = field(default_factory=list)
    member_id: str | None = None


@dataclass
class Route:
    """Where an invoice goes: the channel, the outlet plugin serving it, and the copies.

    ``requested_channel`` is the customer's own channel when the gateway chose another
    (the paper fallback, ``auto``); ``reason`` says why the invoice takes this route, in
    French. A route the directories decided (``auto``) also says the buyer's ``scope``
    (``public``, ``entreprise``, ``hors-champ``) and, for a company, the approved platform
    that receives for it and its ``electronic_address`` (scheme 0225: BT-49).
    """

    channel: str
    outlet: str
    copies: list[dict] = field(default_factory=list)
    reason: str | None = None
    requested_channel: str | None = None
    scope: str | None = None
    recipient_platform: str | None = None
    electronic_address: str | None = None

    def as_dict(self) -> dict:
        return {
            "channel": self.channel,
            "outlet": self.outlet,
            "copies": self.copies,
            "reason": self.reason,
            "requested_channel": self.requested_channel,
            "scope": self.scope,
            "recipient_platform": self.recipient_platform,
            "electronic_address": self.electronic_address,
        }


def default_route(
    customer: Customer | None, channel_outlets: dict[str, str], default_channel: str
) -> Route:
    """Return the route a customer's own settings give, before any plugin overrides it."""
    if customer is None:
        channel, copies = default_channel, []
        reason = f"Client non déclaré par le membre : canal par défaut ({CHANNEL_WORDS[channel]})."
    else:
        channel, copies = customer.channel, list(customer.copies)
        reason = f"Canal choisi pour ce client : {CHANNEL_WORDS[channel]}."
    return Route(channel=channel, outlet=channel_outlets[channel], copies=copies, reason=reason)


def check_preferences(settings: dict) -> list[Finding]:
    """Return what is wrong with a member's ``settings["routing"]``, field by field."""
    prefs = settings.get("routing")
    if prefs is None:
        return []
    if not isinstance(prefs, dict):
        return [
            Finding(
                code="field.invalid",
                field="settings.routing",
                message='Les réglages d\'acheminement sont un objet : {"paper_fallback": true}.',
            )
        ]
    findings = [
        Finding(
            code="field.unknown",
            field=f"settings.routing.{key}",
            message=(
                f"Réglage « {key} » inconnu (réglages possibles : paper_fallback, "
                "out_of_scope_channel)."
            ),
        )
        for key in prefs
        if key not in PREFERENCES
    ]
    if prefs.get("out_of_scope_channel", PAPER) not in OUT_OF_SCOPE_CHANNELS:
        findings.append(
            Finding(
                code="field.invalid",
                field="settings.routing.out_of_scope_channel",
                message=(
                    "Les factures hors du champ de la facturation électronique partent sur "
                    "papier (« paper ») : Chorus Pro et les plateformes agréées ne les "
                    "prennent pas."
                ),
            )
        )
    if "paper_fallback" in prefs and not isinstance(prefs["paper_fallback"], bool):
        findings.append(
            Finding(
                code="field.invalid",
                field="settings.routing.paper_fallback",
                message="Une valeur booléenne (true ou false) est attendue.",
            )
        )
    return findings


def paper_fallback_allowed(settings: dict, default: bool) -> bool:
    """Whether a member's invoices to a structure not active on Chorus Pro go on paper."""
    return bool((settings.get("routing") or {}).get("paper_fallback", default))


def unreachable_reason(entry: DirectoryEntry) -> str:
    """Why Chorus Pro cannot deliver to this structure, and what the customer must do."""
    who = f"« {entry.name} » (SIRET {entry.siret})" if entry.name else f"Le SIRET {entry.siret}"
    if entry.status == UNKNOWN:
        state = "n'est pas inscrit comme destinataire dans l'annuaire Chorus Pro"
    else:
        state = f"n'est pas actif sur Chorus Pro (statut {entry.status})"
    return (
        f"{who} {state} : Chorus Pro ne peut pas lui remettre de facture. Le client doit "
        "s'inscrire sur Chorus Pro pour recevoir ses factures."
    )


def to_paper(route: Route, entry: DirectoryEntry, paper_outlet: str) -> tuple[Route, Finding]:
    """The paper fallback of a route to a structure Chorus Pro cannot deliver to."""
    reason = (
        f"{unreachable_reason(entry)} En attendant, la facture part sur papier (repli "
        f"autorisé par le membre) au lieu de {CHANNEL_WORDS[route.channel]}."
    )
    fallback = Route(
        channel=PAPER,
        outlet=paper_outlet,
        copies=route.copies,
        reason=reason,
        requested_channel=route.channel,
    )
    return fallback, Finding(
        code="route.paper_fallback", field="channel", message=reason, severity="warning"
    )


def blocked_reason(entry: DirectoryEntry) -> str:
    """The route to an unreachable structure when the member allows no fallback."""
    return (
        f"{unreachable_reason(entry)} Ses factures seront refusées tant qu'il ne l'a pas fait : "
        "choisissez le canal « paper » pour ce client, ou autorisez le repli sur papier "
        '(réglage du membre {"routing": {"paper_fallback": true}}).'
    )


def public_buyer_on_paper(entry: DirectoryEntry) -> Finding:
    """A warning for a structure active on Chorus Pro that a member routes to paper."""
    who = f"« {entry.name} »" if entry.name else f"Le SIRET {entry.siret}"
    return Finding(
        code="route.paper_public_buyer",
        field="channel",
        severity="warning",
        message=(
            f"{who} est un acheteur public actif sur Chorus Pro : depuis 2020 il doit "
            "recevoir ses factures sous forme électronique, et peut refuser une facture "
            "papier. Choisissez pour ce client le canal « chorus », « dilifac » ou "
            "« manual_pdf »."
        ),
    )


# --- The 2026 reform: the ``auto`` channel, decided by the directories --------------------


def out_of_scope_channel(settings: dict) -> str:
    """The channel a member's invoices outside the e-invoicing scope take."""
    prefs = settings.get("routing") or {}
    return prefs.get("out_of_scope_channel") or DEFAULT_OUT_OF_SCOPE_CHANNEL


def out_of_scope_reason(siret: str | None, country: str | None, channel: str) -> str:
    """Why a consumer's or a foreign buyer's invoice takes no e-invoicing route."""
    if (country or "FR") != "FR":
        why = (
            f"Client établi hors de France ({country}) : hors du champ de la facturation "
            "électronique (les données de la vente relèvent du e-reporting)"
        )
    else:
        why = (
            "Client particulier : hors du champ de la facturation électronique (les données "
            "de la vente relèvent du e-reporting)"
        )
    return f"{why}. La facture part par {CHANNEL_WORDS[channel]}."


def public_reason(entry: DirectoryEntry | ReformDirectoryEntry, siret: str) -> str:
    """Why a buyer the directories know as public takes Chorus Pro."""
    who = f"« {entry.name} » (SIRET {siret})" if entry.name else f"Le SIRET {siret}"
    if isinstance(entry, ReformDirectoryEntry):
        source = "l'annuaire de la facturation électronique"
    else:
        source = "l'annuaire Chorus Pro"
    return (
        f"{who} est un acheteur public ({source}) : ses factures passent par Chorus Pro ; "
        f"la facture part par {CHANNEL_WORDS[CHORUS]}."
    )


def company_reason(entry: ReformDirectoryEntry) -> str:
    who = f"« {entry.name} » (SIREN {entry.siren})" if entry.name else f"Le SIREN {entry.siren}"
    platform = (
        f"la plateforme agréée {entry.platform_name}"
        if entry.platform_name
        else ("sa plateforme agréée")
    )
    return (
        f"{who} reçoit ses factures électroniques par {platform}, à l'adresse "
        f"{entry.electronic_address} (annuaire de la facturation électronique) : la facture "
        f"part par {CHANNEL_WORDS[PA]}."
    )


def company_fields(entry: ReformDirectoryEntry) -> dict:
    """What a route to a company's approved platform says of it (``Route`` fields)."""
    return {
        "reason": company_reason(entry),
        "recipient_platform": entry.platform_name or entry.platform_id,
        "electronic_address": entry.electronic_address,
    }


def unreachable_company_reason(siret: str) -> str:
    return (
        f"L'annuaire de la facturation électronique n'a pas pu être consulté pour le SIRET "
        f"{siret} : la facture part par {CHANNEL_WORDS[PA]}, et son destinataire sera "
        "vérifié de nouveau juste avant l'envoi."
    )


def recipient_unknown(siret: str, channel: str | None) -> tuple[str, Finding]:
    """The reason and warning for a French company the reform's directory does not list;
    ``channel`` is the way its invoice takes meanwhile, if any."""
    reason = (
        f"Le SIRET {siret} n'est ni un acheteur public actif sur Chorus Pro, ni inscrit dans "
        "l'annuaire de la facturation électronique : aucune plateforme agréée ne reçoit pour "
        "lui. Vérifiez le SIRET, ou demandez au client le nom de sa plateforme agréée."
    )
    if channel:
        reason += f" En attendant, la facture part par {CHANNEL_WORDS[channel]}."
    return reason, Finding(
        code="route.recipient_unknown", field="buyer.siret", message=reason, severity="warning"
    )


def reform_unreachable() -> Finding:
    """The warning of an invoice accepted while the reform's directory cannot be read."""
    return Finding(
        code="directory.unreachable",
        severity="warning",
        field="buyer.siret",
        message=(
            "L'annuaire de la facturation électronique n'a pas pu être consulté ; le "
            "destinataire sera vérifié de nouveau juste avant l'envoi."
        ),
    )

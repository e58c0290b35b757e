"""The invoice lifecycle of XP Z12-012: status codes, their reasons, and how a status reaches
the invoice's issuer: a row of the invoice's lifecycle (shown in its Metadata) and a CDAR flow
delivered to the issuer (flowType CustomerInvoiceLC, direction In), found with a search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import cdar
from .web import iso

if TYPE_CHECKING:
    from .app import Sandbox

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

_REFUSAL = (
    "TX_TVA_ERR", "MONTANTTOTAL_ERR", "CALCUL_ERR", "NON_CONFORME", "DOUBLON", "DEST_ERR",
    "TRANSAC_INC", "EMMET_INC", "CONTRAT_TERM", "DOUBLE_FACT", "CMD_ERR", "ADR_ERR",
    "REF_CT_ABSENT",
)  # fmt: skip
#: The reason codes of XP Z12-012 (its table of status reasons) each status accepts.
REASONS = {
    "206": ("COORD_BANC_ERR", "CMD_ERR", "SIRET_ERR", "CODE_ROUTAGE_ERR", "REF_CT_ABSENT",
            "REF_ERR"),
    "207": ("AUTRE", "COORD_BANC_ERR", *_REFUSAL, "SIRET_ERR", "CODE_ROUTAGE_ERR", "REF_ERR",
            "PU_ERR", "REM_ERR", "QTE_ERR", "ART_ERR", "MODPAI_ERR", "QUALITE_ERR",
            "LIVR_INCOMP"),
    "208": ("JUSTIF_ABS", "ROUTAGE_ERR", "CMD_ERR"),
    "210": _REFUSAL,
    "213": ("REJ_SEMAN", "REJ_UNI", "REJ_COH", "REJ_ADR", "REJ_CONT_B2G", "REJ_REF_PJ",
            "REJ_ASS_PJ", "IRR_VIDE_F", "IRR_TYPE_F", "IRR_SYNTAX", "IRR_TAILLE_PJ",
            "IRR_NOM_PJ", "IRR_VID_PJ", "IRR_EXT_DOC", "IRR_TAILLE_F", "IRR_ANTIVIRUS",
            "DEST_INC"),
}  # fmt: skip
NEED_REASON = {"210", "213"}
#: Statuses the platforms give (the others come from the buyer, or the seller for 209/212/220).
PLATFORM_STATUSES = {"200", "201", "202", "203", "213", "221"}
SELLER_STATUSES = {"209", "212", "220"}
#: What a member may say about an invoice by depositing a CDAR: as its buyer, as its seller.
BUYER_ANSWERS = {"204", "205", "206", "207", "208", "210", "211", "214"}
SELLER_ANSWERS = SELLER_STATUSES
#: The sandbox platform itself, as a party of the CDAR it writes.
PLATFORM = cdar.Party("999999998", "Bac à sable PA", "WK")


def status_problem(code: str, reason: str | None) -> str | None:
    """What is wrong with a status and its reason, or None."""
    if code not in STATUSES:
        return f"unknown status {code!r} (XP Z12-012: {', '.join(STATUSES)})"
    if code in NEED_REASON and not reason:
        return f"status {code} needs a reason code"
    if reason and reason not in REASONS.get(code, ()):
        allowed = ", ".join(REASONS.get(code, ())) or "none"
        return f"reason {reason!r} is not one of status {code}'s ({allowed})"
    return None


def lifecycle_view(steps: list[dict]) -> list[dict]:
    """An invoice's statuses, oldest first: code, label, date and, when given, reason."""
    view = []
    for step in steps:
        item = {"status": step["code"], "label": STATUSES[step["code"]], "date": iso(step["at"])}
        if step["reason"]:
            item["reasonCode"] = step["reason"]
        view.append(item)
    return view


def give_status(
    sandbox: Sandbox,
    invoice: dict,
    code: str,
    reason: str | None,
    source: str,
    cdar_flow_id: str | None = None,
) -> None:
    """Record a status of ``invoice`` and tell its issuer with a CDAR flow, unless the issuer
    is no member of the platform (an invoice injected by the control API). A member's copy of
    another member's invoice passes the status on to the original."""
    now, store = sandbox.now(), sandbox.store
    original = store.flow(invoice["about"]) if invoice["direction"] == "In" else None
    for target in (invoice, original) if original else (invoice,):
        store.add_status(
            target["flow_id"], code, now, source, reason=reason, cdar_flow_id=cdar_flow_id
        )
    invoice = original or invoice
    issuer = next((c for c in store.clients() if c["siren"] == invoice["sender"]), None)
    if issuer is None:
        return
    buyer = cdar.Party(invoice["recipient"] or "", invoice["recipient_name"] or "", "BY")
    seller = cdar.Party(issuer["siren"], issuer["name"], "SE")
    author = PLATFORM if code in PLATFORM_STATUSES else seller if code in SELLER_STATUSES else buyer
    details = {
        "number": invoice["invoice_number"] or "",
        "date": invoice["invoice_date"],
        "seller": issuer["siren"],
    }
    message = cdar.build(
        f"{invoice['flow_id']}-{code}", now, author, seller, details, (code, STATUSES[code]), reason
    )
    sandbox.deliver(
        owner=issuer["siren"],
        flow_type="CustomerInvoiceLC",
        syntax="CDAR",
        name=f"cdar-{invoice['invoice_number']}-{code}.xml",
        content=message,
        about=invoice["flow_id"],
    )


def forward(sandbox: Sandbox, invoice: dict) -> None:
    """Deliver an invoice to its buyer when the buyer is a member too (both on this platform):
    a `SupplierInvoice` copy, `about` the original, made available (203)."""
    store = sandbox.store
    members = {client["siren"] for client in store.clients()}
    if invoice["recipient"] not in members or invoice["recipient"] == invoice["owner"]:
        return
    keep = ("syntax", "profile", "processing_rule", "name", "content", "sender", "recipient",
            "invoice_number", "invoice_date", "recipient_name")  # fmt: skip
    copy = sandbox.deliver(
        owner=invoice["recipient"],
        flow_type="SupplierInvoice",
        about=invoice["flow_id"],
        **{key: invoice[key] for key in keep},
    )
    give_status(sandbox, copy, "203", None, "platform")

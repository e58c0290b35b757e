"""The French and Chorus Pro rule set ``fr``: what no EN 16931 schematron checks.

It judges invoices to French buyers only; an invoice to a foreign buyer is left to EN 16931.

Identifiers (SIRET with the La Poste exception, VAT number, IBAN) are checked with
python-stdnum. Chorus Pro's own limits (invoice number, engagement number) are the
``chorus`` rule set's.
"""

from __future__ import annotations

from stdnum import iban as iban_number
from stdnum.eu import vat as vat_number
from stdnum.fr import siret as siret_number

from gateway.plugin_api import (
    Finding,
    Invoice,
    InvoiceType,
    hookimpl,
)

RULE_SET = "fr"
#: UNTDID 4461 credit transfers, for which the seller's IBAN is required.
CREDIT_TRANSFERS = frozenset({"30", "58"})
CREDIT_NOTES = frozenset({InvoiceType.CREDIT_NOTE})
PRECEDING_REQUIRED = frozenset({InvoiceType.CREDIT_NOTE, InvoiceType.CORRECTED_INVOICE})


#: ISO 4217 codes that name no money an invoice can be paid in: precious metals, units of
#: account, testing and "no currency" (XAF, XOF, XPF and XCD are real currencies).
NOT_MONEY = frozenset(
    {"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"}
)


def _error(code: str, field: str, message: str) -> Finding:
    return Finding(code=code, field=field, message=message, rule=RULE_SET)


def siret_findings(invoice: Invoice) -> list[Finding]:
    findings = []
    for role, label in (("seller", "du fournisseur"), ("buyer", "du client")):
        party = getattr(invoice, role)
        if party.siret is None:
            if role == "seller" and party.address.country == "FR":
                findings.append(
                    _error(
                        "siret.required",
                        "seller.siret",
                        "Le SIRET du fournisseur est obligatoire pour un fournisseur établi "
                        "en France.",
                    )
                )
            continue
        if not siret_number.is_valid(party.siret):
            findings.append(
                _error(
                    "siret.invalid",
                    f"{role}.siret",
                    f"Le SIRET {label} « {party.siret} » n'est pas valide : 14 chiffres dont le "
                    "dernier est une clé de contrôle. Vérifiez-le sur l'avis de situation SIRENE.",
                )
            )
    vat_id = invoice.seller.vat_id
    if vat_id and not vat_number.is_valid(vat_id):
        findings.append(
            _error(
                "vat_id.invalid",
                "seller.vat_id",
                f"Le numéro de TVA intracommunautaire « {vat_id} » n'est pas valide.",
            )
        )
    return findings


def payment_findings(invoice: Invoice) -> list[Finding]:
    payment = invoice.payment
    if invoice.type in CREDIT_NOTES:
        if payment and payment.means_code:
            return [
                _error(
                    "payment.forbidden",
                    "payment.means_code",
                    "Un avoir ne porte pas de moyen de paiement : retirez-le (c'est le client qui "
                    "vous doit un remboursement, pas l'inverse).",
                )
            ]
        return []
    if payment is None or not payment.means_code:
        return [
            _error(
                "payment.required",
                "payment.means_code",
                "Indiquez le moyen de paiement attendu (par exemple 30 pour un virement) : "
                "Chorus Pro rejette une facture qui n'en a pas.",
            )
        ]
    if payment.means_code in CREDIT_TRANSFERS:
        if not payment.iban:
            return [
                _error(
                    "iban.required",
                    "payment.iban",
                    "Un paiement par virement demande l'IBAN du compte à créditer.",
                )
            ]
        if not iban_number.is_valid(payment.iban):
            return [
                _error(
                    "iban.invalid",
                    "payment.iban",
                    f"L'IBAN « {payment.iban} » n'est pas valide (clé de contrôle fausse ?).",
                )
            ]
    return []


def preceding_findings(invoice: Invoice) -> list[Finding]:
    if invoice.type not in PRECEDING_REQUIRED:
        return []
    preceding = invoice.preceding_invoice
    if preceding is None or not preceding.number:
        return [
            _error(
                "preceding_invoice.required",
                "preceding_invoice.number",
                "Un avoir doit citer le numéro de la facture qu'il annule.",
            )
        ]
    if preceding.issue_date is None:
        return [
            _error(
                "preceding_invoice.required",
                "preceding_invoice.issue_date",
                f"Indiquez la date de la facture {preceding.number} que cet avoir annule.",
            )
        ]
    return []


def amount_findings(invoice: Invoice) -> list[Finding]:
    """An invoice asking for a negative amount is a credit note; the currency must be money."""
    findings = []
    if invoice.currency in NOT_MONEY:
        findings.append(
            _error(
                "currency.invalid",
                "currency",
                f"La devise « {invoice.currency} » ne désigne pas une monnaie de paiement : "
                "indiquez celle de la facture (EUR en général).",
            )
        )
    if invoice.type not in CREDIT_NOTES and invoice.computed_totals().payable < 0:
        findings.append(
            _error(
                "invoice.negative_total",
                "totals.payable",
                "Le montant à payer est négatif : c'est un avoir. Émettez-le comme avoir "
                "(type credit_note, code 381) en citant la facture qu'il corrige.",
            )
        )
    return findings


@hookimpl
def gateway_validate_invoice(invoice: Invoice, rule_sets: frozenset[str] | None) -> list[Finding]:
    if rule_sets is not None and RULE_SET not in rule_sets:
        return []
    if invoice.buyer.address.country != "FR":
        return []  # not for the French public sector: EN 16931 alone judges it
    return (
        siret_findings(invoice)
        + payment_findings(invoice)
        + preceding_findings(invoice)
        + amount_findings(invoice)
    )

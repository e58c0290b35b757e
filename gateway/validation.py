"""The validation engine: the core's own checks plus every rule set plugged in.

Rule sets are plugins implementing ``gateway_validate_invoice``. A rule set that crashes
yields an error finding: nothing leaves unchecked.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pluggy

from gateway.directory import DirectoryEntry
from gateway.errors import Finding
from gateway.model import Invoice
from gateway.outlets import Document
from gateway.plugins import call_each
from gateway.routing import Customer

TOTAL_LABELS = {
    "lines": "le total des lignes",
    "allowances": "le total des remises",
    "charges": "le total des frais",
    "tax_exclusive": "le total hors taxes",
    "vat": "le total de la TVA",
    "tax_inclusive": "le total toutes taxes comprises",
    "prepaid": "le montant déjà payé",
    "rounding": "l'arrondi",
    "payable": "le montant à payer",
}


def of_invoice(findings: list[Finding], index: int, count: int) -> list[Finding]:
    """Name the invoice findings are about when a document holds several
    (``invoices[2].lines[0].quantity``); a lone invoice's fields stay as they are."""
    if count == 1:
        return findings
    prefix = f"invoices[{index}]"
    return [
        dataclasses.replace(f, field=f"{prefix}.{f.field}" if f.field else prefix) for f in findings
    ]


def sentence_case(text: str) -> str:
    """Capitalise the first letter only (``str.capitalize`` would write "tva")."""
    return text[:1].upper() + text[1:]


def french_amount(value: Decimal) -> str:
    """Return ``1 234,56`` for Decimal("1234.56")."""
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")


def totals_findings(invoice: Invoice) -> list[Finding]:
    """Compare the amounts the client gave with the gateway's EN 16931 computation.

    Stricter than EN 16931 itself (which lets a line amount differ from quantity x price):
    the book-trade rule set runs it on invoices to French buyers.
    """
    findings = []
    for index, line in enumerate(invoice.lines):
        computed = line.computed_amount()
        if line.line_amount is not None and line.line_amount != computed:
            findings.append(
                Finding(
                    code="totals.mismatch",
                    field=f"lines[{index}].line_amount",
                    message=(
                        f"Le montant net de la ligne {index + 1} indiqué "
                        f"({french_amount(line.line_amount)}) ne correspond pas à quantité × prix "
                        f"net arrondi au centime ({french_amount(computed)})."
                    ),
                )
            )
    if invoice.totals is not None and invoice.lines:
        for name, given, computed in invoice.totals.mismatches(invoice.computed_totals()):
            findings.append(
                Finding(
                    code="totals.mismatch",
                    field=f"totals.{name}",
                    message=(
                        f"{sentence_case(TOTAL_LABELS[name])} indiqué ({french_amount(given)}) ne "
                        f"correspond pas au calcul de la passerelle ({french_amount(computed)})."
                    ),
                )
            )
    return findings


#: EN 16931 amounts and the rule that allows them two decimals at most (BR-DEC-*), by
#: where they sit in the canonical invoice.
DECIMAL_RULES = {
    "allowances[].amount": "BR-DEC-01",
    "allowances[].base_amount": "BR-DEC-02",
    "charges[].amount": "BR-DEC-05",
    "charges[].base_amount": "BR-DEC-06",
    "totals.lines": "BR-DEC-09",
    "totals.allowances": "BR-DEC-10",
    "totals.charges": "BR-DEC-11",
    "totals.tax_exclusive": "BR-DEC-12",
    "totals.vat": "BR-DEC-13",
    "totals.tax_inclusive": "BR-DEC-14",
    "totals.prepaid": "BR-DEC-16",
    "prepaid_amount": "BR-DEC-16",
    "totals.rounding": "BR-DEC-17",
    "rounding_amount": "BR-DEC-17",
    "totals.payable": "BR-DEC-18",
    "lines[].line_amount": "BR-DEC-23",
    "lines[].allowances[].amount": "BR-DEC-24",
    "lines[].allowances[].base_amount": "BR-DEC-25",
    "lines[].charges[].amount": "BR-DEC-27",
    "lines[].charges[].base_amount": "BR-DEC-28",
}


def _amounts(invoice: Invoice):
    """Yield (rule key, canonical field, value) for every amount the invoice was given."""
    yield "prepaid_amount", "prepaid_amount", invoice.prepaid_amount
    yield "rounding_amount", "rounding_amount", invoice.rounding_amount
    for kind in ("allowances", "charges"):
        for index, item in enumerate(getattr(invoice, kind)):
            for name in ("amount", "base_amount"):
                yield f"{kind}[].{name}", f"{kind}[{index}].{name}", getattr(item, name)
    if invoice.totals is not None:
        for name in TOTAL_LABELS:
            yield f"totals.{name}", f"totals.{name}", getattr(invoice.totals, name)
    for index, line in enumerate(invoice.lines):
        yield "lines[].line_amount", f"lines[{index}].line_amount", line.line_amount
        for kind in ("allowances", "charges"):
            for position, item in enumerate(getattr(line, kind)):
                for name in ("amount", "base_amount"):
                    field = f"lines[{index}].{kind}[{position}].{name}"
                    yield f"lines[].{kind}[].{name}", field, getattr(item, name)


def decimal_findings(invoice: Invoice) -> list[Finding]:
    """Refuse amounts of more than two decimals (BR-DEC-*) rather than round them: the
    bookseller's software and the platform must read the same figure."""
    findings = []
    for key, field, value in _amounts(invoice):
        if value is None or not value.is_finite():
            continue
        decimals = -value.normalize().as_tuple().exponent
        if decimals > 2:
            rule = DECIMAL_RULES[key]
            findings.append(
                Finding(
                    code=f"en16931.{rule}",
                    field=field,
                    rule=rule,
                    message=(
                        f"Le montant {str(value).replace('.', ',')} a {decimals} décimales ; "
                        "EN 16931 n'en admet que deux. Corrigez-le dans votre logiciel : la "
                        "passerelle ne l'arrondit pas à votre place."
                    ),
                )
            )
    return findings


def validate(
    pm: pluggy.PluginManager,
    invoice: Invoice,
    *,
    customer: Customer | None = None,
    directory_entry: DirectoryEntry | None = None,
    document: Document | None = None,
    original: Document | None = None,
    rule_sets: frozenset[str] | None = None,
) -> list[Finding]:
    """Return every finding on ``invoice``: core checks first, then each rule set's."""
    findings: list[Finding] = []
    for plugin, result in call_each(
        pm,
        "gateway_validate_invoice",
        invoice=invoice,
        customer=customer,
        directory_entry=directory_entry,
        document=document,
        original=original,
        rule_sets=rule_sets,
    ):
        if isinstance(result, Exception):
            findings.append(
                Finding(
                    code="validation.unavailable",
                    message=(
                        f"Le jeu de règles « {plugin} » n'a pas pu s'exécuter ; la facture n'est "
                        "pas envoyée tant qu'il n'est pas réparé (voir les journaux)."
                    ),
                    rule=plugin,
                )
            )
        else:
            findings.extend(result or [])
    return findings


def without_overlaps(findings: list[Finding], rule_sets: frozenset[str] | None) -> list[Finding]:
    """Drop a restating finding (``Finding.restates``: a schematron or XSD error) on a field
    another finding already faults in business terms.

    The bookseller then reads one explanation per fault (``iban.required`` rather than
    both it and ``en16931.BR-61``); the invoice is refused either way. A caller who chose
    the rule sets (``--rules en16931``) wants their own codes: nothing is dropped then.
    """
    if rule_sets is not None:
        return findings
    business = {_family(f.field) for f in findings if f.is_error and f.field and not f.restates}
    return [f for f in findings if not (f.restates and _family(f.field) in business)]


def _family(field: str | None) -> str | None:
    """Group the fields one arithmetic fault spreads over (line amounts, totals, VAT)."""
    if field and (field.startswith(("totals", "vat_breakdown")) or field.endswith(".line_amount")):
        return "amounts"
    return field


def errors_of(findings: list[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.is_error]


def warnings_of(findings: list[Finding]) -> list[Finding]:
    return [finding for finding in findings if not finding.is_error]

"""A member's legal mentions: what French law requires on its invoices, in its own words.

Read from the member's settings (``settings["mentions"]``), they are handed to the renderers
(``Renderer.render(..., mentions=...)``): the PDFs print them and the French 2026 profiles
write them as coded notes (BR-FR-05: ``PMT``, ``PMD``, ``AAB``). A member that sets nothing
gets the defaults below, those of a bookseller selling to businesses and public buyers.
"""

from __future__ import annotations

import dataclasses

from gateway.errors import Finding

SECTION = "mentions"
#: What a member sells, for the French billing framework (BT-23): goods, services, or both.
SUPPLIES = ("goods", "services", "mixed")
TEXTS = ("recovery_fee", "late_penalties", "discount", "credit_note_terms")
#: The longest text a mention may have (a note, BT-22, has no limit; a page has).
MAX_TEXT = 500


@dataclasses.dataclass(frozen=True)
class Mentions:
    """The mentions written on a member's invoices (defaults: a bookseller's)."""

    #: Fixed compensation for recovery costs (Code de commerce L441-10), note ``PMT``.
    recovery_fee: str = (
        "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €."
    )
    #: Late-payment penalties, note ``PMD``.
    late_penalties: str = (
        "Pénalités de retard : intérêts moratoires au taux de la BCE majoré de 8 points "
        "(acheteurs publics) ou de 10 points (autres acheteurs), exigibles dès le lendemain "
        "de l'échéance."
    )
    #: Discount for early payment, or that there is none, note ``AAB``.
    discount: str = "Pas d'escompte pour paiement anticipé."
    #: Payment terms (BT-20) of a credit note that gives neither terms nor due date, in
    #: EXTENDED-CTC-FR (whose rules want terms for any amount due, BR-CO-25).
    credit_note_terms: str = "Avoir à déduire d'un prochain règlement, ou remboursé."
    #: The member opted to pay VAT on debits (CGI annexe III art. 77), not on receipts.
    vat_on_debits: bool = False
    #: What the member sells when its lines cannot tell (see docs/formats/mapping.md); None:
    #: read from the lines.
    supply: str | None = None

    @property
    def coded_notes(self) -> dict[str, str]:
        """The BR-FR-05 notes: subject code (UNTDID 4451) to text."""
        return {"PMT": self.recovery_fee, "PMD": self.late_penalties, "AAB": self.discount}


DEFAULTS = Mentions()
KEYS = (*TEXTS, "vat_on_debits", "supply")


def of_settings(settings: dict) -> Mentions:
    """Return the member's mentions: its settings over the defaults (settings checked by
    :func:`check_preferences` when saved)."""
    given = settings.get(SECTION) or {}
    return dataclasses.replace(
        DEFAULTS, **{key: value for key, value in given.items() if key in KEYS and value}
    )


def check_preferences(settings: dict) -> list[Finding]:
    """Return what is wrong with a member's ``settings["mentions"]``, field by field."""
    prefs = settings.get(SECTION)
    if prefs is None:
        return []
    field = f"settings.{SECTION}"
    if not isinstance(prefs, dict):
        return [
            Finding(
                code="field.invalid",
                field=field,
                message='Les mentions légales sont un objet : {"discount": "Escompte de 2 % '
                'pour paiement à 8 jours.", "vat_on_debits": true}.',
            )
        ]
    findings = [
        Finding(
            code="field.unknown",
            field=f"{field}.{key}",
            message=f"Mention « {key} » inconnue (mentions possibles : {', '.join(KEYS)}).",
        )
        for key in prefs
        if key not in KEYS
    ]
    findings += [
        Finding(
            code="field.invalid",
            field=f"{field}.{key}",
            message=f"Un texte non vide d'au plus {MAX_TEXT} caractères est attendu.",
        )
        for key in TEXTS
        if key in prefs
        and not (isinstance(prefs[key], str) and 0 < len(prefs[key].strip()) <= MAX_TEXT)
    ]
    if "vat_on_debits" in prefs and not isinstance(prefs["vat_on_debits"], bool):
        findings.append(
            Finding(
                code="field.invalid",
                field=f"{field}.vat_on_debits",
                message="Une valeur booléenne (true ou false) est attendue.",
            )
        )
    if prefs.get("supply") not in (None, *SUPPLIES):
        findings.append(
            Finding(
                code="field.invalid",
                field=f"{field}.supply",
                message="Valeur attendue : goods (livres, marchandises), services ou mixed.",
            )
        )
    return findings

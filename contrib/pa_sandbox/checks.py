"""What the platform checks before it acknowledges a flow (XP Z12-013 FlowAckStatus: Ok or
Error with AcknowledgementDetail items).

The invoice reading (safe XML parsing, the Factur-X PDF's XML, the business terms) is the Chorus
Pro sandbox's: both platforms read the same EN 16931 documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from contrib.chorus_sandbox.documents import (
    Document,
    DocumentError,
    Identifier,
    InvoiceFacts,
    invoice_xml,
    parse_xml,
    read_facts,
    syntax_of,
)

INVOICE_SYNTAXES = {"CII": "cii", "UBL": "ubl", "Factur-X": "facturx"}


@dataclass
class Verdict:
    """The outcome of the checks: the acknowledgement and what was read on the way."""

    details: list[dict] = field(default_factory=list)
    facts: InvoiceFacts | None = None
    root: etree._Element | None = None

    @property
    def ok(self) -> bool:
        return not any(d["level"] == "Error" for d in self.details)

    def error(self, item: str, code: str, message: str) -> Verdict:
        self.details.append(
            {"level": "Error", "item": item, "reasonCode": code, "reasonMessage": message}
        )
        return self


def siren_of(legal: tuple[Identifier, ...], global_: tuple[Identifier, ...]) -> str | None:
    """A party's SIREN: its legal id (scheme 0002, or a SIRET's first 9 digits), else its
    global id when that is a SIRET (scheme 0009)."""
    for identifier in (*legal, *global_):
        value = identifier.value.replace(" ", "")
        if not value.isdigit():
            continue
        if len(value) == 9 and identifier.scheme in (None, "0002"):
            return value
        if len(value) == 14 and identifier.scheme in (None, "0002", "0009"):
            return value[:9]
    return None


def check_flow(flow: dict, known_hashes: bool) -> Verdict:
    """Check a deposited flow; ``known_hashes`` says whether the same file was already sent."""
    verdict = Verdict()
    content = flow["content"]
    if not content:
        return verdict.error("file", "EmptyFlow", "Le fichier du flux est vide.")
    if flow["declared_sha256"] and flow["declared_sha256"] != flow["sha256"]:
        return verdict.error(
            "flowInfo.sha256",
            "ChecksumMismatch",
            "L'empreinte SHA-256 déclarée ne correspond pas au fichier reçu.",
        )
    if known_hashes:
        return verdict.error("file", "AlreadyExistingFlow", "Ce fichier a déjà été déposé.")
    syntax = flow["syntax"]
    try:
        xml = (
            invoice_xml(Document(flow["name"] or "flow", content), INVOICE_SYNTAXES[syntax])
            if syntax in INVOICE_SYNTAXES
            else content
        )
        verdict.root = parse_xml(xml)
    except DocumentError as ex:
        code = "FlowTypeError" if "PDF" in ex.message else "InvalidSchema"
        return verdict.error("file", code, ex.message)
    if syntax in INVOICE_SYNTAXES:
        return _check_invoice(verdict, syntax)
    return verdict


def _check_invoice(verdict: Verdict, syntax: str) -> Verdict:
    found = syntax_of(verdict.root)
    expected = "ubl" if syntax == "UBL" else "cii"
    if found != expected:
        return verdict.error(
            "flowInfo.flowSyntax",
            "FlowTypeError",
            f"Le fichier n'est pas une facture {syntax}.",
        )
    facts = verdict.facts = read_facts(verdict.root)
    if not facts.number:
        verdict.error("BT-1", "InvalidSchema", "Le numéro de facture manque.")
    if siren_of(facts.seller_legal, facts.seller_global) is None:
        verdict.error("BT-30", "OtherTechnicalError", "Le SIREN du vendeur manque.")
    if siren_of(facts.buyer_legal, facts.buyer_global) is None:
        verdict.error("BT-47", "OtherTechnicalError", "Le SIREN de l'acheteur manque.")
    return verdict

"""The platform's asynchronous side: a deposited flux is checked and integrated later.

A flux waits `delay` seconds after its deposit; the next API or control call after that runs the
processor (so tests move a clock instead of sleeping). With `delay=None` only the control API's
`POST /_sandbox/process` processes anything.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

from . import rules
from .checks import TechnicalError, Validator
from .clock import Clock
from .documents import (
    SYNTAXES,
    Document,
    DocumentError,
    InvoiceFacts,
    facts_of,
    invoice_xml,
    parse_xml,
    read_facts,
    syntax_of,
    unpack,
)
from .store import Duplicate, Store

log = logging.getLogger(__name__)

WAITING = "IN_DEPOT_PORTAIL_EN_ATTENTE_TRAITEMENT_SE_CPP"
IN_PROGRESS = "IN_EN_COURS_TRAITEMENT_CPP"
INTEGRATED = "IN_INTEGRE"
PARTIALLY_INTEGRATED = "IN_INTEGRE_PARTIEL"
REJECTED = "IN_REJETE"
INCIDENT = "IN_INCIDENTE"

# Assumed: no public source shows the `modeDepot` of an invoice deposited with deposer/flux.
FLUX_DEPOSIT_MODE = "UPLOAD_API"

FRAMEWORKS = (
    "A1_FACTURE_FOURNISSEUR", "A2_FACTURE_FOURNISSEUR_DEJA_PAYEE", "A3_MEMOIRE_JUSTICE",
    "A4_PROJET_DECOMPTE_MENSUEL_FOURNISSEUR", "A5_ETAT_ACOMPTE_FOURNISSEUR",
    "A6_ETAT_ACOMPTE_VALIDE_FOURNISSEUR", "A7_PROJET_DECOMPTE_FINAL_FOURNISSEUR",
    "A8_DECOMPTE_GENERAL_DEFINITIF_FOURNISSEUR", "A9_FACTURE_SOUSTRAITANT",
    "A10_PROJET_DECOMPTE_MENSUEL_SOUSTRAITANT", "A11_PROJET_DECOMPTE_FINAL_SOUSTRAITANT",
    "A12_FACTURE_COTRAITANT", "A13_PROJET_DECOMPTE_MENSUEL_COTRAITANT",
    "A14_PROJET_DECOMPTE_FINAL_COTRAITANT", "A15_ETAT_ACOMPTE_MOE", "A16_ETAT_ACOMPTE_VALIDE_MOE",
    "A17_PROJET_DECOMPTE_GENERAL_MOE", "A18_DECOMPTE_GENERAL_MOE", "A19_ETAT_ACOMPTE_VALIDE_MOA",
    "A20_DECOMPTE_GENERAL_MOA", "A21_DEMANDE_REMBOURSEMENT_TIC",
    "A22_PROJET_DECOMPTE_GENERAL_FOURNISSEUR_PROCEDURE_TACITE",
    "A23_DECOMPTE_GENERAL_DEFINITIF_TACITE_FOURNISSEUR",
    "A24_DECOMPTE_GENERAL_DEFINITIF_TACITE_MOE",
    "A25_DECOMPTE_GENERAL_DEFINITIF_MOE_PROCEDURE_TACITE",
)  # fmt: skip
_FRAMEWORK_BY_SHORT = {code.split("_", 1)[0]: code for code in FRAMEWORKS}

# UNTDID 4461 payment means → the platform's `modePaiement`.
_PAYMENT_MODES = {
    "10": "ESPECE", "20": "CHEQUE", "30": "VIREMENT", "31": "VIREMENT", "42": "VIREMENT",
    "58": "VIREMENT", "49": "PRELEVEMENT", "59": "PRELEVEMENT",
}  # fmt: skip

SUPPLIER_TAG = {
    "ubl": "AccountingSupplierParty.Party.PartyIdentification.ID.value",
    "cii": "SupplyChainTradeTransaction.ApplicableHeaderTradeAgreement.SellerTradeParty"
    ".GlobalID.value",
}


def framework_code(value: str | None) -> str:
    """Read BT-23 as a `codeCadreFacturation` (A1 by default)."""
    if value in FRAMEWORKS:
        return value
    return _FRAMEWORK_BY_SHORT.get((value or "").split("_", 1)[0], FRAMEWORKS[0])


def payment_mode(means: str | None) -> str | None:
    return _PAYMENT_MODES.get(means, "AUTRE") if means else None


def _money(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def deposited_numbers(content: bytes, file_name: str, syntax: str) -> list[tuple[str | None, str]]:
    """(seller SIRET, invoice number) of each readable invoice of a flux, for the counters."""
    kind = SYNTAXES[syntax][1]
    try:
        documents = unpack(content, file_name)
    except DocumentError:
        return []
    found = []
    for document in documents:
        try:
            facts = facts_of(document, kind)
        except DocumentError:
            continue
        found.append((facts.seller_siret, facts.number or ""))
    return found


class Processor:
    """Checks and integrates pending flux, one run at a time."""

    def __init__(self, store: Store, validator: Validator, clock: Clock, delay: float | None):
        self.store = store
        self.validator = validator
        self.clock = clock
        self.delay = delay
        self._lock = threading.Lock()

    def run_due(self) -> list[str]:
        """Process every flux whose delay has passed; return their numbers."""
        if self.delay is None:
            return []
        now = self.clock.now()
        if not self.store.has_pending_flux(now - self.delay):
            return []
        return self._run(now - self.delay, now)

    def run_all(self) -> list[str]:
        """Process every pending flux now, whatever its delay."""
        now = self.clock.now()
        return self._run(now, now)

    def _run(self, deposited_before: float, now: float) -> list[str]:
        with self._lock:  # re-read under the lock: another thread may have processed them
            done = []
            for flux in self.store.pending_flux(deposited_before):
                at = now
                if self.delay is not None:
                    # processed in the background, it would have been done when its delay ended
                    at = min(now, flux["deposited_at"] + self.delay)
                self._process(flux, at)
                done.append(flux["numero"])
            return done

    def _process(self, flux: dict, at: float) -> None:
        try:
            state, dp_errors, technical = self._outcome(flux, at)
        except Exception:
            log.exception("processing flux %s failed", flux["numero"])
            state, dp_errors = INCIDENT, []
            technical = [
                TechnicalError(
                    "ERR_TECHNIQUE",
                    "ERR_TECHNIQUE_001",
                    "Incident de traitement : déposez le flux à nouveau.",
                )
            ]
        self.store.finish_flux(
            flux["numero"], state, at, dp_errors, [e.as_json() for e in technical]
        )

    def _outcome(self, flux: dict, at: float) -> tuple[str, list[dict], list[TechnicalError]]:
        kind = SYNTAXES[flux["syntax"]][1]
        try:
            documents = unpack(flux["content"], flux["file_name"])
        except DocumentError as ex:
            return REJECTED, [], [TechnicalError("ERR_FORMAT", "ERR_FORMAT_001", ex.message)]
        in_archive = len(documents) > 1 or documents[0].name != flux["file_name"]
        technical: list[TechnicalError] = []
        invoices: list[InvoiceFacts] = []
        for document in documents:
            errors, facts = self._check(document, kind)
            if in_archive:
                errors = [
                    TechnicalError(e.nature, e.code, f"{e.label} - fichier: {document.name}")
                    for e in errors
                ]
            technical.extend(errors)
            if facts is not None:
                invoices.append(facts)
        if technical:
            return REJECTED, [], technical
        account = self.store.account(flux["login"])
        dp_errors = []
        for facts in invoices:
            violation = self._integrate(flux, facts, account["structure_id"], at)
            if violation is not None:
                dp_errors.append(
                    {
                        "identifiantFournisseur": facts.seller_siret or "",
                        "identifiantDestinataire": facts.buyer_siret or "",
                        "numeroDP": facts.number or "",
                        "libelleErreurDP": violation.message,
                    }
                )
        if not dp_errors:
            return INTEGRATED, [], []
        state = REJECTED if len(dp_errors) == len(invoices) else PARTIALLY_INTEGRATED
        return state, dp_errors, []

    def _check(
        self, document: Document, kind: str
    ) -> tuple[list[TechnicalError], InvoiceFacts | None]:
        expected = "ubl" if kind == "ubl" else "cii"
        try:
            root = parse_xml(invoice_xml(document, kind))
        except DocumentError as ex:
            nature = "ERR_XSD" if ex.line is not None else "ERR_FORMAT"
            where = f" - ligne: {ex.line} - position: {ex.column}" if ex.line is not None else ""
            return [
                TechnicalError(nature, f"{nature}_001", f"IRRECEVABILITE: {ex.message}{where}")
            ], None
        if syntax_of(root) != expected:
            label = (
                f"IRRECEVABILITE: l'élément racine {_local_name(root)} ne correspond pas à la "
                f"syntaxe du flux - ligne: {root.sourceline or 1} - position: 1"
            )
            return [TechnicalError("ERR_XSD", "ERR_XSD_001", label)], None
        errors = self.validator.check(root, expected)
        return errors, (None if errors else read_facts(root))

    def _integrate(
        self, flux: dict, facts: InvoiceFacts, account_structure_id: int, at: float
    ) -> rules.Violation | None:
        seller_siret = facts.seller_siret
        supplier = self.store.structure(siret=seller_siret) if seller_siret else None
        if supplier is None:
            return rules.Violation(
                20001,
                "L'identifiant fournisseur de la demande de paiement (balise : "
                f"{SUPPLIER_TAG[facts.syntax]}) n'est pas référencé dans notre système.",
            )
        if supplier["id"] != account_structure_id:
            return rules.Violation(
                20001,
                "Le compte technique n'est pas rattaché à la structure fournisseur "
                f"{seller_siret}.",
            )
        violation = rules.check_number(facts.number)
        if violation is not None:
            return violation
        if self.store.numero_taken(supplier["id"], facts.number):
            return rules.duplicate(facts.number, seller_siret)
        try:
            recipient, service = rules.route(
                self.store, supplier, facts.buyer_siret, facts.service_code, facts.engagement
            )
        except rules.Refused as ex:
            return ex.violation
        values = {
            "numero": facts.number,
            "supplier_id": supplier["id"],
            "recipient_id": recipient["id"],
            "service_id": service["id"] if service else None,
            "engagement": facts.engagement,
            "contract": facts.contract,
            "kind": "AVOIR" if facts.is_credit_note else "FACTURE",
            "framework": framework_code(facts.framework),
            "invoice_date": facts.issue_date,
            "due_date": facts.due_date,
            "currency": facts.currency or "EUR",
            "total_without_vat": _money(facts.total_without_vat),
            "total_vat": _money(facts.total_vat),
            "total_with_vat": _money(facts.total_with_vat),
            "amount_due": _money(facts.amount_due),
            "preceding_number": facts.preceding_number,
            "payment_means": payment_mode(facts.payment_means),
            "deposit_mode": FLUX_DEPOSIT_MODE,
            "syntax": flux["syntax"],
            "flux_numero": flux["numero"],
            "login": flux["login"],
            "deposited_at": flux["deposited_at"],
            "status": "DEPOSEE",
            "status_at": flux["deposited_at"],
        }
        try:
            self.store.add_invoice(values, actor="FOURNISSEUR")
        except Duplicate:
            return rules.duplicate(facts.number, seller_siret)
        return None


def _local_name(root) -> str:
    return root.tag.rsplit("}", 1)[-1]

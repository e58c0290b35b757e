"""The `factures` API: deposit a flux or a PDF, search and consult invoices, act on them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import rules
from .api import (
    Caller,
    Operations,
    amount,
    decoded,
    descending,
    integer,
    number_out,
    paginate,
    section,
    strings,
    text,
)
from .clock import day, iso, minute, parse_day
from .documents import SYNTAXES, Document, DocumentError, facts_of
from .processing import deposited_numbers, framework_code
from .store import Duplicate

if TYPE_CHECKING:
    from .app import Sandbox

OPERATIONS = Operations()
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENT_NAME = 50
ATTACHMENT_EXTENSIONS = {
    "BMP", "GIF", "FAX", "ODT", "PPT", "TIFF", "XLS", "BZ2", "GZ", "JPEG", "P7S", "RTF", "TXT",
    "XML", "CSV", "GZIP", "JPG", "PDF", "SVG", "XHTML", "XLSX", "DOC", "HTM", "ODP", "PNG", "TGZ",
    "XLC", "ZIP", "DOCX", "HTML", "ODS", "PPS", "TIF", "XLM", "PPTX",
}  # fmt: skip
PDF_FORMATS = {"PDF_NON_SIGNE", "PDF_SIGNE_PADES", "PDF_SIGNE_XADES"}
SUBMIT_MODES = {"DEPOT_PDF_API", "DEPOT_PDF_SIGNE_API", "SAISIE_API"}
# Every `syntaxeFlux` of the Swagger enum; the sandbox processes the three a supplier uses today.
KNOWN_SYNTAXES = set(SYNTAXES) | {
    "IN_DP_E1_CII", "IN_DP_E1_PES_FACTURE", "IN_DP_E1_XCBL", "IN_DP_E2_UBL_INVOICE_MIN",
    "IN_DP_E2_CII_MIN_16B", "IN_DP_E2_CII_MIN", "IN_DP_E2_CPP_FACTURE_MIN",
    "IN_DP_E2_PES_FACTURE_MIN", "IN_DP_PDFARCHIVE_UBL_INVOICE_MUG", "IN_DP_PDFARCHIVE_CII_MUG",
}  # fmt: skip


class Directory:
    """Structure and service lookups cached for the length of one answer."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._store = sandbox.store
        self._structures: dict[int, dict] = {}
        self._services: dict[int, dict | None] = {}

    def structure(self, structure_id: int) -> dict:
        if structure_id not in self._structures:
            self._structures[structure_id] = self._store.structure(id=structure_id)
        return self._structures[structure_id]

    def service(self, structure_id: int, service_id: int | None) -> dict | None:
        if service_id is None:
            return None
        if service_id not in self._services:
            self._services[service_id] = self._store.service(structure_id, id=service_id)
        return self._services[service_id]


def own_invoice(sandbox: Sandbox, caller: Caller, invoice_id: int | None) -> dict:
    invoice = sandbox.store.invoice(invoice_id) if invoice_id else None
    if invoice is None or invoice["supplier_id"] != caller.structure["id"]:
        raise rules.invoice_not_found()
    return invoice


def invoice_summary(directory: Directory, invoice: dict) -> dict:
    """One item of `rechercher/fournisseur`'s `listeFactures`."""
    recipient = directory.structure(invoice["recipient_id"])
    supplier = directory.structure(invoice["supplier_id"])
    service = directory.service(invoice["recipient_id"], invoice["service_id"])
    return {
        "identifiantFactureCPP": invoice["id"],
        "numeroFacture": invoice["numero"],
        "numeroFluxDepot": invoice["flux_numero"],
        "statut": invoice["status"],
        "dateDepot": day(invoice["deposited_at"]),
        "dateFacture": invoice["invoice_date"],
        "dateHeureEtatCourant": iso(invoice["status_at"]),
        "commentaireEtatCourant": invoice["status_comment"],
        "codeDestinataire": recipient["siret"],
        "designationDestinataire": recipient["name"],
        "idDestinataire": recipient["id"],
        "codeServiceExecutant": service["code"] if service else None,
        "idServiceExecutant": service["id"] if service else None,
        "nomServiceExecutant": service["name"] if service else None,
        "idFournisseur": supplier["id"],
        "codeFournisseur": supplier["siret"],
        "typeIdentifiantFournisseur": "SIRET",
        "designationFournisseur": supplier["name"],
        "typeFacture": invoice["kind"],
        "typeDemandePaiement": "FACTURE",
        "modeDepot": invoice["deposit_mode"],
        "montantHT": number_out(invoice["total_without_vat"]),
        "montantTTC": number_out(invoice["total_with_vat"]),
        "montantAPayer": number_out(invoice["amount_due"]),
        "devise": invoice["currency"],
        "numeroBonCommande": invoice["engagement"],
        "numeroMarche": invoice["contract"],
        "numeroFactureOrigine": invoice["preceding_number"],
        "rejetTraite": False,
    }


def _address(structure: dict, prefix: str) -> dict:
    return {
        f"{prefix}Detail": structure["address"],
        f"{prefix}CodePostal": structure["postcode"],
        f"{prefix}Ville": structure["city"],
        f"{prefix}CodePays": "FR",
        f"{prefix}LibellePays": "France",
    }


@OPERATIONS("factures/v1/deposer/flux", processes_first=False)
def deposer_flux(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    syntax = text(body, "syntaxeFlux")
    if syntax not in KNOWN_SYNTAXES:
        raise rules.invalid(f"syntaxeFlux inconnue : {syntax or '(absente)'}.")
    if syntax not in SYNTAXES:
        raise rules.invalid(
            f"syntaxeFlux {syntax} non prise en charge par le bac à sable "
            f"(acceptées : {', '.join(sorted(SYNTAXES))})."
        )
    file_name = text(body, "nomFichier")
    if file_name is None or len(file_name) > 200:
        raise rules.invalid("nomFichier est obligatoire (200 caractères au plus).")
    content = decoded(body, "fichierFlux")
    if len(content) > sandbox.max_flux_bytes:
        raise rules.file_too_large()
    now = sandbox.clock.now()
    flux = sandbox.store.add_flux(
        caller.login, syntax, SYNTAXES[syntax][0], file_name, content, now
    )
    sandbox.store.count_deposits(
        [
            (seller or caller.structure["siret"], numero, "flux", flux["numero"])
            for seller, numero in deposited_numbers(content, file_name, syntax)
        ],
        now,
    )
    return {
        "numeroFluxDepot": flux["numero"],
        "dateDepot": day(now),
        "syntaxeFlux": syntax,
    }


def _search_filters(sandbox: Sandbox, caller: Caller, body: dict) -> list[Callable[[dict], bool]]:
    checks: list[Callable[[dict], bool]] = []

    def equal(key: str, column: str) -> None:
        value = text(body, key)
        if value is not None:
            checks.append(lambda i: i[column] == value)

    equal("numeroFluxDepot", "flux_numero")
    equal("numeroFacture", "numero")
    equal("typeFacture", "kind")
    equal("numeroBonCommande", "engagement")
    equal("numeroMarche", "contract")
    equal("numeroFactureOrigine", "preceding_number")
    equal("modeDepot", "deposit_mode")
    statuses = set(strings(body.get("statutCourant")))
    if statuses:
        checks.append(lambda i: i["status"] in statuses)
    recipients = {
        integer(d, "idDestinataire")
        for d in body.get("listeDestinataire") or []
        if isinstance(d, dict) and integer(d, "idDestinataire")
    }
    if recipients:
        checks.append(lambda i: i["recipient_id"] in recipients)
    for key, column, bound in (
        ("periodeDateDepotDu", "deposited_at", "from"),
        ("periodeDateDepotAu", "deposited_at", "to"),
        ("periodeDateHeureEtatCourantDu", "status_at", "from"),
        ("periodeDateHeureEtatCourantAu", "status_at", "to"),
    ):
        start = parse_day(text(body, key) or "")
        if start is None:
            continue
        if bound == "from":
            checks.append(lambda i, c=column, s=start: i[c] >= s)
        else:
            checks.append(lambda i, c=column, s=start: i[c] < s + 86400)
    for key, bound in (("periodeDateFactureDu", "from"), ("periodeDateFactureAu", "to")):
        value = (text(body, key) or "")[:10]
        if value:
            if bound == "from":
                checks.append(lambda i, v=value: (i["invoice_date"] or "") >= v)
            else:
                checks.append(lambda i, v=value: (i["invoice_date"] or "") <= v)
    for key, column in (
        ("montantHT", "total_without_vat"),
        ("montantTTC", "total_with_vat"),
        ("montantApayer", "amount_due"),
    ):
        low, high = amount(body, key + "Min"), amount(body, key + "Max")
        if low:
            checks.append(lambda i, c=column, v=low: Decimal(i[c] or 0) >= v)
        if high:
            checks.append(lambda i, c=column, v=high: Decimal(i[c] or 0) <= v)
    return checks


SORT_COLUMNS = {
    "identifiantfacturecpp": "id",
    "numerofacture": "numero",
    "datedepot": "deposited_at",
    "datefacture": "invoice_date",
    "dateheureetatcourant": "status_at",
    "statut": "status",
}


@OPERATIONS("factures/v1/rechercher/fournisseur")
def rechercher_fournisseur(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    supplier_id = integer(body, "idFournisseur")
    if supplier_id is not None and supplier_id != caller.structure["id"]:
        raise rules.not_allowed()
    checks = _search_filters(sandbox, caller, body)
    found = [
        i
        for i in sandbox.store.invoices("supplier_id = ?", (caller.structure["id"],))
        if all(check(i) for check in checks)
    ]
    params = section(body, "rechercheFactureParFournisseur")
    column = SORT_COLUMNS.get((text(params, "triColonne") or "").lower(), "deposited_at")
    found.sort(
        # missing values sort apart, so that a column never compares None with a value
        key=lambda i: (i[column] is not None, i[column] if i[column] is not None else 0, i["id"]),
        reverse=descending(params, "triSens", True),
    )
    window, paging = paginate(found, params, "nbResultatsParPage", "pageResultatDemandee")
    if not found:
        raise rules.BusinessError(
            20000, "TRA_MSG_00.015", listeFactures=[], parametresRetour=paging
        )
    directory = Directory(sandbox)
    return {
        "listeFactures": [invoice_summary(directory, i) for i in window],
        "parametresRetour": paging,
    }


@OPERATIONS("factures/v1/consulter/fournisseur")
def consulter_fournisseur(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    invoice = own_invoice(sandbox, caller, integer(body, "identifiantFactureCPP"))
    directory = Directory(sandbox)
    recipient = directory.structure(invoice["recipient_id"])
    supplier = directory.structure(invoice["supplier_id"])
    service = directory.service(invoice["recipient_id"], invoice["service_id"])
    attachments = sandbox.store.attachments_of(invoice["id"])
    facture = {
        "identifiantFactureCPP": invoice["id"],
        "numeroFacture": invoice["numero"],
        "statutFacture": invoice["status"],
        "modeDepot": invoice["deposit_mode"],
        "commentaire": invoice["comment"],
        "cadreDeFacturation": {"codeCadreFacturation": invoice["framework"]},
        "destinataire": {
            "codeDestinataire": recipient["siret"],
            "idDestinataire": recipient["id"],
            "libelleDestinataire": recipient["name"],
            "destinataireEtat": "ACTIF" if recipient["active"] else "INACTIF",
            "codeServiceExecutant": service["code"] if service else None,
            "idServiceExecutant": service["id"] if service else None,
            "libelleServiceExecutant": service["name"] if service else None,
            **_address(recipient, "adresseDestinataire"),
        },
        "fournisseur": {
            "idFournisseur": supplier["id"],
            "codeFournisseur": supplier["siret"],
            "typeIdentifiantFournisseur": "SIRET",
            "designationFournisseur": supplier["name"],
            **_address(supplier, "adresseFournisseur"),
        },
        "references": {
            "typeFacture": invoice["kind"],
            "typeTva": invoice["vat_type"],
            "dateFacture": invoice["invoice_date"],
            "dateDepot": day(invoice["deposited_at"]),
            "dateEcheancePaiement": invoice["due_date"],
            "codeDeviseFacture": invoice["currency"],
            "numeroBonCommande": invoice["engagement"],
            "numeroMarche": invoice["contract"],
            "numeroFactureOrigine": invoice["preceding_number"],
            "modePaiement": invoice["payment_means"],
        },
        "montantTotal": {
            "montantHtTotal": number_out(invoice["total_without_vat"]),
            "montantTVA": number_out(invoice["total_vat"]),
            "montantTtcTotal": number_out(invoice["total_with_vat"]),
            "montantAPayer": number_out(invoice["amount_due"]),
        },
        "listeDesPiecesJointes": {
            "pieceJointe": [
                {
                    "pieceJointeId": a["id"],
                    "pieceJointeDesignation": a["name"],
                    "pieceJointeExtension": a["extension"],
                }
                for a in attachments
            ],
            "nbResultatsParPageListePiecesJointe": max(len(attachments), 1),
            "pageCouranteListePiecesJointe": 1,
            "pagesListePiecesJointe": 1 if attachments else 0,
            "totalListePiecesJointe": len(attachments),
        },
    }
    if invoice["main_attachment_id"]:
        facture["pieceJointePrincipale"] = {
            "idPieceJointePrincipale": invoice["main_attachment_id"]
        }
    return {"facture": facture}


ACTORS = {
    "FOURNISSEUR": ("Fournisseur", "Compte technique"),
    "DESTINATAIRE": ("Destinataire", "Service facturier"),
}


@OPERATIONS("factures/v1/consulter/historique")
def consulter_historique(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    invoice_id = integer(body, "idFacture") or integer(body, "identifiantFactureCPP")
    invoice = own_invoice(sandbox, caller, invoice_id)
    entries = sandbox.store.history(invoice["id"])
    params = section(body, "paramRechercheHistoStatuts")
    # the platform sorts the history newest first unless asked otherwise
    entries.sort(
        key=lambda h: (h["at"], h["id"]),
        reverse=descending(params, "triSensListeHistoStatut", True),
    )
    limit = integer(body, "nbResultatsMaximum")
    if limit:
        entries = entries[:limit]
    window, paging = paginate(
        entries,
        params,
        "nbResultatsParPageListeHistoStatut",
        "pageResultatDemandeeListeHistoStatut",
    )
    return {
        "idFacture": invoice["id"],
        "numeroFacture": invoice["numero"],
        "modeDepot": invoice["deposit_mode"],
        "statutCourantCode": invoice["status"],
        "historiquesDesStatuts": {
            "histoStatut": [
                {
                    "histoStatutId": h["id"],
                    "histoStatutCode": h["code"],
                    "histoStatutDatePassage": minute(h["at"]),
                    "histoStatutCommentaire": h["comment"],
                    "histoStatutUtilisateurNom": ACTORS[h["actor"]][0],
                    "histoStatutUtilisateurPrenom": ACTORS[h["actor"]][1],
                    "histoStatutUtilisateurEmail": caller.login
                    if h["actor"] == "FOURNISSEUR"
                    else None,
                    "histoStatutUtilisateurTelephone": None,
                }
                for h in window
            ],
            "nbResultatsParPageHistoStatut": paging["nbResultatsParPage"],
            "pageCouranteHistoStatut": paging["pageCourante"],
            "pagesHistoStatut": paging["pages"],
            "totalHistoStatut": paging["total"],
        },
        "historiquesDesEvenementsComplementaires": {
            "evenement": [],
            "nbResultatsParPageEvenement": 10,
            "pageCouranteEvenement": 1,
            "pagesEvenement": 0,
            "totalEvenement": 0,
        },
        "historiquesDesActionsUtilisateurs": {
            "histoAction": [],
            "nbResultatsParPageHistoAction": 10,
            "pageCouranteHistoAction": 1,
            "pagesHistoAction": 0,
            "totalHistoAction": 0,
        },
    }


@OPERATIONS("factures/v1/recycler")
def recycler(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    invoice = own_invoice(sandbox, caller, integer(body, "identifiantFactureCPP"))
    if invoice["status"] != "A_RECYCLER":
        raise rules.not_to_recycle(invoice["status"])
    destination = section(body, "destinataire")
    # go-choruspro sends the new engagement in `reference`, others in `references`
    references = section(body, "reference") or section(body, "references")
    current = sandbox.store.structure(id=invoice["recipient_id"])
    siret = text(destination, "codeDestinataire") or current["siret"]
    engagement = text(references, "numeroBonCommande") or invoice["engagement"]
    try:
        recipient, service = rules.route(
            sandbox.store,
            caller.structure,
            siret,
            text(destination, "codeServiceExecutant"),
            engagement,
        )
    except rules.Refused as ex:
        raise ex.violation.error() from ex
    now = sandbox.clock.now()
    sandbox.store.move_invoice(
        invoice["id"],
        "DEPOSEE",
        now,
        text(body, "commentaire"),
        "FOURNISSEUR",
        {
            "recipient_id": recipient["id"],
            "service_id": service["id"] if service else None,
            "engagement": engagement,
        },
    )
    return {
        "dateDepot": minute(now),
        "identifiantFactureCPP": invoice["id"],
        "numeroFacture": invoice["numero"],
        "statutFacture": "DEPOSEE",
    }


def _own_attachments(sandbox: Sandbox, caller: Caller, ids: list[int]) -> list[int]:
    for attachment_id in ids:
        attachment = sandbox.store.attachment(attachment_id)
        if attachment is None or attachment["login"] != caller.login or attachment["invoice_id"]:
            raise rules.invalid_attachment(
                f"la pièce jointe {attachment_id} n'existe pas ou est déjà utilisée."
            )
    return ids


def _complementary_ids(body: dict) -> list[int]:
    return [
        attachment_id
        for item in body.get("pieceJointeComplementaire") or []
        if isinstance(item, dict)
        and (attachment_id := integer(item, "pieceJointeComplementaireId"))
    ]


@OPERATIONS("factures/v1/completer")
def completer(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    invoice = own_invoice(sandbox, caller, integer(body, "identifiantFactureCPP"))
    if invoice["status"] != "SUSPENDUE":
        raise rules.not_suspended()
    comment = text(body, "commentaire")
    if comment and len(comment) > 2000:
        raise rules.invalid("commentaire dépasse 2000 caractères.")
    attachment_ids = _own_attachments(sandbox, caller, _complementary_ids(body))
    now = sandbox.clock.now()
    sandbox.store.link_attachments(invoice["id"], attachment_ids)
    sandbox.store.move_invoice(invoice["id"], "COMPLETEE", now, comment, "FOURNISSEUR")
    return {
        "identifiantFactureCPP": invoice["id"],
        "numeroFacture": invoice["numero"],
        "dateTraitement": minute(now),
    }


def check_attachment(name: str | None, extension: str | None, content: bytes) -> str:
    if not name or len(name) > MAX_ATTACHMENT_NAME:
        raise rules.invalid_attachment(
            f"le nom est obligatoire et fait {MAX_ATTACHMENT_NAME} caractères au plus."
        )
    if not extension:
        extension = name.rsplit(".", 1)[-1] if "." in name else ""
    extension = extension.lstrip(".").upper()
    if extension not in ATTACHMENT_EXTENSIONS:
        raise rules.invalid_attachment(f"l'extension « {extension} » n'est pas autorisée.")
    if len(content) >= MAX_ATTACHMENT_BYTES:
        raise rules.invalid_attachment("le fichier doit faire moins de 10 Mo.")
    return extension


@OPERATIONS("factures/v1/deposer/pdf", processes_first=False)
def deposer_pdf(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    content = decoded(body, "fichierFacture")
    name = text(body, "nomFichier")
    if (text(body, "formatDepot") or "PDF_NON_SIGNE") not in PDF_FORMATS:
        raise rules.invalid(f"formatDepot doit valoir {', '.join(sorted(PDF_FORMATS))}.")
    if not content.lstrip().startswith(b"%PDF-"):
        raise rules.invalid_attachment("le fichier n'est pas un PDF.")
    check_attachment(name, "PDF", content)
    attachment_id = sandbox.store.add_attachment(
        caller.login, name, "application/pdf", "PDF", content, sandbox.clock.now()
    )
    answer: dict[str, Any] = {"pieceJointeId": attachment_id}
    # The platform reads the PDF by OCR; the sandbox reads an embedded Factur-X XML if any.
    try:
        facts = facts_of(Document(name, content), "facturx")
    except DocumentError:
        return answer
    ocr = {
        "numeroFacture": facts.number,
        "dateFacture": facts.issue_date,
        "codeDestinataire": facts.buyer_siret,
        "codeServiceExecutant": facts.service_code,
        "codeFournisseur": facts.seller_siret,
        "codeDeviseFacture": facts.currency,
        "typeFacture": "AVOIR" if facts.is_credit_note else "FACTURE",
        "numeroBonCommande": facts.engagement,
        "montantHtTotal": facts.total_without_vat,
        "montantTVA": facts.total_vat,
        "montantTtcAvantRemiseGlobalTTC": facts.total_with_vat,
        "montantAPayer": facts.amount_due,
    }
    answer.update(
        {k: float(v) if isinstance(v, Decimal) else v for k, v in ocr.items() if v is not None}
    )
    return answer


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


@OPERATIONS("factures/v1/soumettre")
def soumettre(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    mode = text(body, "modeDepot")
    if mode not in SUBMIT_MODES:
        raise rules.invalid(f"modeDepot doit valoir {', '.join(sorted(SUBMIT_MODES))}.")
    supplier_section = section(body, "fournisseur")
    supplier_id = integer(supplier_section, "idFournisseur")
    if supplier_id is not None and supplier_id != caller.structure["id"]:
        raise rules.not_allowed()
    supplier = caller.structure
    numero = text(body, "numeroFactureSaisi")
    violation = rules.check_number(numero)
    if violation is not None:
        raise violation.error()
    references = section(body, "references")
    kind = text(references, "typeFacture") or "FACTURE"
    if kind not in ("FACTURE", "AVOIR", "ACOMPTE"):
        raise rules.invalid("typeFacture doit valoir FACTURE, AVOIR ou ACOMPTE.")
    destination = section(body, "destinataire")
    main_ids = [
        attachment_id
        for item in body.get("pieceJointePrincipale") or []
        if isinstance(item, dict) and (attachment_id := integer(item, "pieceJointePrincipaleId"))
    ]
    if mode != "SAISIE_API" and len(main_ids) != 1:
        raise rules.invalid("pieceJointePrincipale doit désigner le PDF déposé (une seule pièce).")
    if mode == "SAISIE_API" and not body.get("lignePoste"):
        raise rules.invalid("lignePoste est obligatoire en SAISIE_API.")
    totals = section(body, "montantTotal")
    without_vat, vat = amount(totals, "montantHtTotal"), amount(totals, "montantTVA")
    with_vat, due = amount(totals, "montantTtcTotal"), amount(totals, "montantAPayer")
    if None in (without_vat, vat, with_vat, due):
        raise rules.invalid(
            "montantTotal doit porter montantHtTotal, montantTVA, montantTtcTotal et montantAPayer."
        )
    if _cents(without_vat + vat) != _cents(with_vat):
        raise rules.inconsistent_amounts("montantHtTotal + montantTVA ≠ montantTtcTotal.")
    attachment_ids = _own_attachments(sandbox, caller, main_ids + _complementary_ids(body))
    if sandbox.store.numero_taken(supplier["id"], numero):
        raise rules.duplicate(numero, supplier["siret"]).error()
    engagement = text(references, "numeroBonCommande")
    try:
        recipient, service = rules.route(
            sandbox.store,
            supplier,
            text(destination, "codeDestinataire"),
            text(destination, "codeServiceExecutant"),
            engagement,
        )
    except rules.Refused as ex:
        raise ex.violation.error() from ex
    now = sandbox.clock.now()
    sandbox.store.count_deposits([(supplier["siret"], numero, "soumettre", mode)], now)
    values = {
        "numero": numero,
        "supplier_id": supplier["id"],
        "recipient_id": recipient["id"],
        "service_id": service["id"] if service else None,
        "engagement": engagement,
        "contract": text(references, "numeroMarche"),
        "kind": kind,
        "framework": framework_code(
            text(section(body, "cadreDeFacturation"), "codeCadreFacturation")
        ),
        "invoice_date": (text(body, "dateFacture") or day(now))[:10],
        "currency": text(references, "deviseFacture") or "EUR",
        "total_without_vat": str(without_vat),
        "total_vat": str(vat),
        "total_with_vat": str(with_vat),
        "amount_due": str(due),
        "preceding_number": text(references, "numeroFactureOrigine"),
        "payment_means": text(references, "modePaiement"),
        "vat_type": text(references, "typeTva"),
        "deposit_mode": mode,
        "login": caller.login,
        "main_attachment_id": main_ids[0] if main_ids else None,
        "comment": text(body, "commentaire"),
        "deposited_at": now,
        "status": "DEPOSEE",
        "status_at": now,
    }
    try:
        invoice = sandbox.store.add_invoice(values, actor="FOURNISSEUR")
    except Duplicate as ex:
        raise rules.duplicate(numero, supplier["siret"]).error() from ex
    sandbox.store.link_attachments(invoice["id"], attachment_ids)
    fingerprint = hashlib.sha256(f"{invoice['id']}:{numero}:{now}".encode()).hexdigest()
    return {
        "identifiantFactureCPP": invoice["id"],
        "numeroFacture": numero,
        "identifiantStructure": supplier["siret"],
        "empreinteCertificatDepot": fingerprint,
        "dateDepot": day(now),
        "statutFacture": "DEPOSEE",
    }

"""The `transverses` API: flux reports, attachments, the supplier's structures, the directory."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from typing import TYPE_CHECKING

from . import rules
from .api import OK_STRUCTURES, Caller, Operations, decoded, text
from .clock import iso
from .documents import SYNTAXES
from .factures import check_attachment
from .processing import IN_PROGRESS, WAITING

if TYPE_CHECKING:
    from .app import Sandbox

OPERATIONS = Operations()


def _own_flux(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    numero = text(body, "numeroFluxDepot")
    if numero is None:
        raise rules.invalid("numeroFluxDepot est obligatoire.")
    flux = sandbox.store.flux(numero)
    owner = sandbox.store.account(flux["login"]) if flux else None
    if owner is None or owner["structure_id"] != caller.structure["id"]:
        raise rules.flux_not_found(numero)
    return flux


def flux_state(sandbox: Sandbox, flux: dict) -> tuple[str, float]:
    """The flux's state and the time it was reached; a pending flux shows its progress."""
    if flux["state"]:
        return flux["state"], flux["state_at"]
    delay = sandbox.processor.delay
    halfway = flux["deposited_at"] + (delay or 0) / 2
    if delay and sandbox.clock.now() >= halfway:
        return IN_PROGRESS, halfway
    return WAITING, flux["deposited_at"]


def _platform_file_name(flux: dict) -> str:
    interface = SYNTAXES[flux["syntax"]][0]
    return f"{interface}_CPP001_{flux['numero']}"


@OPERATIONS("transverses/v1/consulterCR")
def consulter_cr(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    flux = _own_flux(sandbox, caller, body)
    state, at = flux_state(sandbox, flux)
    report = [
        f"Flux {flux['numero']} ({flux['file_name']}) déposé le {iso(flux['deposited_at'])}",
        f"État : {state} depuis le {iso(at)}",
    ]
    report += [e["libelleErreur"] for e in json.loads(flux["technical_errors"])]
    report += [f"{e['numeroDP']} : {e['libelleErreurDP']}" for e in json.loads(flux["dp_errors"])]
    return {
        "numeroFluxDepot": flux["numero"],
        "codeInterfaceFlux": SYNTAXES[flux["syntax"]][0],
        "nomFichierFlux": _platform_file_name(flux),
        "dateDepotFlux": iso(flux["deposited_at"]),
        "etatCourantFlux": state,
        "dateHeureEtatCourantFlux": iso(at),
        "designationPartenaire": caller.structure["name"],
        # the real report is a PDF; the sandbox gives the same lines as plain text
        "fichierCR": base64.b64encode("\n".join(report).encode()).decode(),
    }


@OPERATIONS("transverses/v1/consulterCRDetaille")
def consulter_cr_detaille(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    flux = _own_flux(sandbox, caller, body)
    state, at = flux_state(sandbox, flux)
    return {
        "codeInterfaceDepotFlux": SYNTAXES[flux["syntax"]][0],
        "nomFichier": _platform_file_name(flux),
        "dateDepotFlux": iso(flux["deposited_at"]),
        "etatCourantDepotFlux": state,
        "dateHeureEtatCourantFlux": iso(at),
        "listeErreurDP": json.loads(flux["dp_errors"]),
        "listeErreurTechnique": json.loads(flux["technical_errors"]),
    }


@OPERATIONS("transverses/v1/health-check", methods=("GET",), libelle=None, processes_first=False)
def health_check(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    return {"body": "OK", "statusCode": "OK", "statusCodeValue": 200}


@OPERATIONS("transverses/v1/recuperer/structures/actives/fournisseur")
def structures_actives_fournisseur(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    structure = caller.structure
    return {
        "listeStructures": [
            {
                "idStructureCPP": structure["id"],
                "identifiant": structure["siret"],
                "designationStructure": structure["name"],
            }
        ]
    }


ANNUAIRE_COLUMNS = (
    "TypeIdentifiant", "Identifiant", "RaisonSociale", "EmetteurEdi", "RecepteurEdi",
    "GestionStatutMiseEnPaiement", "GestionEngagement", "GestionService",
    "GestionServiceEngagement", "EstMOA", "EstMOAUniquement", "StructureActive", "Adresse",
    "ComplementAdresse1", "ComplementAdresse2", "CodePostal", "Ville", "NumTelephone", "Courriel",
    "CodePays", "LibellePays",
)  # fmt: skip
SERVICE_COLUMNS = (
    "IdentifiantStructure", "CodeService", "LibelleService", "ServiceActif", "GestionEngagement",
)  # fmt: skip


def _csv(header: tuple[str, ...], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _flag(value: int) -> str:
    return "true" if value else "false"


@OPERATIONS("transverses/v1/telecharger/annuaire/destinataire", libelle=OK_STRUCTURES)
def telecharger_annuaire(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    public = [s for s in sandbox.store.structures() if s["public"]]
    structures = [
        [
            "SIRET", s["siret"], s["name"], "true", "true",
            _flag(not s["payment_status_not_reported"]), _flag(s["engagement_required"]),
            _flag(s["service_required"]), _flag(s["service_or_engagement"]), "false", "false",
            _flag(s["active"]), s["address"], "", "", s["postcode"], s["city"], "", s["email"],
            "FR", "France",
        ]
        for s in public
    ]  # fmt: skip
    services = [
        [s["siret"], v["code"], v["name"], _flag(v["active"]), _flag(v["engagement_required"])]
        for s in public
        for v in sandbox.store.services(s["id"])
    ]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("annuaire_destinataires.csv", _csv(ANNUAIRE_COLUMNS, structures))
        z.writestr("annuaire_services.csv", _csv(SERVICE_COLUMNS, services))
    return {"fichierResultat": base64.b64encode(archive.getvalue()).decode()}


@OPERATIONS("transverses/v1/ajouter/fichier", processes_first=False)
def ajouter_fichier(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    content = decoded(body, "pieceJointeFichier")
    name = text(body, "pieceJointeNom")
    extension = check_attachment(name, text(body, "pieceJointeExtension"), content)
    mime = text(body, "pieceJointeTypeMime") or "application/octet-stream"
    attachment_id = sandbox.store.add_attachment(
        caller.login, name, mime, extension, content, sandbox.clock.now()
    )
    return {"pieceJointeId": attachment_id}

"""The `structures` API: search and consult public structures and their services."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from . import rules
from .api import OK_STRUCTURES, Caller, Operations, descending, integer, paginate, section, text
from .clock import iso, minute

if TYPE_CHECKING:
    from .app import Sandbox

OPERATIONS = Operations()


def _visible(structure: dict, caller: Caller) -> bool:
    return bool(structure["public"]) or structure["id"] == caller.structure["id"]


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


STRUCTURE_SORT = {
    "identifiantstructure": "siret",
    "raisonsocialestructure": "name",
    "libellestructure": "name",
    "idstructurecpp": "id",
}


@OPERATIONS("structures/v1/rechercher")
def rechercher_structures(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    criteria = section(body, "structure")
    restrict = body.get("restreindreStructuresPrivees") is not False
    found = sandbox.store.structures()
    if restrict:
        found = [s for s in found if _visible(s, caller)]
    identifiant = text(criteria, "identifiantStructure")
    if identifiant:
        found = [s for s in found if s["siret"] == identifiant]
    if (text(criteria, "typeIdentifiantStructure") or "SIRET") != "SIRET":
        found = []
    for key in ("raisonSocialeStructure", "libelleStructure", "nomStructure"):
        value = text(criteria, key)
        if value:
            found = [s for s in found if _fold(value) in _fold(s["name"])]
    postcode = text(criteria, "adresseCodePostal")
    if postcode:
        found = [s for s in found if s["postcode"] == postcode]
    city = text(criteria, "adresseVille")
    if city:
        found = [s for s in found if _fold(city) in _fold(s["city"])]
    kind = text(criteria, "typeStructure")
    if kind:
        found = [s for s in found if ("PUBLIQUE" if s["public"] else "PRIVEE") == kind]
    status = (text(criteria, "statutStructure") or "").upper()
    if status:
        wanted = status.startswith("ACTI")
        found = [s for s in found if bool(s["active"]) == wanted]
    params = section(body, "parametres")
    column = STRUCTURE_SORT.get((text(params, "triColonne") or "").lower(), "siret")
    found.sort(key=lambda s: s[column], reverse=descending(params, "triSens", False))
    window, paging = paginate(found, params, "nbResultatsParPage", "pageResultatDemandee")
    if not found:
        raise rules.BusinessError(
            20000, "TRA_MSG_00.015", listeStructures=[], parametresRetour=paging
        )
    return {
        "listeStructures": [
            {
                "idStructureCPP": s["id"],
                "identifiantStructure": s["siret"],
                "typeIdentifiantStructure": "SIRET",
                "designationStructure": s["name"],
                # the official sample answers "ACTIVE" where searches take "ACTIF"
                "statut": "ACTIVE" if s["active"] else "INACTIVE",
            }
            for s in window
        ],
        "parametresRetour": paging,
    }


def _structure_of(sandbox: Sandbox, caller: Caller, structure_id: int | None) -> dict:
    structure = sandbox.store.structure(id=structure_id) if structure_id else None
    if structure is None or not _visible(structure, caller):
        raise rules.structure_not_found()
    return structure


def _postal(structure: dict) -> dict:
    return {
        "adresse": structure["address"],
        "complementAdresse1": None,
        "complementAdresse2": None,
        "codePostal": structure["postcode"],
        "ville": structure["city"],
        "pays": "France",
        "telephone": None,
        "indicatifTelephone": "+33",
        "fax": None,
        "indicatifFax": "+33",
    }


@OPERATIONS("structures/v1/consulter", libelle=OK_STRUCTURES)
def consulter_structure(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    # the official sample sends idStructureCPP, go-choruspro sends idStructure
    structure_id = integer(body, "idStructureCPP") or integer(body, "idStructure")
    structure = _structure_of(sandbox, caller, structure_id)
    expiry = None
    if structure["id"] == caller.structure["id"]:
        account = sandbox.store.account(caller.login)
        if account["password_expires"]:
            expiry = iso(account["password_expires"])
    return {
        "adressePostaleDuSiege": _postal(structure),
        "informationGenerales": {
            "idStructureCPP": structure["id"],
            "identifiantStructure": structure["siret"],
            "typeIdentifiantStructure": "SIRET",
            "libelleStructure": structure["name"],
            "raisonSocialeStructure": structure["name"],
            "structurePriveePublique": "PUBLIQUE" if structure["public"] else "PRIVEE",
            "emailStructure": structure["email"],
            "numeroTVA": "",
            "numeroRcsStructure": "",
            "nomStructure": "",
            "prenomStructure": "",
            "estValideurDeleguee": False,
            "idStructureOrigine": 0,
            "listeStructureDupliquees": [],
            "dateExpirationMotPasseCompteTech": expiry,
        },
        "parametres": {
            "codeServiceDoitEtreRenseigne": bool(structure["service_required"]),
            "numeroEJDoitEtreRenseigne": bool(structure["engagement_required"]),
            "gestionNumeroEJOuCodeService": bool(structure["service_or_engagement"]),
            "statutMiseEnPaiementNestPasRemonte": bool(structure["payment_status_not_reported"]),
            "connexionEDI": True,
            "recevoirDonneesViaEDI": True,
            "estMoaUniquement": False,
            "estValideurDelegue": False,
            "getaMoa": False,
            "nonDiffusibleInsee": False,
        },
    }


SERVICE_SORT = {"codeservice": "code", "libelleservice": "name", "idservice": "id"}


@OPERATIONS("structures/v1/rechercher/services")
def rechercher_services(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    structure_id = integer(body, "idStructure") or integer(body, "idStructureCPP")
    structure = _structure_of(sandbox, caller, structure_id)
    services = sandbox.store.services(structure["id"])
    params = section(body, "parametresRechercherServicesStructure") or section(body, "parametres")
    column = SERVICE_SORT.get((text(params, "triColonne") or "").lower(), "id")
    services.sort(key=lambda s: s[column], reverse=descending(params, "triSens", False))
    window, paging = paginate(services, params, "nbResultatsParPage", "pageResultatDemandee")
    if not services:
        raise rules.BusinessError(
            20000, "TRA_MSG_00.015", listeServices=[], parametresRetour=paging
        )
    return {
        "listeServices": [
            {
                "idService": s["id"],
                "codeService": s["code"],
                "libelleService": s["name"],
                "estActif": bool(s["active"]),
                "statutService": "ACTIF" if s["active"] else "SUPPRIME",
                "dateDbtService": minute(s["created_at"]),
                "dateFinService": None
                if s["active"]
                else minute(s["updated_at"] or s["created_at"]),
            }
            for s in window
        ],
        "parametresRetour": paging,
    }


@OPERATIONS("structures/v1/consulter/service")
def consulter_service(sandbox: Sandbox, caller: Caller, body: dict) -> dict:
    structure = _structure_of(sandbox, caller, integer(body, "idStructure"))
    service_id = integer(body, "idService")
    service = sandbox.store.service(structure["id"], id=service_id) if service_id else None
    if service is None:
        raise rules.service_not_found()
    return {
        "adressePostale": _postal(structure),
        "informationsGenerales": {
            "codeService": service["code"],
            "nomService": service["name"],
            "descriptionService": service["name"],
        },
        "parametres": {
            "dateCreation": minute(service["created_at"]),
            "dateDebutValidite": minute(service["created_at"]),
            "dateFinValidite": None if service["active"] else minute(service["updated_at"]),
            "dateModification": minute(service["updated_at"]) if service["updated_at"] else None,
            "numeroEngagement": bool(service["engagement_required"]),
            "miseEnPaiement": not structure["payment_status_not_reported"],
        },
    }

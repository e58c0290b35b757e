from __future__ import annotations

import falcon
from stdnum.fr import siret as siret_number

from gateway.directory import UNKNOWN, DirectoryService
from gateway.resources import error


def directory_view(entry) -> dict:
    return {
        "siret": entry.siret,
        "name": entry.name,
        "status": entry.status,
        "service_required": entry.service_required,
        "engagement_required": entry.engagement_required,
        "service_or_engagement_required": entry.service_or_engagement_required,
        "services": [
            {
                "code": service.code,
                "name": service.name,
                "status": service.status,
                "engagement_required": service.engagement_required,
            }
            for service in entry.services
        ],
        "checked_at": entry.checked_at.isoformat() if entry.checked_at else None,
    }


class DirectoryResource:
    def __init__(self, directory: DirectoryService):
        self.directory = directory

    def on_get(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        """Show a public structure as the Chorus Pro directory knows it (cached one day)."""
        if not siret_number.is_valid(siret):
            raise error(
                422, "siret.invalid", f"Le SIRET « {siret} » n'est pas valide.", field="siret"
            )
        try:
            fresh = req.get_param_as_bool("fresh") or False
        except falcon.HTTPInvalidParam as ex:
            raise error(
                422, "field.invalid", "Le paramètre « fresh » vaut true ou false.", field="fresh"
            ) from ex
        if not self.directory.configured:
            raise error(
                503, "directory.unavailable", "Aucun annuaire n'est configuré sur cette passerelle."
            )
        try:
            entry = self.directory.lookup(siret, fresh=fresh)
        except Exception as ex:
            raise error(
                503,
                "directory.unreachable",
                "L'annuaire Chorus Pro ne répond pas ; réessayez plus tard.",
            ) from ex
        if entry is None or entry.status == UNKNOWN:
            raise error(
                404,
                "directory.unknown",
                f"La structure {siret} n'est pas inscrite dans l'annuaire Chorus Pro.",
                field="siret",
            )
        resp.media = directory_view(entry)

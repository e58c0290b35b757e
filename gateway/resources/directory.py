from __future__ import annotations

import falcon

from gateway import schemas
from gateway.errors import InvalidInput
from gateway.openapi import Query, operation
from gateway.services.directory import StructureService


class DirectoryResource:
    def __init__(self, service: StructureService):
        self.service = service

    @operation(
        "Voir une structure publique dans l'annuaire Chorus Pro",
        {
            200: schemas.DirectoryEntrySchema,
            404: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
            503: schemas.ErrorsSchema,
        },
        query={"fresh": Query("true : consulter Chorus Pro sans le cache", {"type": "boolean"})},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        """Show a public structure as the Chorus Pro directory knows it (cached one day)."""
        self.service.check_siret(siret)  # the path before the query
        try:
            fresh = req.get_param_as_bool("fresh") or False
        except falcon.HTTPInvalidParam as ex:
            raise InvalidInput.of(
                "field.invalid", "Le paramètre « fresh » vaut true ou false.", field="fresh"
            ) from ex
        resp.media = self.service.show(siret, fresh=fresh)

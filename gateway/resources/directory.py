from __future__ import annotations

import falcon

from gateway.errors import InvalidInput
from gateway.services.directory import StructureService


class DirectoryResource:
    def __init__(self, service: StructureService):
        self.service = service

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

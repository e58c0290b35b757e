from __future__ import annotations

import falcon

from gateway import __version__, schemas
from gateway.openapi import operation


class HealthResource:
    auth_required = False

    def __init__(self, store, registry):
        self.store = store
        self.registry = registry

    @operation("État de la passerelle", {200: schemas.HealthSchema})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Tell whether the gateway and its database answer (no authentication)."""
        try:
            database = "ok" if self.store.ping() else "error"
        except Exception:
            database = "error"
        resp.status = falcon.HTTP_200 if database == "ok" else falcon.HTTP_503
        resp.media = {
            "status": "ok" if database == "ok" else "degraded",
            "version": __version__,
            "database": database,
            "plugins": self.registry.describe(),
        }


class OpenApiResource:
    auth_required = False

    def __init__(self):
        #: Set by ``create_app`` once every route, this one included, is mounted.
        self.spec: dict = {}

    @operation("Ce document", {200: None})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Serve the OpenAPI document generated from the routes and the schemas."""
        resp.media = self.spec

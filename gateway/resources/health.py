from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import operation


class HealthResource:
    auth_required = False
    #: The admin's key opens the full report; any other key, or none, the public answer.
    auth_optional = True

    def __init__(self, health):
        self.health = health

    # 503 with the same report when the database does not answer (a load balancer's cue).
    @operation("État de la passerelle", {200: schemas.HealthSchema, 503: schemas.HealthSchema})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Tell whether the gateway and its database answer (no authentication); with the
        admin's key, the outlets, the worker, the queue and the copies too."""
        principal = getattr(req.context, "principal", None)
        report = self.health.report(admin=principal is not None and principal.role == "admin")
        resp.status = falcon.HTTP_200 if report["database"] == "ok" else falcon.HTTP_503
        resp.media = report


class OpenApiResource:
    auth_required = False

    def __init__(self):
        #: Set by ``create_app`` once every route, this one included, is mounted.
        self.spec: dict = {}

    @operation("Ce document", {200: None})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Serve the OpenAPI document generated from the routes and the schemas."""
        resp.media = self.spec

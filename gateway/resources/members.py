from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import operation
from gateway.resources import load_json, principal
from gateway.services.members import MemberService


class MembersResource:
    def __init__(self, service: MemberService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Créer un membre (administrateur)",
        {201: schemas.MemberSchema, 422: schemas.ErrorsSchema},
        request=schemas.MemberCreateSchema,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create a member (admin): answer its id and its API key, shown only once."""
        principal(req).require_admin()
        data = load_json(req, schemas.MemberCreateSchema(), self.max_body)
        view, key = self.service.create(**data)
        resp.status = falcon.HTTP_201
        resp.media = {**view, "api_key": key}

    @operation("Lister les membres (administrateur)", {200: None})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List members (admin)."""
        principal(req).require_admin()
        resp.media = {"members": self.service.list()}


class MemberResource:
    def __init__(self, service: MemberService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation("Voir un membre", {200: schemas.MemberSchema})
    def on_get(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Show a member, its settings with secrets redacted (admin, or the member itself)."""
        principal(req).require_member(member_id)
        resp.media = self.service.get(member_id)

    @operation(
        "Modifier les réglages d'un membre",
        {200: schemas.MemberSchema, 422: schemas.ErrorsSchema},
        request=schemas.MemberCreateSchema,
    )
    def on_patch(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Replace a member's outlet settings, per outlet (admin, or the member itself)."""
        principal(req).require_member(member_id)
        self.service.row(member_id)  # 404 before the body is read
        data = load_json(req, schemas.MemberCreateSchema(partial=True), self.max_body)
        resp.media = self.service.update(member_id, data)


class MemberKeysResource:
    def __init__(self, service: MemberService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Créer une clé (membre ou auditeur)",
        {201: schemas.ApiKeySchema, 404: schemas.ErrorsSchema, 422: schemas.ErrorsSchema},
        request=schemas.ApiKeyCreateSchema,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Create another key for a member, e.g. a tax inspector's expiring read-only key."""
        principal(req).require_member(member_id)
        self.service.row(member_id)  # 404 before the body is read
        data = load_json(req, schemas.ApiKeyCreateSchema(), self.max_body)
        resp.status = falcon.HTTP_201
        resp.media = self.service.create_key(member_id, **data)

from __future__ import annotations

import falcon

from gateway import schemas
from gateway.resources import load_json, principal
from gateway.services.members import MemberService


class MembersResource:
    def __init__(self, service: MemberService, max_body: int):
        self.service = service
        self.max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create a member (admin): answer its id and its API key, shown only once."""
        principal(req).require_admin()
        data = load_json(req, schemas.MemberCreateSchema(), self.max_body)
        view, key = self.service.create(**data)
        resp.status = falcon.HTTP_201
        resp.media = {**view, "api_key": key}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List members (admin)."""
        principal(req).require_admin()
        resp.media = {"members": self.service.list()}


class MemberResource:
    def __init__(self, service: MemberService, max_body: int):
        self.service = service
        self.max_body = max_body

    def on_get(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Show a member, its settings with secrets redacted (admin, or the member itself)."""
        principal(req).require_member(member_id)
        resp.media = self.service.get(member_id)

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

    def on_post(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Create another key for a member, e.g. a tax inspector's expiring read-only key."""
        principal(req).require_member(member_id)
        self.service.row(member_id)  # 404 before the body is read
        data = load_json(req, schemas.ApiKeyCreateSchema(), self.max_body)
        resp.status = falcon.HTTP_201
        resp.media = self.service.create_key(member_id, **data)

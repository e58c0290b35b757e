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
        # 409 member.siret_taken: the SIRET is already another member's.
        {201: schemas.MemberSchema, 409: schemas.ErrorsSchema, 422: schemas.ErrorsSchema},
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
        "Modifier les réglages d'un membre (le SIRET : administrateur seulement)",
        {
            200: schemas.MemberSchema,
            403: schemas.ErrorsSchema,
            409: schemas.ErrorsSchema,
            422: schemas.ErrorsSchema,
        },
        request=schemas.MemberCreateSchema,
    )
    def on_patch(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Replace a member's outlet settings, per outlet (admin, or the member itself);
        only the admin changes its SIRET."""
        caller = principal(req)
        caller.require_member(member_id)
        self.service.row(member_id)  # 404 before the body is read
        data = load_json(req, schemas.MemberCreateSchema(partial=True), self.max_body)
        resp.media = self.service.update(member_id, data, by_admin=caller.role == "admin")


class MemberPasswordResource:
    def __init__(self, service: MemberService, max_body: int):
        self.service = service
        self.max_body = max_body

    @operation(
        "Donner à un membre son mot de passe des pages web (administrateur)",
        {204: None, 404: schemas.ErrorsSchema, 422: schemas.ErrorsSchema},
        request=schemas.PasswordSchema,
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Set the password a member signs in to ``/app/`` with, its SIRET as login (admin);
        its browsers are signed out."""
        principal(req).require_admin()
        data = load_json(req, schemas.PasswordSchema(), self.max_body)
        self.service.set_password(member_id, data["password"])
        resp.status = falcon.HTTP_204


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

    @operation(
        "Lister les clés d'un membre (jamais les clés elles-mêmes)",
        {200: schemas.ApiKeyListSchema, 404: schemas.ErrorsSchema},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """List a member's keys: prefix, role, dates; never a key nor its hash."""
        principal(req).require_member(member_id)
        resp.media = {"keys": self.service.keys(member_id)}


class MemberKeyResource:
    def __init__(self, service: MemberService):
        self.service = service

    @operation(
        "Révoquer une clé (elle cesse aussitôt de fonctionner)",
        {200: schemas.ApiKeySchema, 404: schemas.ErrorsSchema},
    )
    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, member_id: str, key_id: str
    ) -> None:
        """Revoke a key of the member; revoking it again changes nothing."""
        principal(req).require_member(member_id)
        resp.media = self.service.revoke_key(member_id, key_id)


class MemberKeyRotateResource:
    def __init__(self, service: MemberService):
        self.service = service

    @operation(
        "Renouveler une clé : une nouvelle (même rôle, libellé, expiration), l'ancienne révoquée",
        {201: schemas.ApiKeySchema, 404: schemas.ErrorsSchema, 409: schemas.ErrorsSchema},
    )
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, member_id: str, key_id: str
    ) -> None:
        """Replace a key by a new one, shown once; the old one stops at once."""
        principal(req).require_member(member_id)
        resp.status = falcon.HTTP_201
        resp.media = self.service.rotate_key(member_id, key_id)

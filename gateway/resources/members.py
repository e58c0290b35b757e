from __future__ import annotations

import falcon

from gateway.auth import create_key, new_id
from gateway.config import keep_redacted, redact
from gateway.resources import error, load_json, not_found, principal, require_admin
from gateway.schemas import ApiKeyCreateSchema, MemberCreateSchema


class MemberService:
    """Members (bookshops) and their keys; settings are sealed by the secret box."""

    def __init__(self, store, secretbox, registry, clock):
        self.store = store
        self.secretbox = secretbox
        self.registry = registry
        self.clock = clock

    def secret_names(self) -> frozenset[str]:
        return frozenset(
            name
            for outlet in self.registry.outlets.values()
            for name, spec in outlet.config_fields.items()
            if spec.secret
        )

    def view(self, row: dict) -> dict:
        return {
            "id": row["id"],
            "name": row["name"],
            "siret": row["siret"],
            "email": row["email"],
            "created_at": row["created_at"].isoformat(),
            "settings": redact(self.secretbox.open(row["settings_encrypted"]), self.secret_names()),
        }

    def create(
        self,
        name: str,
        siret: str | None = None,
        email: str | None = None,
        settings: dict | None = None,
    ) -> tuple[dict, str]:
        """Create a member and its first key; return the member's view and the clear key."""
        now = self.clock()
        member = {
            "id": new_id("mem"),
            "name": name,
            "siret": siret,
            "email": email,
            "settings_encrypted": self.secretbox.seal(settings or {}),
            "created_at": now,
        }
        with self.store.begin() as conn:
            self.store.insert_member(conn, **member)
            key, _ = create_key(
                self.store,
                conn,
                member_id=member["id"],
                role="member",
                now=now,
                label="clé initiale",
            )
        return self.view(member), key


class MembersResource:
    def __init__(self, service: MemberService, max_body: int):
        self.service = service
        self.max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create a member (admin): answer its id and its API key, shown only once."""
        require_admin(req)
        data = load_json(req, MemberCreateSchema(), self.max_body)
        view, key = self.service.create(**data)
        resp.status = falcon.HTTP_201
        resp.media = {**view, "api_key": key}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List members (admin)."""
        require_admin(req)
        resp.media = {
            "members": [self.service.view(row) for row in self.service.store.list_members()]
        }


def _own_or_admin(req: falcon.Request, member_id: str) -> None:
    caller = principal(req)
    if caller.role != "admin" and caller.member_id != member_id:
        raise not_found("Membre")


class MemberResource:
    def __init__(self, service: MemberService, max_body: int):
        self.service = service
        self.max_body = max_body

    def on_get(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Show a member, its settings with secrets redacted (admin, or the member itself)."""
        _own_or_admin(req, member_id)
        row = self.service.store.get_member(member_id)
        if row is None:
            raise not_found("Membre")
        resp.media = self.service.view(row)

    def on_patch(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Replace a member's outlet settings, per outlet (admin, or the member itself)."""
        _own_or_admin(req, member_id)
        if principal(req).role == "auditor":
            raise error(403, "auth.read_only", "Cette clé ne donne qu'un accès en lecture.")
        row = self.service.store.get_member(member_id)
        if row is None:
            raise not_found("Membre")
        data = load_json(req, MemberCreateSchema(partial=True), self.max_body)
        settings = self.service.secretbox.open(row["settings_encrypted"])
        settings.update(keep_redacted(data.pop("settings", {}), settings))
        self.service.store.update_member(
            member_id, settings_encrypted=self.service.secretbox.seal(settings), **data
        )
        resp.media = self.service.view(self.service.store.get_member(member_id))


class MemberKeysResource:
    def __init__(self, service: MemberService, max_body: int):
        self.service = service
        self.max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        """Create another key for a member, e.g. a tax inspector's expiring read-only key."""
        _own_or_admin(req, member_id)
        if principal(req).role == "auditor":
            raise error(403, "auth.read_only", "Cette clé ne donne qu'un accès en lecture.")
        if self.service.store.get_member(member_id) is None:
            raise not_found("Membre")
        data = load_json(req, ApiKeyCreateSchema(), self.max_body)
        if data["role"] == "auditor" and data.get("expires_at") is None:
            raise error(
                422,
                "field.required",
                "Une clé d'auditeur doit avoir une date d'expiration.",
                field="expires_at",
            )
        with self.service.store.begin() as conn:
            key, record = create_key(
                self.service.store,
                conn,
                member_id=member_id,
                now=self.service.clock(),
                role=data["role"],
                label=data.get("label"),
                expires_at=data.get("expires_at"),
            )
        resp.status = falcon.HTTP_201
        resp.media = {
            "id": record["id"],
            "role": record["role"],
            "prefix": record["prefix"],
            "label": record["label"],
            "expires_at": record["expires_at"].isoformat() if record["expires_at"] else None,
            "api_key": key,
        }

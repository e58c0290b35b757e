"""Members (bookshops), their settings and their API keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gateway.auth import create_key, new_id
from gateway.config import keep_redacted, redact
from gateway.errors import InvalidInput, not_found
from gateway.plugins import Registry
from gateway.secretbox import SecretBox
from gateway.store import Store


def key_view(record: dict, key: str) -> dict:
    return {
        "id": record["id"],
        "role": record["role"],
        "prefix": record["prefix"],
        "label": record["label"],
        "expires_at": record["expires_at"].isoformat() if record["expires_at"] else None,
        "api_key": key,
    }


class MemberService:
    """Members and their keys; settings are sealed by the secret box, secrets never shown."""

    def __init__(
        self,
        store: Store,
        secretbox: SecretBox,
        registry: Registry,
        clock: Callable[[], datetime],
    ):
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

    def list(self) -> list[dict]:
        return [self.view(row) for row in self.store.list_members()]

    def row(self, member_id: str) -> dict:
        """Return the member's stored row; NotFound when there is none."""
        row = self.store.get_member(member_id)
        if row is None:
            raise not_found("Membre")
        return row

    def get(self, member_id: str) -> dict:
        return self.view(self.row(member_id))

    def settings(self, member_id: str) -> dict:
        """Return the member's settings in clear (for the gateway's own use, never shown)."""
        return self.secretbox.open(self.row(member_id)["settings_encrypted"])

    def update(self, member_id: str, changes: dict) -> dict:
        """Change a member's fields; ``settings`` replace theirs per outlet, and a secret
        sent back redacted keeps its value."""
        changes = dict(changes)
        settings = self.settings(member_id)
        settings.update(keep_redacted(changes.pop("settings", {}), settings))
        self.store.update_member(
            member_id, settings_encrypted=self.secretbox.seal(settings), **changes
        )
        return self.get(member_id)

    def create_key(
        self,
        member_id: str | None,
        role: str,
        label: str | None = None,
        expires_at: datetime | None = None,
    ) -> dict:
        """Create a key (an admin's when ``member_id`` is None); return it, shown once."""
        if member_id is not None:
            self.row(member_id)
        if role == "auditor" and expires_at is None:
            raise InvalidInput.of(
                "field.required",
                "Une clé d'auditeur doit avoir une date d'expiration.",
                field="expires_at",
            )
        with self.store.begin() as conn:
            key, record = create_key(
                self.store,
                conn,
                member_id=member_id,
                now=self.clock(),
                role=role,
                label=label,
                expires_at=expires_at,
            )
        return key_view(record, key)

"""API keys and roles.

A key is random, shown once, and stored as its SHA-256 (keys carry 256 bits of entropy,
so a fast hash is enough and allows lookup). Roles: ``member`` (a bookshop), ``admin``
(the association running the gateway), ``auditor`` (read-only, expires).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.errors import Forbidden, not_found
from gateway.store import Store

KEY_PREFIX = "fgw_"
ROLES = ("member", "admin", "auditor")
#: ``last_used_at`` may lag this much behind: a key's use is written at most this often.
LAST_USED_PRECISION = timedelta(minutes=1)


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


#: scrypt's cost: about 50 ms and 16 MB a check here, too slow to guess many passwords.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
PASSWORD_MIN_LENGTH = 12


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` is the one ``stored`` was made of; False when none is set."""
    if not stored or stored.count("$") != 2:
        return False
    _, salt, digest = stored.split("$")
    tried = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **SCRYPT)
    return hmac.compare_digest(tried.hex(), digest)


def new_id(prefix: str) -> str:
    """Return an opaque public identifier such as ``inv_3f9a…``."""
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's role and the member it belongs to (None for admins)."""

    key_id: str
    role: str
    member_id: str | None
    #: The key's first characters, as its owner sees them in the list of keys.
    prefix: str | None = None

    @property
    def is_auditor(self) -> bool:
        return self.role == "auditor"

    @property
    def can_write(self) -> bool:
        return self.role in ("member", "admin")

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden.of("auth.read_only", "Cette clé ne donne qu'un accès en lecture.")

    def require_admin(self) -> None:
        if self.role != "admin":
            raise Forbidden.of(
                "auth.forbidden",
                "Cette opération est réservée à l'administrateur de la passerelle.",
            )

    def require_member(self, member_id: str) -> None:
        """Let the admin or ``member_id`` itself through; another member is told there is
        no such member (404, not 403: it may not learn that the id exists)."""
        if self.role != "admin" and self.member_id != member_id:
            raise not_found("Membre")

    def acting_member(self) -> str:
        """Return the member the caller acts for; an admin key has none."""
        if self.member_id is None:
            raise Forbidden.of(
                "auth.member_required",
                "Cette opération se fait avec la clé d'un membre (une librairie), "
                "pas celle de l'administrateur.",
            )
        return self.member_id


BOOTSTRAP_ADMIN = "bootstrap-admin"


def create_key(
    store: Store,
    conn,
    *,
    member_id: str | None,
    role: str,
    now: datetime,
    label: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, dict]:
    """Create a key inside ``conn``'s transaction; return the clear key and its record."""
    key = generate_key()
    record = {
        "id": new_id("key"),
        "member_id": member_id,
        "role": role,
        "key_hash": hash_key(key),
        "prefix": key[:12],
        "label": label,
        "created_at": now,
        "expires_at": expires_at,
        "revoked_at": None,
        "last_used_at": None,
    }
    store.insert_api_key(conn, **record)
    return key, record


def key_usable(record: dict | None, now: datetime) -> bool:
    """Whether a key's record lets it in at ``now``: it exists, is not revoked nor expired."""
    return (
        record is not None
        and record["revoked_at"] is None
        and (record["expires_at"] is None or record["expires_at"] > now)
    )


def authenticate(
    store: Store, authorization: str | None, now: datetime, bootstrap_admin_key: str | None = None
) -> Principal | None:
    """Return the principal of a ``Bearer`` header, or None when absent, unknown, revoked
    or expired; note when the key was used (at most once per ``LAST_USED_PRECISION``)."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    key = authorization.removeprefix("Bearer ").strip()
    if not key:
        return None
    if bootstrap_admin_key and hmac.compare_digest(key.encode(), bootstrap_admin_key.encode()):
        return Principal(key_id=BOOTSTRAP_ADMIN, role="admin", member_id=None)
    record = store.find_api_key(hash_key(key))
    if not key_usable(record, now):
        return None
    stale = now - LAST_USED_PRECISION
    if record["last_used_at"] is None or record["last_used_at"] < stale:
        store.touch_api_key(record["id"], now, unless_since=stale)
    return Principal(
        key_id=record["id"],
        role=record["role"],
        member_id=record["member_id"],
        prefix=record["prefix"],
    )

"""Sessions of the web pages (``/app/``): a browser signs in with an API key, or a member
with its SIRET and the password its admin gave it, and gets an opaque token for its cookie.

The token is random and kept as its SHA-256 only. Each session holds its own CSRF token,
which every form of the pages carries back. A session ends at sign-out, after
``session_idle_minutes`` without a page, after ``session_max_hours`` in all, and with the
key it was opened with (revoked or expired).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.auth import (
    BOOTSTRAP_ADMIN,
    Principal,
    authenticate,
    check_password,
    hash_password,
    key_usable,
)
from gateway.config import Config
from gateway.store import Store

#: A session's last page is written at most this often.
SEEN_PRECISION = timedelta(minutes=1)


@functools.cache
def _nobody() -> str:
    """A hash checked when the SIRET has no password: a wrong SIRET costs the same time."""
    return hash_password(secrets.token_urlsafe(16))


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class WebSession:
    id: str
    principal: Principal
    csrf_token: str
    expires_at: datetime
    #: Whether a one-time message waits (read, and forgotten, only then).
    has_flash: bool = False

    def csrf_matches(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.csrf_token.encode())


class SessionService:
    def __init__(self, store: Store, config: Config, clock: Callable[[], datetime]):
        self.store = store
        self.config = config
        self.clock = clock

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.config.web.session_idle_minutes)

    def sign_in_with_key(self, key: str) -> tuple[str, WebSession] | None:
        """Open a session for a valid API key; None for any other."""
        principal = authenticate(
            self.store, f"Bearer {key.strip()}", self.clock(), self.config.admin_api_key
        )
        if principal is None:
            return None
        return self._open(principal, key_id=principal.key_id)

    def sign_in_with_password(self, siret: str, password: str) -> tuple[str, WebSession] | None:
        """Open a member's session; None when the SIRET or the password is wrong."""
        member = self.store.member_by_siret(siret.strip().replace(" ", ""))
        stored = member["password_hash"] if member else None
        if not stored:
            check_password(password, _nobody())
            return None
        if not check_password(password, stored):
            return None
        principal = Principal(key_id="", role="member", member_id=member["id"])
        return self._open(principal, key_id=None)

    def _open(self, principal: Principal, key_id: str | None) -> tuple[str, WebSession]:
        now = self.clock()
        token = secrets.token_urlsafe(32)
        record = {
            "id": session_id(token),
            "key_id": key_id,
            "member_id": principal.member_id,
            "role": principal.role,
            "csrf_token": secrets.token_urlsafe(32),
            "flash": None,
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + timedelta(hours=self.config.web.session_max_hours),
        }
        self.store.delete_web_sessions(before=now)  # the expired ones, while here
        self.store.insert_web_session(**record)
        return token, self._session(record)

    def current(self, token: str | None) -> WebSession | None:
        """The session of a cookie's token, if still alive; note the page seen."""
        if not token:
            return None
        now = self.clock()
        record = self.store.find_web_session(session_id(token), now)
        if record is None or record["last_seen_at"] + self.idle <= now:
            return None
        if record["key_id"] and not self._key_alive(record, now):
            return None
        if record["last_seen_at"] < now - SEEN_PRECISION:
            self.store.update_web_session(record["id"], last_seen_at=now)
        return self._session(record)

    def _key_alive(self, record: dict, now: datetime) -> bool:
        if record["key_id"] == BOOTSTRAP_ADMIN:
            return bool(self.config.admin_api_key)
        return key_usable(self.store.api_key_by_id(record["key_id"]), now)

    def _session(self, record: dict) -> WebSession:
        principal = Principal(
            key_id=record["key_id"] or f"web_{record['id'][:12]}",
            role=record["role"],
            member_id=record["member_id"],
        )
        return WebSession(
            record["id"],
            principal,
            record["csrf_token"],
            record["expires_at"],
            has_flash=record["flash"] is not None,
        )

    def sign_out(self, session: WebSession) -> None:
        self.store.delete_web_sessions(session_id=session.id)

    def flash(self, session: WebSession, message: str) -> None:
        """Keep ``message`` for the next page the session shows (once)."""
        self.store.update_web_session(session.id, flash=message)

    def take_flash(self, session: WebSession) -> str | None:
        return self.store.take_web_flash(session.id) if session.has_flash else None

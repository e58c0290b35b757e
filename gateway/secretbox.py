"""Secrets at rest: members' outlet settings are stored encrypted (Fernet, AES + HMAC)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretBoxError(Exception):
    pass


def ensure_key_file(path: Path) -> None:
    """Create a new random key file (mode 0600) unless one exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(Fernet.generate_key().decode())


class SecretBox:
    def __init__(self, key: str | None):
        self._fernet = Fernet(key.encode()) if key else None

    def seal(self, settings: dict) -> str:
        if self._fernet is None:
            raise SecretBoxError("no secret_key configured: cannot store member settings")
        return self._fernet.encrypt(json.dumps(settings).encode()).decode()

    def open(self, sealed: str | None) -> dict:
        if not sealed:
            return {}
        if self._fernet is None:
            raise SecretBoxError("no secret_key configured: cannot read member settings")
        try:
            return json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as ex:
            raise SecretBoxError("member settings cannot be decrypted with this secret_key") from ex

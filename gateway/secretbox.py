"""Secrets at rest: members' outlet settings are stored encrypted (Fernet, AES + HMAC).

The secret key may hold several Fernet keys, one a line (or separated by commas): the
first seals, every one opens. Rotation prepends a new key, re-seals every member's settings
(``facture-gateway rotate-secrets``), then drops the old one (docs/security.md).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


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
        keys = re.split(r"[\s,]+", key.strip()) if key and key.strip() else []
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None

    def seal(self, settings: dict) -> str:
        return self._require("store").encrypt(json.dumps(settings).encode()).decode()

    def open(self, sealed: str | None) -> dict:
        if not sealed:
            return {}
        try:
            return json.loads(self._require("read").decrypt(sealed.encode()))
        except InvalidToken as ex:
            raise SecretBoxError("member settings cannot be decrypted with this secret_key") from ex

    def reseal(self, sealed: str) -> str:
        """Return ``sealed`` sealed again with the first key, never decoded to settings."""
        try:
            return self._require("rotate").rotate(sealed.encode()).decode()
        except InvalidToken as ex:
            raise SecretBoxError("member settings cannot be decrypted with this secret_key") from ex

    def _require(self, action: str) -> MultiFernet:
        if self._fernet is None:
            raise SecretBoxError(f"no secret_key configured: cannot {action} member settings")
        return self._fernet

"""Cursors: where a listing resumes, as opaque tokens or event ids."""

from __future__ import annotations

import base64

from gateway.errors import InvalidInput

#: Largest row id a cursor may name (ids are 64-bit integers in the store).
MAX_SEQ = 2**63 - 1


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "seq" or not (value.isascii() and value.isdigit()) or int(value) > MAX_SEQ:
            raise ValueError(cursor)
        return int(value)
    except (ValueError, UnicodeDecodeError) as ex:
        raise InvalidInput.of(
            "field.invalid", "Curseur de pagination invalide.", field="cursor"
        ) from ex

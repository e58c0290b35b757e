"""Cursors: where a listing resumes, as opaque tokens or event ids."""

from __future__ import annotations

import base64
from datetime import datetime

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
        raise invalid_cursor() from ex


def invalid_cursor() -> InvalidInput:
    return InvalidInput.of("field.invalid", "Curseur de pagination invalide.", field="cursor")


def encode_time_cursor(at: datetime, seq: int) -> str:
    """A cursor for a listing in time order: where it ended, time and row id."""
    return base64.urlsafe_b64encode(f"at:{at.isoformat()}|{seq}".encode()).decode().rstrip("=")


def decode_time_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        at, _, seq = value.rpartition("|")
        if kind != "at" or not (seq.isascii() and seq.isdigit()) or int(seq) > MAX_SEQ:
            raise ValueError(cursor)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError(cursor)
        return when, int(seq)
    except (ValueError, UnicodeDecodeError) as ex:
        raise invalid_cursor() from ex

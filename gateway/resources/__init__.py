"""Thin HTTP resources: they read the request, call a service, and write its answer.

Refusals are domain errors (``gateway.errors``), turned into statuses by ``gateway.app``.
"""

from __future__ import annotations

import json

import falcon
from marshmallow import Schema, ValidationError

from gateway.auth import Principal
from gateway.errors import InvalidInput, TooLarge
from gateway.schemas import findings_from_errors


def principal(req: falcon.Request) -> Principal:
    return req.context.principal


def acting_member(req: falcon.Request) -> str:
    """Return the member the caller acts for (Forbidden with an admin key)."""
    return principal(req).acting_member()


#: Bytes read at a time, so that the limit holds while reading, not after.
READ_CHUNK = 64 * 1024


def read_body(req: falcon.Request, limit: int) -> bytes:
    """Read the request body, refusing more than ``limit`` bytes without reading it all.

    A chunked body announces no length: the server (gunicorn sets ``wsgi.input_terminated``)
    ends the stream where the body ends, so it is read to its end, ``limit`` bytes at most.
    """
    if req.content_length is not None:
        if req.content_length > limit:
            raise too_large(limit)
        stream = req.bounded_stream
    elif req.env.get("wsgi.input_terminated"):
        stream = req.stream
    else:
        # Without a length nor a terminated stream, reading could block: no body.
        return b""
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        part = stream.read(min(READ_CHUNK, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise too_large(limit)
    return b"".join(parts)


def too_large(limit: int) -> TooLarge:
    return TooLarge.of(
        "request.too_large",
        f"Le document dépasse la taille maximale acceptée ({limit // (1024 * 1024)} Mo).",
    )


def load_json(req: falcon.Request, schema: Schema, limit: int):
    """Read a JSON body and load it with ``schema``; InvalidInput lists every faulty field."""
    data = read_body(req, limit)
    try:
        document = json.loads(data or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as ex:
        raise InvalidInput.of("format.unreadable", f"JSON mal formé : {ex}.") from ex
    except RecursionError as ex:
        raise InvalidInput.of("format.unreadable", "JSON trop profondément imbriqué.") from ex
    return load_with(schema, document)


def load_with(schema: Schema, document):
    """Load ``document`` (decoded: JSON, or a web form's fields) with ``schema``;
    InvalidInput lists every faulty field."""
    try:
        return schema.load(document)
    except ValidationError as ex:
        raise InvalidInput(findings_from_errors(ex)) from ex


def int_param(
    req: falcon.Request,
    name: str,
    *,
    default: int,
    minimum: int,
    maximum: int,
    message: str | None = None,
) -> int:
    """Return an integer query parameter within bounds; InvalidInput naming it otherwise."""
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and minimum <= int(raw) <= maximum):
        raise InvalidInput.of(
            "field.invalid",
            message or f"Le paramètre « {name} » est un entier de {minimum} à {maximum}.",
            field=name,
        )
    return int(raw)

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


def read_body(req: falcon.Request, limit: int) -> bytes:
    """Read the request body, refusing more than ``limit`` bytes without reading it all."""
    if req.content_length is not None and req.content_length > limit:
        raise too_large(limit)
    data = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise too_large(limit)
    return data


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

"""Thin HTTP resources: they check who calls, read the body, and call the core."""

from __future__ import annotations

import json

import falcon
from marshmallow import Schema, ValidationError

from gateway.auth import Principal
from gateway.errors import Finding, GatewayError
from gateway.schemas import findings_from_errors


def error(status: int, code: str, message: str, field: str | None = None) -> GatewayError:
    return GatewayError(status, [Finding(code=code, message=message, field=field)])


def principal(req: falcon.Request) -> Principal:
    return req.context.principal


def require_admin(req: falcon.Request) -> None:
    if principal(req).role != "admin":
        raise error(
            403,
            "auth.forbidden",
            "Cette opération est réservée à l'administrateur de la passerelle.",
        )


def require_write(req: falcon.Request) -> None:
    if not principal(req).can_write:
        raise error(403, "auth.read_only", "Cette clé ne donne qu'un accès en lecture.")


def member_id(req: falcon.Request) -> str:
    """Return the member the caller acts for; an admin key has none."""
    member = principal(req).member_id
    if member is None:
        raise error(
            403,
            "auth.member_required",
            "Cette opération se fait avec la clé d'un membre (une librairie), "
            "pas celle de l'administrateur.",
        )
    return member


def read_body(req: falcon.Request, limit: int) -> bytes:
    """Read the request body, refusing more than ``limit`` bytes without reading it all."""
    if req.content_length is not None and req.content_length > limit:
        raise too_large(limit)
    data = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise too_large(limit)
    return data


def too_large(limit: int) -> GatewayError:
    return error(
        413,
        "request.too_large",
        f"Le document dépasse la taille maximale acceptée ({limit // (1024 * 1024)} Mo).",
    )


def load_json(req: falcon.Request, schema: Schema, limit: int):
    """Read a JSON body and load it with ``schema``; 422 lists every faulty field."""
    data = read_body(req, limit)
    try:
        document = json.loads(data or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as ex:
        raise error(422, "format.unreadable", f"JSON mal formé : {ex}.") from ex
    except RecursionError as ex:
        raise error(422, "format.unreadable", "JSON trop profondément imbriqué.") from ex
    try:
        return schema.load(document)
    except ValidationError as ex:
        raise GatewayError(422, findings_from_errors(ex)) from ex


#: Largest row id a cursor may name (ids are 64-bit integers in the store).
MAX_SEQ = 2**63 - 1


def int_param(
    req: falcon.Request,
    name: str,
    *,
    default: int,
    minimum: int,
    maximum: int,
    message: str | None = None,
) -> int:
    """Return an integer query parameter within bounds; 422 naming it otherwise."""
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and minimum <= int(raw) <= maximum):
        raise error(
            422,
            "field.invalid",
            message or f"Le paramètre « {name} » est un entier de {minimum} à {maximum}.",
            field=name,
        )
    return int(raw)


def not_found(what: str = "Ressource") -> GatewayError:
    return error(404, "not_found", f"{what} introuvable.")

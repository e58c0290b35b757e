"""The canonical JSON format: ``examples/*.json``, one invoice per document."""

from __future__ import annotations

import json
from decimal import Decimal

from marshmallow import ValidationError

from gateway.plugin_api import (
    FormatError,
    FormatHandler,
    check_lines,
    findings_from_errors,
    load_invoice,
)


class CanonicalJson(FormatHandler):
    name = "json"
    media_types = ("application/json",)
    extensions = (".json",)
    description = "The gateway's canonical invoice JSON (see examples/)."

    def sniff(self, data: bytes) -> bool:
        return data.lstrip()[:1] == b"{"

    def parse(self, data: bytes):
        try:
            document = json.loads(data, parse_float=Decimal)
        except UnicodeDecodeError as ex:
            raise FormatError("Le JSON doit être encodé en UTF-8.") from ex
        except json.JSONDecodeError as ex:
            raise FormatError(
                f"JSON mal formé ligne {ex.lineno}, colonne {ex.colno} : {ex.msg}.", line=ex.lineno
            ) from ex
        except RecursionError as ex:
            raise FormatError("JSON trop profondément imbriqué.") from ex
        if not isinstance(document, dict):
            raise FormatError("Le document JSON doit être un objet facture.")
        lines, number = document.get("lines"), document.get("number")
        if isinstance(lines, list):  # counted before loading, which costs far more a line
            check_lines(len(lines), number if isinstance(number, str) else None)
        try:
            return [load_invoice(document)]
        except ValidationError as ex:
            findings = findings_from_errors(ex)
            raise FormatError(
                findings[0].message, field=findings[0].field, findings=findings
            ) from ex

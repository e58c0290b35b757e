"""HTTP helpers shared by the services and the control API: times, JSON answers, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import falcon

TOKEN_PATH = "/oauth/token"
# The annexes' server URLs: https://{sub-domain}.{domain}/flow-service (and /directory-service)
FLOW_PREFIX = "/flow-service"
DIRECTORY_PREFIX = "/directory-service"
API_PREFIXES = (FLOW_PREFIX + "/", DIRECTORY_PREFIX + "/")
FAULT_SCOPE = (*API_PREFIXES, TOKEN_PATH)
MAX_JSON_BYTES = 1024 * 1024  # a search or a control call; an injected invoice may be larger

#: The annex's example `errorCode` for each HTTP status (components/responses).
ERROR_CODES = {
    400: "MISSING_REQUIRED_FIELD",
    401: "MISSING_TOKEN",
    403: "FORBIDDEN_ACCESS",
    404: "MISSING_RESOURCE",
    413: "FILE_SIZE_EXCEEDED",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    503: "RESOURCE_ERROR",
}


def iso(ts: float) -> str:
    """A date-time as the API writes it: UTC, milliseconds (update times differ by 1 ms)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any, name: str) -> float:
    """Read a `date-time` (RFC 3339); one without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as ex:
        raise bad(f"{name} doit être une date-heure RFC 3339.") from ex
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def api_error(status: int, message: str, code: str | None = None) -> falcon.HTTPError:
    """An error in the annex's `Error` shape: {"errorCode", "errorMessage"}."""
    return falcon.HTTPError(status, code=code or ERROR_CODES.get(status), description=message)


def bad(message: str) -> falcon.HTTPError:
    return api_error(400, message)


def serialize_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError) -> None:
    status = int(ex.status_code)
    send_json(
        resp,
        {
            "errorCode": ex.code or ERROR_CODES.get(status, f"HTTP_{status}"),
            "errorMessage": ex.description or ex.title,
        },
        status,
    )


def send_json(resp: falcon.Response, payload: Any, status: int = 200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(payload, ensure_ascii=False)


def json_body(req: falcon.Request, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """A JSON object body (empty: {}), read up to ``max_bytes``."""
    raw = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise api_error(413, f"Le corps dépasse {max_bytes} octets.", "PAYLOAD_TOO_LARGE")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as ex:
        raise bad("Le corps n'est pas du JSON.") from ex
    if not isinstance(body, dict):
        raise bad("Le corps doit être un objet JSON.")
    return body

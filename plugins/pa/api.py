"""A client of an approved platform's Flow Service (AFNOR XP Z12-013, annex A,
"AFNOR Flow Service" 1.1.0): the operations the ``pa`` outlet uses, over an
:class:`~plugins.pa.oauth.OAuthSession`.

- :meth:`FlowClient.deposit`: ``POST /v1/flows`` (createFlow), multipart ``flowInfo`` and
  ``file``, answered 202 with a ``FullFlowInfo``;
- :meth:`FlowClient.search`: ``POST /v1/flows/search`` (searchFlow), ``SearchFlowParams``,
  answered with a ``SearchFlowContent``;
- :meth:`FlowClient.metadata`, :meth:`FlowClient.download`: ``GET /v1/flows/{flowId}``
  (getFlow) with ``docType`` Metadata, Original…;
- :meth:`FlowClient.healthcheck`: ``GET /v1/healthcheck`` (getHealth).

Failures are the outlet errors of the plugin API, each saying whether something may have
been carried out: ``UnavailableOutletError`` (nothing was: connection refused, 429, 503,
with the platform's ``Retry-After``), ``UncertainOutletError`` (a deposit may have been:
time-out or connection lost after sending, 500, an illegible answer to a deposit),
``TransientOutletError`` (a read failed), :class:`FlowRefused` (400, 403, 413, 422: the
platform's ``errorCode`` and ``errorMessage`` kept).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from gateway.plugin_api import (
    MAX_XML_BYTES,
    OutletError,
    PermanentOutletError,
    TransientOutletError,
    UnavailableOutletError,
    UncertainOutletError,
    aware,
    get_logger,
)
from plugins.pa.oauth import OAuthSession, retry_after

log = get_logger(__name__)

#: Enumerations of annex A, as published (``FlowSyntax``, ``FlowProfile``,
#: ``ProcessingRule``, ``FlowType``, ``FlowDirection``, ``FlowAckStatus``, getFlow's ``docType``).
SYNTAXES = ("CII", "UBL", "Factur-X", "CDAR", "FRR")
PROFILES = ("Basic", "CIUS", "Extended-CTC-FR")
PROCESSING_RULES = ("B2B", "B2BInt", "B2C", "OutOfScope", "ArchiveOnly", "NotApplicable")
ACK_STATUSES = ("Pending", "Ok", "Error")
DOC_TYPES = ("Metadata", "Original", "Converted", "ReadableView")
#: ``SearchFlowParams.limit``: at most 100 a page.
PAGE = 100
#: Pages read at most in one search (a platform that never stops paging is odd).
MAX_PAGES = 50
#: Searches resume this long before the last ``updatedAt`` seen: flows sharing it that did
#: not fit in the page are read again rather than skipped (those already read are dropped).
OVERLAP = timedelta(seconds=1)
#: The largest document downloaded: the gateway reads no larger XML (nor PDF) anyway.
MAX_DOWNLOAD = MAX_XML_BYTES


class FlowRefused(PermanentOutletError):
    """The platform refused the request (HTTP 400, 403, 404, 413, 422): ``error_code`` and
    ``error_message`` as its ``Error`` object gives them."""

    def __init__(self, message: str, http_status: int, error_code: str, error_message: str):
        super().__init__(message)
        self.http_status = http_status
        self.error_code = error_code
        self.error_message = error_message


class TooLarge(PermanentOutletError):
    """A flow's document is over the download cap: it is not read."""


def platform_time(value: object) -> datetime | None:
    """A platform's ISO 8601 time, aware (UTC when it gives no zone); None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def resume_after(flows: Iterable[dict], previous: datetime | None) -> datetime | None:
    """Where the next search page starts: the latest ``updatedAt`` of ``flows`` less
    :data:`OVERLAP`, compared as times (not strings); None when it would not move on."""
    latest = max(filter(None, (platform_time(f.get("updatedAt")) for f in flows)), default=None)
    if latest is None or (previous is not None and latest - OVERLAP <= previous):
        return None
    return latest - OVERLAP


@dataclass(frozen=True)
class Download:
    content: bytes
    filename: str
    media_type: str


def _body(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _filename(response: httpx.Response, default: str) -> str:
    disposition = response.headers.get("Content-Disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value.strip('"'):
            # a name, never a path
            return value.strip('"').replace("/", "_").replace("\\", "_")
    return default


class FlowClient:
    """The Flow Service at ``flow_url`` (up to, not including, ``/v1``)."""

    def __init__(self, flow_url: str, session: OAuthSession, platform: str = "La plateforme"):
        self.base = flow_url.rstrip("/")
        self.session = session
        self.platform = platform

    # --- operations ----------------------------------------------------------------------

    def deposit(self, flow_info: dict, filename: str, content: bytes, media_type: str) -> dict:
        """``POST /v1/flows``: return the ``FullFlowInfo`` of the flow created (202)."""
        files = {
            "flowInfo": (None, json.dumps(flow_info), "application/json"),
            "file": (filename, content, media_type),
        }
        response = self.call("POST", "/v1/flows", write=True, files=files)
        body = _body(response)
        if response.status_code not in (200, 201, 202) or not body or not body.get("flowId"):
            raise UncertainOutletError(
                f"Réponse illisible de {self.platform.lower()} au dépôt (HTTP "
                f"{response.status_code}) : le flux a pu être déposé, il sera recherché."
            )
        return body

    def search(self, where: dict, limit: int = PAGE, most: int | None = None) -> list[dict]:
        """``POST /v1/flows/search``: every flow matching ``where``, all pages read (a page
        goes on from the last ``updatedAt`` of the one before, as the standard says, less
        :data:`OVERLAP`), or pages read until ``most`` flows are found."""
        flows: dict[str, dict] = {}
        criteria = dict(where)
        for _ in range(MAX_PAGES):
            body = self._json(
                self.call("POST", "/v1/flows/search", json={"limit": limit, "where": criteria}),
                "la recherche",
            )
            results = body.get("results")
            if not isinstance(results, list):
                raise self._odd("la recherche")
            fresh = [
                flow
                for flow in results
                if isinstance(flow, dict) and flow.get("flowId") and flow["flowId"] not in flows
            ]
            flows.update((flow["flowId"], flow) for flow in fresh)
            if len(results) < limit or not fresh or (most and len(flows) >= most):
                break
            after = resume_after(fresh, platform_time(criteria.get("updatedAfter")))
            if after is None:
                break
            criteria["updatedAfter"] = after.isoformat()
        return list(flows.values())

    def metadata(self, flow_id: str) -> dict:
        """``GET /v1/flows/{flowId}?docType=Metadata``: the ``Flow`` object."""
        response = self.call("GET", f"/v1/flows/{flow_id}", params={"docType": "Metadata"})
        return self._json(response, "la lecture d'un flux")

    def download(
        self, flow_id: str, doc_type: str = "Original", max_bytes: int = MAX_DOWNLOAD
    ) -> Download:
        """``GET /v1/flows/{flowId}?docType=Original`` (or another ``docType``), read as it
        comes: :class:`TooLarge` past ``max_bytes``."""
        response = self.call(
            "GET", f"/v1/flows/{flow_id}", stream=True, params={"docType": doc_type}
        )
        try:
            content = bytearray()
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > max_bytes:
                    raise TooLarge(
                        f"Le flux {flow_id} dépasse {max_bytes} octets : il n'est pas lu."
                    )
        except httpx.TransportError as ex:
            raise self._failure(False, f"La lecture du flux {flow_id} a été interrompue") from ex
        finally:
            response.close()
        media_type = response.headers.get("Content-Type", "application/octet-stream")
        return Download(
            bytes(content), _filename(response, flow_id), media_type.split(";")[0].strip()
        )

    def healthcheck(self) -> None:
        """``GET /v1/healthcheck``: returns when the service says it is up (200)."""
        self.call("GET", "/v1/healthcheck")

    # --- one call ------------------------------------------------------------------------

    def call(
        self, method: str, path: str, write: bool = False, stream: bool = False, **arguments
    ) -> httpx.Response:
        """Send one request, log it (never a secret) and map its failures (see the module)."""
        operation = f"{method} {path}"
        started = time.monotonic()
        result = "ok"
        try:
            response = self.session.request(method, self.base + path, stream, **arguments)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as ex:
            result = "connection_refused"
            raise UnavailableOutletError(
                f"{self.platform} est injoignable (connexion impossible) : nouvel essai plus tard."
            ) from ex
        except httpx.TimeoutException as ex:
            result = "timeout"
            raise self._failure(write, f"{self.platform} n'a pas répondu à temps") from ex
        except httpx.TransportError as ex:
            result = "connection_lost"
            raise self._failure(
                write, f"La connexion avec {self.platform.lower()} a été interrompue"
            ) from ex
        except OutletError:  # the token: refused or not delivered
            result = "token"
            raise
        finally:
            log.info(
                "pa.call",
                operation=operation,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                result=result,
            )
        if stream and response.status_code >= 300:
            response.read()  # an error's body is short: its errorCode is wanted
        self._check(response, write)
        return response

    def _check(self, response: httpx.Response, write: bool) -> None:
        status = response.status_code
        if status < 300:
            return
        body = _body(response) or {}
        code = str(body.get("errorCode") or f"HTTP_{status}")
        detail = str(body.get("errorMessage") or "").strip()
        log.info("pa.refused", http_status=status, error_code=code)
        if status in (429, 503):  # refused before being carried out
            wait = retry_after(response)
            raise UnavailableOutletError(
                f"{self.platform} est momentanément indisponible (HTTP {status}"
                + (f", nouvel essai demandé dans {int(wait)} s" if wait else "")
                + ").",
                retry_after=wait,
            )
        if status >= 500:
            raise self._failure(
                write, f"{self.platform} a signalé une erreur interne (HTTP {status})"
            )
        what = {
            400: "la demande est invalide",
            403: "l'accès est refusé à ce compte",
            404: "le flux est inconnu",
            413: "le fichier est trop volumineux",
            422: "le contenu est incohérent",
        }.get(status, f"HTTP {status}")
        message = f"{self.platform} a refusé la demande : {what} ({code}" + (
            f" : {detail})." if detail else ")."
        )
        raise FlowRefused(message, status, code, detail)

    def _json(self, response: httpx.Response, what: str) -> dict:
        body = _body(response)
        if body is None:
            raise self._odd(what)
        return body

    def _odd(self, what: str) -> TransientOutletError:
        return TransientOutletError(
            f"Réponse illisible ou inattendue de {self.platform.lower()} à {what}"
        )

    @staticmethod
    def _failure(write: bool, message: str) -> TransientOutletError:
        """After sending: a deposit may have been carried out, a read is simply repeated."""
        if write:
            return UncertainOutletError(message + " : le flux a pu être déposé, il sera recherché.")
        return TransientOutletError(message + ".")

"""How the Dilifac outlet talks to Dilifac: one small interface, :class:`DilifacTransport`,
and its SOAP implementation, :class:`SoapTransport` (zeep, over the gateway's guarded
outbound HTTP client).

The interface takes and returns plain dataclasses and fails with the outlet errors of the
plugin API, each saying whether something may have been carried out:

- ``UnavailableOutletError``: nothing was carried out (connection refused, HTTP 503 or 429,
  the fault ``SERVICE_INDISPONIBLE``);
- ``UncertainOutletError``: a deposit may have been carried out (time-out or connection lost
  after sending, an illegible answer, a server fault);
- ``TransientOutletError``: a read failed and may be repeated;
- :class:`DilifacFault` (a ``PermanentOutletError``): Dilifac refused the call, with its
  stable code (``AUTHENTIFICATION``, ``FACTURE_EN_DOUBLE``…).

The WSDL (``dilifac.wsdl``, package data) is the project's own model of the service: Dilicom
gives its real interface to subscribers only (see docs/outlets/dilifac.md). It is read from
the package, never fetched; the endpoint is the member's ``url``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import httpx
import zeep
import zeep.exceptions
from lxml import etree
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from gateway.plugin_api import (
    PermanentOutletError,
    TransientOutletError,
    UnavailableOutletError,
    UncertainOutletError,
    get_logger,
)

log = get_logger(__name__)

WSDL = Path(__file__).with_name("dilifac.wsdl")
NS = "urn:facture-gateway:dilifac:v1"
BINDING = f"{{{NS}}}DilifacBinding"
SYNTAXES = ("CII", "INVOIC")
#: The zeep settings: no DTD, no entities, no external resources, no huge trees.
SETTINGS = zeep.Settings(
    strict=True,
    force_https=False,
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
)
#: Fault codes that say the service did not carry the call out, and will later.
UNAVAILABLE_CODES = frozenset({"SERVICE_INDISPONIBLE"})


# --- what goes in and out -----------------------------------------------------------------


@dataclass(frozen=True)
class DepositRequest:
    """One invoice to deposit. ``client_reference`` is stable across attempts: Dilifac
    answers a second deposit with the same one by the first (``already_received``)."""

    siret: str
    number: str
    syntax: str  # "CII" or "INVOIC"
    file_name: str
    content: bytes = field(repr=False)
    client_reference: str


@dataclass(frozen=True)
class Step:
    """One status of a deposit's history, as Dilifac reports it."""

    status: str
    at: datetime
    comment: str | None = None
    flux: str | None = None
    reason_code: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Deposit:
    """A deposit as Dilifac knows it, with its whole history, oldest first."""

    deposit_id: str
    siret: str
    number: str
    client_reference: str | None
    syntax: str
    received_at: datetime
    sha256: str
    status: str
    flux: str | None
    history: tuple[Step, ...]
    #: Set by :meth:`DilifacTransport.deposit` when the reference had been deposited before.
    already_received: bool = False


@dataclass(frozen=True)
class ArchiveReceipt:
    """Dilifac's receipt for the archived file: its SHA-256, when, for how long."""

    deposit_id: str
    sha256: str
    archived_at: datetime
    retention: str
    media_type: str
    document: bytes = field(repr=False)


@dataclass(frozen=True)
class Subscriber:
    name: str
    sirets: tuple[str, ...]
    subscription_end: date | None


class DilifacFault(PermanentOutletError):
    """Dilifac refused the call (a SOAP Fault): ``code`` is its stable code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class DilifacTransport(Protocol):
    """What the outlet needs of Dilifac. Each method fails as the module says."""

    def deposit(self, request: DepositRequest) -> Deposit:
        """Deposit one invoice file; the deposit is received (``RECUE``) and archived."""

    def statuses(
        self, deposit_ids: Sequence[str] = (), since: datetime | None = None
    ) -> list[Deposit]:
        """Return the deposits named (at most 200), or those changed since ``since``."""

    def archive_receipt(self, deposit_id: str) -> ArchiveReceipt:
        """Return the archive receipt of a deposit."""

    def find_deposit(self, siret: str, number: str) -> Deposit | None:
        """Return the supplier's deposit of that invoice number, if Dilifac has one."""

    def check_access(self) -> Subscriber:
        """Authenticate; return whom the credentials belong to."""


# --- the SOAP implementation --------------------------------------------------------------


class LocalTransport(zeep.Transport):
    """zeep's transport, loading local files only (the packaged WSDL)."""

    def _load_remote_data(self, url: str) -> bytes:
        raise zeep.exceptions.Error(f"the Dilifac WSDL is read locally, not from {url}")


class GuardedTransport(LocalTransport):
    """Posting through the gateway's guarded client (allowed hosts, DNS pinned, no
    redirects, bounded time-outs)."""

    def __init__(self, http: httpx.Client):
        super().__init__(cache=None)
        self.http = http

    def post(self, address: str, message: bytes, headers: dict) -> httpx.Response:
        response = self.http.post(address, content=message, headers=headers)
        if response.status_code in (429, 503):  # refused before being carried out
            raise UnavailableOutletError(
                f"Dilifac est momentanément indisponible (HTTP {response.status_code})"
            )
        if response.status_code not in (200, 500):  # SOAP answers 200, faults 500
            raise zeep.exceptions.TransportError(status_code=response.status_code)
        return response  # what zeep reads of it (status_code, headers, content) is alike


@cache
def wsdl_document() -> Document:
    """The packaged WSDL, parsed once per process."""
    return Document(str(WSDL), LocalTransport(cache=None), settings=SETTINGS)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _deposit(node: Any, already: bool = False) -> Deposit:
    return Deposit(
        deposit_id=str(node.idDepot),
        siret=str(node.siretFournisseur),
        number=str(node.numeroFacture),
        client_reference=_text(node.referenceClient),
        syntax=str(node.syntaxe),
        received_at=node.dateReception,
        sha256=str(node.empreinteSha256),
        status=str(node.statutCourant),
        flux=_text(node.numeroFluxDepot),
        history=tuple(
            Step(
                status=str(step.statut),
                at=step.date,
                comment=_text(step.commentaire),
                flux=_text(step.numeroFluxDepot),
                reason_code=_text(step.codeMotif),
                reason=_text(step.motif),
            )
            for step in node.historique.etape
        ),
        already_received=already,
    )


def fault_code(fault: zeep.exceptions.Fault) -> str | None:
    """The stable code in a fault's detail (``dil:Erreur/dil:code``)."""
    if fault.detail is None:
        return None
    return fault.detail.findtext(f".//{{{NS}}}code")


class SoapTransport:
    """:class:`DilifacTransport` over SOAP, with zeep, at ``url``."""

    def __init__(self, url: str, login: str, password: str, http: httpx.Client):
        client = zeep.Client(
            wsdl=wsdl_document(),
            transport=GuardedTransport(http),
            wsse=UsernameToken(login, password),
            settings=SETTINGS,
        )
        self.service = client.create_service(BINDING, url)
        self.log = log.bind(outlet="dilifac")

    def deposit(self, request: DepositRequest) -> Deposit:
        if request.syntax not in SYNTAXES:
            raise ValueError(f"syntax {request.syntax!r}: one of {SYNTAXES}")
        answer = self._call(
            "DeposerFacture",
            write=True,
            siretFournisseur=request.siret,
            numeroFacture=request.number,
            syntaxe=request.syntax,
            nomFichier=request.file_name,
            fichier=request.content,
            referenceClient=request.client_reference,
        )
        return self._read("DeposerFacture", True, lambda: _deposit(answer.depot, answer.dejaRecu))

    def statuses(
        self, deposit_ids: Sequence[str] = (), since: datetime | None = None
    ) -> list[Deposit]:
        answer = self._call("ConsulterStatuts", idDepot=list(deposit_ids), depuis=since)
        return self._read("ConsulterStatuts", False, lambda: [_deposit(d) for d in answer or []])

    def archive_receipt(self, deposit_id: str) -> ArchiveReceipt:
        answer = self._call("ObtenirAccuseArchivage", idDepot=deposit_id)

        def read() -> ArchiveReceipt:
            return ArchiveReceipt(
                deposit_id=str(answer.idDepot),
                sha256=str(answer.empreinteSha256),
                archived_at=answer.dateArchivage,
                retention=str(answer.dureeConservation),
                media_type=str(answer.typeMime),
                document=bytes(answer.document),
            )

        return self._read("ObtenirAccuseArchivage", False, read)

    def find_deposit(self, siret: str, number: str) -> Deposit | None:
        answer = self._call("RechercherDepot", siretFournisseur=siret, numeroFacture=number)
        return self._read("RechercherDepot", False, lambda: _deposit(answer) if answer else None)

    def check_access(self) -> Subscriber:
        answer = self._call("TesterConnexion")
        return self._read(
            "TesterConnexion",
            False,
            lambda: Subscriber(
                str(answer.abonne), tuple(answer.siret), answer.finAbonnement or None
            ),
        )

    # --- one call --------------------------------------------------------------------------

    def _call(self, operation: str, write: bool = False, **arguments) -> Any:
        """Call ``operation``, log it (never a secret) and map its failures (see module)."""
        started = time.monotonic()
        result = "ok"
        try:
            return getattr(self.service, operation)(**arguments)
        except UnavailableOutletError:
            result = "unavailable"
            raise
        except zeep.exceptions.Fault as ex:
            code = fault_code(ex) or ex.code or "?"
            result = f"fault:{code}"
            if code in UNAVAILABLE_CODES:
                raise UnavailableOutletError(
                    f"Dilifac est momentanément indisponible ({code})"
                ) from ex
            if (ex.code or "").endswith("Server"):
                raise self._failure(write, f"Dilifac a signalé une erreur interne ({code})") from ex
            raise DilifacFault(
                code, f"Dilifac a refusé l'opération {operation} : {ex.message}"
            ) from ex
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as ex:
            result = "connection_refused"
            raise UnavailableOutletError("Dilifac est injoignable (connexion impossible)") from ex
        except httpx.TimeoutException as ex:
            result = "timeout"
            raise self._failure(write, "Dilifac n'a pas répondu à temps") from ex
        except httpx.TransportError as ex:
            result = "connection_lost"
            raise self._failure(write, "La connexion avec Dilifac a été interrompue") from ex
        except zeep.exceptions.TransportError as ex:
            result = f"http_{ex.status_code}"
            if (ex.status_code or 0) < 500:  # never carried out
                raise PermanentOutletError(
                    f"Dilifac a répondu HTTP {ex.status_code} : vérifiez l'adresse du service "
                    "(réglage url)."
                ) from ex
            raise self._failure(write, f"Dilifac a répondu HTTP {ex.status_code}") from ex
        except (zeep.exceptions.Error, etree.LxmlError, ValueError) as ex:
            result = "illegible"
            raise self._failure(write, f"Réponse illisible de Dilifac à {operation}") from ex
        finally:
            self.log.info(
                "dilifac.call",
                operation=operation,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                result=result,
            )

    def _read(self, operation: str, write: bool, read):
        """Turn an answer into dataclasses; an answer of an unexpected shape is odd."""
        try:
            return read()
        except (AttributeError, TypeError, ValueError) as ex:
            raise self._failure(
                write, f"Réponse inattendue de Dilifac à {operation} ({ex})"
            ) from ex

    @staticmethod
    def _failure(write: bool, message: str) -> TransientOutletError:
        """A failure after sending: a deposit may have been carried out, a read is repeated."""
        return UncertainOutletError(message) if write else TransientOutletError(message)

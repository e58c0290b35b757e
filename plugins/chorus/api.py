"""A client of the Chorus Pro API on PISTE, shared by the Chorus outlet and directory.

Two layers of credentials are sent on every call (reference §1.1): a PISTE OAuth2 token
(``client_credentials``, scope ``openid``) in ``Authorization: Bearer`` and the Chorus Pro
technical account in ``cpro-account: base64(login:password)``. Every operation is a POST
with a JSON body under ``/cpro/``. Failures become typed errors the outlet contract knows:
transient (time-out, connection, 429, 5xx) or permanent (credentials, subscription, a
business refusal with ``codeRetour``), with a French message naming what to fix.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

from gateway.plugin_api import (
    PermanentOutletError,
    TokenCache,
    TransientOutletError,
    get_logger,
    platform_client,
)

log = get_logger(__name__)

#: PISTE endpoints per environment (reference §1.1; piste.gouv.fr hosts since 2023-09).
ENVIRONMENTS = {
    "sandbox": (
        "https://sandbox-oauth.piste.gouv.fr/api/oauth/token",
        "https://sandbox-api.piste.gouv.fr",
    ),
    "production": ("https://oauth.piste.gouv.fr/api/oauth/token", "https://api.piste.gouv.fr"),
}
CREDENTIAL_KEYS = ("client_id", "client_secret", "login", "password")
#: The ``[plugins.<name>]`` table every Chorus plugin reads (outlet, directory, rule set).
SETTINGS_TABLE = "chorus"
#: Renew a token this long before it expires (OCA keeps 240 s); at most a quarter of its life.
TOKEN_MARGIN = 240.0
#: Seconds an API call may take.
DEFAULT_TIMEOUT = 30.0
#: Status entries asked for per page of an invoice's history.
HISTORY_PAGE = 50
#: ``codeRetour`` of a search that found nothing (``TRA_MSG_00.015``).
NO_RESULT = 20000
#: Operations that change something on the platform: never repeated blindly (a lost answer
#: may hide a deposit). Every other one only reads, and is repeated at once on a transient
#: failure, ``READ_RETRIES`` times, after ``retry_delay`` seconds, then twice that.
WRITES = frozenset(
    {
        "factures/v1/deposer/flux",
        "factures/v1/deposer/pdf",
        "factures/v1/soumettre",
        "factures/v1/recycler",
        "factures/v1/completer",
        "transverses/v1/ajouter/fichier",
    }
)
READ_RETRIES = 2
DEFAULT_RETRY_DELAY = 0.5


class ChorusConfigError(PermanentOutletError):
    """The settings do not name a complete credential set."""


class ChorusCredentialsError(PermanentOutletError):
    """PISTE refused the application, or Chorus Pro refused the technical account."""

    def __init__(self, message: str, which: str):
        super().__init__(message)
        self.which = which


class ChorusAccessError(PermanentOutletError):
    """HTTP 403: the PISTE application did not subscribe to this API, or the CGU are pending."""


class ChorusTransientError(TransientOutletError):
    """The platform could not answer now (time-out, connection, 429, 5xx)."""

    def __init__(self, message: str, uncertain: bool = False):
        super().__init__(message)
        #: A write that may have been carried out although no answer came back (a read
        #: never is: repeating it harms nothing).
        self.uncertain = uncertain


class ChorusBusinessError(PermanentOutletError):
    """The platform answered ``codeRetour != 0``: a refusal of this very request."""

    def __init__(self, operation: str, code: int, libelle: str):
        detail = libelle or "sans libellé"
        super().__init__(f"Chorus Pro a refusé l'opération {operation} (code {code}, {detail})")
        self.operation = operation
        self.code = code
        self.libelle = libelle


@dataclass(frozen=True)
class Credentials:
    """One complete credential set: environment, both URLs, PISTE application, technical account."""

    environment: str
    token_url: str
    api_url: str
    client_id: str
    client_secret: str = field(repr=False)
    login: str
    password: str = field(repr=False)

    @classmethod
    def from_settings(cls, settings: dict) -> Credentials:
        """Build the set from settings; the environment gives both URLs unless overridden."""
        environment = settings.get("environment") or "sandbox"
        if environment not in ENVIRONMENTS:
            raise ChorusConfigError(
                f"Réglage Chorus Pro « environment » inconnu : « {environment} » "
                "(valeurs possibles : sandbox, production)."
            )
        missing = [key for key in CREDENTIAL_KEYS if not settings.get(key)]
        if missing:
            raise ChorusConfigError(
                "Réglages Chorus Pro incomplets : " + ", ".join(missing) + " manquant(s). "
                "Renseignez l'application PISTE (client_id, client_secret) et le compte "
                "technique Chorus Pro (login, password)."
            )
        token_url, api_url = ENVIRONMENTS[environment]
        return cls(
            environment=environment,
            token_url=settings.get("token_url") or token_url,
            api_url=(settings.get("api_url") or api_url).rstrip("/"),
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
            login=settings["login"],
            password=settings["password"],
        )

    @property
    def token_key(self) -> tuple[str, str, str]:
        """What a token depends on: the token URL and the PISTE application (secret hashed)."""
        digest = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return (self.token_url, self.client_id, digest)

    @property
    def account_header(self) -> str:
        return base64.b64encode(f"{self.login}:{self.password}".encode()).decode("ascii")


#: Tokens shared by every client of this process.
TOKENS = TokenCache(margin=TOKEN_MARGIN)


def _json(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class ChorusClient:
    """The operations a supplier needs, for one credential set.

    ``http`` is injected (tests pass their own; its timeouts apply), ``tokens`` is the
    process-wide cache unless a test wants its own.
    """

    def __init__(
        self,
        credentials: Credentials,
        http: httpx.Client,
        tokens: TokenCache = TOKENS,
        outlet: str = "chorus",
        retry_delay: float = DEFAULT_RETRY_DELAY,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.credentials = credentials
        self.http = http
        self.tokens = tokens
        self.retry_delay = retry_delay
        self.sleep = sleep
        self.log = log.bind(outlet=outlet, environment=credentials.environment)

    # --- transport ----------------------------------------------------------------------

    def token(self) -> tuple[str, bool]:
        """Return (a valid token, whether it was just fetched)."""
        key = self.credentials.token_key
        token = self.tokens.get(key)
        if token:
            return token, False
        with self.tokens.lock(key):
            token = self.tokens.get(key)
            if token:
                return token, False
            token, expires_in = self._fetch_token()
            self.tokens.put(key, token, expires_in)
            return token, True

    def _fetch_token(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
            "scope": "openid",
        }
        response = self._exchange("token", self.credentials.token_url, data=form)
        body = _json(response) or {}
        if response.status_code in (400, 401):
            raise ChorusCredentialsError(
                "PISTE refuse l'application (client_id / client_secret) : vérifiez ces deux "
                "réglages et qu'ils appartiennent bien à l'environnement "
                f"« {self.credentials.environment} ».",
                which="piste",
            )
        self._raise_for_status("token", response)
        if not body.get("access_token"):
            raise ChorusTransientError("PISTE a répondu sans jeton d'accès.")
        return body["access_token"], float(body.get("expires_in") or 3600)

    def call(self, operation: str, payload: dict) -> dict:
        """POST ``payload`` to ``/cpro/<operation>`` and return the answer (``codeRetour`` 0).

        A read that fails transiently is repeated (see :data:`WRITES`); a write is not.
        """
        retries = 0 if operation in WRITES else READ_RETRIES
        retry = 0
        while True:
            try:
                return self._call_once(operation, payload)
            except ChorusTransientError as ex:
                if retry >= retries:
                    raise
                self.log.info("chorus.retry", operation=operation, error=ex.message)
                self.sleep(self.retry_delay * 2**retry)
                retry += 1

    def _call_once(self, operation: str, payload: dict) -> dict:
        token, fresh = self.token()
        response = self._post(operation, payload, token)
        if response.status_code == 401 and not fresh:
            # The cached token may have expired early (revoked, clock skew): renew once.
            self.tokens.drop(self.credentials.token_key, token)
            token, _ = self.token()
            response = self._post(operation, payload, token)
        return self._answer(operation, response)

    def _post(self, operation: str, payload: dict, token: str) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "cpro-account": self.credentials.account_header,
            "Content-Type": "application/json;charset=utf-8",
            "Accept": "application/json;charset=utf-8",
        }
        url = f"{self.credentials.api_url}/cpro/{operation}"
        return self._exchange(operation, url, json=payload, headers=headers)

    def _exchange(self, operation: str, url: str, **request) -> httpx.Response:
        """Send one request, log it (never a secret) and map transport failures."""
        started = time.monotonic()
        try:
            response = self.http.post(url, **request)
        except httpx.TimeoutException as ex:
            # A write that timed out after being sent may have been carried out.
            sent = not isinstance(ex, httpx.ConnectTimeout | httpx.PoolTimeout)
            uncertain = sent and operation in WRITES
            self._log(operation, started, "timeout")
            raise ChorusTransientError(
                "Chorus Pro n'a pas répondu à temps", uncertain=uncertain
            ) from ex
        except httpx.TransportError as ex:
            uncertain = not isinstance(ex, httpx.ConnectError) and operation in WRITES
            self._log(operation, started, "connection_error", error=type(ex).__name__)
            raise ChorusTransientError(
                "Chorus Pro est injoignable (connexion impossible ou interrompue)",
                uncertain=uncertain,
            ) from ex
        body = _json(response)
        code = body.get("codeRetour") if body else None
        result = "ok" if response.status_code == 200 and not code else "refused"
        self._log(operation, started, result, http_status=response.status_code, code_retour=code)
        return response

    def _log(self, operation: str, started: float, result: str, **fields) -> None:
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        self.log.info(
            "chorus.call", operation=operation, duration_ms=duration_ms, result=result, **fields
        )

    def _raise_for_status(self, operation: str, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429 or status >= 500 or status == 408:
            # 429 and 503 refuse the request before carrying it out; another 5xx may come
            # after a write was carried out.
            raise ChorusTransientError(
                f"Chorus Pro est momentanément indisponible (HTTP {status})",
                uncertain=status >= 500 and status != 503 and operation in WRITES,
            )
        if status == 403:
            raise ChorusAccessError(
                "Accès refusé par PISTE (HTTP 403) : l'application PISTE n'a pas souscrit à l'API "
                f"demandée ({operation.split('/')[0]}) ou les CGU de cette API n'ont pas été "
                "acceptées. Souscrivez aux API Factures, Structures, Utilisateurs et Transverses "
                "dans PISTE."
            )
        if status != 200:
            raise PermanentOutletError(
                f"Chorus Pro a répondu HTTP {status} à l'opération {operation} : vérifiez "
                "l'adresse de l'API dans les réglages."
            )

    def _answer(self, operation: str, response: httpx.Response) -> dict:
        body = _json(response)
        if response.status_code == 401:
            raise ChorusCredentialsError(
                "Chorus Pro refuse le compte technique (login ou mot de passe du compte "
                "technique) : vérifiez-le dans le portail Chorus Pro (son mot de passe a pu "
                "expirer) et qu'il est bien raccordé à l'application PISTE.",
                which="technical_account",
            )
        # Business refusals come as HTTP 200 (or 400 on some services) with codeRetour.
        if body is not None and response.status_code in (200, 400) and body.get("codeRetour"):
            raise ChorusBusinessError(
                operation, int(body["codeRetour"]), str(body.get("libelle") or "")
            )
        self._raise_for_status(operation, response)
        if body is None:
            # The platform answered, so a write (a deposit…) may well have been carried out.
            raise ChorusTransientError(
                f"Réponse illisible de Chorus Pro à l'opération {operation}",
                uncertain=operation in WRITES,
            )
        return body

    def pages(self, operation: str, payload: dict, items: str, paging: str) -> Iterator[dict]:
        """Yield every item of a paginated search, page after page (10 a page by default).

        ``paging`` is the name of the operation's pagination object; a search that found
        nothing (``codeRetour`` 20000) yields nothing.
        """
        page = 1
        while True:
            body = {**payload, paging: {**payload.get(paging, {}), "pageResultatDemandee": page}}
            try:
                answer = self.call(operation, body)
            except ChorusBusinessError as ex:
                if ex.code == NO_RESULT:
                    return
                raise
            found = answer.get(items) or []
            yield from found
            pages = int((answer.get("parametresRetour") or {}).get("pages") or 1)
            if not found or page >= pages:
                return
            page += 1

    # --- invoices -----------------------------------------------------------------------

    def deposit_flux(self, content: bytes, filename: str, syntax: str) -> dict:
        """Deposit one file (``deposerFluxFacture``); processed later, asynchronously."""
        return self.call(
            "factures/v1/deposer/flux",
            {
                "fichierFlux": base64.b64encode(content).decode("ascii"),
                "nomFichier": filename,
                "syntaxeFlux": syntax,
                "avecSignature": False,
            },
        )

    def flux_report(self, flux: str, syntax: str | None = None) -> dict:
        """Return the detailed processing report of a flux (``consulterCRDetaille``)."""
        payload = {"numeroFluxDepot": flux}
        if syntax:
            payload["syntaxeFlux"] = syntax
        return self.call("transverses/v1/consulterCRDetaille", payload)

    def supplier_invoices(self, **criteria) -> list[dict]:
        """Return every invoice of the supplier matching ``criteria``, all pages read."""
        return list(
            self.pages(
                "factures/v1/rechercher/fournisseur",
                criteria,
                "listeFactures",
                "rechercheFactureParFournisseur",
            )
        )

    def invoice_history(self, invoice_cpp_id: int) -> tuple[str | None, list[dict]]:
        """Return the current status and every status entry (all pages, newest first)."""
        entries: list[dict] = []
        page = 1
        while True:
            answer = self.call(
                "factures/v1/consulter/historique",
                {
                    "idFacture": invoice_cpp_id,
                    "paramRechercheHistoStatuts": {
                        "nbResultatsParPageListeHistoStatut": HISTORY_PAGE,
                        "pageResultatDemandeeListeHistoStatut": page,
                    },
                },
            )
            block = answer.get("historiquesDesStatuts") or {}
            found = block.get("histoStatut") or []
            entries += found
            if not found or page >= int(block.get("pagesHistoStatut") or 1):
                return answer.get("statutCourantCode"), entries
            page += 1

    def recycle(self, invoice_cpp_id: int, recipient: dict, comment: str, **extra) -> dict:
        payload = {
            "identifiantFactureCPP": invoice_cpp_id,
            "destinataire": recipient,
            "commentaire": comment,
            **extra,
        }
        return self.call("factures/v1/recycler", payload)

    def add_file(self, content: bytes, name: str, media_type: str, extension: str) -> int:
        """Upload an attachment (``ajouterFichierDansSysteme``); return its ``pieceJointeId``."""
        answer = self.call(
            "transverses/v1/ajouter/fichier",
            {
                "pieceJointeFichier": base64.b64encode(content).decode("ascii"),
                "pieceJointeNom": name,
                "pieceJointeTypeMime": media_type,
                "pieceJointeExtension": extension,
            },
        )
        return answer["pieceJointeId"]

    def complete(self, invoice_cpp_id: int, comment: str, attachments: list[dict]) -> dict:
        return self.call(
            "factures/v1/completer",
            {
                "identifiantFactureCPP": invoice_cpp_id,
                "commentaire": comment,
                "pieceJointeComplementaire": attachments,
            },
        )

    # --- structures ---------------------------------------------------------------------

    def find_structure(self, siret: str, kind: str | None = None) -> dict | None:
        """Return the structure with this SIRET from ``rechercherStructure``, or None.

        ``kind`` restricts the search to ``PUBLIQUE`` (or ``PRIVEE``) structures.
        """
        structure = {"identifiantStructure": siret, "typeIdentifiantStructure": "SIRET"}
        if kind:
            structure["typeStructure"] = kind
        payload = {"structure": structure, "restreindreStructuresPrivees": False}
        for item in self.pages(
            "structures/v1/rechercher", payload, "listeStructures", "parametres"
        ):
            if item.get("identifiantStructure") == siret:
                return item
        return None

    def structure(self, structure_id: int) -> dict:
        return self.call(
            "structures/v1/consulter", {"idStructureCPP": structure_id, "codeLangue": "FR"}
        )

    def services(self, structure_id: int) -> list[dict]:
        return list(
            self.pages(
                "structures/v1/rechercher/services",
                {"idStructure": structure_id},
                "listeServices",
                "parametresRechercherServicesStructure",
            )
        )

    def service(self, structure_id: int, service_id: int) -> dict:
        return self.call(
            "structures/v1/consulter/service",
            {"idStructure": structure_id, "idService": service_id, "codeLangue": "FR"},
        )

    def supplier_structures(self) -> list[dict]:
        """Return the active structures the technical account may invoice for."""
        answer = self.call("transverses/v1/recuperer/structures/actives/fournisseur", {})
        return answer.get("listeStructures") or []


def new_http_client(timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """Return the HTTP client used outside tests: bounded time-outs, no redirects, only
    the hosts the gateway's administrator allows."""
    return platform_client(timeout)

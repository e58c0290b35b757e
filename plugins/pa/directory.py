"""The 2026 reform's directory (annuaire), read through the AFNOR XP Z12-013 Directory
Service: where invoices to a French company must go (its approved platform, PA) and to
which electronic address (scheme 0225: BT-49).

A lookup searches the directory lines of the buyer's SIREN (``POST
/v1/directory-line/search``) and keeps the most precise one for the buyer's SIRET: the
line of that very establishment (``SIREN_SIRET``) before the company's own (``SIREN``);
lines for a routing code or an addressing suffix are a buyer's choice per invoice, not a
default. Only an ``Enabled`` line routes ("Disabled": no platform; "Upcoming": not yet);
its ``platformType`` says whether the platform is a PA (``WK``) or the public portal
(``DFH``: Chorus Pro, so a public buyer). Since version 1.1.0 the lines no longer name the
platform (``platformRegistrationNumber`` was removed): the entry's ``platform_id`` is that
number when a directory still gives it, else the platform type.

It uses the association's own directory account, ``[plugins.pa_directory]``
(``directory_url``, ``token_url``, ``client_id``, ``client_secret``), received through
``gateway_configure``; the core caches the entries (``gateway.directory``). Without those
settings the provider answers nothing; with settings that cannot be read, every lookup
fails as an unreachable directory does (invoices accepted with a warning).
"""

from __future__ import annotations

import time

import httpx

from gateway.plugin_api import (
    COMPANY,
    PUBLIC,
    Config,
    ConfigError,
    ReformDirectoryEntry,
    TransientOutletError,
    get_logger,
    hookimpl,
    outbound_client,
)
from plugins.pa.oauth import OAuthSession

log = get_logger(__name__)

#: This plugin's settings: ``[plugins.pa_directory]``.
SETTINGS_TABLE = "pa_directory"
REQUIRED = ("directory_url", "token_url", "client_id", "client_secret")
DEFAULT_TIMEOUT = 10.0
#: UNTDID 3035 codes of ``platformType``: the public portal (PPF, Chorus Pro) and a PA.
PUBLIC_PORTAL = "DFH"
ENABLED = "Enabled"
#: How the French messages name the service.
PLATFORM = "L'annuaire de la facturation électronique"


class DirectoryUnavailable(TransientOutletError):
    """The directory could not answer: the core treats the buyer as not yet checked."""


class ReformDirectory:
    """Look recipients up in one Directory Service with one account."""

    def __init__(self, settings: dict, http: httpx.Client | None = None):
        missing = [name for name in REQUIRED if not settings.get(name)]
        if missing:
            raise ConfigError(f"[plugins.{SETTINGS_TABLE}] : réglages manquants {missing}")
        timeout = float(settings.get("timeout") or DEFAULT_TIMEOUT)
        self.url = str(settings["directory_url"]).rstrip("/")
        self.session = OAuthSession(
            settings["token_url"],
            settings["client_id"],
            settings["client_secret"],
            http or outbound_client(timeout),
            platform=PLATFORM,
            setting_prefix=f"plugins.{SETTINGS_TABLE}",
        )

    def lookup(self, siren: str, siret: str | None) -> ReformDirectoryEntry | None:
        """Return where invoices to ``siren`` (establishment ``siret``) go, or None when no
        enabled line of the directory routes them."""
        lines = self._search({"siren": {"op": "strict", "value": siren}})
        line = best_line(lines, siret)
        if line is None:
            return None
        legal_unit = line.get("legalUnit") or {}
        return ReformDirectoryEntry(
            siren=siren,
            name=legal_unit.get("businessName") or "",
            kind=PUBLIC if line.get("platformType") == PUBLIC_PORTAL else COMPANY,
            siret=line.get("siret"),
            routing_code=line.get("routingIdentifier"),
            electronic_address=line.get("addressingIdentifier"),
            platform_id=line.get("platformRegistrationNumber") or line.get("platformType"),
            platform_name=line.get("platformName"),
            active=line.get("directoryLineStatus") == ENABLED,
        )

    def _search(self, filters: dict) -> list[dict]:
        # include "siren": the legal unit, for the company's name
        body = {"filters": filters, "include": ["siren"], "limit": 100}
        url = f"{self.url}/v1/directory-line/search"
        started = time.monotonic()
        try:
            response = self.session.request("POST", url, json=body)
        except httpx.TransportError as ex:
            raise DirectoryUnavailable(f"{PLATFORM} est injoignable ({ex!r}).") from ex
        log.info(
            "pa_directory.search",
            http_status=response.status_code,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        if response.status_code == 204:  # nothing found, as servers before 1.3.0 say it
            return []
        if response.status_code != 200:
            raise DirectoryUnavailable(f"{PLATFORM} répond HTTP {response.status_code}.")
        try:
            results = response.json().get("results") or []
        except (ValueError, AttributeError) as ex:
            raise DirectoryUnavailable(f"{PLATFORM} a répondu un document illisible.") from ex
        return [line for line in results if isinstance(line, dict)]


def best_line(lines: list[dict], siret: str | None) -> dict | None:
    """The line an invoice to ``siret`` takes by default: the establishment's own, else the
    company's; an enabled one before any other (which then says why it does not route)."""

    def rank(line: dict) -> tuple[int, int]:
        precise = 0 if siret and line.get("siret") == siret else 1
        return (0 if line.get("directoryLineStatus") == ENABLED else 1, precise)

    candidates = [
        line
        for line in lines
        if not line.get("routingIdentifier")
        and not line.get("addressingSuffix")
        and line.get("siret") in (None, "", siret)
    ]
    return min(candidates, key=rank, default=None)


class UnreadableSettings:
    """Stands for a directory whose settings could not be read: every lookup fails."""

    def __init__(self, reason: str):
        self.reason = reason

    def lookup(self, siren: str, siret: str | None) -> ReformDirectoryEntry | None:
        raise DirectoryUnavailable(f"{PLATFORM} est inutilisable : {self.reason}.")


class PaDirectoryPlugin:
    """The provider of ``gateway_reform_directory_lookup``, one per gateway."""

    def __init__(self) -> None:
        self.directory: ReformDirectory | UnreadableSettings | None = None

    @hookimpl
    def gateway_configure(self, config: Config) -> None:
        self.directory = None
        try:
            settings = config.plugin_config(SETTINGS_TABLE)
        except ConfigError as ex:
            self.directory = UnreadableSettings(str(ex))
            raise
        if not settings:
            log.info("pa_directory.not_configured")
            return
        try:
            self.directory = ReformDirectory(settings)
        except ConfigError as ex:
            self.directory = UnreadableSettings(str(ex))
            raise

    @hookimpl
    def gateway_reform_directory_lookup(
        self, siren: str, siret: str | None
    ) -> ReformDirectoryEntry | None:
        return self.directory.lookup(siren, siret) if self.directory else None

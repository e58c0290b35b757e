"""The Chorus Pro directory provider: a public structure as the Structures API describes it.

A lookup reads the structure (``rechercher`` by SIRET, then ``consulter`` for its four
flags), every page of its services, and each active service's own engagement flag
(``consulter/service``): 3 + pages + active services calls. It uses the gateway's own
credentials, the association's account: ``[plugins.directory_chorus]``, each setting
defaulting to ``[plugins.chorus]``'s, received once through ``gateway_configure``; the
core caches entries.

A SIRET Chorus Pro does not know as a public structure gives None, as does a provider
given no credentials: the core then records the structure as ``INCONNU`` (the rule set
answers ``directory.unknown``) once no other provider knows it. Credentials given but
unreadable (the sandbox has not written its file yet) make every lookup fail instead, as
an unreachable directory does: invoices are accepted with a warning, and sending them
waits (retried) until the gateway restarts with readable settings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from gateway.plugin_api import (
    Config,
    ConfigError,
    DirectoryEntry,
    Service,
    TransientOutletError,
    get_logger,
)
from plugins.chorus.api import (
    DEFAULT_RETRY_DELAY,
    DEFAULT_TIMEOUT,
    SETTINGS_TABLE,
    TOKENS,
    ChorusClient,
    ChorusConfigError,
    Credentials,
    TokenCache,
    new_http_client,
)

log = get_logger(__name__)

#: ``rechercher`` spells statuses as the official sample does; the directory as the portal.
STATUSES = {"ACTIVE": "ACTIF", "INACTIVE": "INACTIF"}


def structure_status(value: str | None) -> str:
    # A structure the search found is known: without a status, it is taken as active.
    return STATUSES.get(value or "ACTIVE", value)


def service_status(item: dict) -> str:
    if item.get("statutService"):
        return item["statutService"]
    return "ACTIF" if item.get("estActif") else "INACTIF"


class ChorusDirectory:
    """Look structures up with one credential set."""

    def __init__(
        self,
        settings: dict,
        *,
        http: httpx.Client | None = None,
        tokens: TokenCache = TOKENS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        credentials = Credentials.from_settings(settings)
        http = http or new_http_client(float(settings.get("timeout") or DEFAULT_TIMEOUT))
        retry_delay = float(settings.get("retry_delay", DEFAULT_RETRY_DELAY))
        self.client = ChorusClient(credentials, http, tokens, retry_delay=retry_delay)
        self.clock = clock

    def lookup(self, siret: str) -> DirectoryEntry | None:
        """Return the public structure with this SIRET, or None when there is none."""
        client = self.client
        # Only public structures receive invoices: a company's SIRET is unknown here.
        found = client.find_structure(siret, kind="PUBLIQUE")
        if found is None:
            return None
        structure_id = found["idStructureCPP"]
        details = client.structure(structure_id)
        general = details.get("informationGenerales") or {}
        flags = details.get("parametres") or {}
        services = []
        for item in client.services(structure_id):
            status = service_status(item)
            engagement = False
            if status == "ACTIF":  # an inactive service is refused whatever its flag
                answer = client.service(structure_id, item["idService"])
                engagement = bool((answer.get("parametres") or {}).get("numeroEngagement"))
            services.append(
                Service(
                    code=item.get("codeService") or "",
                    name=item.get("libelleService") or "",
                    status=status,
                    engagement_required=engagement,
                )
            )
        return DirectoryEntry(
            siret=siret,
            name=found.get("designationStructure") or general.get("libelleStructure") or "",
            status=structure_status(found.get("statut")),
            service_required=bool(flags.get("codeServiceDoitEtreRenseigne")),
            engagement_required=bool(flags.get("numeroEJDoitEtreRenseigne")),
            service_or_engagement_required=bool(flags.get("gestionNumeroEJOuCodeService")),
            services=services,
            checked_at=self.clock(),
        )


#: This provider's own table; what it leaves out comes from ``[plugins.chorus]``.
DIRECTORY_TABLE = "directory_chorus"


class UnreadableSettings:
    """Stands for a directory whose credentials could not be read: every lookup fails, as
    when the platform is unreachable (retried), until the gateway restarts with them."""

    def __init__(self, reason: str):
        self.reason = reason

    def lookup(self, siret: str) -> DirectoryEntry | None:
        raise TransientOutletError(
            "L'annuaire Chorus Pro est inutilisable : ses réglages sont illisibles "
            f"({self.reason})."
        )


def build_directory(config: Config) -> ChorusDirectory | UnreadableSettings | None:
    """Return the directory the association's credentials give; None when given none."""
    try:
        settings = {
            **config.plugin_config(SETTINGS_TABLE),
            **config.plugin_config(DIRECTORY_TABLE),
        }
    except ConfigError as ex:
        return UnreadableSettings(str(ex))
    try:
        return ChorusDirectory(settings)
    except ChorusConfigError as ex:
        log.info("chorus.directory_not_configured", reason=ex.message)
        return None

"""The Chorus Pro directory provider: a public structure as the Structures API describes it.

A lookup reads the structure (``rechercher`` by SIRET, then ``consulter`` for its four
flags), every page of its services, and each active service's own engagement flag
(``consulter/service``): 3 + pages + active services calls. It uses the gateway's own
credentials (``[plugins.chorus]``, the association's account); the core caches entries.

A SIRET Chorus Pro does not know gives an entry with status ``INCONNU`` (the rule set
answers ``directory.unknown``): None stays reserved to "no directory configured", on
which the rules say nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from gateway.directory import DirectoryEntry, Service
from gateway.hookspecs import hookimpl
from gateway.logs import get_logger
from plugins.chorus_api import (
    TOKENS,
    ChorusClient,
    ChorusConfigError,
    Credentials,
    TokenCache,
    configured_settings,
    new_http_client,
)
from plugins.rules_chorus import UNKNOWN

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
        self.client = ChorusClient(credentials, http or new_http_client(), tokens)
        self.clock = clock

    def lookup(self, siret: str) -> DirectoryEntry:
        client = self.client
        # Only public structures receive invoices: a company's SIRET is "unknown" here.
        found = client.find_structure(siret, kind="PUBLIQUE")
        if found is None:
            return DirectoryEntry(siret=siret, name="", status=UNKNOWN, checked_at=self.clock())
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


@functools.cache
def configured_directory() -> ChorusDirectory | None:
    """Return the directory built from ``[plugins.chorus]``, or None when it has no
    complete credential set (built once per process)."""
    try:
        return ChorusDirectory(configured_settings())
    except ChorusConfigError as ex:
        log.info("chorus.directory_not_configured", reason=ex.message)
        return None


@hookimpl
def gateway_directory_lookup(siret: str) -> DirectoryEntry | None:
    directory = configured_directory()
    return directory.lookup(siret) if directory else None

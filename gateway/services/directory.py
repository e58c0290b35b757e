"""Public structures as the Chorus Pro directory knows them (through the cache)."""

from __future__ import annotations

from stdnum.fr import siret as siret_number

from gateway.codec import to_data
from gateway.directory import UNKNOWN, DirectoryService
from gateway.errors import InvalidInput, NotFound, Unavailable


class StructureService:
    def __init__(self, directory: DirectoryService):
        self.directory = directory

    def check_siret(self, siret: str) -> None:
        if not siret_number.is_valid(siret):
            raise InvalidInput.of(
                "siret.invalid", f"Le SIRET « {siret} » n'est pas valide.", field="siret"
            )

    def show(self, siret: str, fresh: bool = False) -> dict:
        """Return the structure's entry, cached one day unless ``fresh``."""
        self.check_siret(siret)
        if not self.directory.configured:
            raise Unavailable.of(
                "directory.unavailable", "Aucun annuaire n'est configuré sur cette passerelle."
            )
        try:
            entry = self.directory.lookup(siret, fresh=fresh)
        except Exception as ex:
            raise Unavailable.of(
                "directory.unreachable",
                "L'annuaire Chorus Pro ne répond pas ; réessayez plus tard.",
            ) from ex
        if entry is None or entry.status == UNKNOWN:
            raise NotFound.of(
                "directory.unknown",
                f"La structure {siret} n'est pas inscrite dans l'annuaire Chorus Pro.",
                field="siret",
            )
        return to_data(entry)

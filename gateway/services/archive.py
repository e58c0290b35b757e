"""The archive's export: a member's year as one zip, for a tax inspector (gateway.export)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gateway.auth import Principal
from gateway.config import Config
from gateway.errors import InvalidInput, Unavailable, not_found
from gateway.export import Export, export_year
from gateway.store import Store

FIRST_YEAR, LAST_YEAR = 2000, 2100


class ArchiveService:
    def __init__(self, store: Store, config: Config, clock: Callable[[], datetime]):
        self.store = store
        self.config = config
        self.clock = clock

    def export(self, principal: Principal, year: str | None, member_id: str | None) -> Export:
        """Return the export of a member's invoices issued in ``year``: the caller's own
        member (a member's or an auditor's key), or ``member_id`` for the admin."""
        if principal.role == "admin":
            if not member_id:
                raise InvalidInput.of(
                    "member_id.required",
                    "Avec la clé de l'administrateur, indiquez le membre exporté (member_id).",
                    field="member_id",
                )
        elif member_id and member_id != principal.member_id:
            raise not_found("Membre")
        member = self.store.get_member(member_id or principal.member_id)
        if member is None:
            raise not_found("Membre")
        if not (
            year and year.isascii() and year.isdigit() and FIRST_YEAR <= int(year) <= LAST_YEAR
        ):
            raise InvalidInput.of(
                "year.invalid",
                f"Année attendue, de {FIRST_YEAR} à {LAST_YEAR} (par exemple year=2026).",
                field="year",
            )
        try:
            key = self.config.archive.private_key()
        except ValueError as ex:
            raise Unavailable.of(
                "archive.signing_key_unreadable",
                "La clé de signature de l'archive ([archive] signing_key) est illisible : "
                "l'export est impossible.",
            ) from ex
        if key is None:
            raise Unavailable.of(
                "archive.signing_key_missing",
                "Aucune clé de signature de l'archive n'est configurée : l'export, dont la "
                "preuve se termine par un point de contrôle signé, est impossible. Lancez "
                "« facture-gateway migrate », qui la crée.",
            )
        return export_year(
            self.store, key, member, int(year), principal.key_id, self.clock, self.config.archive
        )

    def state(self) -> dict:
        """The journal's head, its last signed checkpoint (None before the first one), the
        retention, and the last run of ``archive verify`` (None before the first one)."""
        return {
            "head": self.store.journal_head(),
            "checkpoint": self.store.latest_checkpoint(covering=0),
            "retention_years": self.config.archive.retention_years,
            "verification": self.store.last_verification(),
        }

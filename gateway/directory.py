"""The public-structure directory (Chorus Pro "annuaire") as the core sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Service:
    code: str
    name: str
    status: str = "ACTIF"
    engagement_required: bool = False

    @property
    def active(self) -> bool:
        return self.status == "ACTIF"


@dataclass
class DirectoryEntry:
    siret: str
    name: str
    status: str = "ACTIF"
    service_required: bool = False
    engagement_required: bool = False
    service_or_engagement_required: bool = False
    services: list[Service] = field(default_factory=list)
    checked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "ACTIF"

    def service(self, code: str) -> Service | None:
        """Return the service with exactly this code (codes are case-sensitive)."""
        return next((s for s in self.services if s.code == code), None)

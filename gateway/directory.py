"""The public-structure directory (Chorus Pro "annuaire") as the core sees it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway.codec import from_data, to_data
from gateway.logs import get_logger

log = get_logger(__name__)


@dataclass
class Service:
    code: str
    name: str
    status: str = "ACTIF"
    engagement_required: bool = False

    @property
    def active(self) -> bool:
        return self.status == "ACTIF"


#: Status of a structure the directory was asked about and does not know.
UNKNOWN = "INCONNU"


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


#: A buyer's place in the 2026 reform: which way its invoices must take.
PUBLIC = "public"  # a public buyer: Chorus Pro
COMPANY = "entreprise"  # a company registered in France: its approved platform (PA)
OUT_OF_SCOPE = "hors-champ"  # a consumer or a foreign buyer: no e-invoicing


@dataclass
class ReformDirectoryEntry:
    """A recipient as the reform's directory (annuaire, XP Z12-013 Directory Service)
    describes it: where its invoices must go.

    ``electronic_address`` is the recipient's address in scheme 0225 (BT-49), usually its
    SIREN, a SIREN_SIRET or a SIREN_routing-code; ``platform_id``/``platform_name`` name the
    approved platform (PA) that receives for it, or Chorus Pro for a public buyer.
    """

    siren: str
    name: str
    kind: str = COMPANY
    siret: str | None = None
    routing_code: str | None = None
    electronic_address: str | None = None
    platform_id: str | None = None
    platform_name: str | None = None
    active: bool = True
    checked_at: datetime | None = None


def describe_changes(old: DirectoryEntry, new: DirectoryEntry) -> list[str]:
    """Return, in French, what changed between two readings of a structure."""
    changes = []
    labels = {
        "status": "statut",
        "service_required": "code service obligatoire",
        "engagement_required": "numéro d'engagement obligatoire",
        "service_or_engagement_required": "code service ou engagement obligatoire",
    }
    for name, label in labels.items():
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes.append(f"{label} : {before} → {after}")
    before = {s.code: s for s in old.services}
    after = {s.code: s for s in new.services}
    for code in sorted(before.keys() - after.keys()):
        changes.append(f"service {code} retiré de l'annuaire")
    for code in sorted(after.keys() - before.keys()):
        changes.append(f"nouveau service {code} ({after[code].name})")
    for code in sorted(before.keys() & after.keys()):
        if before[code].status != after[code].status:
            changes.append(f"service {code} : {before[code].status} → {after[code].status}")
        if before[code].engagement_required != after[code].engagement_required:
            changes.append(
                f"service {code} : engagement obligatoire "
                f"{before[code].engagement_required} → {after[code].engagement_required}"
            )
    return changes


class DirectoryService:
    """The directory as the core uses it: provider plugins behind a cache in the store.

    An entry is reused for ``ttl`` (one day by default), looked up afresh right before an
    invoice leaves, and refreshed daily for every customer, raising a ``directory.changed``
    event for the members concerned when a flag, a service or the status changed.
    """

    def __init__(self, pm, store, ttl: timedelta, clock: Callable[[], datetime]):
        self.pm = pm
        self.store = store
        self.ttl = ttl
        self.clock = clock

    @property
    def configured(self) -> bool:
        return bool(self.pm.hook.gateway_directory_lookup.get_hookimpls())

    def lookup(
        self, siret: str, fresh: bool = False, max_age: timedelta | None = None
    ) -> DirectoryEntry | None:
        """Return the entry for ``siret`` (status ``INCONNU`` when no provider knows it, None
        when no provider is installed); raise when the directory cannot be reached.

        A stored entry is reused when younger than ``max_age`` (the TTL by default);
        ``fresh`` asks the providers whatever its age."""
        cached = self._cached(siret, fresh, max_age)
        if cached is not None:
            return from_data(DirectoryEntry, cached["data"]) if cached["data"] else None
        return self._fetch(siret)

    def _cached(
        self, siret: str, fresh: bool, max_age: timedelta | None, reform: bool = False
    ) -> dict | None:
        """The stored row of ``siret`` when young enough to be reused, else None."""
        max_age = timedelta(0) if fresh else self.ttl if max_age is None else max_age
        if max_age > timedelta(0):
            cached = self.store.get_directory_entry(siret, reform=reform)
            if cached and cached["checked_at"] > self.clock() - max_age:
                return cached
        return None

    @property
    def reform_configured(self) -> bool:
        return bool(self.pm.hook.gateway_reform_directory_lookup.get_hookimpls())

    def reform_lookup(
        self, siret: str, fresh: bool = False, max_age: timedelta | None = None
    ) -> ReformDirectoryEntry | None:
        """Return where the 2026 reform's directory says invoices to ``siret`` go: None when
        it does not list the recipient or no provider is installed (``reform_configured``
        tells which); raise when it cannot be reached. Cached as :meth:`lookup` is."""
        cached = self._cached(siret, fresh, max_age, reform=True)
        if cached is not None:
            return from_data(ReformDirectoryEntry, cached["data"]) if cached["data"] else None
        if not self.reform_configured:
            return None
        entry = self.pm.hook.gateway_reform_directory_lookup(siren=siret[:9], siret=siret)
        now = self.clock()
        if entry is not None:
            entry.checked_at = now
        self.store.put_directory_entry(siret, to_data(entry) if entry else None, now, reform=True)
        return entry

    def _fetch(self, siret: str) -> DirectoryEntry | None:
        """Ask the providers; a SIRET none of them knows gets an ``INCONNU`` entry."""
        if not self.configured:
            return None
        entry = self.pm.hook.gateway_directory_lookup(siret=siret)
        now = self.clock()
        if entry is None:
            entry = DirectoryEntry(siret=siret, name="", status=UNKNOWN)
        entry.checked_at = now
        self.store.put_directory_entry(siret, to_data(entry), now)
        return entry

    def refresh_one_stale(self) -> bool:
        """Refresh the oldest customer entry older than the TTL; return whether one was due."""
        now = self.clock()
        row = self.store.claim_stale_directory_entry(now - self.ttl, now)
        if row is None:
            return False
        try:
            new = self._fetch(row["siret"])
        except Exception as ex:
            log.warning("directory.refresh_failed", siret=row["siret"], error=repr(ex))
            return True
        if new is None or not row["data"]:
            return True
        changes = describe_changes(from_data(DirectoryEntry, row["data"]), new)
        if changes:
            members = self.store.members_with_customer(row["siret"])
            with self.store.begin() as conn:
                # In one order everywhere: each member's feed is locked while written.
                for member_id in sorted(members):
                    self.store.add_event(
                        conn,
                        member_id,
                        "directory.changed",
                        {
                            "siret": row["siret"],
                            "name": new.name if new else None,
                            "changes": changes,
                        },
                    )
            log.info("directory.changed", siret=row["siret"], changes=changes)
        return True

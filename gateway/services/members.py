"""Members (bookshops), their settings and their API keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from gateway import digests, lifecycle, routing
from gateway.auth import PASSWORD_MIN_LENGTH, create_key, hash_password, new_id
from gateway.config import keep_redacted, redact
from gateway.errors import Conflict, Forbidden, InvalidInput, not_found
from gateway.outbound import OutboundRefused, check_outbound_url
from gateway.plugins import Registry
from gateway.secretbox import SecretBox
from gateway.store import AlreadyExists, Store
from gateway.times import PARIS

#: The status groups of the association's volumes, each status in one: paid, waiting for
#: the bookseller, sending failed, and the rest (on its way or delivered).
PAID, NEEDS_ACTION, ERRORS, SENT = "paid", "needs_action", "errors", "sent"
STATUS_GROUPS = (SENT, PAID, NEEDS_ACTION, ERRORS)
#: Periods of the volumes over time, and how many are shown at most.
WEEK, MONTH = "week", "month"
MAX_PERIODS = 24
#: Keys listed at once on the admin's page of keys.
MAX_KEYS = 500


def status_group(status: str) -> str:
    if status in lifecycle.PAID_STATUSES:
        return PAID
    if status == lifecycle.EN_ERREUR:
        return ERRORS
    if status in lifecycle.NEEDS_BOOKSELLER:
        return NEEDS_ACTION
    return SENT


def period_starts(now: datetime, unit: str, count: int) -> list[datetime]:
    """The starts (UTC) of the last ``count`` Paris weeks (from Monday) or months, the
    current one last."""
    today = now.astimezone(PARIS).date()
    if unit == WEEK:
        monday = today - timedelta(days=today.weekday())
        days = [monday - timedelta(weeks=back) for back in range(count - 1, -1, -1)]
    else:
        months = [today.year * 12 + today.month - 1 - back for back in range(count - 1, -1, -1)]
        days = [date(month // 12, month % 12 + 1, 1) for month in months]
    return [datetime.combine(day, time(), PARIS).astimezone(UTC) for day in days]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def key_view(record: dict, key: str | None = None) -> dict:
    """A key as shown: never its hash; the key itself only once, when it is made."""
    view = {
        "id": record["id"],
        "role": record["role"],
        "prefix": record["prefix"],
        "label": record["label"],
        "created_at": _iso(record["created_at"]),
        "expires_at": _iso(record["expires_at"]),
        "revoked_at": _iso(record["revoked_at"]),
        "last_used_at": _iso(record["last_used_at"]),
    }
    return view if key is None else {**view, "api_key": key}


def siret_taken(siret: str) -> Conflict:
    return Conflict.of(
        "member.siret_taken",
        f"Le SIRET {siret} est déjà celui d'un autre membre de la passerelle.",
        field="siret",
    )


class MemberService:
    """Members and their keys; settings are sealed by the secret box, secrets never shown."""

    def __init__(
        self,
        store: Store,
        secretbox: SecretBox,
        registry: Registry,
        clock: Callable[[], datetime],
        auditor_max_days: int = 90,
    ):
        self.store = store
        self.secretbox = secretbox
        self.registry = registry
        self.clock = clock
        self.auditor_max_days = auditor_max_days

    def secret_names(self) -> frozenset[str]:
        return frozenset(
            name
            for outlet in self.registry.outlets.values()
            for name, spec in outlet.config_fields.items()
            if spec.secret
        )

    def check_urls(self, settings: dict) -> None:
        """Refuse settings naming a URL the gateway may not call (the outlet would)."""
        for outlet_name, values in settings.items():
            outlet = self.registry.outlets.get(outlet_name)
            if outlet is None or not isinstance(values, dict):
                continue
            for key, value in values.items():
                spec = outlet.config_fields.get(key)
                if spec is None or not spec.url or not value:
                    continue
                try:
                    check_outbound_url(str(value), setting=f"settings.{outlet_name}.{key}")
                except OutboundRefused as ex:
                    raise InvalidInput(ex.findings) from ex

    def check_settings(self, settings: dict) -> None:
        """Refuse settings an outlet or the digests could not use."""
        self.check_urls(settings)
        findings = digests.check_preferences(settings) + routing.check_preferences(settings)
        if findings:
            raise InvalidInput(findings)

    def view(self, row: dict) -> dict:
        return {
            "id": row["id"],
            "name": row["name"],
            "siret": row["siret"],
            "email": row["email"],
            "created_at": row["created_at"].isoformat(),
            "password_set": bool(row.get("password_hash")),
            "settings": redact(self.secretbox.open(row["settings_encrypted"]), self.secret_names()),
        }

    def create(
        self,
        name: str,
        siret: str | None = None,
        email: str | None = None,
        settings: dict | None = None,
    ) -> tuple[dict, str]:
        """Create a member and its first key; return the member's view and the clear key."""
        self.check_settings(settings or {})
        now = self.clock()
        member = {
            "id": new_id("mem"),
            "name": name,
            "siret": siret,
            "email": email,
            "settings_encrypted": self.secretbox.seal(settings or {}),
            "created_at": now,
        }
        try:
            with self.store.begin() as conn:
                self.store.insert_member(conn, **member)
                key, _ = create_key(
                    self.store,
                    conn,
                    member_id=member["id"],
                    role="member",
                    now=now,
                    label="clé initiale",
                )
        except AlreadyExists as ex:
            raise siret_taken(siret) from ex
        return self.view(member), key

    def list(self) -> list[dict]:
        return [self.view(row) for row in self.store.list_members()]

    def row(self, member_id: str) -> dict:
        """Return the member's stored row; NotFound when there is none."""
        row = self.store.get_member(member_id)
        if row is None:
            raise not_found("Membre")
        return row

    def get(self, member_id: str) -> dict:
        return self.view(self.row(member_id))

    def settings(self, member_id: str) -> dict:
        """Return the member's settings in clear (for the gateway's own use, never shown)."""
        return self.secretbox.open(self.row(member_id)["settings_encrypted"])

    def update(self, member_id: str, changes: dict, *, by_admin: bool) -> dict:
        """Change a member's fields; ``settings`` replace theirs per outlet, and a secret
        sent back redacted keeps its value. Only the admin sets the SIRET: invoices are
        accepted in that SIRET's name only (a member sending its own back is fine)."""
        changes = dict(changes)
        row = self.row(member_id)
        if not by_admin and changes.get("siret", row["siret"]) != row["siret"]:
            raise Forbidden.of(
                "member.siret_admin_only",
                "Seul l'administrateur de la passerelle peut changer le SIRET d'un membre : "
                "adressez-lui votre demande.",
                field="siret",
            )
        settings = self.secretbox.open(row["settings_encrypted"])
        # Checked with its secrets back: a URL sent back redacted is the one kept.
        given = keep_redacted(changes.pop("settings", {}), settings)
        self.check_settings(given)
        settings.update(given)
        try:
            self.store.update_member(
                member_id, settings_encrypted=self.secretbox.seal(settings), **changes
            )
        except AlreadyExists as ex:
            raise siret_taken(changes["siret"]) from ex
        return self.get(member_id)

    def set_password(self, member_id: str, password: str) -> None:
        """Set the password the member signs in to the web pages with (by its SIRET); the
        browsers it had signed in are signed out."""
        row = self.row(member_id)
        if not row["siret"]:
            raise InvalidInput.of(
                "member.siret_required",
                "Ce membre n'a pas de SIRET : c'est son identifiant de connexion, donnez-lui "
                "en un avant son mot de passe.",
                field="siret",
            )
        if len(password) < PASSWORD_MIN_LENGTH or not password.strip():
            raise InvalidInput.of(
                "password.too_short",
                f"Le mot de passe doit compter au moins {PASSWORD_MIN_LENGTH} caractères.",
                field="password",
            )
        self.store.update_member(member_id, password_hash=hash_password(password))
        self.store.delete_web_sessions(member_id=member_id)

    def create_key(
        self,
        member_id: str | None,
        role: str,
        label: str | None = None,
        expires_at: datetime | None = None,
    ) -> dict:
        """Create a key (an admin's when ``member_id`` is None); return it, shown once.

        An auditor key (a tax inspector's) reads one member's data only, and expires within
        ``auditor_max_days``."""
        if member_id is not None:
            self.row(member_id)
        now = self.clock()
        if role == "auditor":
            self.check_auditor_key(member_id, expires_at, now)
        if expires_at is not None and expires_at <= now:
            raise InvalidInput.of(
                "field.invalid",
                "La date d'expiration d'une clé doit être dans le futur.",
                field="expires_at",
            )
        with self.store.begin() as conn:
            key, record = create_key(
                self.store,
                conn,
                member_id=member_id,
                now=now,
                role=role,
                label=label,
                expires_at=expires_at,
            )
        return key_view(record, key)

    def check_auditor_key(
        self, member_id: str | None, expires_at: datetime | None, now: datetime
    ) -> None:
        if member_id is None:
            raise InvalidInput.of(
                "key.auditor_member_required",
                "Une clé d'auditeur donne accès aux données d'un seul membre : créez-la pour "
                "ce membre (POST /v1/members/{id}/keys), pas au niveau de l'administrateur.",
                field="role",
            )
        if expires_at is None:
            raise InvalidInput.of(
                "field.required",
                "Une clé d'auditeur doit avoir une date d'expiration.",
                field="expires_at",
            )
        latest = now + timedelta(days=self.auditor_max_days)
        if expires_at > latest:
            raise InvalidInput.of(
                "field.invalid",
                f"Une clé d'auditeur dure au plus {self.auditor_max_days} jours : « expires_at » "
                f"doit être au plus tard le {latest.date().isoformat()}.",
                field="expires_at",
            )

    def keys(self, member_id: str) -> list[dict]:
        """List a member's keys, revoked and expired ones included (never a key itself)."""
        self.row(member_id)
        return [key_view(record) for record in self.store.list_api_keys(member_id)]

    def key(self, member_id: str, key_id: str) -> dict:
        """Return one of the member's key records; NotFound for another member's."""
        record = self.store.get_api_key(member_id, key_id)
        if record is None:
            raise not_found("Clé")
        return record

    def revoke_key(self, member_id: str, key_id: str) -> dict:
        """Revoke a key: the next request made with it is refused (401)."""
        self.key(member_id, key_id)
        with self.store.begin() as conn:
            self.store.revoke_api_key(conn, key_id, self.clock())
        return key_view(self.key(member_id, key_id))

    def rotate_key(self, member_id: str, key_id: str) -> dict:
        """Replace a valid key by a new one with the same role, label and expiry; the old
        one is revoked in the same transaction. Return the new key, shown once."""
        old = self.key(member_id, key_id)
        now = self.clock()
        if old["expires_at"] is not None and old["expires_at"] <= now:
            raise Conflict.of(
                "key.expired",
                "Cette clé a expiré : créez-en une nouvelle plutôt que de la renouveler.",
            )
        with self.store.begin() as conn:
            if not self.store.revoke_api_key(conn, key_id, now):
                raise Conflict.of(
                    "key.revoked", "Cette clé est révoquée : elle ne peut plus être renouvelée."
                )
            key, record = create_key(
                self.store,
                conn,
                member_id=member_id,
                now=now,
                role=old["role"],
                label=old["label"],
                expires_at=old["expires_at"],
            )
        return key_view(record, key)

    # --- the association's view of its members ------------------------------------------

    def volumes_over_time(self, unit: str = WEEK, count: int = 12) -> list[dict]:
        """Invoices received in each of the last ``count`` weeks or months, by the status
        group they are in now: ``[{"start", "counts": {group: n}}]``, oldest first."""
        starts = period_starts(self.clock(), unit, max(1, min(count, MAX_PERIODS)))
        periods = [{"start": start, "counts": dict.fromkeys(STATUS_GROUPS, 0)} for start in starts]
        for (index, status), number in self.store.invoice_counts_by_period(starts).items():
            periods[index]["counts"][status_group(status)] += number
        return periods

    def activity(self, member_id: str | None = None) -> dict[str, dict]:
        """Per member id (or of ``member_id`` only): its invoices per status and per status
        group, its total, and when it last sent one (members who never sent are absent)."""
        found: dict[str, dict] = {}
        for row in self.store.invoice_counts_by_member(member_id):
            item = found.setdefault(
                row["member_id"],
                {
                    "statuses": {},
                    "groups": dict.fromkeys(STATUS_GROUPS, 0),
                    "total": 0,
                    "last_at": None,
                },
            )
            item["statuses"][row["status"]] = row["count"]
            item["groups"][status_group(row["status"])] += row["count"]
            item["total"] += row["count"]
            item["last_at"] = max(filter(None, (item["last_at"], row["last_at"])), default=None)
        return found

    def all_keys(self) -> list[dict]:
        """Every key, the admin's and the members' (``member_id``, ``member``), never a
        key itself."""
        return [
            {**key_view(record), "member_id": record["member_id"], "member": record["member"]}
            for record in self.store.list_all_api_keys(MAX_KEYS)
        ]

    def revoke_any_key(self, key_id: str) -> dict:
        """Revoke a key whoever holds it (the admin's pages)."""
        record = self.store.api_key_by_id(key_id)
        if record is None:
            raise not_found("Clé")
        return self.revoke_key(record["member_id"], key_id)

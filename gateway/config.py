"""Configuration: ``conf/gateway.toml`` (or ``GATEWAY_CONFIG``) plus environment overrides.

Secrets are given by reference, never inline: ``{"$env" = "NAME"}`` reads an environment
variable, ``{"$file" = "path"}`` a file (relative to the configuration's base directory),
``{"$json" = ["path", "key"]}`` one key of a JSON object in a file (such as the credentials
the Chorus Pro sandbox writes).
:func:`redact` hides every secret wherever configuration is shown.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "conf" / "gateway.toml"
REDACTED = "***"
SECRET_WORDS = ("secret", "password", "token", "key", "credential")


class ConfigError(Exception):
    pass


def seconds_setting(settings: dict, key: str, owner: str) -> float:
    """The positive number of seconds ``settings[key]`` holds, or a French ConfigError
    naming the setting of ``owner`` (« Réglage Dilifac « timeout » … »)."""
    try:
        seconds = float(settings[key])
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise ConfigError(
            f"Réglage {owner} « {key} » : un nombre de secondes est attendu, "
            f"pas « {settings[key]} »."
        )
    return seconds


@dataclass
class WorkerConfig:
    poll_interval: float = 1.0
    batch_size: int = 10
    lease_seconds: float = 120.0
    max_attempts: int = 8
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    #: How long an invoice may wait for its platform (unavailable, or an uncertain deposit
    #: settling) before it is abandoned; waiting uses up no attempt.
    max_wait_seconds: float = 172800.0
    #: Following sent invoices: soon after deposit, then daily; never after a final status.
    poll_fast: float = 300.0
    poll_slow: float = 86400.0
    #: Rule sets run again on the invoice, with a fresh directory lookup, right before it
    #: leaves; None: every rule set (those judging documents have none to judge then).
    recheck_rule_sets: list[str] | None = None
    #: A directory lookup this recent (seconds) is that fresh lookup: invoices to one buyer
    #: leaving together, or right after their acceptance, ask once. 0: each invoice asks.
    recheck_within: float = 60.0


@dataclass
class WebhookConfig:
    #: Seconds a receiver has to answer one delivery.
    timeout: float = 10.0
    #: A delivery failing for this long (from its event, or its redelivery) is parked.
    retry_for: float = 86400.0
    backoff_base: float = 10.0
    backoff_max: float = 3600.0
    batch_size: int = 20
    #: Delivered deliveries are kept this long (seconds), then purged.
    keep_delivered: float = 30 * 86400.0


@dataclass
class SmtpConfig:
    """Where digests and information copies are sent from; no ``host``: no e-mail is sent."""

    host: str | None = None
    port: int = 25
    sender: str = "passerelle@localhost"
    starttls: bool = False
    username: str | None = None
    #: By reference only: ``password = {"$env" = "GATEWAY_SMTP_PASSWORD"}``.
    password: str | None = None
    timeout: float = 30.0


@dataclass
class DigestConfig:
    #: Hour (Europe/Paris) the daily digest leaves; the weekly one leaves at the same hour
    #: on ``weekly_day`` (0 Monday … 6 Sunday).
    hour: int = 7
    weekly_day: int = 0
    #: Credentials expiring within this many days are recalled in every digest.
    expiry_warning_days: int = 30
    #: Invoices left in the bookseller's hands (to upload, to print) longer than this many
    #: days are recalled in every digest.
    deposit_reminder_days: int = 3


@dataclass
class CopyConfig:
    """Information copies by e-mail (``[copies]``), sent through ``[smtp]``."""

    #: A copy the mail server keeps refusing this long (from its first failure) is parked.
    retry_for: float = 86400.0
    backoff_base: float = 60.0
    backoff_max: float = 3600.0
    #: Copies leased at a time by a worker.
    batch_size: int = 10


@dataclass
class InboundConfig:
    """Suppliers' invoices received through the platform (``[inbound]``, docs/inbound.md)."""

    #: Each receiving member's flows are pulled this often (and at once when notified).
    poll_minutes: float = 15.0
    #: A notification is served once this long has passed since the member's last pull.
    notify_spacing_seconds: float = 60.0


@dataclass
class RunConfig:
    """How ``facture-gateway run`` keeps its children up (``[run]``)."""

    #: A child that dies more often than this within ``restart_window`` seconds stops all.
    restart_limit: int = 5
    restart_window: float = 60.0
    #: Seconds before the first restart; doubled at each death within the window.
    restart_delay: float = 1.0
    restart_delay_max: float = 30.0


@dataclass
class WebConfig:
    """The web pages under ``/app/`` (``[web]``): their sessions."""

    #: A signed-in browser left alone this long is signed out.
    session_idle_minutes: float = 120.0
    #: No session outlives this, however busy.
    session_max_hours: float = 12.0
    #: The cookie is ``Secure`` (sent over HTTPS only; browsers also take it from
    #: ``http://127.0.0.1`` and ``localhost``). Off only behind a plain-HTTP test proxy.
    secure_cookie: bool = True
    #: Sign-in attempts allowed a login (a SIRET, or keys) from one address a minute, after
    #: a burst: guessing passwords is slowed down to this.
    sign_in_per_minute: int = 5
    sign_in_burst: int = 10


@dataclass
class ArchiveConfig:
    """``[archive]``: where the blobs go, how long documents are kept, the signing key,
    the time-stamping authority."""

    #: The filesystem blob store's root (relative to the base directory).
    path: str = "var/archive"
    retention_years: int = 10
    #: The Ed25519 private key signing the journal's checkpoints, by reference (``$file``
    #: is created by ``facture-gateway migrate``); never shown, never logged.
    signing_key: Any = field(default_factory=lambda: {"$file": "var/archive-signing-key"})
    #: The RFC 3161 time-stamping authority each checkpoint is sent to (its host allowed by
    #: ``[security] outbound_hosts``); empty: checkpoints are not time-stamped.
    tsa_url: str = ""
    #: The authority's certificate, or the CA's that issued it (PEM), checking its tokens:
    #: ``{"$file" = "conf/tsa.pem"}`` (or a path); None: any signer the token includes.
    tsa_certificate: Any = None
    #: Set by load_config: the base directory references are relative to.
    base_dir: Path = ROOT

    @property
    def directory(self) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def signing_key_file(self) -> Path | None:
        ref = self.signing_key
        if isinstance(ref, dict) and set(ref) == {"$file"}:
            path = Path(ref["$file"])
            return path if path.is_absolute() else self.base_dir / path
        return None

    def ensure_signing_key(self) -> None:
        """Create the signing key file on first start (mode 0600)."""
        from gateway.archive import ensure_signing_key_file

        if self.signing_key_file is not None:
            ensure_signing_key_file(self.signing_key_file)

    def private_key(self):  # -> Ed25519PrivateKey | None
        """The archive's signing key, None when there is none; ValueError when unreadable."""
        from gateway.archive import private_key

        text = self._signing_key_text()
        return private_key(text) if text else None

    def _signing_key_text(self) -> str | None:
        """Return the private key (hex), resolved from its reference; None when absent."""
        path = self.signing_key_file
        if path is not None:
            return path.read_text().strip() if path.exists() else None
        if self.signing_key is None:
            return None
        return resolve_secrets(self.signing_key, self.base_dir)

    def tsa_certificate_pem(self) -> str | None:
        """Return the time-stamping authority's certificate (PEM) from its reference (a
        ``$file``, a path, the PEM itself); None when none is configured."""
        ref = self.tsa_certificate
        if ref in (None, ""):
            return None
        if isinstance(ref, str) and not ref.lstrip().startswith("-----BEGIN"):
            ref = {"$file": ref}
        pem = resolve_secrets(ref, self.base_dir)
        if not isinstance(pem, str):
            raise ConfigError('[archive] tsa_certificate: a PEM file, {"$file" = "path"}')
        return pem


@dataclass
class Config:
    base_dir: Path = ROOT
    database_url: str = ""
    #: One Fernet key, or several (one a line, or comma-separated): the first seals.
    secret_key: str | None = None
    #: Where ``secret_key`` lives when given as ``{"$file" = …}``: created on first start.
    secret_key_file: Path | None = None
    admin_api_key: str | None = None
    #: Hosts (``host`` or ``host:port``) outbound HTTP may reach (gateway.outbound). None,
    #: for a configuration built in code (the conformance kit), restricts nothing; a file
    #: without ``[security] outbound_hosts`` allows no host.
    outbound_hosts: tuple[str, ...] | None = None
    #: Requests a member may make a minute, all its keys together, after a burst of
    #: ``rate_limit_burst``; 0: no limit. Counted in each web worker process on its own.
    rate_limit_per_minute: int = 600
    rate_limit_burst: int = 120
    #: Longest life of an auditor key (a tax inspector's read-only access), in days.
    auditor_max_days: int = 90
    max_body_bytes: int = 10 * 1024 * 1024
    #: Most lines one invoice may have: validation time grows with them (413 beyond).
    max_invoice_lines: int = 3_000
    #: How long an ``Idempotency-Key``'s answer is kept (seconds); the worker purges it after.
    idempotency_retention_seconds: float = 86400.0
    #: Seconds the gateway spends reading and judging one document; beyond, it is refused
    #: (413 ``request.over_time``) and nothing is stored. 0: no limit.
    max_document_seconds: float = 30.0
    #: Documents of more lines than this are heavy: at most ``heavy_documents`` of them are
    #: processed at once on one machine (503 ``server.busy`` beyond). 0: no such limit.
    heavy_lines: int = 1000
    heavy_documents: int = 1
    log_format: str = "console"
    log_level: str = "INFO"
    default_channel: str = "chorus"
    #: Invoices to a structure not active on Chorus Pro go on paper instead of being
    #: refused; a member's ``settings.routing.paper_fallback`` overrides it.
    paper_fallback: bool = False
    #: How long a directory entry is trusted before it is looked up again.
    directory_ttl: float = 86400.0
    channels: dict[str, str] = field(default_factory=dict)
    #: Numbers of the credit notes the gateway issues (``{year}``, ``{seq}``); a member's
    #: setting ``credit_notes.pattern`` overrides it.
    credit_note_pattern: str = "AV-{year}-{seq:05d}"
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    digests: DigestConfig = field(default_factory=DigestConfig)
    copies: CopyConfig = field(default_factory=CopyConfig)
    inbound: InboundConfig = field(default_factory=InboundConfig)
    run: RunConfig = field(default_factory=RunConfig)
    web: WebConfig = field(default_factory=WebConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    plugins: dict[str, dict] = field(default_factory=dict)
    load_entrypoints: bool = True

    def __post_init__(self) -> None:
        self.archive.base_dir = self.base_dir

    def plugin_config(self, name: str) -> dict:
        """Return the resolved settings of plugin ``name`` (``[plugins.<name>]``)."""
        return resolve_secrets(self.plugins.get(name, {}), self.base_dir)

    @property
    def var_dir(self) -> Path:
        return self.base_dir / "var"

    def ensure_secret_key(self) -> None:
        """Create the secret key file on first start (mode 0600), then read it."""
        if self.secret_key is None and self.secret_key_file is not None:
            from gateway.secretbox import ensure_key_file

            ensure_key_file(self.secret_key_file)
            self.secret_key = self.secret_key_file.read_text().strip()


def resolve_secrets(value: Any, base_dir: Path, env: Mapping[str, str] | None = None) -> Any:
    """Replace ``{"$env": NAME}``, ``{"$file": PATH}`` and ``{"$json": [PATH, KEY]}``
    references by their values."""
    env = os.environ if env is None else env
    if isinstance(value, dict):
        if set(value) == {"$env"}:
            name = value["$env"]
            if name not in env:
                raise ConfigError(f"environment variable {name} is not set")
            return env[name]
        if set(value) == {"$file"}:
            return _read_reference(value["$file"], base_dir).strip()
        if set(value) == {"$json"}:
            return _json_reference(value["$json"], base_dir)
        return {key: resolve_secrets(item, base_dir, env) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_secrets(item, base_dir, env) for item in value]
    return value


def _secret_keys(reference: Any, base_dir: Path, env: Mapping[str, str]) -> str | None:
    """Return the secret key(s), one a line: a list of references is the new key first."""
    resolved = resolve_secrets(reference, base_dir, env)
    return "\n".join(resolved) if isinstance(resolved, list) else resolved


def _read_reference(name: str, base_dir: Path) -> str:
    path = Path(name)
    path = path if path.is_absolute() else base_dir / path
    try:
        return path.read_text()
    except OSError as ex:
        raise ConfigError(f"cannot read secret file {path}: {ex.strerror}") from ex


def _json_reference(reference: Any, base_dir: Path) -> Any:
    """Return ``KEY`` of the JSON object in file ``PATH``, for ``{"$json": [PATH, KEY]}``."""
    if (
        not isinstance(reference, list)
        or len(reference) != 2
        or not all(isinstance(part, str) for part in reference)
    ):
        raise ConfigError(f'a "$json" reference is ["file", "key"], not {reference!r}')
    name, key = reference
    try:
        data = json.loads(_read_reference(name, base_dir))
    except ValueError as ex:
        raise ConfigError(f"secret file {name} is not JSON: {ex}") from ex
    if not isinstance(data, dict) or key not in data:
        raise ConfigError(f"secret file {name} has no key {key!r}")
    return data[key]


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact(value: Any, secret_names: frozenset[str] = frozenset()) -> Any:
    """Return a copy with every secret-looking or declared-secret value replaced."""
    if isinstance(value, dict):
        return {
            key: REDACTED
            if (key in secret_names or is_secret_name(key)) and item not in (None, "")
            else redact(item, secret_names)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item, secret_names) for item in value]
    return value


def keep_redacted(new: Any, old: Any) -> Any:
    """Return ``new`` where every value still reading :data:`REDACTED` takes back ``old``'s:
    a client that sends back the settings it was shown keeps its secrets."""
    if new == REDACTED:
        return old
    if isinstance(new, dict) and isinstance(old, dict):
        return {key: keep_redacted(value, old.get(key)) for key, value in new.items()}
    return new


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Config:
    """Build the configuration once: file, then environment, then keyword overrides."""
    env = os.environ if env is None else env
    path = Path(path or env.get("GATEWAY_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = tomllib.loads(path.read_text()) if path.exists() else {}
    except tomllib.TOMLDecodeError as ex:
        raise ConfigError(f"{path}: {ex}") from ex
    base_dir = Path(env.get("GATEWAY_HOME") or raw.get("base_dir") or ROOT).resolve()
    server = raw.get("server", {})
    database = raw.get("database", {})
    security = raw.get("security", {})
    logging_ = raw.get("logging", {})
    routing = raw.get("routing", {})
    secret_ref = security.get("secret_key")
    secret_key_file = None
    if isinstance(secret_ref, dict) and set(secret_ref) == {"$file"}:
        secret_key_file = Path(secret_ref["$file"])
        secret_key_file = (
            secret_key_file if secret_key_file.is_absolute() else base_dir / secret_key_file
        )
        secret_ref = secret_ref if secret_key_file.exists() else None
    config = Config(
        base_dir=base_dir,
        database_url=env.get("GATEWAY_DATABASE_URL")
        or database.get("url")
        or f"sqlite:///{base_dir / 'var' / 'gateway.sqlite3'}",
        secret_key=env.get("GATEWAY_SECRET_KEY") or _secret_keys(secret_ref, base_dir, env),
        secret_key_file=secret_key_file,
        admin_api_key=env.get("GATEWAY_ADMIN_KEY")
        or resolve_secrets(security.get("admin_api_key"), base_dir, env),
        outbound_hosts=tuple(security.get("outbound_hosts", ())),
        rate_limit_per_minute=int(
            security.get("rate_limit_per_minute", Config.rate_limit_per_minute)
        ),
        rate_limit_burst=int(security.get("rate_limit_burst", Config.rate_limit_burst)),
        auditor_max_days=int(security.get("auditor_max_days", Config.auditor_max_days)),
        max_body_bytes=int(server.get("max_body_bytes", 10 * 1024 * 1024)),
        max_invoice_lines=int(server.get("max_invoice_lines", Config.max_invoice_lines)),
        idempotency_retention_seconds=float(
            server.get("idempotency_retention_seconds", Config.idempotency_retention_seconds)
        ),
        max_document_seconds=float(server.get("max_document_seconds", Config.max_document_seconds)),
        heavy_lines=int(server.get("heavy_lines", Config.heavy_lines)),
        heavy_documents=int(server.get("heavy_documents", Config.heavy_documents)),
        log_format=env.get("GATEWAY_LOG_FORMAT") or logging_.get("format", "console"),
        log_level=env.get("GATEWAY_LOG_LEVEL") or logging_.get("level", "INFO"),
        default_channel=routing.get("default_channel", "chorus"),
        paper_fallback=bool(routing.get("paper_fallback", Config.paper_fallback)),
        directory_ttl=float(raw.get("directory", {}).get("ttl", 86400.0)),
        channels=dict(routing.get("channels", {})),
        credit_note_pattern=raw.get("invoices", {}).get(
            "credit_note_pattern", Config.credit_note_pattern
        ),
        worker=WorkerConfig(**raw.get("worker", {})),
        webhooks=WebhookConfig(**raw.get("webhooks", {})),
        smtp=SmtpConfig(**resolve_secrets(raw.get("smtp", {}), base_dir, env)),
        digests=DigestConfig(**raw.get("digests", {})),
        copies=CopyConfig(**raw.get("copies", {})),
        inbound=InboundConfig(**raw.get("inbound", {})),
        run=RunConfig(**raw.get("run", {})),
        web=WebConfig(**raw.get("web", {})),
        archive=ArchiveConfig(**raw.get("archive", {}), base_dir=base_dir),
        plugins=raw.get("plugins", {}),
    )
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise ConfigError(f"unknown configuration key {key}")
        setattr(config, key, value)
    return config

"""Shared fixtures: a real store (SQLite file or a PostgreSQL server started here), the
gateway's services and app built on it, and helpers to create members and invoices."""

from __future__ import annotations

import email
import functools
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from falcon import testing

from gateway import outbound
from gateway.app import create_app
from gateway.config import load_config
from gateway.services import build_services
from gateway.store import Store
from gateway.testing.postgres import PostgresServer, free_port

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EXAMPLES = DATA / "json"
ADMIN_KEY = "fgw_test-admin-key-0123456789"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


class Clock:
    """The gateway's time, moved by the test."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def sold_by(document: dict, siret: str) -> dict:
    """Return ``document`` with ``siret`` as its seller (a member invoices in its own name)."""
    return {**document, "seller": {**document["seller"], "siret": siret}}


# --- PostgreSQL, started by the test run --------------------------------------------------


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """The Chorus Pro sandbox in a subprocess, one per test module that asks for it."""
    from tests.plugins.chorus.sandbox import Sandbox  # which imports this module

    server = Sandbox(tmp_path_factory.mktemp("chorus-sandbox"))
    yield server
    server.stop()


@pytest.fixture
def guarded(tmp_path, sqlite_url, sandbox):
    """The gateway sending to Chorus Pro, allowed to reach the sandbox's port only."""
    port = urlsplit(sandbox.url).port
    config = make_config(tmp_path, sqlite_url, outbound_hosts=(f"127.0.0.1:{port}",))
    config.channels = {**config.channels, "chorus": "chorus"}
    config.plugins = {
        **config.plugins,
        "chorus": {"environment": "sandbox", "timeout": 5.0},
        "directory_chorus": sandbox.settings(),
    }
    gateway = Gateway(config)
    yield gateway
    gateway.store.dispose()
    outbound.configure(None)  # as outside a gateway, for the tests that follow


class Inbox:
    """A real SMTP server's mailbox: takes every message, except while ``refusals`` is
    above zero (it then answers 451, as a busy server does)."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.refusals = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refusals:
            self.refusals -= 1
            return "451 4.3.0 Try again later"
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def smtp():
    """An SMTP server (aiosmtpd) on loopback: its port and its :class:`Inbox`."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


def _authority(tmp_path_factory, name: str, key: str):
    from tests.tsa_server import Authority, openssl_ts

    if openssl_ts() is None:  # `make test` installs it
        pytest.skip("the time-stamping authority is OpenSSL's: apt-get install openssl")
    return Authority(tmp_path_factory.mktemp("tsa"), name, key)


@pytest.fixture(scope="session")
def tsa_authority(tmp_path_factory):
    """A throwaway CA and the time-stamping certificate it issued (RSA), made once."""
    return _authority(tmp_path_factory, "Horodatage de test", "rsa")


@pytest.fixture(scope="session")
def other_authority(tmp_path_factory):
    """Another CA, and its time-stamping certificate (EC)."""
    return _authority(tmp_path_factory, "Autre horodatage", "ec")


@pytest.fixture
def tsa(tsa_authority):
    """A real RFC 3161 time-stamping authority (OpenSSL's) on loopback, with its own CA:
    ``tsa.url``, ``tsa.authority.ca_file`` (PEM), ``tsa.mode`` to make it misbehave."""
    from tests.tsa_server import TsaServer, openssl_ts

    server = TsaServer(tsa_authority, openssl_ts())
    yield server
    server.stop()


@pytest.fixture
def other_tsa(other_authority):
    """Another time-stamping authority, of another CA."""
    from tests.tsa_server import TsaServer, openssl_ts

    server = TsaServer(other_authority, openssl_ts())
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh, empty database: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    return request.getfixturevalue("postgres").create_database()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'gateway.sqlite3'}"


# --- the gateway ---------------------------------------------------------------------------


@contextmanager
def statements_on(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the ``with`` block, in order."""
    seen: list[str] = []

    def keep(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)


def make_config(tmp_path: Path, database_url: str, **overrides):
    """A configuration for tests: its own home, database, key, and memory-outlet journal."""
    home = tmp_path / "home"
    (home / "var").mkdir(parents=True, exist_ok=True)
    # The suite polls faster than a bookshop: rate limits only where a test sets them.
    overrides.setdefault("rate_limit_per_minute", 0)
    config = load_config(
        ROOT / "conf" / "gateway.toml",
        env={"GATEWAY_HOME": str(home)},
        database_url=database_url,
        admin_api_key=ADMIN_KEY,
        secret_key=None,
        secret_key_file=home / "var" / "secret-key",
        **overrides,
    )
    # The core's tests need no Chorus Pro: every channel goes to the memory outlet, the only
    # plugin configured (the Chorus directory would read the sandbox's credentials file).
    config.channels = {channel: "memory" for channel in config.channels}
    # Nor the reform's directory: undeclared buyers go to Chorus Pro, not to the directories.
    config.default_channel = "chorus"
    journal = str(home / "var" / "memory-outlet.jsonl")
    config.plugins = {"memory": {**config.plugins["memory"], "journal": journal}}
    config.worker.backoff_base = 0.01
    config.worker.backoff_max = 0.05
    config.ensure_secret_key()
    return config


@functools.cache
def registered_formats():
    """Every format the installed plugins register, as the gateway builds them."""
    from gateway.plugins import Registry, build_plugin_manager

    pm, _ = build_plugin_manager()
    return Registry(pm, make_config(Path(tempfile.mkdtemp()), "sqlite://")).formats


class Gateway:
    """The real gateway on a real store, driven through its WSGI app."""

    def __init__(self, config, extra_plugins=(), clock=None):
        self.config = config
        self.store = Store(config.database_url)
        self.store.migrate()
        timing = {"clock": clock} if clock else {}
        self.services = build_services(
            config, store=self.store, extra_plugins=extra_plugins, **timing
        )
        self.app = create_app(config, self.services)
        self.client = testing.TestClient(self.app)

    @property
    def journal(self) -> Path:
        return Path(self.config.plugins["memory"]["journal"])

    def admin(self) -> dict:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    def new_member(self, name="Librairie des Quais", siret="81234567600017") -> dict:
        result = self.client.simulate_post(
            "/v1/members", json={"name": name, "siret": siret}, headers=self.admin()
        )
        assert result.status_code == 201, result.json
        member = result.json
        member["headers"] = {"Authorization": f"Bearer {member['api_key']}"}
        return member

    def post_invoice(
        self,
        member: dict,
        document,
        *,
        key: str | None = None,
        content_type="application/json",
        params=None,
    ):
        headers = {**member["headers"], "Content-Type": content_type}
        if key:
            headers["Idempotency-Key"] = key
        body = json.dumps(document).encode() if isinstance(document, dict) else document
        return self.client.simulate_post("/v1/invoices", body=body, headers=headers, params=params)

    def worker(self, **kwargs):
        from gateway.worker import Worker

        return Worker(
            store=self.store,
            registry=self.services.registry,
            config=self.config,
            secretbox=self.services.secretbox,
            **kwargs,
        )

    def get_invoice(self, member: dict, invoice_id: str) -> dict:
        result = self.client.simulate_get(f"/v1/invoices/{invoice_id}", headers=member["headers"])
        assert result.status_code == 200, result.json
        return result.json


@pytest.fixture
def gateway(tmp_path, sqlite_url) -> Gateway:
    instance = Gateway(make_config(tmp_path, sqlite_url))
    yield instance
    instance.store.dispose()


@pytest.fixture
def member(gateway) -> dict:
    return gateway.new_member()

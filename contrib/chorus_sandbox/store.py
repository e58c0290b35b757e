"""The sandbox's state in one SQLite file: credentials, directory, flux, invoices, counters."""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from . import seed

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, client_secret TEXT NOT NULL, apis TEXT NOT NULL,
    demo INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS accounts (
    login TEXT PRIMARY KEY, password TEXT NOT NULL, structure_id INTEGER NOT NULL,
    password_expires REAL, demo INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS structures (
    id INTEGER PRIMARY KEY, siret TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    public INTEGER NOT NULL, active INTEGER NOT NULL,
    service_required INTEGER NOT NULL, engagement_required INTEGER NOT NULL,
    service_or_engagement INTEGER NOT NULL, payment_status_not_reported INTEGER NOT NULL,
    address TEXT NOT NULL, postcode TEXT NOT NULL, city TEXT NOT NULL, email TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS services (
    id INTEGER PRIMARY KEY, structure_id INTEGER NOT NULL REFERENCES structures(id),
    code TEXT NOT NULL, name TEXT NOT NULL, active INTEGER NOT NULL,
    engagement_required INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL,
    UNIQUE (structure_id, code));
CREATE TABLE IF NOT EXISTS flux (
    numero TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, login TEXT NOT NULL,
    syntax TEXT NOT NULL, file_name TEXT NOT NULL, content BLOB NOT NULL,
    deposited_at REAL NOT NULL, state TEXT, state_at REAL,
    dp_errors TEXT NOT NULL DEFAULT '[]', technical_errors TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS invoices (
    id INTEGER PRIMARY KEY, numero TEXT NOT NULL, supplier_id INTEGER NOT NULL,
    recipient_id INTEGER NOT NULL, service_id INTEGER, engagement TEXT, contract TEXT,
    kind TEXT NOT NULL, framework TEXT NOT NULL, invoice_date TEXT, due_date TEXT,
    currency TEXT NOT NULL, total_without_vat TEXT, total_vat TEXT, total_with_vat TEXT,
    amount_due TEXT, preceding_number TEXT, payment_means TEXT, vat_type TEXT,
    deposit_mode TEXT NOT NULL, syntax TEXT, flux_numero TEXT, login TEXT NOT NULL,
    main_attachment_id INTEGER, comment TEXT, deposited_at REAL NOT NULL,
    status TEXT NOT NULL, status_at REAL NOT NULL, status_comment TEXT,
    UNIQUE (supplier_id, numero));
CREATE INDEX IF NOT EXISTS invoices_flux ON invoices (flux_numero);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES invoices(id),
    code TEXT NOT NULL, at REAL NOT NULL, comment TEXT, actor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY, login TEXT NOT NULL, invoice_id INTEGER, name TEXT NOT NULL,
    mime TEXT NOT NULL, extension TEXT NOT NULL, size INTEGER NOT NULL, content BLOB NOT NULL,
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS deposits (
    id INTEGER PRIMARY KEY, supplier TEXT NOT NULL, numero TEXT NOT NULL, channel TEXT NOT NULL,
    reference TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS calls (operation TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""

# Identifiers start where real-looking ones do, so that a client storing them sees plausible values.
FIRST_IDS = {"invoices": 8300001, "attachments": 10300001, "history": 1}

PASSWORD_ALPHABET = string.ascii_letters + string.digits + "!#%*+-_"


class Duplicate(Exception):
    """The supplier already has an invoice with that number."""


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None


class Store:
    """A single SQLite connection shared by the server's threads behind one lock."""

    def __init__(self, path: str, *, now: float) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM meta WHERE key = 'schema'").fetchone() is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                self._seed_directory(db, now)
                self._create_demo_credentials(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self._lock:
            return _row(self._db.execute(sql, params).fetchone())

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, params).fetchall()]

    @staticmethod
    def _next_id(db: sqlite3.Connection, table: str) -> int:
        (last,) = db.execute(f"SELECT MAX(id) FROM {table}").fetchone()
        return (last or FIRST_IDS[table] - 1) + 1

    # -- credentials ------------------------------------------------------------------------

    def _create_demo_credentials(self, db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO clients VALUES (?, ?, ?, 1)",
            (str(uuid.uuid4()), str(uuid.uuid4()), json.dumps(list(seed.ALL_APIS))),
        )
        for siret in seed.DEMO_SUPPLIERS:
            self._insert_account(db, siret, None, demo=True)

    @staticmethod
    def _insert_account(
        db: sqlite3.Connection, siret: str, password_expires: float | None, *, demo: bool
    ) -> dict[str, Any]:
        structure = db.execute("SELECT id FROM structures WHERE siret = ?", (siret,)).fetchone()
        if structure is None:
            raise KeyError(siret)
        login = f"TECH_1_{secrets.token_hex(4)}@cpro.fr"
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(20))
        db.execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?)",
            (login, password, structure["id"], password_expires, int(demo)),
        )
        return {"login": login, "password": password, "siret": siret}

    def demo_credentials(self) -> dict[str, Any]:
        client = self._one("SELECT * FROM clients WHERE demo = 1")
        accounts = self._all(
            "SELECT a.login, a.password, s.siret, s.name FROM accounts a"
            " JOIN structures s ON s.id = a.structure_id WHERE a.demo = 1 ORDER BY a.rowid"
        )
        return {"client": client, "accounts": accounts}

    def client(self, client_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM clients WHERE client_id = ?", (client_id,))
        if row:
            row["apis"] = json.loads(row["apis"])
        return row

    def add_client(self, apis: Sequence[str]) -> dict[str, Any]:
        client = {"client_id": str(uuid.uuid4()), "client_secret": str(uuid.uuid4())}
        with self.transaction() as db:
            db.execute(
                "INSERT INTO clients VALUES (?, ?, ?, 0)",
                (client["client_id"], client["client_secret"], json.dumps(list(apis))),
            )
        return {**client, "apis": list(apis)}

    def set_client_apis(self, client_id: str, apis: Sequence[str]) -> bool:
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE clients SET apis = ? WHERE client_id = ?",
                (json.dumps(list(apis)), client_id),
            )
            return cursor.rowcount == 1

    def account(self, login: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM accounts WHERE login = ?", (login,))

    def add_account(self, siret: str, password_expires: float | None) -> dict[str, Any]:
        with self.transaction() as db:
            return self._insert_account(db, siret, password_expires, demo=False)

    def set_password_expiry(self, login: str, password_expires: float | None) -> bool:
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE accounts SET password_expires = ? WHERE login = ?",
                (password_expires, login),
            )
            return cursor.rowcount == 1

    def issue_token(self, client_id: str, expires_at: float) -> str:
        token = secrets.token_urlsafe(32)
        with self.transaction() as db:
            db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token, client_id, expires_at))
        return token

    def token(self, token: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM tokens WHERE token = ?", (token,))

    def expire_tokens(self, now: float) -> int:
        with self.transaction() as db:
            return db.execute(
                "UPDATE tokens SET expires_at = ? WHERE expires_at > ?", (now, now)
            ).rowcount

    # -- directory --------------------------------------------------------------------------

    def _seed_directory(self, db: sqlite3.Connection, now: float) -> None:
        service_id = seed.FIRST_SERVICE_ID
        for s in seed.STRUCTURES:
            db.execute(
                "INSERT OR REPLACE INTO structures VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    s.id, s.siret, s.name, s.public, s.active, s.service_required,
                    s.engagement_required, s.service_or_engagement,
                    s.payment_status_not_reported, s.address, s.postcode, s.city, s.email,
                ),
            )  # fmt: skip
            for service in s.services:
                db.execute(
                    "INSERT INTO services VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                    (
                        service_id, s.id, service.code, service.name, service.active,
                        service.engagement_required, now,
                    ),
                )  # fmt: skip
                service_id += 1

    def structure(self, *, siret: str | None = None, id: int | None = None) -> dict | None:
        if siret is not None:
            return self._one("SELECT * FROM structures WHERE siret = ?", (siret,))
        return self._one("SELECT * FROM structures WHERE id = ?", (id,))

    def structures(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM structures ORDER BY id")

    def services(self, structure_id: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM services WHERE structure_id = ? ORDER BY id", (structure_id,)
        )

    def service(
        self, structure_id: int, *, code: str | None = None, id: int | None = None
    ) -> dict[str, Any] | None:
        if code is not None:
            return self._one(
                "SELECT * FROM services WHERE structure_id = ? AND code = ?", (structure_id, code)
            )
        return self._one(
            "SELECT * FROM services WHERE structure_id = ? AND id = ?", (structure_id, id)
        )

    def add_structure(self, values: dict[str, Any]) -> dict[str, Any]:
        with self.transaction() as db:
            (last,) = db.execute("SELECT MAX(id) FROM structures").fetchone()
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            db.execute(
                f"INSERT INTO structures (id, {columns}) VALUES (?, {marks})",
                (last + 1, *values.values()),
            )
        return self.structure(id=last + 1)

    def update_structure(self, structure_id: int, values: dict[str, Any]) -> None:
        if values:
            sets = ", ".join(f"{column} = ?" for column in values)
            with self.transaction() as db:
                db.execute(
                    f"UPDATE structures SET {sets} WHERE id = ?", (*values.values(), structure_id)
                )

    def add_service(self, structure_id: int, values: dict[str, Any], now: float) -> dict:
        with self.transaction() as db:
            (last,) = db.execute("SELECT MAX(id) FROM services").fetchone()
            service_id = (last or seed.FIRST_SERVICE_ID - 1) + 1
            db.execute(
                "INSERT INTO services VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    service_id, structure_id, values["code"], values["name"], values["active"],
                    values["engagement_required"], now,
                ),
            )  # fmt: skip
        return self.service(structure_id, id=service_id)

    def update_service(self, service_id: int, values: dict[str, Any], now: float) -> None:
        if values:
            sets = ", ".join(f"{column} = ?" for column in values)
            with self.transaction() as db:
                db.execute(
                    f"UPDATE services SET {sets}, updated_at = ? WHERE id = ?",
                    (*values.values(), now, service_id),
                )

    # -- flux -------------------------------------------------------------------------------

    def add_flux(
        self, login: str, syntax: str, interface: str, file_name: str, content: bytes, now: float
    ) -> dict[str, Any]:
        with self.transaction() as db:
            (last,) = db.execute("SELECT MAX(seq) FROM flux").fetchone()
            seq = (last or 0) + 1
            # CPP001 + interface code (1117 for FSO1117A) + a 15-digit sequence
            numero = f"CPP001{interface[3:7]}{seq:015d}"
            db.execute(
                "INSERT INTO flux (numero, seq, login, syntax, file_name, content, deposited_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (numero, seq, login, syntax, file_name, content, now),
            )
        return self.flux(numero)

    def flux(self, numero: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM flux WHERE numero = ?", (numero,))

    def pending_flux(self, deposited_before: float) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM flux WHERE state IS NULL AND deposited_at <= ? ORDER BY seq",
            (deposited_before,),
        )

    def has_pending_flux(self, deposited_before: float) -> bool:
        return bool(
            self._one(
                "SELECT 1 FROM flux WHERE state IS NULL AND deposited_at <= ? LIMIT 1",
                (deposited_before,),
            )
        )

    def finish_flux(
        self, numero: str, state: str, at: float, dp_errors: list, technical_errors: list
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE flux SET state = ?, state_at = ?, dp_errors = ?, technical_errors = ?"
                " WHERE numero = ?",
                (state, at, json.dumps(dp_errors), json.dumps(technical_errors), numero),
            )

    # -- invoices ---------------------------------------------------------------------------

    def add_invoice(self, values: dict[str, Any], actor: str) -> dict[str, Any]:
        """Insert an invoice at its first status; raise Duplicate if the number is taken."""
        with self.transaction() as db:
            invoice_id = self._next_id(db, "invoices")
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            try:
                db.execute(
                    f"INSERT INTO invoices (id, {columns}) VALUES (?, {marks})",
                    (invoice_id, *values.values()),
                )
            except sqlite3.IntegrityError as ex:
                raise Duplicate(values["numero"]) from ex
            self._add_history(db, invoice_id, values["status"], values["status_at"], None, actor)
        return self.invoice(invoice_id)

    def numero_taken(self, supplier_id: int, numero: str) -> bool:
        return bool(
            self._one(
                "SELECT 1 FROM invoices WHERE supplier_id = ? AND numero = ?", (supplier_id, numero)
            )
        )

    def invoice(self, invoice_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM invoices WHERE id = ?", (invoice_id,))

    def invoices(self, where: str = "1", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._all(f"SELECT * FROM invoices WHERE {where} ORDER BY id", params)

    def _add_history(
        self, db: sqlite3.Connection, invoice_id: int, code: str, at: float, comment, actor: str
    ) -> None:
        db.execute(
            "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?)",
            (self._next_id(db, "history"), invoice_id, code, at, comment, actor),
        )

    def move_invoice(
        self,
        invoice_id: int,
        status: str,
        at: float,
        comment: str | None,
        actor: str,
        changes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Set a new status (and any other column changes) and record it in the history."""
        values = {**(changes or {}), "status": status, "status_at": at, "status_comment": comment}
        sets = ", ".join(f"{column} = ?" for column in values)
        with self.transaction() as db:
            db.execute(f"UPDATE invoices SET {sets} WHERE id = ?", (*values.values(), invoice_id))
            self._add_history(db, invoice_id, status, at, comment, actor)
        return self.invoice(invoice_id)

    def history(self, invoice_id: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM history WHERE invoice_id = ? ORDER BY id", (invoice_id,))

    # -- attachments ------------------------------------------------------------------------

    def add_attachment(
        self, login: str, name: str, mime: str, extension: str, content: bytes, now: float
    ) -> int:
        with self.transaction() as db:
            attachment_id = self._next_id(db, "attachments")
            db.execute(
                "INSERT INTO attachments VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?)",
                (attachment_id, login, name, mime, extension, len(content), content, now),
            )
        return attachment_id

    def attachment(self, attachment_id: int) -> dict[str, Any] | None:
        return self._one(
            "SELECT id, login, invoice_id, name, mime, extension, size, created_at"
            " FROM attachments WHERE id = ?",
            (attachment_id,),
        )

    def attachments_of(self, invoice_id: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT id, name, extension, size FROM attachments WHERE invoice_id = ? ORDER BY id",
            (invoice_id,),
        )

    def link_attachments(self, invoice_id: int, attachment_ids: Sequence[int]) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE attachments SET invoice_id = ? WHERE id = ?",
                [(invoice_id, a) for a in attachment_ids],
            )

    # -- counters ---------------------------------------------------------------------------

    def count_deposits(self, rows: Sequence[tuple[str, str, str, str]], now: float) -> None:
        """Record (supplier, numero, channel, reference) deposits."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO deposits (supplier, numero, channel, reference, at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(*row, now) for row in rows],
            )

    def deposit_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for row in self._all(
            "SELECT supplier, numero, COUNT(*) AS n FROM deposits GROUP BY supplier, numero"
            " ORDER BY supplier, numero"
        ):
            counts.setdefault(row["supplier"], {})[row["numero"]] = row["n"]
        return counts

    def count_call(self, operation: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO calls VALUES (?, 1)"
                " ON CONFLICT (operation) DO UPDATE SET count = count + 1",
                (operation,),
            )

    def call_counts(self) -> dict[str, int]:
        return {r["operation"]: r["count"] for r in self._all("SELECT * FROM calls ORDER BY 1")}

    # -- reset ------------------------------------------------------------------------------

    def reset(self, now: float, *, directory: bool = True) -> None:
        """Forget flux, invoices, attachments, tokens and counters; keep the credentials."""
        with self.transaction() as db:
            for table in (
                "history",
                "attachments",
                "invoices",
                "flux",
                "deposits",
                "calls",
                "tokens",
            ):
                db.execute(f"DELETE FROM {table}")
            if directory:
                db.execute("DELETE FROM services")
                # structures a technical account belongs to stay, the seed overwrites its own
                db.execute(
                    "DELETE FROM structures WHERE id NOT IN (SELECT structure_id FROM accounts)"
                )
                self._seed_directory(db, now)

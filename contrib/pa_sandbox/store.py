"""The sandbox's state in one SQLite file: clients, tokens, flows, lifecycles and counters."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import uuid
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, client_secret TEXT NOT NULL, siren TEXT NOT NULL,
    name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS flows (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, flow_id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
    direction TEXT NOT NULL, flow_type TEXT NOT NULL, syntax TEXT NOT NULL, profile TEXT,
    processing_rule TEXT NOT NULL, rule_source TEXT NOT NULL, tracking_id TEXT, name TEXT,
    sha256 TEXT NOT NULL, declared_sha256 TEXT, content BLOB NOT NULL,
    submitted_at REAL NOT NULL, updated_at REAL NOT NULL UNIQUE, ack_status TEXT NOT NULL,
    ack_details TEXT, sender TEXT, recipient TEXT, invoice_number TEXT, about TEXT,
    invoice_date TEXT, recipient_name TEXT);
CREATE INDEX IF NOT EXISTS flows_owner ON flows (owner, updated_at);
CREATE TABLE IF NOT EXISTS lifecycle (
    id INTEGER PRIMARY KEY AUTOINCREMENT, flow_id TEXT NOT NULL REFERENCES flows(flow_id),
    code TEXT NOT NULL, reason TEXT, at REAL NOT NULL, source TEXT NOT NULL,
    cdar_flow_id TEXT);
CREATE TABLE IF NOT EXISTS deposits (tracking_id TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS calls (operation TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL UNIQUE, secret TEXT NOT NULL);
"""

#: The demo clients: the gateway's two demo booksellers (SIREN of their SIRET).
DEMO_CLIENTS = (
    ("812345676", "Librairie des Quais"),
    ("793456120", "Librairie La Page Blanche"),
)

#: The counters' tables and what each counts by.
COUNTED = {"deposits": "tracking_id", "calls": "operation"}
#: One millisecond: flows' update times are kept distinct, `updatedAfter` pages on them.
TICK = 0.001


class Store:
    """One connection shared by the server's threads, behind a lock."""

    def __init__(self, path: str) -> None:
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        if not self.db.execute("SELECT 1 FROM clients").fetchone():
            for siren, name in DEMO_CLIENTS:
                self.db.execute(
                    "INSERT INTO clients VALUES (?, ?, ?, ?)",
                    (f"pa-{siren}", secrets.token_urlsafe(24), siren, name),
                )
        self._add_columns("flows", ("invoice_date", "recipient_name"))
        last = self.db.execute("SELECT MAX(updated_at) FROM flows").fetchone()[0]
        self._last_update = last or 0.0

    def _rows(self, sql: str, values: Any = ()) -> list[dict]:
        """Read under the lock: the server's threads share one connection."""
        with self.lock:
            return [dict(row) for row in self.db.execute(sql, values).fetchall()]

    def _row(self, sql: str, values: Any = ()) -> dict | None:
        rows = self._rows(sql, values)
        return rows[0] if rows else None

    def _add_columns(self, table: str, columns: tuple[str, ...]) -> None:
        """Bring a state file written by an earlier version up to date."""
        have = {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")

    # -- clients and tokens ----------------------------------------------------------------------

    def clients(self) -> list[dict]:
        return self._rows("SELECT * FROM clients ORDER BY rowid")

    def client(self, client_id: str) -> dict | None:
        return self._row("SELECT * FROM clients WHERE client_id = ?", (client_id,))

    def issue_token(self, client_id: str, expires_at: float) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token, client_id, expires_at))
        return token

    def token(self, token: str) -> dict | None:
        return self._row("SELECT * FROM tokens WHERE token = ?", (token,))

    def expire_tokens(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM tokens")

    # -- flows -----------------------------------------------------------------------------------

    def _stamp(self, now: float) -> float:
        """A distinct, increasing update time at (or just after) ``now``, in whole
        milliseconds: the API shows milliseconds, and `updatedAfter` compares on them."""
        self._last_update = round(max(now, self._last_update + TICK), 3)
        return self._last_update

    def add_flow(self, now: float, **flow: Any) -> dict:
        """Record a new flow; its id, times and `Pending` acknowledgement are set here."""
        with self.lock:
            flow.setdefault("ack_status", "Pending")
            stamp = self._stamp(now)
            flow.update(flow_id=str(uuid.uuid4()), submitted_at=stamp, updated_at=stamp)
            columns = ", ".join(flow)
            marks = ", ".join("?" for _ in flow)
            self.db.execute(f"INSERT INTO flows ({columns}) VALUES ({marks})", [*flow.values()])
            return self.flow(flow["flow_id"])

    def flow(self, flow_id: str) -> dict | None:
        return self._row("SELECT * FROM flows WHERE flow_id = ?", (flow_id,))

    def find_flows(self, **where: Any) -> list[dict]:
        clauses = " AND ".join(f"{key} = ?" for key in where) or "1"
        return self._rows(f"SELECT * FROM flows WHERE {clauses} ORDER BY seq", [*where.values()])

    def search_flows(self, owner: str, filters: dict[str, Any], limit: int) -> list[dict]:
        """Flows seen by ``owner`` matching the (already checked) filters, oldest update first."""
        clauses, values = ["owner = ?"], [owner]
        # half a tick of slack: the given time is a shown one, rounded to the millisecond
        if "updatedAfter" in filters:
            clauses.append("updated_at > ?")
            values.append(filters["updatedAfter"] + TICK / 2)
        if "updatedBefore" in filters:
            clauses.append("updated_at < ?")
            values.append(filters["updatedBefore"] - TICK / 2)
        for key, column in (
            ("processingRule", "processing_rule"),
            ("flowType", "flow_type"),
            ("flowDirection", "direction"),
        ):
            if filters.get(key):
                clauses.append(f"{column} IN ({', '.join('?' for _ in filters[key])})")
                values.extend(filters[key])
        for key, column in (("trackingId", "tracking_id"), ("ackStatus", "ack_status")):
            if key in filters:
                clauses.append(f"{column} = ?")
                values.append(filters[key])
        sql = f"SELECT * FROM flows WHERE {' AND '.join(clauses)} ORDER BY updated_at LIMIT ?"
        return self._rows(sql, [*values, limit])

    def update_flow(self, flow_id: str, now: float, **changes: Any) -> None:
        """Change a flow; its update time moves (the search pages on it)."""
        with self.lock:
            changes["updated_at"] = self._stamp(now)
            sets = ", ".join(f"{key} = ?" for key in changes)
            self.db.execute(
                f"UPDATE flows SET {sets} WHERE flow_id = ?", [*changes.values(), flow_id]
            )

    def pending(self, before: float | None = None) -> list[dict]:
        sql = "SELECT * FROM flows WHERE ack_status = 'Pending'"
        values: list[Any] = []
        if before is not None:
            sql += " AND submitted_at <= ?"
            values.append(before)
        return self._rows(sql + " ORDER BY seq", values)

    # -- lifecycle -------------------------------------------------------------------------------

    def add_status(self, flow_id: str, code: str, at: float, source: str, **more: Any) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO lifecycle (flow_id, code, reason, at, source, cdar_flow_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (flow_id, code, more.get("reason"), at, source, more.get("cdar_flow_id")),
            )

    def lifecycle(self, flow_id: str, source: str | None = None) -> list[dict]:
        sql, values = "SELECT * FROM lifecycle WHERE flow_id = ?", [flow_id]
        if source is not None:
            sql += " AND source = ?"
            values.append(source)
        return self._rows(sql + " ORDER BY id", values)

    # -- counters and webhooks -------------------------------------------------------------------

    def count(self, table: str, key: str) -> None:
        """One more deposit (``deposits``, per trackingId) or call (``calls``, per operation)."""
        column = COUNTED[table]
        with self.lock:
            self.db.execute(
                f"INSERT INTO {table} VALUES (?, 1) "
                f"ON CONFLICT ({column}) DO UPDATE SET count = count + 1",
                (key,),
            )

    def counters(self, table: str) -> dict[str, int]:
        column = COUNTED[table]
        return {row[column]: row["count"] for row in self._rows(f"SELECT * FROM {table}")}

    def add_webhook(self, url: str, secret: str) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO webhooks (url, secret) VALUES (?, ?) "
                "ON CONFLICT (url) DO UPDATE SET secret = excluded.secret",
                (url, secret),
            )

    def clear_webhooks(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM webhooks")

    def webhooks(self) -> list[dict]:
        return self._rows("SELECT * FROM webhooks")

    def reset(self) -> None:
        """Forget flows, lifecycles, counters and webhooks (clients and tokens stay)."""
        with self.lock:
            self.db.executescript(
                "DELETE FROM lifecycle; DELETE FROM flows; DELETE FROM deposits; "
                "DELETE FROM calls; DELETE FROM webhooks;"
            )

    def close(self) -> None:
        self.db.close()

"""The sandbox's state in one SQLite file: subscribers, deposits and their history."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deposits (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, login TEXT NOT NULL,
    siret TEXT NOT NULL, numero TEXT NOT NULL, client_ref TEXT NOT NULL, syntax TEXT NOT NULL,
    file_name TEXT NOT NULL, content BLOB NOT NULL, sha256 TEXT NOT NULL,
    received_at REAL NOT NULL, status TEXT NOT NULL, status_at REAL NOT NULL,
    flux TEXT, refusal_code TEXT, refusal TEXT,
    UNIQUE (siret, numero), UNIQUE (login, client_ref));
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, deposit_id TEXT NOT NULL REFERENCES deposits(id),
    status TEXT NOT NULL, at REAL NOT NULL, comment TEXT, flux TEXT, reason_code TEXT,
    reason TEXT);
CREATE TABLE IF NOT EXISTS calls (operation TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""

#: The demo subscribers: the gateway's two demo booksellers.
DEMO_SUBSCRIBERS = (
    ("81234567600017", "Librairie des Quais"),
    ("79345612000013", "Librairie La Page Blanche"),
)


class Store:
    """One connection shared by the server's threads, behind a lock."""

    def __init__(self, path: str) -> None:
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        if self.meta("subscribers") is None:
            subscribers = [
                {
                    "login": f"DLF-{siret[:9]}",
                    "password": secrets.token_urlsafe(18),
                    "siret": siret,
                    "name": name,
                    "subscription_end": "2027-12-31",
                }
                for siret, name in DEMO_SUBSCRIBERS
            ]
            self.db.execute(
                "INSERT INTO meta VALUES ('subscribers', ?)", (json.dumps(subscribers),)
            )

    def meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else None

    def subscribers(self) -> list[dict]:
        return self.meta("subscribers")

    def subscriber(self, login: str) -> dict | None:
        return next((s for s in self.subscribers() if s["login"] == login), None)

    def count_call(self, operation: str) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO calls VALUES (?, 1) "
                "ON CONFLICT (operation) DO UPDATE SET count = count + 1",
                (operation,),
            )

    def calls(self) -> dict[str, int]:
        rows = self.db.execute("SELECT operation, count FROM calls").fetchall()
        return {row["operation"]: row["count"] for row in rows}

    def insert_deposit(self, deposit: dict, comment: str) -> None:
        with self.lock:
            columns = ", ".join(deposit)
            marks = ", ".join("?" for _ in deposit)
            self.db.execute("BEGIN")
            self.db.execute(
                f"INSERT INTO deposits ({columns}) VALUES ({marks})", [*deposit.values()]
            )
            self._step(deposit["id"], deposit["status"], deposit["status_at"], comment)
            self.db.execute("COMMIT")

    def deposit(self, **where: str) -> dict | None:
        found = self.deposits(**where)
        return found[0] if found else None

    def deposits(self, since: float | None = None, **where: str) -> list[dict]:
        clauses = [f"{key} = ?" for key in where]
        values: list[Any] = list(where.values())
        if since is not None:
            clauses.append("status_at >= ?")
            values.append(since)
        sql = "SELECT * FROM deposits" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        with self.lock:
            rows = self.db.execute(sql + " ORDER BY seq", values).fetchall()
        return [dict(row) for row in rows]

    def history(self, deposit_id: str) -> list[dict]:
        with self.lock:
            rows = self.db.execute(
                "SELECT * FROM history WHERE deposit_id = ? ORDER BY id", (deposit_id,)
            ).fetchall()
        return [dict(row) for row in rows]

    def move(self, deposit_id: str, status: str, at: float, **step: str | None) -> None:
        """Give a deposit its new status, one more step of its history."""
        with self.lock:
            self.db.execute("BEGIN")
            self.db.execute(
                "UPDATE deposits SET status = ?, status_at = ?, flux = COALESCE(?, flux) "
                "WHERE id = ?",
                (status, at, step.get("flux"), deposit_id),
            )
            self._step(deposit_id, status, at, **step)
            self.db.execute("COMMIT")

    def _step(self, deposit_id: str, status: str, at: float, comment=None, flux=None,
              reason_code=None, reason=None) -> None:  # fmt: skip
        self.db.execute(
            "INSERT INTO history (deposit_id, status, at, comment, flux, reason_code, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (deposit_id, status, at, comment, flux, reason_code, reason),
        )

    def reset(self) -> None:
        with self.lock:
            self.db.executescript("DELETE FROM history; DELETE FROM deposits; DELETE FROM calls;")

    def close(self) -> None:
        self.db.close()

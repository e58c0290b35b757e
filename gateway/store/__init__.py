"""The store: every table the gateway keeps, behind one class, on SQLite or PostgreSQL.

SQLite (WAL, one writer at a time) serves one machine; PostgreSQL serves several API
nodes and workers, which claim outbox rows with ``SELECT … FOR UPDATE SKIP LOCKED``.
Methods that take a ``conn`` run inside the caller's transaction (``store.begin()``), so
that an invoice, its history, its documents, its event and its idempotency record are
written together or not at all.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from gateway import archive
from gateway.outbox import OutboxEntry
from gateway.store.tables import (
    HOLDS_NUMBER,
    NEEDS_ACTION,
    UTCDateTime,
    api_keys,
    archive_verifications,
    checkpoints,
    copy_deliveries,
    credit_note_sequences,
    customers,
    digests,
    directory_entries,
    documents,
    events,
    idempotency_keys,
    invoice_history,
    invoice_links,
    invoices,
    journal,
    journal_head,
    members,
    metadata,
    outlet_activity,
    print_batch_items,
    print_batches,
    reform_directory_entries,
    schedule,
    utcnow,
    web_sessions,
    webhook_deliveries,
    webhooks,
    workers,
)

#: The states of an idempotency key: claimed by a request being processed, then answered.
IDEMPOTENCY_IN_PROGRESS = "in_progress"
IDEMPOTENCY_DONE = "done"

__all__ = [
    "COPY_PARKED",
    "COPY_PENDING",
    "COPY_SENT",
    "DELIVERY_DELIVERED",
    "DELIVERY_PARKED",
    "DELIVERY_PENDING",
    "IDEMPOTENCY_DONE",
    "IDEMPOTENCY_IN_PROGRESS",
    "AlreadyExists",
    "Connection",
    "Store",
    "metadata",
    "utcnow",
]

#: The name of a document kept from an earlier version of its invoice.
VERSIONED = re.compile(r"v\d+-")
MIGRATIONS = Path(__file__).parent / "migrations"
#: The states of a webhook delivery: waiting to go out (again), taken, or given up on.
DELIVERY_PENDING = "pending"
DELIVERY_DELIVERED = "delivered"
DELIVERY_PARKED = "parked"

#: The states of an information copy: to send (once due), sent, or given up on.
COPY_PENDING = "pending"
COPY_SENT = "sent"
COPY_PARKED = "parked"

#: Execution option of the connections :meth:`Store.read` hands out.
READ_ONLY = "gateway_read_only"

#: What a listing shows of an invoice (gateway.views.invoice_summary): its columns but the
#: bulky JSON ones, and of its data the totals alone, taken out by the database: a page of
#: whole invoices is mostly JSON to read and parse.
SUMMARY = [
    *(c for c in invoices.c if c.name not in ("data", "outlet_state", "receipt_data", "route")),
    invoices.c.data["totals"].label("totals"),
]


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # Writers take the write lock at BEGIN: a read-then-write transaction can then never
    # fail half-way with "database is locked" (SQLite's single-writer rule). Readers
    # (``Store.read``) do not: in WAL mode they read the last commit without waiting.
    reading = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def create_engine(url: str) -> Engine:
    """Return an engine for ``url``; SQLite gets WAL, foreign keys and immediate writes."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy stop issuing its own BEGIN so that ours is the one used.
        sa.event.listen(
            engine, "connect", lambda dbapi_conn, rec: setattr(dbapi_conn, "isolation_level", None)
        )
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True)


class AlreadyExists(sa.exc.IntegrityError):
    """A row with the same unique key exists: another transaction wrote it first.

    Callers above the store catch this one by name, without speaking SQLAlchemy."""


@contextmanager
def _unique():
    """Turn a unique-key violation into :class:`AlreadyExists` (its transaction is lost)."""
    try:
        yield
    except sa.exc.IntegrityError as ex:
        # SQLite names the kind of constraint; PostgreSQL's SQLSTATE 23505 is unique_violation.
        kind = getattr(ex.orig, "sqlite_errorname", None) or getattr(ex.orig, "sqlstate", None)
        if kind in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY", "23505"):
            raise AlreadyExists(ex.statement, ex.params, ex.orig) from ex
        raise


def _lock_key(name: str) -> int:
    """Return a signed 64-bit advisory lock key for ``name``."""
    return int.from_bytes(
        hashlib.sha256(f"events:{name}".encode()).digest()[:8], "big", signed=True
    )


#: ``Connection.info`` key of the journal entries a transaction has yet to chain.
JOURNAL_PENDING = "journal_pending"


def _row(result) -> dict | None:
    row = result.mappings().first()
    return dict(row) if row else None


def _rows(result) -> list[dict]:
    return [dict(row) for row in result.mappings()]


class Store:
    def __init__(
        self,
        url: str,
        engine: Engine | None = None,
        blobs: archive.BlobStore | None = None,
        retention_years: int = 10,
    ):
        self.url = url
        self.engine = engine or create_engine(url)
        #: Where documents' bytes go (gateway.archive); None: in the documents table.
        self.blobs = blobs
        self.retention_years = retention_years

    def attach_archive(self, blobs: archive.BlobStore, retention_years: int) -> None:
        """Keep documents' bytes in ``blobs`` from now on, for ``retention_years``."""
        self.blobs = blobs
        self.retention_years = retention_years

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        alembic_config = AlembicConfig()
        alembic_config.set_main_option("script_location", str(MIGRATIONS))
        with self.migrating() as conn:
            alembic_config.attributes["connection"] = conn
            command.upgrade(alembic_config, "head")

    @contextmanager
    def migrating(self) -> Iterator[Connection]:
        """Yield a connection for Alembic, in a transaction.

        A batch migration on SQLite rebuilds a table others refer to (copy, drop, rename):
        SQLite's own procedure turns foreign keys off for that, which it can only do outside
        a transaction, and checks them before committing.
        """
        sqlite = self.dialect == "sqlite"
        with self.engine.connect() as conn:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    if self.dialect == "postgresql":  # nodes started together migrate in turn
                        conn.execute(
                            sa.text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _lock_key("schema.migration")},
                        )
                    yield conn
                    if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                        raise RuntimeError("the migration left rows referring to missing rows")
            finally:
                if sqlite:
                    conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; the journal entries it appended are chained last, before commit."""
        with self.engine.begin() as conn:
            conn.info[JOURNAL_PENDING] = []
            try:
                yield conn
                self._chain(conn, conn.info[JOURNAL_PENDING])
            finally:
                del conn.info[JOURNAL_PENDING]  # the pooled connection outlives the transaction

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn.execution_options(**{READ_ONLY: True})

    def ping(self) -> bool:
        with self.read() as conn:
            return conn.execute(sa.text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()

    # --- members and keys ---------------------------------------------------------------

    def insert_member(self, conn: Connection, **values) -> None:
        """Insert a member; :class:`AlreadyExists` when another holds its SIRET."""
        with _unique():
            conn.execute(members.insert().values(**values))

    def get_member(self, member_id: str) -> dict | None:
        with self.read() as conn:
            return _row(conn.execute(members.select().where(members.c.id == member_id)))

    def list_members(self) -> list[dict]:
        with self.read() as conn:
            return _rows(conn.execute(members.select().order_by(members.c.created_at)))

    def update_member(self, member_id: str, **values) -> bool:
        """Change a member; :class:`AlreadyExists` when another holds the SIRET given."""
        with self.begin() as conn, _unique():
            result = conn.execute(
                members.update().where(members.c.id == member_id).values(**values)
            )
            return result.rowcount == 1

    def insert_api_key(self, conn: Connection, **values) -> None:
        conn.execute(api_keys.insert().values(**values))
        self.append_journal(
            conn,
            "api_key.created",
            {
                "key_id": values["id"],
                "role": values["role"],
                "prefix": values["prefix"],
                "expires_at": archive.canonical_time(values["expires_at"])
                if values.get("expires_at")
                else None,
            },
            member_id=values.get("member_id"),
        )

    def find_api_key(self, key_hash: str) -> dict | None:
        with self.read() as conn:
            return _row(conn.execute(api_keys.select().where(api_keys.c.key_hash == key_hash)))

    def api_key_by_id(self, key_id: str) -> dict | None:
        with self.read() as conn:
            return _row(conn.execute(api_keys.select().where(api_keys.c.id == key_id)))

    def get_api_key(self, member_id: str, key_id: str) -> dict | None:
        """Return one of ``member_id``'s keys; None for another member's."""
        query = api_keys.select().where(
            (api_keys.c.id == key_id) & (api_keys.c.member_id == member_id)
        )
        with self.read() as conn:
            return _row(conn.execute(query))

    def list_api_keys(self, member_id: str) -> list[dict]:
        query = (
            api_keys.select()
            .where(api_keys.c.member_id == member_id)
            .order_by(api_keys.c.created_at, api_keys.c.id)
        )
        with self.read() as conn:
            return _rows(conn.execute(query))

    def revoke_api_key(self, conn: Connection, key_id: str, now: datetime) -> bool:
        """Revoke a key still valid; False when it was revoked already (by a concurrent
        request, for instance)."""
        result = conn.execute(
            api_keys.update()
            .where((api_keys.c.id == key_id) & api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if result.rowcount != 1:
            return False
        member_id = conn.execute(
            sa.select(api_keys.c.member_id).where(api_keys.c.id == key_id)
        ).scalar()
        self.append_journal(conn, "api_key.revoked", {"key_id": key_id}, member_id=member_id)
        return True

    def touch_api_key(self, key_id: str, now: datetime, unless_since: datetime) -> None:
        """Record that a key was used at ``now``, unless it was already at ``unless_since``
        or later (concurrent requests of one key then write once)."""
        with self.begin() as conn:
            conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id)
                .where(api_keys.c.last_used_at.is_(None) | (api_keys.c.last_used_at < unless_since))
                .values(last_used_at=now)
            )

    # --- web sessions ---------------------------------------------------------------------

    def member_by_siret(self, siret: str) -> dict | None:
        with self.read() as conn:
            return _row(conn.execute(members.select().where(members.c.siret == siret)))

    def insert_web_session(self, **values) -> None:
        with self.begin() as conn:
            conn.execute(web_sessions.insert().values(**values))

    def find_web_session(self, session_id: str, now: datetime) -> dict | None:
        """Return the session, unless it has expired."""
        query = web_sessions.select().where(
            (web_sessions.c.id == session_id) & (web_sessions.c.expires_at > now)
        )
        with self.read() as conn:
            return _row(conn.execute(query))

    def update_web_session(self, session_id: str, **values) -> None:
        with self.begin() as conn:
            conn.execute(
                web_sessions.update().where(web_sessions.c.id == session_id).values(**values)
            )

    def take_web_flash(self, session_id: str) -> str | None:
        """Return the session's one-time message and forget it."""
        with self.begin() as conn:
            flash = conn.execute(
                sa.select(web_sessions.c.flash).where(web_sessions.c.id == session_id)
            ).scalar()
            if flash is not None:
                conn.execute(
                    web_sessions.update().where(web_sessions.c.id == session_id).values(flash=None)
                )
            return flash

    def delete_web_sessions(
        self,
        *,
        session_id: str | None = None,
        before: datetime | None = None,
        member_id: str | None = None,
    ) -> int:
        """Forget one session, those expired ``before``, or a member's."""
        if session_id is None and before is None and member_id is None:
            raise ValueError("delete_web_sessions needs a filter")
        query = web_sessions.delete()
        if session_id is not None:
            query = query.where(web_sessions.c.id == session_id)
        if before is not None:
            query = query.where(web_sessions.c.expires_at <= before)
        if member_id is not None:
            query = query.where(web_sessions.c.member_id == member_id)
        with self.begin() as conn:
            return conn.execute(query).rowcount

    # --- customers ------------------------------------------------------------------------

    def _upsert(
        self, conn: Connection, table: sa.Table, key: dict, created: dict, values: dict
    ) -> None:
        """Insert a row, or update ``values`` in the one with the same primary key, even one
        another transaction inserts meanwhile (a select-then-insert would fail on it)."""
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)
        statement = insert.values(**key, **created, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=values))

    def upsert_customer(self, member_id: str, siret: str, **values) -> tuple[dict, bool]:
        """Create or replace a customer; return it and whether it was created."""
        now = utcnow()
        key = (customers.c.member_id == member_id) & (customers.c.siret == siret)
        with self.begin() as conn:
            existing = _row(conn.execute(customers.select().where(key)))
            self._upsert(
                conn,
                customers,
                {"member_id": member_id, "siret": siret},
                {"created_at": now},
                {"updated_at": now, **values},
            )
            return _row(conn.execute(customers.select().where(key))), existing is None

    def get_customer(
        self, member_id: str, siret: str, conn: Connection | None = None
    ) -> dict | None:
        query = customers.select().where(
            (customers.c.member_id == member_id) & (customers.c.siret == siret)
        )
        if conn is not None:
            return _row(conn.execute(query))
        with self.read() as own:
            return _row(own.execute(query))

    def list_customers(self, member_id: str) -> list[dict]:
        with self.read() as conn:
            return _rows(
                conn.execute(
                    customers.select()
                    .where(customers.c.member_id == member_id)
                    .order_by(customers.c.siret)
                )
            )

    # --- invoices ----------------------------------------------------------------------------

    def insert_invoice(self, conn: Connection, **values) -> int:
        """Insert an invoice; :class:`AlreadyExists` when its member used its number."""
        with _unique():
            return conn.execute(invoices.insert().values(**values)).inserted_primary_key[0]

    def invoice_number_taken(self, conn: Connection, member_id: str, number: str) -> bool:
        """Whether an invoice of ``member_id`` holds ``number``: any but one a later invoice
        replaced (REMPLACEE). Which refused invoices give their number up is the caller's
        rule (``lifecycle.holds_number``), applied with :meth:`invoices_numbered`."""
        return any(
            row["status"] != "REMPLACEE" for row in self.invoices_numbered(conn, member_id, number)
        )

    def invoices_numbered(self, conn: Connection, member_id: str, number: str) -> list[dict]:
        """Return the member's invoices of ``number``, oldest first (several only when
        earlier ones were replaced)."""
        query = (
            invoices.select()
            .where((invoices.c.member_id == member_id) & (invoices.c.number == number))
            .order_by(invoices.c.seq)
        )
        return _rows(conn.execute(query))

    def invoice_in(self, conn: Connection, seq: int) -> dict:
        """Return the invoice row of ``seq`` as the transaction ``conn`` sees it now."""
        return _row(conn.execute(invoices.select().where(invoices.c.seq == seq)))

    def mark_reached_buyer(self, conn: Connection, seq: int, at: datetime) -> None:
        """Record when a buyer first had the invoice; later statuses leave that date."""
        conn.execute(
            invoices.update()
            .where((invoices.c.seq == seq) & invoices.c.reached_buyer_at.is_(None))
            .values(reached_buyer_at=at)
        )

    def get_invoice(self, invoice_id: str, member_id: str | None = None) -> dict | None:
        """Return an invoice; with ``member_id``, only if it belongs to that member."""
        query = invoices.select().where(invoices.c.id == invoice_id)
        if member_id is not None:
            query = query.where(invoices.c.member_id == member_id)
        with self.read() as conn:
            return _row(conn.execute(query))

    def get_invoices(self, invoice_ids: list[str], member_id: str, batch: int = 500) -> list[dict]:
        """The member's invoices among ``invoice_ids`` (others' are left out), in no order."""
        found = []
        with self.read() as conn:
            for start in range(0, len(invoice_ids), batch):
                query = invoices.select().where(
                    invoices.c.id.in_(invoice_ids[start : start + batch])
                    & (invoices.c.member_id == member_id)
                )
                found += _rows(conn.execute(query))
        return found

    def lock_invoice(self, conn: Connection, invoice_id: str, member_id: str) -> dict | None:
        """Return the member's invoice, locked until ``conn`` commits (PostgreSQL; SQLite
        has one writer at a time)."""
        query = (
            invoices.select()
            .where((invoices.c.id == invoice_id) & (invoices.c.member_id == member_id))
            .with_for_update()
        )
        return _row(conn.execute(query))

    def invoices_costed(
        self, member_id: str, start: datetime, end: datetime, excluded: tuple[str, ...]
    ) -> list[dict]:
        """The member's invoices accepted in [start, end) whose status is not ``excluded``,
        with what their costs depend on (outlet, number of lines), oldest first."""
        columns = [
            invoices.c.id,
            invoices.c.number,
            invoices.c.outlet,
            invoices.c.channel,
            invoices.c.line_count,
            invoices.c.status,
            invoices.c.created_at,
        ]
        query = (
            sa.select(*columns)
            .where(invoices.c.member_id == member_id)
            .where(invoices.c.created_at >= start)
            .where(invoices.c.created_at < end)
            .where(invoices.c.status.not_in(excluded))
            .order_by(invoices.c.seq)
        )
        with self.engine.connect() as conn:
            return _rows(conn.execute(query))

    def list_invoices(
        self,
        member_id: str,
        *,
        status: list[str] | None = None,
        buyer_siret: str | None = None,
        since: datetime | None = None,
        after_seq: int | None = None,
        limit: int = 50,
        summary: bool = False,
    ) -> list[dict]:
        """Return the member's invoices, newest first, below ``after_seq`` (the previous
        page's last); ``summary``: the :data:`SUMMARY` columns only.

        The page's row numbers are found first, from an index alone, then its rows fetched:
        walking the primary key down and filtering by member (PostgreSQL's choice for a
        member with many invoices) reads every newer invoice of the others' first. Several
        statuses are each read down the (member_id, status, seq) index, ``limit`` at most,
        then merged: one sort of every invoice in any of them would read them all."""
        where = []
        if buyer_siret:
            where.append(invoices.c.buyer_siret == buyer_siret)
        if since:
            where.append(invoices.c.updated_at >= since)
        if after_seq:
            where.append(invoices.c.seq < after_seq)
        page = self._newest_seqs(member_id, status, limit, *where)
        query = (
            sa.select(*(SUMMARY if summary else [invoices]))
            .where(invoices.c.seq.in_(page))
            .order_by(invoices.c.seq.desc())
        )
        with self.read() as conn:
            return _rows(conn.execute(query))

    @staticmethod
    def _newest_seqs(member_id: str, status: list[str] | None, limit: int, *where) -> sa.Select:
        """The row numbers of the member's newest invoices meeting ``where`` (``limit`` at
        most): down the (member_id, seq) index, or each status down (member_id, status, seq)
        and merged."""

        def newest(*more) -> sa.Select:
            return (
                sa.select(invoices.c.seq)
                .where(invoices.c.member_id == member_id, *where, *more)
                .order_by(invoices.c.seq.desc())
                .limit(limit)
            )

        statuses = list(dict.fromkeys(status or ()))
        if len(statuses) <= 1:
            return newest(*(invoices.c.status == one for one in statuses))
        merged = sa.union_all(
            *(newest(invoices.c.status == one).subquery().select() for one in statuses)
        ).subquery()
        return sa.select(merged.c.seq).order_by(merged.c.seq.desc()).limit(limit)

    def invoice_holding(self, member_id: str, number: str) -> dict | None:
        """The member's invoice that holds ``number`` (:data:`SUMMARY` columns), or None: one
        probe of the unique index on (member_id, number)."""
        query = sa.select(*SUMMARY).where(
            invoices.c.member_id == member_id, invoices.c.number == number, HOLDS_NUMBER
        )
        with self.read() as conn:
            return _row(conn.execute(query))

    def search_invoices(
        self,
        member_id: str,
        *,
        scan: int,
        status: list[str] | None = None,
        after_seq: int | None = None,
        number_prefix: str | None = None,
        buyer_sirets: list[str] | None = None,
        payable: str | None = None,
        buyer_siret: str | None = None,
        since: datetime | None = None,
        needs_action: bool = False,
        limit: int = 50,
    ) -> tuple[list[dict], int, int | None]:
        """Search the member's ``scan`` newest invoices below ``after_seq`` (in ``status``):
        those matching any of ``number_prefix`` (case aside), ``buyer_sirets`` or
        ``payable`` (the total as the codec writes it, ``"97.65"``), and all of
        ``buyer_siret``, ``since``, ``needs_action``; newest first, ``limit`` at most
        (:data:`SUMMARY` columns).

        The window is read from an index alone and the filters look at its rows only, so a
        search costs ``scan`` rows at most however many invoices the member has (no index
        serves a total inside the JSON, nor a buyer with the newest first). Return the
        rows, how many invoices were looked at, and the lowest row number looked at when
        the window was full (older invoices remain to search), else None."""
        window = self._newest_seqs(
            member_id, status, scan, *([invoices.c.seq < after_seq] if after_seq else [])
        ).subquery()
        any_of = []
        if number_prefix:
            any_of.append(invoices.c.number.istartswith(number_prefix, autoescape=True))
        if buyer_sirets:
            any_of.append(invoices.c.buyer_siret.in_(buyer_sirets))
        if payable:
            any_of.append(invoices.c.data[("totals", "payable")].as_string() == payable)
        all_of = [invoices.c.seq.in_(sa.select(window.c.seq))]
        if any_of:
            all_of.append(sa.or_(*any_of))
        if buyer_siret:
            all_of.append(invoices.c.buyer_siret == buyer_siret)
        if since:
            all_of.append(invoices.c.updated_at >= since)
        if needs_action:
            all_of.append(NEEDS_ACTION)
        query = sa.select(*SUMMARY).where(*all_of).order_by(invoices.c.seq.desc()).limit(limit)
        extent = sa.select(sa.func.count(), sa.func.min(window.c.seq))
        with self.read() as conn:
            rows = _rows(conn.execute(query))
            examined, lowest = conn.execute(extent).one()
        return rows, examined, lowest if examined >= scan else None

    def count_by_status(self, member_id: str, statuses: list[str], cap: int) -> dict[str, int]:
        """How many of the member's invoices are in each of ``statuses``, and wait for the
        bookseller (``needs_action``), counted up to ``cap``: a range of an index each
        ((member_id, status, seq), ``ix_invoices_needing_action``), whatever the member's
        number of invoices."""

        def capped(*where) -> sa.Select:
            found = sa.select(invoices.c.seq).where(invoices.c.member_id == member_id, *where)
            return sa.select(sa.func.count()).select_from(found.limit(cap).subquery())

        counts = [capped(invoices.c.status == one).scalar_subquery() for one in statuses]
        counts.append(capped(NEEDS_ACTION).scalar_subquery())
        with self.read() as conn:
            found = conn.execute(sa.select(*counts)).one()
        return dict(zip([*statuses, "needs_action"], found, strict=True))

    def list_needing_action(
        self,
        member_id: str,
        *,
        buyer_siret: str | None = None,
        after: tuple[datetime, int] | None = None,
        limit: int = 50,
        summary: bool = False,
    ) -> list[dict]:
        """Return the member's invoices that wait for the bookseller
        (:func:`gateway.lifecycle.needs_bookseller`), the longest in their status first;
        ``after`` is the (updated_at, seq) the previous page ended on; ``summary``: the
        :data:`SUMMARY` columns only. The partial index ``ix_invoices_needing_action`` holds
        just those rows, in that order."""
        columns = SUMMARY if summary else [invoices]
        query = sa.select(*columns).where(invoices.c.member_id == member_id, NEEDS_ACTION)
        if buyer_siret:
            query = query.where(invoices.c.buyer_siret == buyer_siret)
        if after is not None:
            # A row value, which both databases match against the index as one range; a
            # plain tuple on the right takes the columns' types (UTC without a zone).
            query = query.where(sa.tuple_(invoices.c.updated_at, invoices.c.seq) > tuple(after))
        query = query.order_by(invoices.c.updated_at, invoices.c.seq).limit(limit)
        with self.read() as conn:
            return _rows(conn.execute(query))

    def ask_action(self, conn: Connection, seq: int, status: str, **values) -> bool:
        """Store an action on an invoice still in ``status`` with none pending; False when a
        concurrent request changed either first."""
        done = conn.execute(
            invoices.update()
            .where(invoices.c.seq == seq)
            .where(invoices.c.status == status)
            .where(invoices.c.action.is_(None))
            .values(**values)
        )
        return bool(done.rowcount)

    def update_invoice(self, conn: Connection, seq: int, **values) -> None:
        conn.execute(invoices.update().where(invoices.c.seq == seq).values(**values))

    def add_history(
        self,
        conn: Connection,
        seq: int,
        status: str,
        at: datetime,
        comment: str | None,
        platform_at: str | None = None,
    ) -> None:
        # Named only when given: the statement then holds before revision 0009_retries too
        # (migration tests write history at older revisions).
        extra = {"platform_at": platform_at} if platform_at else {}
        conn.execute(
            invoice_history.insert().values(
                invoice_seq=seq, status=status, at=at, comment=comment, **extra
            )
        )

    def history(self, seq: int) -> list[dict]:
        with self.read() as conn:
            return _rows(
                conn.execute(
                    invoice_history.select()
                    .where(invoice_history.c.invoice_seq == seq)
                    .order_by(invoice_history.c.id)
                )
            )

    def histories(self, seqs: list[int], batch: int = 500) -> dict[int, list[dict]]:
        """The histories of invoices ``seqs`` (as :meth:`history` gives each), a query per
        ``batch`` invoices."""
        found: dict[int, list[dict]] = {seq: [] for seq in seqs}
        with self.read() as conn:
            for start in range(0, len(seqs), batch):
                query = (
                    invoice_history.select()
                    .where(invoice_history.c.invoice_seq.in_(seqs[start : start + batch]))
                    .order_by(invoice_history.c.id)
                )
                for entry in _rows(conn.execute(query)):
                    found[entry["invoice_seq"]].append(entry)
        return found

    # --- documents -----------------------------------------------------------------------

    def keep_blobs(self, contents: list[bytes]) -> None:
        """Make documents' bytes durable before the transaction that archives them: its
        locks (the member's feed, SQLite's writer) are then not held across disk flushes
        (``add_document`` finds them stored). Bytes left by a transaction rolled back are
        harmless: no row names them."""
        if self.blobs is not None:
            for content in contents:
                self.blobs.put(content)

    def add_document(
        self,
        conn: Connection,
        seq: int,
        name: str,
        media_type: str,
        content: bytes,
        *,
        role: str | None = None,
        from_platform: bool = False,
    ) -> None:
        """Archive a document of invoice ``seq``: its bytes to the blob store (or this
        table, with no archive attached), its row here, and a journal entry."""
        now = utcnow()
        sha256 = hashlib.sha256(content).hexdigest()
        if self.blobs is not None:
            self.blobs.put(content)
        role = role or archive.role_of(name, from_platform=from_platform)
        conn.execute(
            documents.insert().values(
                invoice_seq=seq,
                name=name,
                media_type=media_type,
                size=len(content),
                sha256=sha256,
                content=None if self.blobs is not None else content,
                created_at=now,
                role=role,
                retention_until=archive.retention_of(now, self.retention_years),
            )
        )
        owner = conn.execute(
            sa.select(invoices.c.id, invoices.c.member_id).where(invoices.c.seq == seq)
        ).first()
        self.append_journal(
            conn,
            "document.archived",
            {
                "name": name,
                "role": role,
                "media_type": media_type,
                "sha256": sha256,
                "size": len(content),
            },
            member_id=owner.member_id,
            invoice_id=owner.id,
            at=now,
        )

    def version_documents(self, conn: Connection, seq: int, version: int) -> None:
        """Keep the documents of ``version`` under names of their own (``v1-facture.pdf``):
        those of the next version take the plain names, which are the ones sent. Only the
        name changes: bytes, hash, role and retention stay."""
        query = sa.select(documents.c.id, documents.c.name).where(documents.c.invoice_seq == seq)
        for document_id, name in conn.execute(query).all():
            if not VERSIONED.match(name):
                conn.execute(
                    documents.update()
                    .where(documents.c.id == document_id)
                    .values(name=f"v{version}-{name}")
                )

    def delete_document(self, conn: Connection, seq: int, name: str, now: datetime) -> bool:
        """Delete a document's row once its retention date has passed (its blob may be
        shared by others and stays); :class:`gateway.archive.ArchiveRetained` before."""
        row = conn.execute(
            sa.select(documents.c.id, documents.c.created_at, documents.c.retention_until).where(
                (documents.c.invoice_seq == seq) & (documents.c.name == name)
            )
        ).first()
        if row is None:
            return False
        until = row.retention_until or archive.retention_of(row.created_at, self.retention_years)
        if now < until:
            raise archive.ArchiveRetained(
                f"le document « {name} » est conservé jusqu'au {until.date().isoformat()}"
            )
        conn.execute(documents.delete().where(documents.c.id == row.id))
        return True

    def _with_content(self, row: dict | None) -> dict | None:
        if row is not None and row["content"] is None:
            if self.blobs is None:
                raise RuntimeError("no blob store attached to read the archive")
            try:
                row["content"] = self.blobs.get(row["sha256"])
            except KeyError as ex:
                raise archive.BlobMissing(row["sha256"]) from ex
        return row

    def list_documents(self, seq: int) -> list[dict]:
        columns = [c for c in documents.c if c.name != "content"]
        with self.read() as conn:
            return _rows(
                conn.execute(
                    sa.select(*columns)
                    .where(documents.c.invoice_seq == seq)
                    .order_by(documents.c.id)
                )
            )

    def get_document(self, seq: int, name: str) -> dict | None:
        with self.read() as conn:
            row = _row(
                conn.execute(
                    documents.select().where(
                        (documents.c.invoice_seq == seq) & (documents.c.name == name)
                    )
                )
            )
        return self._with_content(row)

    def documents_content(self, seq: int) -> list[dict]:
        with self.read() as conn:
            rows = _rows(
                conn.execute(
                    documents.select()
                    .where(documents.c.invoice_seq == seq)
                    .order_by(documents.c.id)
                )
            )
        return [self._with_content(row) for row in rows]

    def record_document_read(
        self, member_id: str, invoice_id: str, document: dict, reader: dict | None = None
    ) -> None:
        """Journal that a document was read (through the API) by ``reader``: the key's
        ``key_id`` and ``role``."""
        with self.begin() as conn:
            self.append_journal(
                conn,
                "document.read",
                {
                    "name": document["name"],
                    "sha256": document["sha256"],
                    "reader": (reader or {}).get("key_id"),
                    "role": (reader or {}).get("role"),
                },
                member_id=member_id,
                invoice_id=invoice_id,
            )

    def count_documents(self) -> int:
        with self.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(documents)).scalar()

    def iter_documents(self, batch: int = 2000) -> Iterator[dict]:
        """Yield every document row (with its invoice's id), by id, in batches."""
        query = sa.select(
            documents.c.id,
            documents.c.name,
            documents.c.sha256,
            documents.c.size,
            documents.c.content,
            invoices.c.id.label("invoice_id"),
        ).join(invoices, invoices.c.seq == documents.c.invoice_seq)
        yield from self._pages(query, documents.c.id, "id", 0, batch)

    def _pages(self, query, column, key: str, after, batch: int) -> Iterator[dict]:
        """Yield the rows of ``query`` by ``column`` after ``after``, ``batch`` at a time, each
        page read in its own short transaction (a long walk holds no snapshot)."""
        while True:
            with self.read() as conn:
                rows = _rows(
                    conn.execute(query.where(column > after).order_by(column).limit(batch))
                )
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1][key]

    # --- the archive's journal ------------------------------------------------------------------

    def append_journal(
        self,
        conn: Connection,
        kind: str,
        data: dict,
        *,
        member_id: str | None = None,
        invoice_id: str | None = None,
        at: datetime | None = None,
    ) -> dict:
        """Add an entry to the journal in ``conn``'s transaction (one of :meth:`begin`).

        It is chained when the transaction's other writes are done: the head row, which every
        writer locks (``FOR UPDATE`` on PostgreSQL; SQLite's writer holds the database), is
        then held for the chaining and the commit alone. The entry returned gets its ``seq``,
        ``prev_hash`` and ``hash`` then.
        """
        pending = conn.info.get(JOURNAL_PENDING)
        if pending is None:
            raise RuntimeError("journal entries are written in a transaction of Store.begin()")
        entry = {
            "at": at or utcnow(),
            "member_id": member_id,
            "kind": kind,
            "invoice_id": invoice_id,
            "data": json.loads(archive.canonical_json(data)),
        }
        pending.append(entry)
        return entry

    def _chain(self, conn: Connection, entries: list[dict]) -> None:
        """Number and chain ``entries`` after the journal's head, locked until commit."""
        if not entries:
            return
        query = sa.select(journal_head.c.seq, journal_head.c.hash).where(journal_head.c.id == 1)
        head = conn.execute(query.with_for_update()).first()
        if head is None:  # a schema made without the migration's first row
            conn.execute(journal_head.insert().values(id=1, seq=0, hash=archive.GENESIS))
            head = conn.execute(query.with_for_update()).first()
        seq, prev_hash = head.seq, head.hash
        for entry in entries:
            seq += 1
            entry.update(seq=seq, prev_hash=prev_hash)
            entry["hash"] = prev_hash = archive.row_hash(entry)
        conn.execute(journal.insert(), entries)
        conn.execute(
            journal_head.update().where(journal_head.c.id == 1).values(seq=seq, hash=prev_hash)
        )

    def record_verification(self, at: datetime, report: dict) -> None:
        """Keep the outcome of an ``archive verify`` run (its problems' list capped)."""
        kept = {**report, "problems": report["problems"][:20]}
        with self.begin() as conn:
            conn.execute(
                archive_verifications.insert().values(
                    at=at, clean=report["clean"], verdict=report["verdict"], report=kept
                )
            )

    def last_verification(self) -> dict | None:
        query = archive_verifications.select().order_by(archive_verifications.c.id.desc())
        with self.read() as conn:
            return _row(conn.execute(query.limit(1)))

    def journal_head(self) -> dict:
        with self.read() as conn:
            row = _row(conn.execute(journal_head.select().where(journal_head.c.id == 1)))
        return row or {"id": 1, "seq": 0, "hash": archive.GENESIS}

    def count_journal(self) -> int:
        with self.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar()

    def journal_rows(self, first: int, last: int) -> list[dict]:
        """Return the entries numbered ``first`` to ``last``, in order."""
        with self.read() as conn:
            return _rows(
                conn.execute(
                    journal.select()
                    .where((journal.c.seq >= first) & (journal.c.seq <= last))
                    .order_by(journal.c.seq)
                )
            )

    def invoice_journal(self, invoice_id: str) -> list[dict]:
        with self.read() as conn:
            return _rows(
                conn.execute(
                    journal.select()
                    .where(journal.c.invoice_id == invoice_id)
                    .order_by(journal.c.seq)
                )
            )

    def journal_hashes(self, seqs: Iterable[int]) -> dict[int, str]:
        """Return the hash of each entry numbered in ``seqs`` that exists, in one query."""
        wanted = sorted(set(seqs))
        if not wanted:
            return {}
        with self.read() as conn:
            query = sa.select(journal.c.seq, journal.c.hash).where(journal.c.seq.in_(wanted))
            return {seq: hash_ for seq, hash_ in conn.execute(query).all()}

    def iter_journal(
        self, batch: int = 5000, after: int = -1, until: int | None = None
    ) -> Iterator[dict]:
        """Yield every entry (numbered after ``after``, up to ``until``) in order, in batches."""
        query = journal.select()
        if until is not None:
            query = query.where(journal.c.seq <= until)
        yield from self._pages(query, journal.c.seq, "seq", after, batch)

    def add_checkpoint(self, key, at: datetime | None = None) -> dict:
        """Sign the journal's state now (its last entry) with ``key`` (Ed25519) and keep it."""
        with self.begin() as conn:
            head = conn.execute(
                sa.select(journal_head.c.seq, journal_head.c.hash)
                .where(journal_head.c.id == 1)
                .with_for_update()
            ).first()
            seq, hash_ = (head.seq, head.hash) if head else (0, archive.GENESIS)
            at = at or utcnow()
            checkpoint = {
                "seq": seq,
                "hash": hash_,
                "at": at,
                "signature": archive.sign_checkpoint(key, seq, hash_, at),
                "public_key": archive.public_key_hex(key),
            }
            checkpoint["id"] = conn.execute(
                checkpoints.insert().values(**checkpoint)
            ).inserted_primary_key[0]
        return checkpoint

    def latest_checkpoint(self, covering: int) -> dict | None:
        """Return the last checkpoint signed once the journal held entry ``covering``."""
        query = (
            checkpoints.select()
            .where(checkpoints.c.seq >= covering)
            .order_by(checkpoints.c.id.desc())
            .limit(1)
        )
        with self.read() as conn:
            return _row(conn.execute(query))

    def set_checkpoint_timestamp(self, checkpoint_id: int, token: bytes, at: datetime) -> bool:
        """Keep the time-stamp ``token`` (DER) of checkpoint ``checkpoint_id``, dated ``at``
        (its genTime); once: False when the checkpoint has one already or does not exist."""
        with self.begin() as conn:
            done = conn.execute(
                checkpoints.update()
                .where(checkpoints.c.id == checkpoint_id, checkpoints.c.timestamp_token.is_(None))
                .values(timestamp_token=token, timestamped_at=at)
            )
        return done.rowcount == 1

    def list_checkpoints(self) -> list[dict]:
        with self.read() as conn:
            return _rows(conn.execute(checkpoints.select().order_by(checkpoints.c.id)))

    def checkpoint_before(self, seq: int, public_key: str) -> dict | None:
        """Return the last checkpoint ``public_key`` signed of an entry before ``seq``."""
        query = (
            checkpoints.select()
            .where((checkpoints.c.seq < seq) & (checkpoints.c.public_key == public_key))
            .order_by(checkpoints.c.seq.desc(), checkpoints.c.id.desc())
            .limit(1)
        )
        with self.read() as conn:
            return _row(conn.execute(query))

    def checkpoints_between(self, first: int, last: int, public_key: str) -> list[dict]:
        """Return the checkpoints ``public_key`` signed of entries ``first`` to ``last``."""
        query = (
            checkpoints.select()
            .where(
                (checkpoints.c.seq >= first)
                & (checkpoints.c.seq <= last)
                & (checkpoints.c.public_key == public_key)
            )
            .order_by(checkpoints.c.seq, checkpoints.c.id)
        )
        with self.read() as conn:
            return _rows(conn.execute(query))

    # --- a member's year, for the export (gateway.export) ----------------------------------------

    @staticmethod
    def _issued_in(member_id: str, year: int):
        # The issue date (BT-2) as the codec stores it: ISO 8601, so text order is date order.
        issue_date = invoices.c.data["issue_date"].as_string()
        return (invoices.c.member_id == member_id) & issue_date.between(
            f"{year:04d}-01-01", f"{year:04d}-12-31"
        )

    def invoices_issued_in(self, member_id: str, year: int) -> list[dict]:
        """Return the member's invoices issued in ``year`` (issue date, BT-2), oldest first,
        with what the export's manifest shows of each."""
        query = sa.select(
            invoices.c.seq,
            invoices.c.id,
            invoices.c.number,
            invoices.c.status,
            invoices.c.buyer_siret,
            invoices.c.data["issue_date"].as_string().label("issue_date"),
            invoices.c.data[("buyer", "name")].as_string().label("buyer_name"),
            invoices.c.data[("totals", "tax_exclusive")].as_string().label("tax_exclusive"),
            invoices.c.data[("totals", "tax_inclusive")].as_string().label("tax_inclusive"),
        ).where(self._issued_in(member_id, year))
        with self.read() as conn:
            return _rows(conn.execute(query.order_by(invoices.c.seq)))

    def first_journal_seq_of_year(self, member_id: str, year: int) -> int | None:
        """Return the number of the first entry about an invoice of ``member_id`` issued in
        ``year``, None when there is none."""
        query = (
            sa.select(sa.func.min(journal.c.seq))
            .join(invoices, invoices.c.id == journal.c.invoice_id)
            .where(self._issued_in(member_id, year))
        )
        with self.read() as conn:
            return conn.execute(query).scalar()

    def documents_of(self, invoice_seqs: list[int], batch: int = 500) -> Iterator[dict]:
        """Yield the document rows (without their bytes) of invoices ``invoice_seqs``, by
        invoice then by id."""
        columns = [c for c in documents.c if c.name != "content"]
        has_content = documents.c.content.is_not(None).label("has_content")
        for start in range(0, len(invoice_seqs), batch):
            chunk = invoice_seqs[start : start + batch]
            with self.read() as conn:
                yield from _rows(
                    conn.execute(
                        sa.select(*columns, has_content)
                        .where(documents.c.invoice_seq.in_(chunk))
                        .order_by(documents.c.invoice_seq, documents.c.id)
                    )
                )

    def open_document(self, document: dict) -> BinaryIO:
        """Return the bytes of ``document`` (a row of :meth:`documents_of`) as a file."""
        if not document["has_content"]:
            return self.blobs.open(document["sha256"])
        return io.BytesIO(self.get_document(document["invoice_seq"], document["name"])["content"])

    # --- links between invoices and the credit-note sequence ------------------------------

    def add_link(self, conn: Connection, source_seq: int, rel: str, target_seq: int) -> None:
        conn.execute(
            invoice_links.insert().values(
                source_seq=source_seq, target_seq=target_seq, rel=rel, created_at=utcnow()
            )
        )

    def links(self, seq: int) -> list[dict]:
        """Return the links from and to invoice ``seq``, oldest first: ``rel``, ``outgoing``
        (False: read from the other end) and the other invoice's ``id``, ``number`` and
        ``status``."""
        other = invoices.alias("other")
        queries = [
            sa.select(
                invoice_links.c.id,
                invoice_links.c.rel,
                sa.literal(outgoing).label("outgoing"),
                other.c.id.label("invoice_id"),
                other.c.number,
                other.c.status,
            )
            .select_from(invoice_links.join(other, other.c.seq == far))
            .where(near == seq)
            for near, far, outgoing in (
                (invoice_links.c.source_seq, invoice_links.c.target_seq, True),
                (invoice_links.c.target_seq, invoice_links.c.source_seq, False),
            )
        ]
        with self.read() as conn:
            rows = _rows(conn.execute(sa.union_all(*queries)))
        return sorted(rows, key=lambda row: row["id"])

    def credit_note_seq(self, member_id: str, period: str) -> int:
        """Return the last number the member's credit-note sequence gave for ``period``."""
        query = sa.select(credit_note_sequences.c.last).where(
            (credit_note_sequences.c.member_id == member_id)
            & (credit_note_sequences.c.period == period)
        )
        with self.read() as conn:
            return conn.execute(query).scalar() or 0

    def next_credit_note_seq(self, conn: Connection, member_id: str, period: str) -> int:
        """Take the next number of the member's credit-note sequence for ``period``.

        The row stays locked until ``conn`` commits (a concurrent credit note waits), and a
        transaction that rolls back gives its number back: no gap, no reuse."""
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(
            credit_note_sequences
        )
        statement = (
            insert.values(member_id=member_id, period=period, last=1)
            .on_conflict_do_update(
                index_elements=["member_id", "period"],
                set_={"last": credit_note_sequences.c.last + 1},
            )
            .returning(credit_note_sequences.c.last)
        )
        return conn.execute(statement).scalar_one()

    # --- idempotency ------------------------------------------------------------------------

    def get_idempotent(
        self, member_id: str, key: str, conn: Connection | None = None
    ) -> dict | None:
        query = idempotency_keys.select().where(
            (idempotency_keys.c.member_id == member_id) & (idempotency_keys.c.key == key)
        )
        if conn is not None:
            return _row(conn.execute(query))
        with self.read() as own:
            return _row(own.execute(query))

    def claim_idempotent(
        self,
        member_id: str,
        key: str,
        request_hash: str,
        claim: str,
        now: datetime,
        until: datetime,
    ) -> dict | None:
        """Claim the member's ``key`` for the request ``claim`` until ``until``, committed at
        once so that concurrent requests see it. Return None when claimed (a new key, or a
        claim that lapsed before ``now``: its request died), else the record holding it."""
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(
            idempotency_keys
        )
        claimed = {
            "request_hash": request_hash,
            "state": IDEMPOTENCY_IN_PROGRESS,
            "claim": claim,
            "claimed_until": until,
            "created_at": now,
        }
        with self.begin() as conn:
            # RETURNING, since psycopg reports no row count for an insert that may do nothing.
            inserted = conn.execute(
                insert.values(member_id=member_id, key=key, **claimed)
                .on_conflict_do_nothing()
                .returning(idempotency_keys.c.key)
            ).first()
            if inserted is not None:
                return None
            lapsed = conn.execute(
                idempotency_keys.update()
                .where(
                    (idempotency_keys.c.member_id == member_id)
                    & (idempotency_keys.c.key == key)
                    & (idempotency_keys.c.state == IDEMPOTENCY_IN_PROGRESS)
                    & (idempotency_keys.c.claimed_until < now)
                )
                .values(**claimed)
            )
            if lapsed.rowcount:
                return None
            return self.get_idempotent(member_id, key, conn)

    def _claimed(self, member_id: str, key: str, claim: str):
        return (
            (idempotency_keys.c.member_id == member_id)
            & (idempotency_keys.c.key == key)
            & (idempotency_keys.c.state == IDEMPOTENCY_IN_PROGRESS)
            & (idempotency_keys.c.claim == claim)
        )

    def complete_idempotent(
        self, conn: Connection, member_id: str, key: str, claim: str, status_code: int, response
    ) -> bool:
        """Record the answer of the claim ``claim``, in ``conn``'s transaction; False when
        the claim is no longer held (it lapsed and another request took the key)."""
        done = conn.execute(
            idempotency_keys.update()
            .where(self._claimed(member_id, key, claim))
            .values(
                state=IDEMPOTENCY_DONE,
                claim=None,
                claimed_until=None,
                status_code=status_code,
                response=response,
            )
        )
        return bool(done.rowcount)

    def release_idempotent(self, member_id: str, key: str, claim: str) -> None:
        """Drop the claim ``claim`` of a request that ends without an answer to keep."""
        with self.begin() as conn:
            conn.execute(idempotency_keys.delete().where(self._claimed(member_id, key, claim)))

    def purge_idempotent(self, created_before: datetime, now: datetime) -> int:
        """Delete the idempotency records made before ``created_before``, except a claim
        still held at ``now`` (its request runs: its key must stay taken); return how many."""
        with self.begin() as conn:
            purged = conn.execute(
                idempotency_keys.delete().where(
                    (idempotency_keys.c.created_at < created_before)
                    & (
                        (idempotency_keys.c.state != IDEMPOTENCY_IN_PROGRESS)
                        | (idempotency_keys.c.claimed_until < now)
                    )
                )
            )
            return purged.rowcount

    # --- events ------------------------------------------------------------------------------

    def lock_feed(self, conn: Connection, member_id: str) -> None:
        """Be the only writer of ``member_id``'s events until ``conn`` commits.

        On PostgreSQL ids follow insertion but commits come in any order: a reader could
        see id 11 before id 10 commits and move its cursor past 10 for ever. One writer
        at a time keeps each member's feed in commit order. (SQLite has a single writer.)
        """
        if self.dialect == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(member_id)}
            )

    def add_event(
        self,
        conn: Connection,
        member_id: str,
        type_: str,
        data: dict,
        invoice_id: str | None = None,
    ) -> dict:
        """Append an event to the member's feed, numbered after the member's last one, and
        queue its delivery to each of the member's webhooks that takes its type."""
        self.lock_feed(conn, member_id)
        at = utcnow()
        last = conn.execute(
            sa.select(sa.func.max(events.c.member_seq)).where(events.c.member_id == member_id)
        ).scalar()
        event = {
            "member_id": member_id,
            "member_seq": (last or 0) + 1,
            "invoice_id": invoice_id,
            "type": type_,
            "data": data,
            "at": at,
        }
        event["seq"] = conn.execute(events.insert().values(**event)).inserted_primary_key[0]
        self.append_journal(conn, type_, data, member_id=member_id, invoice_id=invoice_id, at=at)
        for hook in self._webhooks(conn, member_id):
            if "*" in hook["events"] or type_ in hook["events"]:
                conn.execute(
                    webhook_deliveries.insert().values(
                        webhook_id=hook["id"],
                        event_seq=event["seq"],
                        invoice_id=invoice_id,
                        state=DELIVERY_PENDING,
                        created_at=at,
                    )
                )
        return event

    def list_events(self, member_id: str, after: int = 0, limit: int = 100) -> list[dict]:
        """Return the member's events numbered after ``after`` (its ``member_seq``)."""
        with self.read() as conn:
            return _rows(
                conn.execute(
                    events.select()
                    .where((events.c.member_id == member_id) & (events.c.member_seq > after))
                    .order_by(events.c.member_seq)
                    .limit(limit)
                )
            )

    # --- webhooks ----------------------------------------------------------------------------

    def insert_webhook(self, **values) -> None:
        with self.begin() as conn:
            conn.execute(webhooks.insert().values(**values))

    def update_webhook(self, webhook_id: str, **values) -> None:
        with self.begin() as conn:
            conn.execute(webhooks.update().where(webhooks.c.id == webhook_id).values(**values))

    def _webhooks(self, conn: Connection, member_id: str) -> list[dict]:
        query = (
            webhooks.select()
            .where(webhooks.c.member_id == member_id)
            .order_by(webhooks.c.created_at, webhooks.c.id)
        )
        return _rows(conn.execute(query))

    def list_webhooks(self, member_id: str) -> list[dict]:
        with self.read() as conn:
            return self._webhooks(conn, member_id)

    def get_webhook(self, member_id: str, webhook_id: str) -> dict | None:
        """Return one of ``member_id``'s webhooks; None for another member's."""
        query = webhooks.select().where(
            (webhooks.c.id == webhook_id) & (webhooks.c.member_id == member_id)
        )
        with self.read() as conn:
            return _row(conn.execute(query))

    def delete_webhook(self, member_id: str, webhook_id: str) -> bool:
        """Delete a webhook of ``member_id`` and its deliveries; False when it has none such."""
        with self.begin() as conn:
            owned = sa.select(webhooks.c.id).where(
                (webhooks.c.id == webhook_id) & (webhooks.c.member_id == member_id)
            )
            if conn.execute(owned.with_for_update()).first() is None:
                return False
            conn.execute(
                webhook_deliveries.delete().where(webhook_deliveries.c.webhook_id == webhook_id)
            )
            conn.execute(webhooks.delete().where(webhooks.c.id == webhook_id))
            return True

    def list_deliveries(
        self, webhook_id: str, state: str | None = None, limit: int = 100
    ) -> list[dict]:
        """Return a webhook's deliveries, newest first, with their event's feed number."""
        query = (
            sa.select(webhook_deliveries, events.c.member_seq, events.c.type)
            .join(events, events.c.seq == webhook_deliveries.c.event_seq)
            .where(webhook_deliveries.c.webhook_id == webhook_id)
            .order_by(webhook_deliveries.c.id.desc())
            .limit(limit)
        )
        if state is not None:
            query = query.where(webhook_deliveries.c.state == state)
        with self.read() as conn:
            return _rows(conn.execute(query))

    def redeliver(self, webhook_id: str, now: datetime) -> int:
        """Put a webhook's parked deliveries back in line, retried as long as new ones."""
        with self.begin() as conn:
            return conn.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.webhook_id == webhook_id)
                .where(webhook_deliveries.c.state == DELIVERY_PARKED)
                .values(
                    state=DELIVERY_PENDING,
                    attempts=0,
                    next_attempt_at=None,
                    retry_from=None,
                )
            ).rowcount

    def claim_deliveries(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[dict]:
        """Lease up to ``limit`` due deliveries, each with its webhook and its event.

        A delivery waits while an earlier event of the same invoice is still pending for
        the same webhook (leased or not): each invoice's events arrive in order.
        """
        earlier = webhook_deliveries.alias("earlier")
        blocked = sa.exists().where(
            (earlier.c.webhook_id == webhook_deliveries.c.webhook_id)
            & (earlier.c.invoice_id == webhook_deliveries.c.invoice_id)
            & (earlier.c.event_seq < webhook_deliveries.c.event_seq)
            & (earlier.c.state == DELIVERY_PENDING)
        )
        free = sa.or_(
            webhook_deliveries.c.lease_until.is_(None), webhook_deliveries.c.lease_until < now
        )
        query = (
            sa.select(webhook_deliveries.c.id)
            .where(webhook_deliveries.c.state == DELIVERY_PENDING)
            .where(
                webhook_deliveries.c.next_attempt_at.is_(None)
                | (webhook_deliveries.c.next_attempt_at <= now)
            )
            .where(free)
            .where(~blocked)
            .order_by(webhook_deliveries.c.event_seq, webhook_deliveries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=webhook_deliveries)
        )
        with self.begin() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            conn.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id.in_(ids))
                .values(lease_owner=owner, lease_until=now + lease)
            )
            rows = conn.execute(
                sa.select(
                    webhook_deliveries,
                    webhooks.c.url,
                    webhooks.c.secret_encrypted,
                    events.c.member_seq,
                    events.c.type,
                    events.c.data,
                    events.c.at,
                )
                .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
                .join(events, events.c.seq == webhook_deliveries.c.event_seq)
                .where(webhook_deliveries.c.id.in_(ids))
                .order_by(webhook_deliveries.c.event_seq)
            )
            return _rows(rows)

    def finish_delivery(self, delivery_id: int, owner: str, **values) -> bool:
        """Record a delivery's outcome while ``owner`` still leases it; False otherwise."""
        with self.begin() as conn:
            return bool(
                conn.execute(
                    webhook_deliveries.update()
                    .where(webhook_deliveries.c.id == delivery_id)
                    .where(webhook_deliveries.c.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None, **values)
                ).rowcount
            )

    def purge_deliveries(self, delivered_before: datetime) -> int:
        """Delete the deliveries delivered before ``delivered_before``; return how many."""
        with self.begin() as conn:
            return conn.execute(
                webhook_deliveries.delete()
                .where(webhook_deliveries.c.state == DELIVERY_DELIVERED)
                .where(webhook_deliveries.c.delivered_at < delivered_before)
            ).rowcount

    # --- the worker's schedule -------------------------------------------------------------

    def claim_job(
        self, job: str, owner: str, now: datetime, lease: timedelta, first_run: datetime
    ) -> bool:
        """Lease the periodic ``job`` when it is due (first due at ``first_run``) and no
        other worker holds it; return whether this one got it."""
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(schedule)
        with self.begin() as conn:
            conn.execute(insert.values(job=job, next_run_at=first_run).on_conflict_do_nothing())
            free = sa.or_(schedule.c.lease_until.is_(None), schedule.c.lease_until < now)
            due = conn.execute(
                sa.select(schedule.c.job)
                .where((schedule.c.job == job) & (schedule.c.next_run_at <= now) & free)
                .with_for_update(skip_locked=True)
            ).first()
            if due is None:
                return False
            conn.execute(
                schedule.update()
                .where(schedule.c.job == job)
                .values(lease_owner=owner, lease_until=now + lease)
            )
            return True

    def finish_job(self, job: str, owner: str, now: datetime, next_run_at: datetime) -> bool:
        """Release ``job`` run by ``owner``, due again at ``next_run_at``; False when the
        lease was lost meanwhile (another worker runs it)."""
        with self.begin() as conn:
            return bool(
                conn.execute(
                    schedule.update()
                    .where((schedule.c.job == job) & (schedule.c.lease_owner == owner))
                    .values(
                        next_run_at=next_run_at,
                        last_run_at=now,
                        lease_owner=None,
                        lease_until=None,
                    )
                ).rowcount
            )

    # --- digests ------------------------------------------------------------------------------

    def get_digest_mark(self, member_id: str, kind: str) -> dict | None:
        query = digests.select().where(
            (digests.c.member_id == member_id) & (digests.c.kind == kind)
        )
        with self.read() as conn:
            return _row(conn.execute(query))

    def set_digest_mark(
        self, member_id: str, kind: str, last_event_seq: int, sent_at: datetime
    ) -> None:
        with self.begin() as conn:
            self._upsert(
                conn,
                digests,
                {"member_id": member_id, "kind": kind},
                {},
                {"last_event_seq": last_event_seq, "sent_at": sent_at},
            )

    def count_invoices_by_status(self, member_id: str) -> dict[str, int]:
        query = (
            sa.select(invoices.c.status, sa.func.count())
            .where(invoices.c.member_id == member_id)
            .group_by(invoices.c.status)
        )
        with self.read() as conn:
            return {status: count for status, count in conn.execute(query)}

    def get_job(self, job: str) -> dict | None:
        with self.read() as conn:
            return _row(conn.execute(schedule.select().where(schedule.c.job == job)))

    def list_events_of_types(
        self, types: tuple[str, ...], after: int = 0, limit: int = 100, newest_first=False
    ) -> list[dict]:
        """Return every member's events of ``types`` after the cursor ``after`` (the admin's
        feed: its cursor is the global sequence, since it reads across members), oldest
        first, or the last ``limit`` of them newest first."""
        order = events.c.seq.desc() if newest_first else events.c.seq
        with self.read() as conn:
            return _rows(
                conn.execute(
                    events.select()
                    .where(events.c.type.in_(types) & (events.c.seq > after))
                    .order_by(order)
                    .limit(limit)
                )
            )

    # --- directory cache ---------------------------------------------------------------------

    def get_directory_entry(self, siret: str, reform: bool = False) -> dict | None:
        """The cached entry of ``siret`` in the Chorus Pro directory, or with ``reform`` in
        the 2026 reform's."""
        table = reform_directory_entries if reform else directory_entries
        with self.read() as conn:
            return _row(conn.execute(table.select().where(table.c.siret == siret)))

    def put_directory_entry(
        self, siret: str, data: dict | None, checked_at: datetime, reform: bool = False
    ) -> None:
        table = reform_directory_entries if reform else directory_entries
        with self.begin() as conn:
            self._upsert(
                conn,
                table,
                {"siret": siret},
                {},
                {"data": data, "checked_at": checked_at},
            )

    def claim_stale_directory_entry(self, older_than: datetime, now: datetime) -> dict | None:
        """Take one customer's entry checked before ``older_than`` for a refresh.

        The claim moves ``checked_at`` to ``now`` in the same statement, so that two workers
        never refresh the same entry.
        """
        customer_sirets = sa.select(customers.c.siret)
        with self.begin() as conn:
            row = _row(
                conn.execute(
                    directory_entries.select()
                    .where(directory_entries.c.checked_at < older_than)
                    .where(directory_entries.c.siret.in_(customer_sirets))
                    .order_by(directory_entries.c.checked_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            )
            if row is None:
                return None
            conn.execute(
                directory_entries.update()
                .where(directory_entries.c.siret == row["siret"])
                .values(checked_at=now)
            )
            return row

    def members_with_customer(self, siret: str) -> list[str]:
        with self.read() as conn:
            return list(
                conn.execute(
                    sa.select(customers.c.member_id).where(customers.c.siret == siret)
                ).scalars()
            )

    # --- outbox ------------------------------------------------------------------------------

    def claim_due(
        self,
        owner: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        statuses: tuple[str, ...] | None = None,
        due: str = "next_attempt_at",
    ) -> list[OutboxEntry]:
        """Lease up to ``limit`` invoices whose ``due`` time has come; no two owners get the
        same row. ``due`` is ``next_attempt_at`` (sending) or ``next_poll_at`` (following).

        PostgreSQL skips rows other workers hold locked; SQLite serialises writers
        (BEGIN IMMEDIATE). A lease that expires (its worker died) makes the row due again.
        """
        due_at = invoices.c[due]
        free = sa.or_(invoices.c.lease_until.is_(None), invoices.c.lease_until < now)
        query = (
            sa.select(invoices.c.seq)
            .where(due_at.is_not(None))
            .where(due_at <= now)
            .where(free)
            .order_by(due_at, invoices.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if statuses is not None:
            query = query.where(invoices.c.status.in_(statuses))
        with self.begin() as conn:
            seqs = list(conn.execute(query).scalars())
            if not seqs:
                return []
            conn.execute(
                invoices.update()
                .where(invoices.c.seq.in_(seqs))
                .values(lease_owner=owner, lease_until=now + lease)
            )
            rows = _rows(
                conn.execute(
                    invoices.select().where(invoices.c.seq.in_(seqs)).order_by(invoices.c.seq)
                )
            )
            return [OutboxEntry.from_row(row) for row in rows]

    @contextmanager
    def while_leased(self, seq: int, owner: str) -> Iterator[Connection | None]:
        """Open a transaction on an outbox row; yield its connection while ``owner`` still
        holds the lease (the row then stays locked until commit on PostgreSQL), None once
        another owner took the row over."""
        query = sa.select(invoices.c.lease_owner).where(invoices.c.seq == seq).with_for_update()
        with self.begin() as conn:
            yield conn if conn.execute(query).scalar() == owner else None

    def outlet_state(self, conn: Connection, seq: int) -> dict:
        """Return what the outlet keeps with the invoice now (it may have changed since the
        claim: ``SendContext.remember`` commits at once)."""
        query = sa.select(invoices.c.outlet_state).where(invoices.c.seq == seq)
        return conn.execute(query).scalar() or {}

    # --- information copies ------------------------------------------------------------------

    def add_copies(
        self, conn: Connection, member_id: str, seq: int, copies: list[dict], now: datetime
    ) -> None:
        """Queue the copies of invoice ``seq``, not due until the original leaves."""
        for copy in copies:
            conn.execute(
                copy_deliveries.insert().values(
                    member_id=member_id,
                    invoice_seq=seq,
                    channel=copy["channel"],
                    recipient=copy["to"],
                    label=copy.get("label"),
                    status=COPY_PENDING,
                    created_at=now,
                )
            )

    def copies_due(self, conn: Connection, seq: int, now: datetime) -> int:
        """Make the copies of invoice ``seq`` due now (its original left); return how many.
        Copies already due or done stay as they are: an original leaves once."""
        return conn.execute(
            copy_deliveries.update()
            .where(copy_deliveries.c.invoice_seq == seq)
            .where(copy_deliveries.c.status == COPY_PENDING)
            .where(copy_deliveries.c.next_attempt_at.is_(None))
            .values(next_attempt_at=now)
        ).rowcount

    def claim_copies(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[dict]:
        """Lease up to ``limit`` due copies, each with its invoice's id, number, channel,
        outlet and data; no two owners get the same one."""
        free = sa.or_(copy_deliveries.c.lease_until.is_(None), copy_deliveries.c.lease_until < now)
        query = (
            sa.select(copy_deliveries.c.id)
            .where(copy_deliveries.c.status == COPY_PENDING)
            .where(copy_deliveries.c.next_attempt_at <= now)
            .where(free)
            .order_by(copy_deliveries.c.next_attempt_at, copy_deliveries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.begin() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            conn.execute(
                copy_deliveries.update()
                .where(copy_deliveries.c.id.in_(ids))
                .values(lease_owner=owner, lease_until=now + lease)
            )
            rows = conn.execute(
                sa.select(
                    copy_deliveries,
                    invoices.c.id.label("invoice_id"),
                    invoices.c.number,
                    invoices.c.channel.label("invoice_channel"),
                    invoices.c.outlet,
                    invoices.c.data,
                )
                .join(invoices, invoices.c.seq == copy_deliveries.c.invoice_seq)
                .where(copy_deliveries.c.id.in_(ids))
                .order_by(copy_deliveries.c.id)
            )
            return _rows(rows)

    def finish_copy(
        self, copy_id: int, owner: str, event: tuple[str, dict] | None = None, **values
    ) -> bool:
        """Record a copy's outcome while ``owner`` still leases it, with ``event`` (type,
        data) in its member's feed; False when the lease was lost (nothing written)."""
        with self.begin() as conn:
            row = _row(
                conn.execute(
                    sa.select(copy_deliveries.c.member_id, invoices.c.id.label("invoice_id"))
                    .join(invoices, invoices.c.seq == copy_deliveries.c.invoice_seq)
                    .where(copy_deliveries.c.id == copy_id)
                    .where(copy_deliveries.c.lease_owner == owner)
                    .with_for_update(of=copy_deliveries)
                )
            )
            if row is None:
                return False
            conn.execute(
                copy_deliveries.update()
                .where(copy_deliveries.c.id == copy_id)
                .values(lease_owner=None, lease_until=None, **values)
            )
            if event is not None:
                self.add_event(conn, row["member_id"], *event, invoice_id=row["invoice_id"])
            return True

    def list_copies(self, seq: int) -> list[dict]:
        with self.read() as conn:
            return _rows(
                conn.execute(
                    copy_deliveries.select()
                    .where(copy_deliveries.c.invoice_seq == seq)
                    .order_by(copy_deliveries.c.id)
                )
            )

    def count_copies(self) -> dict[str, int]:
        """Return how many copies are pending (due or not yet) and parked, all members."""
        query = (
            sa.select(copy_deliveries.c.status, sa.func.count())
            .where(copy_deliveries.c.status.in_((COPY_PENDING, COPY_PARKED)))
            .group_by(copy_deliveries.c.status)
        )
        with self.read() as conn:
            counts = dict(conn.execute(query).all())
        return {status: counts.get(status, 0) for status in (COPY_PENDING, COPY_PARKED)}

    # --- operations: heartbeats, outlets' activity, the queue --------------------------------

    def beat(self, owner: str, host: str, pid: int, now: datetime) -> None:
        """Record that worker ``owner`` is alive at ``now``."""
        with self.begin() as conn:
            self._upsert(
                conn,
                workers,
                {"owner": owner},
                {"host": host, "pid": pid, "started_at": now},
                {"heartbeat_at": now},
            )

    def forget_workers(self, silent_since: datetime) -> int:
        """Delete the workers not heard of since ``silent_since`` (stopped long ago)."""
        with self.begin() as conn:
            return conn.execute(
                workers.delete().where(workers.c.heartbeat_at < silent_since)
            ).rowcount

    def list_workers(self) -> list[dict]:
        """Return the workers, the last heard of first."""
        with self.read() as conn:
            return _rows(conn.execute(workers.select().order_by(workers.c.heartbeat_at.desc())))

    def outlet_succeeded(self, conn: Connection, outlet: str, invoice_id: str, at: datetime):
        """Record, in ``conn``'s transaction, that an invoice left by ``outlet`` at ``at``."""
        self._upsert(
            conn,
            outlet_activity,
            {"outlet": outlet},
            {},
            {"last_success_at": at, "last_invoice_id": invoice_id},
        )

    def last_successes(self) -> dict[str, dict]:
        """Return, per outlet, when an invoice last left by it, and which."""
        with self.read() as conn:
            return {row["outlet"]: row for row in _rows(conn.execute(outlet_activity.select()))}

    def queue_by_outlet(
        self, outbox: tuple[str, ...], troubled: tuple[str, ...]
    ) -> dict[str, dict[str, int]]:
        """Return, per outlet, the invoices waiting to leave (``outbox`` statuses, a next
        attempt planned) and those in a ``troubled`` status."""
        waiting = sa.func.sum(
            sa.case(
                (invoices.c.status.in_(outbox) & invoices.c.next_attempt_at.is_not(None), 1),
                else_=0,
            )
        )
        troubles = sa.func.sum(sa.case((invoices.c.status.in_(troubled), 1), else_=0))
        query = (
            sa.select(invoices.c.outlet, waiting, troubles)
            .where(invoices.c.status.in_(outbox + troubled))
            .group_by(invoices.c.outlet)
        )
        with self.read() as conn:
            return {
                outlet: {"queue": int(queued or 0), "errors": int(errors or 0)}
                for outlet, queued, errors in conn.execute(query)
            }

    def queue_depth(self, outbox: tuple[str, ...], now: datetime) -> dict:
        """Return the outbox's invoices due now, those waiting for a later attempt, and when
        the oldest due one became due."""
        planned = invoices.c.next_attempt_at
        due = planned <= now
        query = sa.select(
            sa.func.sum(sa.case((due, 1), else_=0)),
            sa.func.sum(sa.case((due, 0), else_=1)),
            sa.type_coerce(sa.func.min(sa.case((due, planned), else_=None)), UTCDateTime()),
        ).where(invoices.c.status.in_(outbox) & planned.is_not(None))
        with self.read() as conn:
            due_count, waiting, oldest = conn.execute(query).one()
        return {"due": int(due_count or 0), "waiting": int(waiting or 0), "oldest_due_at": oldest}

    # --- the association's dashboard: volumes across members --------------------------------

    def invoice_counts_by_period(self, starts: list[datetime]) -> dict[tuple[int, str], int]:
        """Return how many invoices were received in each period and are now in each status:
        ``(period, status) → count``, a period being the index of its start in ``starts``
        (ascending; the last period runs to now). One grouped query, whatever the volume."""
        if not starts:
            return {}
        period = sa.case(
            *(
                (invoices.c.created_at >= start, index)
                for index, start in reversed(list(enumerate(starts)))
            ),
            else_=-1,
        ).label("period")
        query = (
            sa.select(period, invoices.c.status, sa.func.count())
            .where(invoices.c.created_at >= starts[0])
            .group_by(period, invoices.c.status)
        )
        with self.read() as conn:
            return {(index, status): count for index, status, count in conn.execute(query)}

    def invoice_counts_by_member(self, member_id: str | None = None) -> list[dict]:
        """Return, per member (or of ``member_id`` only) and status, how many invoices it
        holds and when it last sent one (``member_id``, ``status``, ``count``,
        ``last_at``): one grouped query."""
        query = sa.select(
            invoices.c.member_id,
            invoices.c.status,
            sa.func.count().label("count"),
            sa.type_coerce(sa.func.max(invoices.c.created_at), UTCDateTime()).label("last_at"),
        ).group_by(invoices.c.member_id, invoices.c.status)
        if member_id is not None:
            query = query.where(invoices.c.member_id == member_id)
        with self.read() as conn:
            return _rows(conn.execute(query))

    def given_up_invoices(self, status: str, limit: int) -> list[dict]:
        """Return the invoices in ``status`` the worker will not try again (no attempt nor
        action planned), with their member's name, the last given up first."""
        query = (
            sa.select(
                invoices.c.id,
                invoices.c.number,
                invoices.c.member_id,
                members.c.name.label("member"),
                invoices.c.outlet,
                invoices.c.attempts,
                invoices.c.last_error,
                invoices.c.updated_at,
            )
            .join(members, members.c.id == invoices.c.member_id)
            .where(
                (invoices.c.status == status)
                & invoices.c.next_attempt_at.is_(None)
                & invoices.c.action.is_(None)
            )
            .order_by(invoices.c.updated_at.desc(), invoices.c.seq.desc())
            .limit(limit)
        )
        with self.read() as conn:
            return _rows(conn.execute(query))

    def list_all_api_keys(self, limit: int) -> list[dict]:
        """Return every key, the admin's and the members' (with the member's name), the
        admin's first, then by member and age."""
        query = (
            sa.select(api_keys, members.c.name.label("member"))
            .outerjoin(members, members.c.id == api_keys.c.member_id)
            .order_by(
                api_keys.c.member_id.is_not(None),
                members.c.name,
                api_keys.c.created_at,
                api_keys.c.id,
            )
            .limit(limit)
        )
        with self.read() as conn:
            return _rows(conn.execute(query))

    # --- print batches (paper outlet) ---------------------------------------------------

    def add_to_print_batch(
        self, conn: Connection, member_id: str, day: str, seq: int, now: datetime
    ) -> None:
        """Put an invoice in the member's batch of ``day`` (created on its first invoice;
        an invoice already in a batch stays where it is)."""
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        conn.execute(
            insert(print_batches)
            .values(member_id=member_id, day=day, created_at=now)
            .on_conflict_do_nothing(index_elements=["member_id", "day"])
        )
        conn.execute(
            insert(print_batch_items)
            .values(invoice_seq=seq, member_id=member_id, day=day, added_at=now)
            .on_conflict_do_nothing(index_elements=["invoice_seq"])
        )

    def get_print_batch(self, member_id: str, day: str) -> dict | None:
        query = print_batches.select().where(
            (print_batches.c.member_id == member_id) & (print_batches.c.day == day)
        )
        with self.read() as conn:
            return _row(conn.execute(query))

    def print_batch_invoices(self, member_id: str, day: str) -> list[dict]:
        """Return the batch's invoice rows in the order they joined it, each with its
        item's ``item_fetched_at`` and ``item_confirmed_at``."""
        items = print_batch_items.c
        query = (
            sa.select(
                invoices,
                items.fetched_at.label("item_fetched_at"),
                items.confirmed_at.label("item_confirmed_at"),
            )
            .join(print_batch_items, items.invoice_seq == invoices.c.seq)
            .where((items.member_id == member_id) & (items.day == day))
            .order_by(items.added_at, items.invoice_seq)
        )
        with self.read() as conn:
            return _rows(conn.execute(query))

    def record_print_fetch(
        self, member_id: str, day: str, seqs: list[int], pages: int, now: datetime
    ) -> None:
        """Record that the batch's PDF was fetched now holding exactly ``seqs``."""
        items = print_batch_items.c
        batch = (items.member_id == member_id) & (items.day == day)
        with self.begin() as conn:
            conn.execute(
                print_batches.update()
                .where((print_batches.c.member_id == member_id) & (print_batches.c.day == day))
                .values(fetched_at=now, pages=pages)
            )
            conn.execute(print_batch_items.update().where(batch).values(fetched_at=None))
            if seqs:
                conn.execute(
                    print_batch_items.update()
                    .where(batch & items.invoice_seq.in_(seqs))
                    .values(fetched_at=now)
                )

    def confirm_print_batch(
        self, conn: Connection, member_id: str, day: str, seqs: list[int], now: datetime
    ) -> None:
        """Record that the bookseller printed the batch, ``seqs`` among it."""
        conn.execute(
            print_batches.update()
            .where((print_batches.c.member_id == member_id) & (print_batches.c.day == day))
            .values(confirmed_at=now)
        )
        if seqs:
            conn.execute(
                print_batch_items.update()
                .where(print_batch_items.c.invoice_seq.in_(seqs))
                .values(confirmed_at=now)
            )

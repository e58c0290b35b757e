"""The store's side of inbound invoices (gateway.inbound): rows, answers, receive cursors.

Kept apart from :class:`gateway.store.Store`, over which it runs: same transactions, same
blob store, same journal and events feed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from gateway import archive
from gateway.store import AlreadyExists, Connection, Store, _row, _rows, _unique
from gateway.store.tables import inbound_answers, inbound_cursors, inbound_invoices

#: The states of an answer: to send (again), sent, or given up on.
ANSWER_PENDING = "pending"
ANSWER_SENT = "sent"
ANSWER_FAILED = "failed"

#: What a listing shows of an inbound invoice: all but the bulky JSON columns.
SUMMARY = [c for c in inbound_invoices.c if c.name not in ("data", "platform_data")]


class InboundStore:
    def __init__(self, store: Store):
        self.store = store

    # --- receiving -------------------------------------------------------------------------

    def add(self, values: dict, content: bytes, event: Callable[[dict], dict]) -> dict | None:
        """Store a received flow: its bytes in the archive, its row, a journal entry and the
        event ``event(row)`` returns, together; None when the member already holds that
        flow (same outlet and reference)."""
        store = self.store
        now = values["created_at"]
        if store.blobs is not None:
            store.blobs.put(content)
        row = {
            **values,
            "retention_until": archive.retention_of(now, store.retention_years),
        }
        try:
            with _unique(), store.begin() as conn:
                row["seq"] = conn.execute(
                    inbound_invoices.insert().values(**row)
                ).inserted_primary_key[0]
                store.append_journal(
                    conn,
                    "inbound.archived",
                    {
                        "reference": row["reference"],
                        "outlet": row["outlet"],
                        "name": row["filename"],
                        "media_type": row["media_type"],
                        "sha256": row["sha256"],
                        "size": row["size"],
                    },
                    member_id=row["member_id"],
                    invoice_id=row["id"],
                    at=now,
                )
                kind = event(row)
                store.add_event(conn, row["member_id"], kind["type"], kind["data"])
        except AlreadyExists:
            return None
        return row

    def holds(self, member_id: str, outlet: str, reference: str) -> bool:
        with self.store.read() as conn:
            return (
                conn.execute(
                    sa.select(inbound_invoices.c.seq).where(
                        (inbound_invoices.c.member_id == member_id)
                        & (inbound_invoices.c.outlet == outlet)
                        & (inbound_invoices.c.reference == reference)
                    )
                ).first()
                is not None
            )

    def content(self, row: dict) -> bytes:
        if self.store.blobs is None:
            raise RuntimeError("no blob store attached to read the archive")
        try:
            return self.store.blobs.get(row["sha256"])
        except KeyError as ex:
            raise archive.BlobMissing(row["sha256"]) from ex

    def count_originals(self) -> int:
        with self.store.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(inbound_invoices)).scalar()

    def iter_originals(self, batch: int = 2000) -> Iterator[dict]:
        """Yield every received original as :meth:`Store.iter_documents` yields documents
        (its bytes always in the blob store), for ``archive verify``."""
        query = sa.select(
            inbound_invoices.c.seq,
            inbound_invoices.c.filename.label("name"),
            inbound_invoices.c.sha256,
            inbound_invoices.c.size,
            sa.null().label("content"),
            inbound_invoices.c.id.label("invoice_id"),
        )
        yield from self.store._pages(query, inbound_invoices.c.seq, "seq", 0, batch)

    def record_read(self, row: dict, reader: dict, what: str) -> None:
        """Journal that the original (or its PDF, ``what``) was read by ``reader``."""
        with self.store.begin() as conn:
            self.store.append_journal(
                conn,
                "inbound.read",
                {
                    "name": what,
                    "sha256": row["sha256"],
                    "reader": reader.get("key_id"),
                    "role": reader.get("role"),
                },
                member_id=row["member_id"],
                invoice_id=row["id"],
            )

    # --- reading ---------------------------------------------------------------------------

    def get(self, inbound_id: str, member_id: str | None) -> dict | None:
        query = inbound_invoices.select().where(inbound_invoices.c.id == inbound_id)
        if member_id is not None:
            query = query.where(inbound_invoices.c.member_id == member_id)
        with self.store.read() as conn:
            return _row(conn.execute(query))

    def list(
        self,
        member_id: str | None,
        *,
        status: list[str] | None,
        sender: str | None,
        received_after: datetime | None,
        received_before: datetime | None,
        number: str | None,
        after_seq: int | None,
        limit: int,
    ) -> list[dict]:
        """A page of inbound invoices, newest first (``seq`` below ``after_seq``)."""
        table = inbound_invoices.c
        query = sa.select(*SUMMARY).order_by(table.seq.desc()).limit(limit)
        if member_id is not None:
            query = query.where(table.member_id == member_id)
        if status:
            unanswered = "none" in status
            codes = [code for code in status if code != "none"]
            query = query.where(
                table.status.in_(codes) | (table.status.is_(None) if unanswered else sa.false())
            )
        if sender:
            column = table.sender_siren if len(sender) == 9 else table.sender_siret
            query = query.where(column == sender)
        if received_after is not None:
            query = query.where(table.received_at >= received_after)
        if received_before is not None:
            query = query.where(table.received_at < received_before)
        if number:
            query = query.where(table.number == number)
        if after_seq is not None:
            query = query.where(table.seq < after_seq)
        with self.store.read() as conn:
            return _rows(conn.execute(query))

    def answers(self, seq: int) -> list[dict]:
        with self.store.read() as conn:
            return _rows(
                conn.execute(
                    inbound_answers.select()
                    .where(inbound_answers.c.inbound_seq == seq)
                    .order_by(inbound_answers.c.id)
                )
            )

    # --- answering -------------------------------------------------------------------------

    def add_answer(
        self,
        inbound_id: str,
        member_id: str,
        check: Callable[[dict], None],
        values: dict,
        done: Callable[[Connection, dict], None] = lambda conn, answer: None,
    ) -> dict | None:
        """Record the member's status on an inbound invoice and queue its sending, once
        ``check(row)`` (the state machine, which raises) accepts it against the status held
        now (the row locked meanwhile); ``done(conn, answer)`` runs last in the same
        transaction (the idempotency record). None when there is no such invoice."""
        table = inbound_invoices
        with self.store.begin() as conn:
            row = _row(
                conn.execute(
                    table.select()
                    .where((table.c.id == inbound_id) & (table.c.member_id == member_id))
                    .with_for_update()
                )
            )
            if row is None:
                return None
            check(row)
            answer = {
                **values,
                "inbound_seq": row["seq"],
                "state": ANSWER_PENDING,
                "next_attempt_at": values["at"],
            }
            answer["id"] = conn.execute(
                inbound_answers.insert().values(**answer)
            ).inserted_primary_key[0]
            conn.execute(
                table.update()
                .where(table.c.seq == row["seq"])
                .values(status=values["status"], status_at=values["at"])
            )
            done(conn, answer)
            return answer

    def claim_answers(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[dict]:
        """Lease up to ``limit`` due answers, each with its invoice's member, outlet and
        reference. An answer waits while an earlier one of the same invoice is pending: the
        platform gets them in order."""
        earlier = inbound_answers.alias("earlier")
        blocked = sa.exists().where(
            (earlier.c.inbound_seq == inbound_answers.c.inbound_seq)
            & (earlier.c.id < inbound_answers.c.id)
            & (earlier.c.state == ANSWER_PENDING)
        )
        free = sa.or_(inbound_answers.c.lease_until.is_(None), inbound_answers.c.lease_until < now)
        query = (
            sa.select(inbound_answers.c.id)
            .where(inbound_answers.c.state == ANSWER_PENDING)
            .where(inbound_answers.c.next_attempt_at <= now)
            .where(free)
            .where(~blocked)
            .order_by(inbound_answers.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=inbound_answers)
        )
        with self.store.begin() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            conn.execute(
                inbound_answers.update()
                .where(inbound_answers.c.id.in_(ids))
                .values(lease_owner=owner, lease_until=now + lease)
            )
            return _rows(
                conn.execute(
                    sa.select(
                        inbound_answers,
                        inbound_invoices.c.id.label("inbound_id"),
                        inbound_invoices.c.member_id,
                        inbound_invoices.c.outlet,
                        inbound_invoices.c.reference,
                    )
                    .join(inbound_invoices, inbound_invoices.c.seq == inbound_answers.c.inbound_seq)
                    .where(inbound_answers.c.id.in_(ids))
                    .order_by(inbound_answers.c.id)
                )
            )

    def finish_answer(self, answer: dict, owner: str, event: dict | None, **values) -> bool:
        """Record an answer's outcome (and its event) while ``owner`` still leases it; False
        when another worker took it over."""
        with self.store.begin() as conn:
            done = conn.execute(
                inbound_answers.update()
                .where(
                    (inbound_answers.c.id == answer["id"])
                    & (inbound_answers.c.lease_owner == owner)
                )
                .values(lease_owner=None, lease_until=None, **values)
            ).rowcount
            if done and values.get("state") == ANSWER_FAILED:
                self._status_back(conn, answer["inbound_seq"])
            if done and event is not None:
                self.store.add_event(conn, answer["member_id"], event["type"], event["data"])
            return bool(done)

    def _status_back(self, conn: Connection, inbound_seq: int) -> None:
        """An answer the platform never got no longer holds the invoice: its status is the
        last one still standing (a refusal that failed may be sent again)."""
        standing = _row(
            conn.execute(
                sa.select(inbound_answers.c.status, inbound_answers.c.at)
                .where(
                    (inbound_answers.c.inbound_seq == inbound_seq)
                    & (inbound_answers.c.state != ANSWER_FAILED)
                )
                .order_by(inbound_answers.c.id.desc())
                .limit(1)
            )
        ) or {"status": None, "at": None}
        conn.execute(
            inbound_invoices.update()
            .where(inbound_invoices.c.seq == inbound_seq)
            .values(status=standing["status"], status_at=standing["at"])
        )

    # --- receive cursors -------------------------------------------------------------------

    def _upsert(self, conn: Connection, member_id: str, outlet: str, **values) -> None:
        insert = (postgresql.insert if self.store.dialect == "postgresql" else sqlite.insert)(
            inbound_cursors
        )
        statement = insert.values(member_id=member_id, outlet=outlet, **{"state": {}, **values})
        conn.execute(
            statement.on_conflict_do_update(index_elements=["member_id", "outlet"], set_=values)
        )

    def cursor(self, member_id: str, outlet: str) -> dict:
        with self.store.read() as conn:
            row = _row(
                conn.execute(
                    inbound_cursors.select().where(
                        (inbound_cursors.c.member_id == member_id)
                        & (inbound_cursors.c.outlet == outlet)
                    )
                )
            )
        return row or {"state": {}, "requested_at": None}

    def save_cursor(self, member_id: str, outlet: str, **values) -> None:
        with self.store.begin() as conn:
            self._upsert(conn, member_id, outlet, **values)

    def request_pull(self, member_id: str, outlet: str, now: datetime) -> None:
        self.save_cursor(member_id, outlet, requested_at=now)

    def pulls_requested(self, pulled_before: datetime) -> list[dict]:
        """The pulls a notification asked for, of cursors not pulled since ``pulled_before``
        (a platform, or whoever holds the token, cannot make the worker pull non-stop)."""
        cursors = inbound_cursors.c
        with self.store.read() as conn:
            return _rows(
                conn.execute(
                    sa.select(cursors.member_id, cursors.outlet).where(
                        cursors.requested_at.is_not(None)
                        & (cursors.pulled_at.is_(None) | (cursors.pulled_at <= pulled_before))
                    )
                )
            )

"""The database schema (SQLAlchemy Core), one for SQLite and PostgreSQL.

Changes go through an Alembic migration in ``migrations/versions`` as well.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """Store UTC without a zone (SQLite has none); always hand back aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


members = sa.Table(
    "members",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    # A SIRET is one member's: invoices in its name are refused to any other member.
    sa.Column("siret", sa.String(14), unique=True),
    sa.Column("email", sa.String(320)),
    sa.Column("settings_encrypted", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The web pages' sign-in by SIRET and password, set by the admin (gateway.auth, scrypt).
    sa.Column("password_hash", sa.String(200)),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id")),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("label", sa.String(100)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("last_used_at", UTCDateTime),  # at most a minute late: see auth.authenticate
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("siret", sa.String(14), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("copies", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

#: The statuses that wait for the bookseller (gateway.lifecycle.NEEDS_BOOKSELLER, which a
#: test checks they are; changing them takes a migration of the index below).
NEEDS_ACTION_STATUSES = (
    "A_RECYCLER",
    "SUSPENDUE",
    "REJETEE",
    "EN_ERREUR",
    "A_DEPOSER",
    "A_IMPRIMER",
)
#: gateway.lifecycle.needs_bookseller in SQL, with literal values: a partial index serves a
#: query only when the database sees that the query's condition implies the index's, which
#: SQLite cannot see through bound parameters.
NEEDS_ACTION = sa.text(
    f"status IN ({', '.join(repr(status) for status in NEEDS_ACTION_STATUSES)}) "
    "AND action IS NULL AND credited_at IS NULL"
)

#: The invoices that hold their number: all but those a later one replaced. Queries repeat
#: it word for word to use the unique index it qualifies.
HOLDS_NUMBER = sa.text("status <> 'REMPLACEE'")

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("number", sa.String(100), nullable=False),
    sa.Column("type", sa.String(30), nullable=False),
    sa.Column("buyer_siret", sa.String(14)),
    sa.Column("status", sa.String(60), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("outlet", sa.String(60), nullable=False),
    sa.Column("source_format", sa.String(40), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("warnings", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Outbox (gateway.outbox.OutboxEntry): the worker claims rows whose next_attempt_at (or
    # next_poll_at) is due and whose lease expired.
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("lease_owner", sa.String(80)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("outlet_state", sa.JSON),
    sa.Column("outlet_reference", sa.String(200)),
    sa.Column("receipt_data", sa.JSON),
    sa.Column("history_applied", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_poll_at", UTCDateTime),
    # A corrective action asked for (gateway.actions.PendingAction): carried out by the
    # worker when action_due_at comes, under the same lease as sending and polling.
    sa.Column("action", sa.String(20)),
    sa.Column("action_data", sa.JSON),
    sa.Column("action_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("action_due_at", UTCDateTime),
    # Since when the invoice waits for its platform (EN_ATTENTE_PLATEFORME); None otherwise.
    sa.Column("waiting_since", UTCDateTime),
    #: When a buyer first had the invoice (a buyer status reached, or printed): from then on
    #: it is corrected by a credit note only, and its number stays taken for good.
    sa.Column("reached_buyer_at", UTCDateTime),
    #: When a total credit note cancelled it: a second one is refused.
    sa.Column("credited_at", UTCDateTime),
    #: Corrections in place (``correct``): 1 for the document first received.
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    #: The route taken (gateway.routing.Route.as_dict()) and why; None before 0013.
    sa.Column("route", sa.JSON),
    #: What the invoice's costs depend on (GET /v1/costs).
    sa.Column("line_count", sa.Integer),
    sa.Index(None, "status", "next_attempt_at"),
    # The listings, newest first: all of a member's invoices, or those in one status (each
    # status of ``?status=A,B`` read on its own, then merged: see Store.list_invoices).
    sa.Index(None, "member_id", "seq"),
    sa.Index(None, "member_id", "status", "seq"),
    # What needs the bookseller, oldest first (GET /v1/invoices?needs_action=true): only
    # those rows, already in the listing's order.
    sa.Index(
        "ix_invoices_needing_action",
        "member_id",
        "updated_at",
        "seq",
        sqlite_where=NEEDS_ACTION,
        postgresql_where=NEEDS_ACTION,
    ),
    sa.Index(None, "action_due_at"),
    # One live invoice per number and member; one replaced by a later invoice of the same
    # number (its number released: see Store.invoice_number_taken) no longer counts.
    sa.Index(
        "uq_invoices_member_id_number",
        "member_id",
        "number",
        unique=True,
        sqlite_where=HOLDS_NUMBER,
        postgresql_where=HOLDS_NUMBER,
    ),
)

invoice_history = sa.Table(
    "invoice_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("invoice_seq", sa.Integer, sa.ForeignKey("invoices.seq"), nullable=False, index=True),
    sa.Column("status", sa.String(60), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("comment", sa.Text),
    # A platform step's time as the platform gave it (ISO 8601 with its offset, at its
    # precision); None for the gateway's own steps.
    sa.Column("platform_at", sa.String(40)),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("invoice_seq", sa.Integer, sa.ForeignKey("invoices.seq"), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("media_type", sa.String(100), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    #: The bytes, for documents stored before 0014_archive or by a store with no archive
    #: attached; None when they are in the archive's blob store (under ``sha256``).
    sa.Column("content", sa.LargeBinary, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    #: "original" (the legal original: the document transmitted), "received" (the bytes
    #: the bookseller's software sent), "rendered", "receipt" or "attachment".
    sa.Column("role", sa.String(20)),
    #: Neither the row nor its bytes may be changed or deleted before (gateway.archive).
    sa.Column("retention_until", UTCDateTime),
    sa.UniqueConstraint("invoice_seq", "name"),
    sa.Index(None, "sha256"),
)

#: The archive's journal (gateway.archive): append-only, each entry holding the hash of the
#: one before, numbered without gaps from 1.
journal = sa.Table(
    "journal",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("member_id", sa.String(40)),
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("invoice_id", sa.String(40)),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index(None, "invoice_id"),
)

#: One row (id 1): the journal's last entry. Writers lock it (``FOR UPDATE``) to append, so
#: that two transactions never both take the same next number and fork the chain.
journal_head = sa.Table(
    "journal_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

#: Signed statements of the journal's state at a time: its last entry's number and hash.
checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    #: Ed25519 signature (hex) of gateway.archive.checkpoint_message(seq, hash, at).
    sa.Column("signature", sa.String(128), nullable=False),
    #: The signer's public key (hex): which key to check it with, not a proof by itself.
    sa.Column("public_key", sa.String(64), nullable=False),
    #: The RFC 3161 time-stamp token (DER) of the same message, from ``[archive] tsa_url``;
    #: None when none is configured or the authority did not answer (gateway.timestamping).
    sa.Column("timestamp_token", sa.LargeBinary, nullable=True),
    #: The token's genTime: when the authority attests having seen the message.
    sa.Column("timestamped_at", UTCDateTime, nullable=True),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    #: "in_progress" while the request that claimed the key runs, then "done".
    sa.Column("state", sa.String(16), nullable=False, server_default="done"),
    #: The claiming request's token, and when its claim lapses (a request that died).
    sa.Column("claim", sa.String(40)),
    sa.Column("claimed_until", UTCDateTime),
    #: The answer, once done.
    sa.Column("status_code", sa.Integer),
    sa.Column("response", sa.JSON),
    sa.Column("created_at", UTCDateTime, nullable=False),
    #: The worker purges the records past their retention by it.
    sa.Index(None, "created_at"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), nullable=False),
    # The member's own sequence, the feed's cursor: no gaps for other members' events.
    # Events older than migration 0010 kept their global ``seq`` here (old cursors hold).
    sa.Column("member_seq", sa.Integer, nullable=False),
    sa.Column("invoice_id", sa.String(40)),
    sa.Column("type", sa.String(60), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index(None, "member_id", "seq"),
    sa.UniqueConstraint("member_id", "member_seq"),
)

directory_entries = sa.Table(
    "directory_entries",
    metadata,
    sa.Column("siret", sa.String(14), primary_key=True),
    sa.Column("data", sa.JSON),  # None: the directory does not know this SIRET
    sa.Column("checked_at", UTCDateTime, nullable=False),
)

#: The 2026 reform's directory (gateway.directory.ReformDirectoryEntry), by the buyer's
#: SIRET, cached as the Chorus Pro directory is (same columns, same TTL).
reform_directory_entries = sa.Table(
    "reform_directory_entries",
    metadata,
    sa.Column("siret", sa.String(14), primary_key=True),
    sa.Column("data", sa.JSON),  # None: the directory does not list this SIRET
    sa.Column("checked_at", UTCDateTime, nullable=False),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    #: Event types delivered, or ["*"] for all.
    sa.Column("events", sa.JSON, nullable=False),
    #: The signing secret, sealed by gateway.secretbox.
    sa.Column("secret_encrypted", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "member_id"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("webhook_id", sa.String(40), sa.ForeignKey("webhooks.id"), nullable=False),
    sa.Column("event_seq", sa.Integer, sa.ForeignKey("events.seq"), nullable=False),
    #: Deliveries of one invoice go out in event order (None: no order to keep).
    sa.Column("invoice_id", sa.String(40)),
    #: "pending", "delivered" or "parked" (retried for ``[webhooks] retry_for`` seconds
    #: from ``retry_from``, its first failure since creation or redelivery, then left).
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime),  # None: at once
    sa.Column("retry_from", UTCDateTime),
    sa.Column("lease_owner", sa.String(80)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime),
    sa.UniqueConstraint("webhook_id", "event_seq"),
    sa.Index(None, "state", "next_attempt_at"),
)

#: The worker's periodic jobs (directory refresh, digests): when each runs next, and which
#: worker holds it now, so that a restart loses none and two workers never run one twice.
schedule = sa.Table(
    "schedule",
    metadata,
    sa.Column("job", sa.String(120), primary_key=True),
    sa.Column("next_run_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(80)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("last_run_at", UTCDateTime),
)

#: Each member's last digest of each kind: the feed number it went up to (the next one
#: tells what changed since) and when it was sent (a job run again skips it).
digests = sa.Table(
    "digests",
    metadata,
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("last_event_seq", sa.Integer, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
)

#: Invoices made from one another: credit note of, reissue of, replacement of. One row a
#: relation, read both ways (``gateway.views``).
invoice_links = sa.Table(
    "invoice_links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_seq", sa.Integer, sa.ForeignKey("invoices.seq"), nullable=False, index=True),
    sa.Column("target_seq", sa.Integer, sa.ForeignKey("invoices.seq"), nullable=False, index=True),
    sa.Column("rel", sa.String(30), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

#: The last number each member's credit-note sequence gave, per period ("2026", or "" for
#: a pattern without a year). Taken in the transaction that stores the credit note.
credit_note_sequences = sa.Table(
    "credit_note_sequences",
    metadata,
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("period", sa.String(10), primary_key=True),
    sa.Column("last", sa.Integer, nullable=False),
)

#: Information copies of an invoice (the customer's ``copies``), one row per recipient,
#: written with the invoice. Due (``next_attempt_at``) only once the original has left; then
#: leased and e-mailed by a worker, retried, or parked after ``[copies] retry_for``.
copy_deliveries = sa.Table(
    "copy_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("invoice_seq", sa.Integer, sa.ForeignKey("invoices.seq"), nullable=False, index=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("label", sa.String(200)),
    #: "pending", "sent" or "parked".
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime),  # None: the original has not left yet
    sa.Column("retry_from", UTCDateTime),  # the first failure
    sa.Column("lease_owner", sa.String(80)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("message_id", sa.String(200)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "status", "next_attempt_at"),
)

#: Each worker process's last sign of life (``GET /v1/health`` for the admin).
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("owner", sa.String(80), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
)

#: When an invoice last left by each outlet (its first status recorded by the worker).
outlet_activity = sa.Table(
    "outlet_activity",
    metadata,
    sa.Column("outlet", sa.String(60), primary_key=True),
    sa.Column("last_success_at", UTCDateTime, nullable=False),
    sa.Column("last_invoice_id", sa.String(40), nullable=False),
)

#: Each member's print batch of a day (Europe/Paris date, ``YYYY-MM-DD``): the paper
#: outlet's invoices to print, when its PDF was last fetched (``pages`` it had) and when
#: the bookseller confirmed printing it.
print_batches = sa.Table(
    "print_batches",
    metadata,
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("fetched_at", UTCDateTime),
    sa.Column("pages", sa.Integer),
    sa.Column("confirmed_at", UTCDateTime),
)

#: The invoices of a print batch (one batch an invoice). ``fetched_at``: held by the PDF
#: last fetched (None: added since, or left out), which is what a confirmation prints.
print_batch_items = sa.Table(
    "print_batch_items",
    metadata,
    sa.Column("invoice_seq", sa.Integer, sa.ForeignKey("invoices.seq"), primary_key=True),
    sa.Column("member_id", sa.String(40), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("added_at", UTCDateTime, nullable=False),
    sa.Column("fetched_at", UTCDateTime),
    sa.Column("confirmed_at", UTCDateTime),
    sa.ForeignKeyConstraint(["member_id", "day"], ["print_batches.member_id", "print_batches.day"]),
    sa.Index(None, "member_id", "day"),
)


#: Signed-in browsers of the web pages (gateway.web): the cookie's token is kept as its
#: SHA-256 only. A session opened with an API key dies with the key (``key_id``).
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(40)),
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id")),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("flash", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
)


#: Each run of ``facture-gateway archive verify`` on the live archive, for the admin's page:
#: kept apart from the journal, which a verification must never change.
archive_verifications = sa.Table(
    "archive_verifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("clean", sa.Boolean, nullable=False),
    sa.Column("verdict", sa.Text, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
)


#: Invoices suppliers sent to a member through its platform (gateway.inbound): one row per
#: platform flow (``reference``, unique per member and outlet: a flow seen twice is stored
#: once), kept even when it could not be parsed (``problems``). The original's bytes are in
#: the archive's blob store under ``sha256``.
inbound_invoices = sa.Table(
    "inbound_invoices",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), nullable=False),
    sa.Column("outlet", sa.String(60), nullable=False),
    sa.Column("reference", sa.String(200), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("sender_name", sa.String(200)),
    sa.Column("sender_siren", sa.String(9)),
    sa.Column("sender_siret", sa.String(14)),
    sa.Column("sender_vat_id", sa.String(40)),
    sa.Column("number", sa.String(100)),
    sa.Column("issue_date", sa.String(10)),
    sa.Column("due_date", sa.String(10)),
    sa.Column("type", sa.String(30)),
    sa.Column("currency", sa.String(3)),
    #: {"net", "vat", "gross", "payable"} as decimal strings; None when unparsed.
    sa.Column("totals", sa.JSON),
    #: The canonical invoice (gateway.codec); None when the document could not be parsed.
    sa.Column("data", sa.JSON),
    #: Why it could not be parsed (findings); [] when it was.
    sa.Column("problems", sa.JSON, nullable=False),
    sa.Column("format", sa.String(40)),
    sa.Column("filename", sa.String(200), nullable=False),
    sa.Column("media_type", sa.String(100), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    #: What the platform said of the flow (InboundFlow.data).
    sa.Column("platform_data", sa.JSON, nullable=False),
    #: The member's last status (XP Z12-012 code, "205"…); None before any answer.
    sa.Column("status", sa.String(3)),
    sa.Column("status_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("retention_until", UTCDateTime, nullable=False),
    sa.UniqueConstraint("member_id", "outlet", "reference"),
    sa.Index(None, "member_id", "seq"),
)

#: The member's statuses about an inbound invoice, oldest first: each one an outbox row the
#: worker sends through ``Outlet.answer`` ("pending", then "sent" or "failed").
inbound_answers = sa.Table(
    "inbound_answers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "inbound_seq", sa.Integer, sa.ForeignKey("inbound_invoices.seq"), nullable=False, index=True
    ),
    sa.Column("status", sa.String(3), nullable=False),
    sa.Column("reason", sa.String(40)),
    sa.Column("comment", sa.Text),
    #: The amount approved (206), a decimal string.
    sa.Column("amount", sa.String(20)),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("lease_owner", sa.String(80)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", UTCDateTime),
    #: The platform's reference of the message sent (what ``Outlet.answer`` returned).
    sa.Column("message_reference", sa.String(200)),
    sa.Index(None, "state", "next_attempt_at"),
)

#: Each member's receive cursor per outlet (``ReceiveContext.state``), saved only once the
#: flows it covers are stored; ``requested_at``: a platform's notification asked for a pull.
inbound_cursors = sa.Table(
    "inbound_cursors",
    metadata,
    sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("outlet", sa.String(60), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("pulled_at", UTCDateTime),
    sa.Column("requested_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
)

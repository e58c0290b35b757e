"""The archive's blob store and documents: content-addressed, write-once, kept until their
retention date, served byte for byte by the API, each with its role."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gateway import archive
from gateway.archive import FilesystemBlobStore
from gateway.hookspecs import hookimpl
from gateway.store import Store, _lock_key
from tests.conftest import Gateway, example, make_config
from tests.gateway.store.conftest import T0, add_member
from tests.gateway.store.test_store import add_invoice

CII = b"<rsm:CrossIndustryInvoice>" + b"x" * 15_000 + b"</rsm:CrossIndustryInvoice>"


# --- the filesystem blob store ----------------------------------------------------------------


def test_put_returns_the_sha256_and_files_the_bytes_read_only_under_fan_out(tmp_path):
    blobs = FilesystemBlobStore(tmp_path / "archive")
    sha = blobs.put(CII)
    assert sha == hashlib.sha256(CII).hexdigest()
    path = tmp_path / "archive" / sha[:2] / sha[2:4] / sha
    assert path.read_bytes() == CII
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert blobs.get(sha) == CII and blobs.exists(sha)
    assert list(blobs.iterate()) == [sha]
    assert [p.name for p in path.parent.iterdir()] == [sha]  # no temporary file left


def test_a_second_put_of_the_same_bytes_changes_nothing(tmp_path):
    blobs = FilesystemBlobStore(tmp_path)
    sha = blobs.put(CII)
    path = blobs.path(sha)
    before = os.stat(path)
    assert blobs.put(CII) == sha
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert list(blobs.iterate()) == [sha]


def test_a_stored_blob_is_never_replaced_even_when_its_file_was_altered(tmp_path):
    blobs = FilesystemBlobStore(tmp_path)
    sha = blobs.put(CII)
    path = blobs.path(sha)
    path.chmod(0o600)
    path.write_bytes(b"altered")
    blobs.put(CII)  # does not quietly repair (and so hide) the alteration
    assert path.read_bytes() == b"altered"


def test_unknown_or_malformed_names_are_absent(tmp_path):
    blobs = FilesystemBlobStore(tmp_path)
    assert not blobs.exists("0" * 64)
    assert not blobs.exists("../../etc/passwd")
    with pytest.raises(KeyError):
        blobs.get("0" * 64)
    with pytest.raises(KeyError):
        blobs.open("../secret")


def test_the_blob_store_has_no_way_to_overwrite_or_delete():
    public = {name for name in dir(FilesystemBlobStore) if not name.startswith("_")}
    assert public == {"put", "get", "open", "exists", "iterate", "path"}


# --- roles and retention ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "from_platform", "role"),
    [
        ("facture.xml", False, archive.ORIGINAL),
        ("facture.pdf", True, archive.ORIGINAL),
        ("v1-facture.xml", False, archive.ORIGINAL),
        ("original.csv", False, archive.RECEIVED),
        ("v2-original.json", False, archive.RECEIVED),
        ("piece-jointe.bon-de-commande.pdf", False, archive.ATTACHMENT),
        ("accuse-archivage-dilifac.xml", True, archive.RECEIPT),
        ("copie.pdf", False, archive.RENDERED),
    ],
)
def test_the_role_of_a_document_follows_its_name(name, from_platform, role):
    assert archive.role_of(name, from_platform=from_platform) == role


def test_retention_is_counted_in_years_even_from_a_29_february():
    assert archive.retention_of(T0, 10) == T0.replace(year=2036)
    leap = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert archive.retention_of(leap, 10) == datetime(2038, 2, 28, 12, tzinfo=UTC)


@pytest.fixture
def archived(database_url, tmp_path):
    store = Store(database_url, blobs=FilesystemBlobStore(tmp_path / "blobs"), retention_years=10)
    store.migrate()
    add_member(store)
    seq = add_invoice(store, "mem_a", "FA-1")
    with store.begin() as conn:
        store.add_document(conn, seq, "original.json", "application/json", b'{"n": 1}')
        store.add_document(conn, seq, "facture.xml", "application/xml", CII)
        store.add_document(conn, seq, "accuse.xml", "application/xml", b"<ok/>", from_platform=True)
    yield store, seq
    store.dispose()


def test_documents_keep_their_row_in_the_store_and_their_bytes_in_the_blob_store(archived):
    store, seq = archived
    listed = {d["name"]: d for d in store.list_documents(seq)}
    assert {name: d["role"] for name, d in listed.items()} == {
        "original.json": "received",
        "facture.xml": "original",
        "accuse.xml": "receipt",
    }
    facture = listed["facture.xml"]
    assert facture["sha256"] == hashlib.sha256(CII).hexdigest() and facture["size"] == len(CII)
    assert facture["retention_until"] == archive.retention_of(facture["created_at"], 10)
    assert store.get_document(seq, "facture.xml")["content"] == CII
    assert store.blobs.get(facture["sha256"]) == CII
    with store.read() as conn:  # not in the table: the blob store holds the bytes
        contents = conn.exec_driver_sql("SELECT content FROM documents").scalars().all()
    assert contents == [None, None, None]


def test_no_document_is_deleted_before_its_retention_date(archived):
    store, seq = archived
    until = store.get_document(seq, "facture.xml")["retention_until"]
    with pytest.raises(archive.ArchiveRetained, match="conservé jusqu'au"):
        with store.begin() as conn:
            store.delete_document(conn, seq, "facture.xml", until - timedelta(seconds=1))
    assert store.get_document(seq, "facture.xml")["content"] == CII
    with store.begin() as conn:
        assert store.delete_document(conn, seq, "facture.xml", until)
    assert store.get_document(seq, "facture.xml") is None
    # The blob may be another document's too: it stays.
    assert store.blobs.exists(hashlib.sha256(CII).hexdigest())


def test_a_correction_keeps_the_earlier_version_under_its_own_name(archived):
    store, seq = archived
    with store.begin() as conn:
        store.version_documents(conn, seq, 1)
        store.add_document(conn, seq, "facture.xml", "application/xml", b"<v2/>")
    documents = {d["name"]: d for d in store.list_documents(seq)}
    assert store.get_document(seq, "v1-facture.xml")["content"] == CII
    assert store.get_document(seq, "facture.xml")["content"] == b"<v2/>"
    assert documents["v1-facture.xml"]["role"] == documents["facture.xml"]["role"] == "original"


# --- through the gateway ----------------------------------------------------------------------


class ObjectStore:
    """A blob store of another kind, as a plugin would give (in memory here)."""

    def __init__(self):
        self.blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.blobs.setdefault(sha, data)
        return sha

    def get(self, sha256: str) -> bytes:
        return self.blobs[sha256]

    def open(self, sha256: str):
        import io

        return io.BytesIO(self.blobs[sha256])

    def exists(self, sha256: str) -> bool:
        return sha256 in self.blobs

    def iterate(self):
        return iter(sorted(self.blobs))


class ObjectStorePlugin:
    def __init__(self, blobs):
        self.blobs = blobs

    @hookimpl
    def gateway_archive_storage(self, config):
        return self.blobs


def test_the_api_serves_documents_from_the_archive_and_journals_the_read(gateway, member):
    result = gateway.post_invoice(member, example("invoice-seine-maritime"))
    assert result.status_code == 202, result.json
    invoice_id = result.json["id"]
    view = gateway.get_invoice(member, invoice_id)
    names = [d["name"] for d in view["documents"]]
    assert names, view
    name = names[0]
    served = gateway.client.simulate_get(
        f"/v1/invoices/{invoice_id}/documents/{name}", headers=member["headers"]
    )
    assert served.status_code == 200
    row = gateway.store.get_document(gateway.store.get_invoice(invoice_id)["seq"], name)
    assert hashlib.sha256(served.content).hexdigest() == row["sha256"]
    assert gateway.store.blobs.exists(row["sha256"])
    path = gateway.config.archive.directory / row["sha256"][:2] / row["sha256"][2:4]
    assert (path / row["sha256"]).read_bytes() == served.content
    reads = [e for e in gateway.store.invoice_journal(invoice_id) if e["kind"] == "document.read"]
    assert [(e["data"]["name"], e["member_id"], e["data"]["role"]) for e in reads] == [
        (name, member["id"], "member")
    ]


def test_a_plugin_may_replace_the_filesystem(tmp_path, sqlite_url):
    blobs = ObjectStore()
    gateway = Gateway(make_config(tmp_path, sqlite_url), extra_plugins=[ObjectStorePlugin(blobs)])
    try:
        member = gateway.new_member()
        result = gateway.post_invoice(member, example("invoice-seine-maritime"))
        assert result.status_code == 202, result.json
        seq = gateway.store.get_invoice(result.json["id"])["seq"]
        shas = {d["sha256"] for d in gateway.store.list_documents(seq)}
        assert shas and shas <= set(blobs.blobs)
        assert not gateway.config.archive.directory.exists()
    finally:
        gateway.store.dispose()


class LockWatchingStore(ObjectStore):
    """Records, at each write of new bytes, whether the journal's head and the member's
    feed were free to lock (PostgreSQL)."""

    def __init__(self, database_url: str):
        super().__init__()
        self.engine = sa.create_engine(database_url)
        self.member_id: str | None = None
        self.head_free: list[bool] = []
        self.feed_free: list[bool] = []

    def put(self, data: bytes) -> str:
        if self.exists(hashlib.sha256(data).hexdigest()):
            return super().put(data)  # nothing to write
        with self.engine.connect() as conn:
            try:
                conn.execute(sa.text("SELECT seq FROM journal_head FOR UPDATE NOWAIT"))
                self.head_free.append(True)
            except sa.exc.OperationalError:  # lock_not_available
                self.head_free.append(False)
            conn.rollback()
            feed = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
            self.feed_free.append(
                conn.execute(feed, {"key": _lock_key(self.member_id)}).scalar_one()
            )
            conn.rollback()
        return super().put(data)


def test_documents_are_written_before_the_transaction_takes_its_locks(tmp_path, postgres):
    blobs = LockWatchingStore(postgres.create_database())
    config = make_config(tmp_path, blobs.engine.url.render_as_string(hide_password=False))
    gateway = Gateway(config, extra_plugins=[ObjectStorePlugin(blobs)])
    try:
        member = gateway.new_member()
        blobs.member_id = member["id"]
        result = gateway.post_invoice(member, example("invoice-seine-maritime"))
        assert result.status_code == 202, result.json
        assert blobs.head_free == [True, True], blobs.head_free  # the original, the PDF
        assert blobs.feed_free == [True, True], blobs.feed_free
    finally:
        gateway.store.dispose()
        blobs.engine.dispose()

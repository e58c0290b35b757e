"""The archive: write-once, content-addressed documents and the hash-chained journal.

Every document the gateway receives, renders, sends or gets back from a platform is kept
byte for byte in a :class:`BlobStore` under its SHA-256, never overwritten and never deleted
before its retention date (10 years by default); its metadata row (invoice, name, role,
retention) stays in the store. Every event goes to the journal, each entry holding the hash
of the one before; signed checkpoints (Ed25519) prove the journal's state at a date, and an
RFC 3161 authority may time-stamp them (:mod:`gateway.timestamping`).
:func:`verify` checks it all (``facture-gateway archive verify``). See docs/archive.md.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.french import counted

#: The hash the journal's first entry points back to.
GENESIS = "0" * 64
SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 1024 * 1024

# --- Roles ------------------------------------------------------------------------------

#: The supplier's legal original: the document transmitted to the platform (or deposited,
#: or printed). When the gateway rendered it, that rendering is the original, not the file
#: the bookseller's software sent, which is kept too as ``received``.
ORIGINAL = "original"
RECEIVED = "received"
RENDERED = "rendered"
RECEIPT = "receipt"
ATTACHMENT = "attachment"
ROLES = (ORIGINAL, RECEIVED, RENDERED, RECEIPT, ATTACHMENT)
VERSIONED = re.compile(r"v\d+-")


def role_of(name: str, *, from_platform: bool = False) -> str:
    """Return the role of a document named ``name`` (a ``v<N>-`` prefix keeps its role).

    ``facture.*`` is what the outlets send: the legal original; ``original.*`` the bytes as
    received; ``piece-jointe.*`` an attachment; anything else a platform gave back is a
    receipt, and anything else the gateway made a rendering.
    """
    base = name[VERSIONED.match(name).end() :] if VERSIONED.match(name) else name
    if base.startswith("facture."):
        return ORIGINAL
    if base.startswith("original."):
        return RECEIVED
    if base.startswith("piece-jointe."):
        return ATTACHMENT
    return RECEIPT if from_platform else RENDERED


def retention_of(created_at: datetime, years: int) -> datetime:
    """Return the date until which a document created at ``created_at`` is kept."""
    try:
        return created_at.replace(year=created_at.year + years)
    except ValueError:  # 29 February
        return created_at.replace(year=created_at.year + years, day=28)


class ArchiveRetained(Exception):
    """A change or deletion of an archived document before its retention date."""


class BlobMissing(KeyError):
    """A document's row names bytes the blob store does not hold (``archive verify`` tells
    which others are missing)."""


# --- Blob stores ----------------------------------------------------------------------------


@runtime_checkable
class BlobStore(Protocol):
    """Where the archive's bytes live, by SHA-256 (``gateway_archive_storage`` may give
    another: an object store). Write-once: there is no method to overwrite or delete."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its SHA-256 (hex); storing the same bytes again does
        nothing. Returns only once the bytes are durable."""

    def get(self, sha256: str) -> bytes:
        """Return the bytes stored under ``sha256``; :class:`KeyError` when there are none."""

    def open(self, sha256: str) -> BinaryIO:
        """Return a binary file of the bytes stored under ``sha256`` (read in chunks);
        :class:`KeyError` when there are none."""

    def exists(self, sha256: str) -> bool:
        """Tell whether bytes are stored under ``sha256``."""

    def iterate(self) -> Iterator[str]:
        """Yield the name of every blob stored (its SHA-256 as stored)."""


class FilesystemBlobStore:
    """Blobs as files ``<root>/ab/cd/abcd…`` (two levels of fan-out), written to a temporary
    file, flushed to disk, renamed into place, then made read-only. Never overwritten."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):
            raise KeyError(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, stat.S_IRUSR | stat.S_IRGRP)
            # link() fails when the name exists: a concurrent writer of the same bytes won,
            # and what it wrote is these very bytes. Never replace a file in place.
            try:
                os.link(temporary, target)
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return sha256

    def get(self, sha256: str) -> bytes:
        with self.open(sha256) as handle:
            return handle.read()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError as ex:
            raise KeyError(sha256) from ex

    def exists(self, sha256: str) -> bool:
        try:
            return self.path(sha256).is_file()
        except KeyError:
            return False

    def iterate(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if second.is_dir():
                    for blob in sorted(second.iterdir()):
                        if not blob.name.startswith(".tmp-"):
                            yield blob.name


def open_blob_store(config, pm=None) -> BlobStore:
    """Return the blob store a plugin gives (``gateway_archive_storage``), else the files
    under ``[archive] path``."""
    if pm is not None:
        found = pm.hook.gateway_archive_storage(config=config)
        if found is not None:
            return found
    return FilesystemBlobStore(config.archive.directory)


def hash_file(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


# --- The journal ----------------------------------------------------------------------------


def canonical_time(at: datetime) -> str:
    """Return ``at`` as the journal hashes it: UTC, microseconds, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value) -> str:
    """Return the one JSON text of ``value``: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(
    seq: int,
    at: datetime,
    kind: str,
    member_id: str | None,
    invoice_id: str | None,
    data: dict,
) -> str:
    """Return the hash of an entry's content: SHA-256 of the canonical JSON array of its
    fields. An export shows another member's entry by this hash alone (redacted)."""
    fields = [seq, canonical_time(at), kind, member_id, invoice_id, data]
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def chain_hash(content: str, prev_hash: str) -> str:
    """Return an entry's hash: SHA-256 of the canonical JSON ``[content_hash, prev_hash]``."""
    return hashlib.sha256(canonical_json([content, prev_hash]).encode()).hexdigest()


def entry_hash(
    seq: int,
    at: datetime,
    kind: str,
    member_id: str | None,
    invoice_id: str | None,
    data: dict,
    prev_hash: str,
) -> str:
    """Return an entry's hash: its content's hash chained to the previous entry's hash."""
    return chain_hash(content_hash(seq, at, kind, member_id, invoice_id, data), prev_hash)


def row_content_hash(row: dict, seq: int | None = None) -> str:
    """Return the content hash of a journal row (of its content at ``seq``); a redacted row
    carries its own, which no other number can be recomputed for."""
    if "kind" not in row:
        return row["content_hash"]
    return content_hash(
        row["seq"] if seq is None else seq,
        row["at"],
        row["kind"],
        row["member_id"],
        row["invoice_id"],
        row["data"],
    )


def row_hash(row: dict, seq: int | None = None, prev_hash: str | None = None) -> str:
    """Return the hash of a journal row, or of its content at ``seq`` after ``prev_hash``."""
    return chain_hash(
        row_content_hash(row, seq), row["prev_hash"] if prev_hash is None else prev_hash
    )


def redacted(row: dict) -> dict:
    """Return what an export shows of another member's entry: enough to chain, no content."""
    return {
        "seq": row["seq"],
        "content_hash": row_content_hash(row),
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }


# --- Checkpoints ------------------------------------------------------------------------------


def checkpoint_message(seq: int, hash_: str, at: datetime) -> bytes:
    """Return what a checkpoint signs: the journal's last entry number and hash, and when."""
    return f"facture-gateway checkpoint v1\n{seq}\n{hash_}\n{canonical_time(at)}\n".encode()


def generate_signing_key() -> str:
    """Return a new Ed25519 private key, as 64 hex digits (its raw 32 bytes)."""
    return Ed25519PrivateKey.generate().private_bytes_raw().hex()


def ensure_signing_key_file(path: Path) -> None:
    """Create the signing key file (mode 0600) unless one exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(generate_signing_key())


def private_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text.strip()))


def public_key_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, hash_: str, at: datetime) -> str:
    return key.sign(checkpoint_message(seq, hash_, at)).hex()


def checkpoint_valid(public_key: str, checkpoint: dict) -> bool:
    """Tell whether ``checkpoint`` (seq, hash, at, signature) was signed by the private key
    of ``public_key`` (hex): the public key alone is needed."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key.strip()))
        key.verify(
            bytes.fromhex(checkpoint["signature"]),
            checkpoint_message(checkpoint["seq"], checkpoint["hash"], checkpoint["at"]),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


# --- Verification -------------------------------------------------------------------------------


@dataclass
class Problem:
    kind: str  # "altéré", "manquant", "interverti", "tronqué", "signature", "horodatage"
    message: str
    seq: int | None = None
    invoice_id: str | None = None
    document: str | None = None
    #: In an export: the file of the zip, and its line, where the problem is.
    file: str | None = None
    line: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Report:
    #: What the verdict speaks of, and how it says it is altered.
    SUBJECT = "Archive"
    ALTERED = "ALTÉRÉE"

    documents: int = 0
    blobs: int = 0
    entries: int = 0
    checkpoints: int = 0
    #: Checkpoints with an RFC 3161 time-stamp token (gateway.timestamping).
    timestamped: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        if self.clean:
            stamped = f", dont {counted(self.timestamped, 'horodaté')}" if self.timestamped else ""
            return (
                f"{self.SUBJECT} intègre : {counted(self.documents, 'document')}, "
                f"{counted(self.entries, 'entrée')}, "
                f"{counted(self.checkpoints, 'point', 'points')} de contrôle{stamped}"
            )
        first = self.problems[0].message
        more = len(self.problems) - 1
        return f"{self.SUBJECT} {self.ALTERED} : {first}" + (
            f" (et {more} autre(s) anomalie(s))" if more else ""
        )

    def as_dict(self) -> dict:
        return {
            "clean": self.clean,
            "documents": self.documents,
            "blobs": self.blobs,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "timestamped": self.timestamped,
            "problems": [problem.as_dict() for problem in self.problems],
            "verdict": self.verdict(),
        }


Progress = Callable[[str, int, int], None]
#: How many rows or blobs between two progress reports.
PROGRESS_EVERY = 10_000
#: How far after a broken entry to look for the entry swapped with it.
SWAP_WINDOW = 64


def verify(
    store,
    blobs: BlobStore | None,
    public_key: str | None,
    progress: Progress,
    tsa_certificate: str | None = None,
) -> Report:
    """Check every document's bytes, the whole journal chain and every checkpoint, its
    time-stamp token too (against ``tsa_certificate``, PEM, when given)."""
    report = Report()
    _verify_documents(store, blobs, report, progress)
    last = _verify_journal(store, report, progress)
    _verify_checkpoints(store, public_key, last, report, progress, tsa_certificate)
    return report


def _verify_documents(store, blobs, report: Report, progress: Progress) -> None:
    from gateway.store.inbound import InboundStore  # the store imports this module

    received = InboundStore(store)
    total = store.count_documents() + received.count_originals()
    checked: dict[str, str | None] = {}  # sha256 -> None (sound) or the problem's kind
    for document in itertools.chain(store.iter_documents(), received.iter_originals()):
        report.documents += 1
        sha = document["sha256"]
        where = f"« {document['name']} » de la facture {document['invoice_id']}"
        if document["content"] is not None:
            if hashlib.sha256(document["content"]).hexdigest() != sha:
                report.problems.append(
                    Problem(
                        "altéré",
                        f"document {where} altéré (SHA-256 différent)",
                        invoice_id=document["invoice_id"],
                        document=document["name"],
                    )
                )
        else:
            if sha not in checked:
                checked[sha] = _check_blob(blobs, sha)
                report.blobs += 1
            kind = checked[sha]
            if kind is not None:
                told = "manquant (blob {}… absent)" if kind == "manquant" else "altéré (blob {}…)"
                report.problems.append(
                    Problem(
                        kind,
                        f"document {where} " + told.format(sha[:12]),
                        invoice_id=document["invoice_id"],
                        document=document["name"],
                    )
                )
        if report.documents % PROGRESS_EVERY == 0:
            progress("documents", report.documents, total)
    if report.documents % PROGRESS_EVERY or not report.documents:
        progress("documents", report.documents, total)


def _check_blob(blobs: BlobStore | None, sha: str) -> str | None:
    if blobs is None:
        return "manquant"
    try:
        with blobs.open(sha) as handle:
            return None if hash_file(handle) == sha else "altéré"
    except KeyError:
        return "manquant"


def _verify_journal(store, report: Report, progress: Progress) -> tuple[int, str]:
    """Walk the chain; return the last entry's number and hash as found."""
    total = store.count_journal()
    expected_seq, prev = 1, GENESIS
    broken = False
    rows = store.iter_journal()
    for row in rows:
        report.entries += 1
        if report.entries % PROGRESS_EVERY == 0:
            progress("journal", report.entries, total)
        if not broken:
            problem = _check_entry(store, row, expected_seq, prev)
            if problem is not None:
                report.problems.append(problem)
                broken = True
        expected_seq, prev = row["seq"] + 1, row["hash"]
    if report.entries % PROGRESS_EVERY or not report.entries:
        progress("journal", report.entries, total)
    return expected_seq - 1, prev


def _check_entry(store, row: dict, expected_seq: int, prev: str) -> Problem | None:
    seq = row["seq"]
    if seq != expected_seq:
        missing = (
            f"entrée {expected_seq} manquante"
            if seq == expected_seq + 1
            else f"entrées {expected_seq} à {seq - 1} manquantes"
        )
        return Problem(
            "manquant",
            f"journal : {missing} (l'entrée {seq} suit l'entrée {expected_seq - 1})",
            seq=expected_seq,
        )
    own = row_hash(row)
    if row["prev_hash"] == prev and own == row["hash"]:
        return None
    # Is this entry's content another's, swapped with it? An entry fits at position M when
    # its fields hashed as entry M after M's predecessor give M's stored hash.
    for other in store.journal_rows(seq + 1, seq + SWAP_WINDOW):
        contents_swapped = row_hash(other, seq=seq, prev_hash=prev) == row["hash"] or (
            row_hash(row, seq=other["seq"], prev_hash=other["prev_hash"]) == other["hash"]
        )
        # Whole rows (hashes with them) under each other's numbers.
        rows_swapped = row_hash(row, seq=other["seq"]) == row["hash"] and (
            row_hash(other, seq=seq) == other["hash"]
        )
        if contents_swapped or rows_swapped:
            return Problem(
                "interverti",
                f"journal : entrées {seq} et {other['seq']} interverties",
                seq=seq,
            )
    if row["prev_hash"] != prev and own == row["hash"]:
        return Problem(
            "manquant",
            f"journal : entrée {seq} ne suit pas l'entrée {seq - 1} (une entrée manque ou a "
            "été remplacée avant elle)",
            seq=seq,
        )
    return Problem("altéré", f"journal : entrée {seq} altérée ({row['kind']})", seq=seq)


def _verify_checkpoints(
    store,
    public_key: str | None,
    last: tuple[int, str],
    report: Report,
    progress: Progress,
    tsa_certificate: str | None = None,
) -> None:
    from gateway.timestamping import checkpoint_problem

    last_seq, _ = last
    head = store.journal_head()
    if head["seq"] > last_seq:
        report.problems.append(
            Problem(
                "tronqué",
                f"journal tronqué : sa tête indique l'entrée {head['seq']}, le journal s'arrête "
                f"à l'entrée {last_seq}",
                seq=last_seq + 1,
            )
        )
    for checkpoint in store.list_checkpoints():
        report.checkpoints += 1
        at = canonical_time(checkpoint["at"])[:19].replace("T", " ")
        if public_key is None or not checkpoint_valid(public_key, checkpoint):
            report.problems.append(
                Problem(
                    "signature",
                    f"point de contrôle du {at} (entrée {checkpoint['seq']}) : signature invalide",
                    seq=checkpoint["seq"],
                )
            )
            continue
        if checkpoint.get("timestamp_token") is not None:
            report.timestamped += 1
            problem = checkpoint_problem(checkpoint, tsa_certificate)
            if problem is not None:
                report.problems.append(
                    Problem(
                        "horodatage",
                        f"point de contrôle du {at} (entrée {checkpoint['seq']}) : {problem}",
                        seq=checkpoint["seq"],
                    )
                )
        if checkpoint["seq"] > last_seq:
            report.problems.append(
                Problem(
                    "tronqué",
                    f"journal tronqué : le point de contrôle du {at} atteste l'entrée "
                    f"{checkpoint['seq']}, le journal s'arrête à l'entrée {last_seq}",
                    seq=last_seq + 1,
                )
            )
            continue
        entry = store.journal_rows(checkpoint["seq"], checkpoint["seq"])
        if not entry or entry[0]["hash"] != checkpoint["hash"]:
            report.problems.append(
                Problem(
                    "altéré",
                    f"journal : entrée {checkpoint['seq']} différente de celle que le point de "
                    f"contrôle du {at} atteste",
                    seq=checkpoint["seq"],
                )
            )
    progress("points de contrôle", report.checkpoints, report.checkpoints)

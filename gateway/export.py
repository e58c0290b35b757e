"""A member's year of the archive, as one zip a tax inspector verifies offline.

:func:`export_year` writes it as a stream (documents read from the blob store in chunks,
never all in memory); :func:`verify_export` checks one with nothing but the zip and a
public key (``facture-gateway archive verify --export``). The journal is one chain for every
member: the export shows the member's own entries in full and everyone else's redacted
(:func:`gateway.archive.redacted`), so the chain verifies without revealing them. See
docs/archive.md, « Export for a tax inspector ».
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from gateway import __version__, archive, csvsafe
from gateway.timestamping import checkpoint_problem, try_stamp

#: The manifest's facts: key in manifest.json, column of manifest.csv.
COLUMNS = (
    ("invoice_number", "Numéro de facture"),
    ("invoice_id", "Identifiant de la facture"),
    ("issue_date", "Date de facture"),
    ("buyer_name", "Acheteur"),
    ("buyer_siret", "SIRET de l'acheteur"),
    ("tax_exclusive", "Montant HT"),
    ("tax_inclusive", "Montant TTC"),
    ("status", "Statut"),
    ("name", "Document"),
    ("role", "Rôle"),
    ("sha256", "SHA-256"),
    ("size", "Taille (octets)"),
    ("stored_at", "Archivé le"),
    ("retention_until", "Conservé jusqu'au"),
    ("path", "Fichier dans l'archive"),
)
DOCUMENTS = "documents/"
MANIFEST_CSV = "manifest.csv"
MANIFEST_JSON = "manifest.json"
JOURNAL = "journal.jsonl"
CHECKPOINTS = "checkpoints.json"
PUBLIC_KEY = "public-key.txt"
README = "LISEZMOI.txt"
#: The journal kind of a document's archiving (gateway.store.Store.add_document).
ARCHIVED = "document.archived"
EXPORTED = "archive.exported"
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Export:
    """A zip being written: its file name, its chunks (a generator), what it holds."""

    filename: str
    chunks: Iterator[bytes]
    documents: int


def safe_name(text: str) -> str:
    """Return ``text`` as one path component of the zip: no separator, no leading dot."""
    return UNSAFE.sub("_", text).lstrip(".") or "_"


def _iso(value: datetime | None) -> str | None:
    return archive.canonical_time(value) if value is not None else None


def manifest_rows(invoices: list[dict], documents: list[dict]) -> list[dict]:
    """Return one manifest row per document, with the zip path it is written at: the
    invoice's number (with its id when two invoices of the year share it)."""
    by_seq = {invoice["seq"]: invoice for invoice in invoices}
    folders: dict[int, str] = {}
    taken: set[str] = set()
    rows = []
    for document in documents:
        invoice = by_seq[document["invoice_seq"]]
        folder = folders.get(invoice["seq"])
        if folder is None:
            folder = safe_name(invoice["number"])
            if folder in taken:
                folder = f"{folder}_{invoice['id']}"
            taken.add(folder)
            folders[invoice["seq"]] = folder
        rows.append(
            {
                "invoice_number": invoice["number"],
                "invoice_id": invoice["id"],
                "issue_date": invoice["issue_date"],
                "buyer_name": invoice["buyer_name"],
                "buyer_siret": invoice["buyer_siret"],
                "tax_exclusive": invoice["tax_exclusive"],
                "tax_inclusive": invoice["tax_inclusive"],
                "status": invoice["status"],
                "name": document["name"],
                "role": document["role"],
                "media_type": document["media_type"],
                "sha256": document["sha256"],
                "size": document["size"],
                "stored_at": _iso(document["created_at"]),
                "retention_until": _iso(document["retention_until"]),
                "path": f"{DOCUMENTS}{folder}/{safe_name(document['name'])}",
            }
        )
    return rows


def journal_line(row: dict, member_id: str) -> str:
    """Return an entry as journal.jsonl shows it: in full when it is ``member_id``'s, else
    redacted (its number and hashes only)."""
    if row["member_id"] != member_id:
        return archive.canonical_json(archive.redacted(row))
    entry = {
        "seq": row["seq"],
        "at": archive.canonical_time(row["at"]),
        "kind": row["kind"],
        "member_id": row["member_id"],
        "invoice_id": row["invoice_id"],
        "data": row["data"],
        "content_hash": archive.row_content_hash(row),
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }
    return archive.canonical_json(entry)


def checkpoint_record(checkpoint: dict) -> dict:
    """Return a checkpoint as checkpoints.json shows it."""
    token, stamped_at = checkpoint.get("timestamp_token"), checkpoint.get("timestamped_at")
    return {
        "seq": checkpoint["seq"],
        "hash": checkpoint["hash"],
        "at": archive.canonical_time(checkpoint["at"]),
        "signature": checkpoint["signature"],
        # RFC 3161 token (DER, base64) and its genTime, when the checkpoint was time-stamped
        "timestamp_token": base64.b64encode(token).decode() if token else None,
        "timestamped_at": archive.canonical_time(stamped_at) if stamped_at else None,
    }


class _Sink(io.RawIOBase):
    """What zipfile writes to: bytes kept until the generator hands them on. Not seekable,
    so zipfile streams (a data descriptor after each member)."""

    def __init__(self):
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def export_year(
    store,
    key,
    member: dict,
    year: int,
    reader: str,
    clock: Callable[[], datetime],
    archive_config=None,
) -> Export:
    """Prepare the export of ``member``'s invoices issued in ``year``; journal it and sign
    the checkpoint that ends its proof now. The zip is written as its chunks are read.

    The documents are listed before the checkpoint is signed: each was journaled (in its
    own transaction) before, so each one's ``document.archived`` entry is in the proof.
    """
    invoices = store.invoices_issued_in(member["id"], year)
    documents = list(store.documents_of([invoice["seq"] for invoice in invoices]))
    rows = manifest_rows(invoices, documents)
    now = clock()
    with store.begin() as conn:
        exported = store.append_journal(
            conn,
            EXPORTED,
            {"year": year, "reader": reader, "documents": len(rows), "invoices": len(invoices)},
            member_id=member["id"],
            at=now,
        )
    final = store.add_checkpoint(key, now)
    if archive_config is not None:
        try_stamp(store, final, archive_config)
    public_key = archive.public_key_hex(key)
    first = store.first_journal_seq_of_year(member["id"], year) or exported["seq"]
    anchor = store.checkpoint_before(first, public_key)
    after = anchor["seq"] if anchor else 0
    checkpoints = store.checkpoints_between(after, final["seq"], public_key)
    manifest = {
        "year": year,
        "member": {"id": member["id"], "name": member["name"], "siret": member["siret"]},
        "generated_at": archive.canonical_time(now),
        "gateway_version": __version__,
        "issue_dates": f"{year:04d}-01-01 / {year:04d}-12-31",
        "documents": rows,
    }

    def chunks() -> Iterator[bytes]:
        sink = _Sink()
        stamp = now.timetuple()[:6]

        def drained() -> Iterator[bytes]:
            # An empty chunk would end a chunked response: only what deflate let out.
            if data := sink.drain():
                yield data

        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:

            def member_file(name: str, size: int = 0):
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.file_size = size  # zipfile needs it to choose ZIP64 before writing
                return zf.open(info, "w")

            for row, document in zip(rows, documents, strict=True):
                with member_file(row["path"], row["size"]) as out:
                    with store.open_document(document) as handle:
                        while chunk := handle.read(archive.CHUNK):
                            out.write(chunk)
                            yield from drained()
            for name, text in (
                (MANIFEST_CSV, manifest_csv(manifest["documents"])),
                (MANIFEST_JSON, json.dumps(manifest, ensure_ascii=False, indent=2)),
            ):
                with member_file(name) as out:
                    out.write(text.encode())
                yield from drained()
            with member_file(JOURNAL) as out:
                for entry in store.iter_journal(after=after, until=final["seq"]):
                    out.write(journal_line(entry, member["id"]).encode() + b"\n")
                    if len(sink.parts) > 16:
                        yield from drained()
            records = [checkpoint_record(c) for c in checkpoints]
            for name, text in (
                (CHECKPOINTS, json.dumps(records, indent=2)),
                (PUBLIC_KEY, public_key + "\n"),
                (README, readme(manifest, len(records))),
            ):
                with member_file(name) as out:
                    out.write(text.encode())
        yield from drained()

    return Export(
        f"archive-{safe_name(member['siret'] or member['id'])}-{year}.zip", chunks(), len(rows)
    )


def manifest_csv(documents: list[dict]) -> str:
    return csvsafe.rows_text(
        [[header for _, header in COLUMNS]]
        + [[document[key] for key, _ in COLUMNS] for document in documents]
    )


def readme(manifest: dict, checkpoints: int) -> str:
    """Return LISEZMOI.txt, for the inspector: what the zip holds and how to verify it."""
    member = manifest["member"]
    return README_TEXT.format(
        year=manifest["year"],
        member=member["name"],
        siret=member["siret"] or member["id"],
        generated_at=manifest["generated_at"],
        documents=len(manifest["documents"]),
        checkpoints=checkpoints,
        version=manifest["gateway_version"],
    ).replace("\n", "\r\n")


README_TEXT = """\
Export de l'archive de facturation électronique — année {year}
==============================================================

Librairie : {member} (SIRET {siret})
Généré le : {generated_at} (UTC) par facture-gateway {version}

Cet export contient les {documents} documents des factures de la librairie dont la date
de facture (BT-2) est comprise entre le 1er janvier et le 31 décembre {year}, et la preuve
qu'ils n'ont pas été modifiés depuis leur archivage.

Contenu
-------
documents/<numéro de facture>/<nom>
    Les documents, octet pour octet tels qu'archivés : « facture.* » est l'original
    transmis (rôle « original »), « original.* » le fichier reçu du logiciel de la
    librairie (rôle « received »), les autres des accusés de réception ou des copies.
manifest.csv
    Un document par ligne (séparateur « ; », UTF-8) : numéro et date de la facture,
    acheteur, montants, statut, nom du document, rôle, empreinte SHA-256, taille, date
    d'archivage, date de fin de conservation, chemin dans cet export.
manifest.json
    Les mêmes informations, pour un programme.
journal.jsonl
    Le journal de l'archive, une entrée par ligne, chaînée à la précédente par son
    empreinte : hash = SHA-256([content_hash, prev_hash]) et content_hash =
    SHA-256([seq, at, kind, member_id, invoice_id, data]), en JSON canonique (clés
    triées, sans espaces). Les entrées de la librairie sont complètes ; celles des autres
    membres de l'association sont masquées (seulement seq, content_hash, prev_hash et
    hash) : elles ne révèlent rien mais la chaîne reste vérifiable.
checkpoints.json
    Les {checkpoints} points de contrôle (seq, hash, at, signature) qui encadrent le
    journal : signatures Ed25519 du texte
    « facture-gateway checkpoint v1\\n<seq>\\n<hash>\\n<at>\\n ».
public-key.txt
    La clé publique (Ed25519, hexadécimal) de ces signatures. Comparez-la à celle que
    l'association publie ou vous remet par un autre canal.

Vérifier
--------
    facture-gateway archive verify --export <ce fichier.zip> --public-key <clé publique>

sans base de données ni configuration. La commande vérifie que chaque document a
l'empreinte SHA-256 du manifeste, que chaque ligne du manifeste a son document et
inversement, que manifest.csv et manifest.json concordent, que le journal est chaîné sans
trou du premier point de contrôle au dernier, que les signatures sont valides, et que
l'archivage de chaque document figure au journal (entrée « document.archived » de même
SHA-256). Elle termine par « Export intègre » ou indique la première anomalie (fichier,
ligne, entrée). Tout outil SHA-256, JSON et Ed25519 permet de refaire ces contrôles.
"""


# --- Verification, offline ------------------------------------------------------------------


class ExportReport(archive.Report):
    SUBJECT = "Export"
    ALTERED = "ALTÉRÉ"

    #: Which public key the checkpoints were checked with, said in the verdict.
    key_note: str = ""

    def verdict(self) -> str:
        return f"{super().verdict()} ; {self.key_note}" if self.key_note else super().verdict()

    def as_dict(self) -> dict:
        return {**super().as_dict(), "public_key": self.key_note}


class _Refused(Exception):
    """The zip cannot be checked further (a file missing, unreadable)."""

    def __init__(self, problem: archive.Problem):
        self.problem = problem


def verify_export(
    path, public_key: str | None, progress: archive.Progress, tsa_certificate: str | None = None
) -> ExportReport:
    """Check an export with nothing but its zip and, better, a public key obtained from
    the association: documents against the manifests, the journal's chain from its anchor
    to its last checkpoint, the checkpoints' signatures, each document's journal entry."""
    report = ExportReport()
    try:
        with zipfile.ZipFile(path) as zf:
            if public_key is None:
                public_key = _read(zf, PUBLIC_KEY).decode().strip()
                report.key_note = (
                    "clé publique lue dans l'export lui-même (une clé obtenue de "
                    "l'association par un autre canal, --public-key, prouve davantage)"
                )
            else:
                report.key_note = "clé publique donnée (--public-key)"
            rows = _check_manifests(zf)
            _check_documents(zf, rows, report, progress)
            try:
                checkpoints = [_checkpoint(c) for c in json.loads(_read(zf, CHECKPOINTS))]
            except (ValueError, KeyError, TypeError) as ex:
                raise _Refused(
                    archive.Problem("altéré", f"{CHECKPOINTS} illisible", file=CHECKPOINTS)
                ) from ex
            archived = _check_journal(
                zf, checkpoints, public_key, report, progress, tsa_certificate
            )
    except _Refused as ex:
        report.problems.append(ex.problem)
        return report
    except (zipfile.BadZipFile, OSError) as ex:
        report.problems.append(archive.Problem("altéré", f"zip illisible : {ex}"))
        return report
    for number, row in enumerate(rows, start=2):
        if (row["invoice_id"], row["sha256"]) not in archived:
            report.problems.append(
                archive.Problem(
                    "manquant",
                    f"{MANIFEST_CSV} ligne {number} : document « {row['path']} » sans entrée "
                    f"{ARCHIVED} de même SHA-256 dans le journal",
                    invoice_id=row["invoice_id"],
                    document=row["name"],
                    file=MANIFEST_CSV,
                    line=number,
                )
            )
    return report


def _checkpoint(record: dict) -> dict:
    """Return a checkpoint of checkpoints.json with its time read (ValueError, KeyError)."""
    return {
        "seq": int(record["seq"]),
        "hash": str(record["hash"]),
        "at": datetime.fromisoformat(record["at"]),
        "signature": str(record["signature"]),
        "timestamp_token": base64.b64decode(record["timestamp_token"], validate=True)
        if record.get("timestamp_token")
        else None,
        "timestamped_at": datetime.fromisoformat(record["timestamped_at"])
        if record.get("timestamped_at")
        else None,
    }


def _info(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """Return the member ``name``; refused (missing) when the zip has none."""
    try:
        return zf.getinfo(name)
    except KeyError as ex:
        raise _Refused(
            archive.Problem("manquant", f"fichier {name} absent de l'export", file=name)
        ) from ex


def _read(zf: zipfile.ZipFile, name: str) -> bytes:
    return zf.read(_info(zf, name))


def _check_manifests(zf: zipfile.ZipFile) -> list[dict]:
    """Return manifest.json's documents once manifest.csv says the same, row by row."""
    try:
        rows = json.loads(_read(zf, MANIFEST_JSON))["documents"]
        text = _read(zf, MANIFEST_CSV).decode("utf-8-sig")
        if not all(isinstance(row, dict) and {k for k, _ in COLUMNS} <= set(row) for row in rows):
            raise ValueError("a row lacks a column")
    except (ValueError, KeyError, TypeError) as ex:
        raise _Refused(
            archive.Problem("altéré", f"{MANIFEST_JSON} illisible ({ex})", file=MANIFEST_JSON)
        ) from ex
    expected = [[header for _, header in COLUMNS]] + [
        [csvsafe.cell(row.get(key)) for key, _ in COLUMNS] for row in rows
    ]
    found = list(csv.reader(io.StringIO(text), delimiter=";"))
    for line, (want, got) in enumerate(zip(expected, found, strict=False), start=1):
        if want != got:
            column = next(
                (header for (_, header), a, b in zip(COLUMNS, want, got, strict=False) if a != b),
                "nombre de colonnes",
            )
            raise _Refused(
                archive.Problem(
                    "altéré",
                    f"{MANIFEST_CSV} ligne {line} : « {column} » ne concorde pas avec "
                    f"{MANIFEST_JSON}",
                    file=MANIFEST_CSV,
                    line=line,
                )
            )
    if len(found) != len(expected):
        raise _Refused(
            archive.Problem(
                "altéré",
                f"{MANIFEST_CSV} : {len(found) - 1} lignes, "
                f"{MANIFEST_JSON} : {len(rows)} documents",
                file=MANIFEST_CSV,
            )
        )
    return rows


def _check_documents(zf, rows: list[dict], report: ExportReport, progress) -> None:
    listed = {row["path"] for row in rows}
    for line, row in enumerate(rows, start=2):
        report.documents += 1
        where = f"document « {row['path']} » ({MANIFEST_CSV} ligne {line})"
        problem = None
        try:
            with zf.open(row["path"]) as handle:
                sha = archive.hash_file(handle)
            if sha != row["sha256"]:
                problem = archive.Problem("altéré", f"{where} altéré (SHA-256 différent)")
        except KeyError:
            problem = archive.Problem("manquant", f"{where} absent du zip")
        except (zipfile.BadZipFile, zlib.error):
            problem = archive.Problem("altéré", f"{where} altéré (contrôle du zip en échec)")
        if problem is not None:
            problem.invoice_id, problem.document = row["invoice_id"], row["name"]
            problem.file, problem.line = row["path"], None
            report.problems.append(problem)
        if report.documents % archive.PROGRESS_EVERY == 0:
            progress("documents", report.documents, len(rows))
    progress("documents", report.documents, len(rows))
    for name in zf.namelist():
        if name.startswith(DOCUMENTS) and name not in listed:
            report.problems.append(
                archive.Problem("altéré", f"document « {name} » absent du manifeste", file=name)
            )


#: The fields of a journal line: redacted, or in full.
HIDDEN_FIELDS = {"seq", "content_hash", "prev_hash", "hash"}
FULL_FIELDS = HIDDEN_FIELDS | {"at", "kind", "member_id", "invoice_id", "data"}


def _parse(line: bytes, number: int) -> dict:
    try:
        entry = json.loads(line)
        if set(entry) not in (HIDDEN_FIELDS, FULL_FIELDS) or type(entry["seq"]) is not int:
            raise ValueError("fields")
        if "kind" in entry:
            entry["at"] = datetime.fromisoformat(entry["at"])
    except (ValueError, TypeError) as ex:
        raise _Refused(
            archive.Problem(
                "altéré", f"{JOURNAL} ligne {number} illisible", file=JOURNAL, line=number
            )
        ) from ex
    return entry


def _check_journal(
    zf,
    checkpoints: list[dict],
    public_key: str,
    report: ExportReport,
    progress,
    tsa_certificate: str | None,
) -> set[tuple[str, str]]:
    """Walk journal.jsonl: return the (invoice id, SHA-256) of each document it attests."""
    archived: set[tuple[str, str]] = set()
    if not checkpoints:
        raise _Refused(
            archive.Problem(
                "manquant", f"{CHECKPOINTS} : aucun point de contrôle", file=CHECKPOINTS
            )
        )
    attested = {checkpoint["seq"]: checkpoint for checkpoint in checkpoints}
    found: dict[int, str] = {}  # seq -> hash, of the entries checkpoints attest
    broken = False
    with zf.open(_info(zf, JOURNAL)) as handle:
        lines = deque()
        numbered = enumerate(handle, start=1)
        expected = prev = None
        while True:
            while len(lines) <= archive.SWAP_WINDOW and (item := next(numbered, None)):
                lines.append((item[0], _parse(item[1], item[0])))
            if not lines:
                break
            number, entry = lines.popleft()
            report.entries += 1
            if expected is None:  # the anchor: the genesis, or a checkpoint's entry
                expected, prev = entry["seq"], entry["prev_hash"]
                found[entry["seq"] - 1] = prev
                if (entry["seq"], prev) != (1, archive.GENESIS):
                    if entry["seq"] - 1 not in attested:
                        report.problems.append(
                            archive.Problem(
                                "manquant",
                                f"{JOURNAL} ligne {number} : l'entrée {entry['seq']} ne suit ni "
                                "l'origine du journal ni un point de contrôle",
                                seq=entry["seq"] - 1,
                                file=JOURNAL,
                                line=number,
                            )
                        )
                        broken = True
            if not broken:
                problem = _check_line(number, entry, expected, prev, lines)
                if problem is not None:
                    report.problems.append(problem)
                    broken = True
            if entry.get("kind") == ARCHIVED and isinstance(entry["data"], dict):
                archived.add((entry["invoice_id"], entry["data"].get("sha256")))
            if entry["seq"] in attested:
                found[entry["seq"]] = entry["hash"]
            expected, prev = entry["seq"] + 1, entry["hash"]
            if report.entries % archive.PROGRESS_EVERY == 0:
                progress("journal", report.entries, report.entries)
    progress("journal", report.entries, report.entries)
    _check_checkpoints(checkpoints, found, expected - 1, public_key, report, tsa_certificate)
    return archived


def _check_line(number, entry, expected, prev, ahead) -> archive.Problem | None:
    seq = entry["seq"]
    where = f"{JOURNAL} ligne {number}"
    if seq != expected:
        for other_number, other in ahead:
            if other["seq"] == expected:
                return archive.Problem(
                    "interverti",
                    f"{JOURNAL} : lignes {number} et {other_number} interverties (entrées "
                    f"{seq} et {expected})",
                    seq=expected,
                    file=JOURNAL,
                    line=number,
                )
        if seq < expected:
            missing = f"entrée {seq} hors de sa place (l'entrée {expected} est attendue)"
        elif seq == expected + 1:
            missing = f"entrée {expected} manquante"
        else:
            missing = f"entrées {expected} à {seq - 1} manquantes"
        return archive.Problem(
            "manquant", f"{where} : {missing}", seq=expected, file=JOURNAL, line=number
        )
    content = archive.row_content_hash(entry)
    hidden = "kind" not in entry
    if content != entry["content_hash"] or archive.chain_hash(content, prev) != entry["hash"]:
        if entry["prev_hash"] != prev:
            return archive.Problem(
                "manquant",
                f"{where} : l'entrée {seq} ne suit pas l'entrée {seq - 1}",
                seq=seq,
                file=JOURNAL,
                line=number,
            )
        what = "masquée" if hidden else entry["kind"]
        return archive.Problem(
            "altéré", f"{where} : entrée {seq} altérée ({what})", seq=seq, file=JOURNAL, line=number
        )
    return None


def _check_checkpoints(
    checkpoints: list[dict],
    found: dict[int, str],
    last: int,
    public_key: str,
    report,
    tsa_certificate: str | None,
) -> None:
    for checkpoint in checkpoints:
        report.checkpoints += 1
        at = archive.canonical_time(checkpoint["at"])[:19].replace("T", " ")
        where = f"{CHECKPOINTS} : point de contrôle du {at} (entrée {checkpoint['seq']})"
        stamp_problem = checkpoint_problem(checkpoint, tsa_certificate)
        report.timestamped += checkpoint["timestamp_token"] is not None and stamp_problem is None
        if not archive.checkpoint_valid(public_key, checkpoint):
            problem = archive.Problem("signature", f"{where} : signature invalide")
        elif stamp_problem:
            problem = archive.Problem("horodatage", f"{where} : {stamp_problem}")
        elif checkpoint["seq"] not in found:
            problem = archive.Problem("tronqué", f"{where} : entrée absente du journal")
        elif found[checkpoint["seq"]] != checkpoint["hash"]:
            problem = archive.Problem("altéré", f"{where} : empreinte différente du journal")
        else:
            continue
        problem.seq, problem.file = checkpoint["seq"], CHECKPOINTS
        report.problems.append(problem)
    if checkpoints[-1]["seq"] != last:
        report.problems.append(
            archive.Problem(
                "tronqué",
                f"{JOURNAL} s'arrête à l'entrée {last}, le dernier point de contrôle atteste "
                f"l'entrée {checkpoints[-1]['seq']}",
                seq=last,
                file=JOURNAL,
            )
        )

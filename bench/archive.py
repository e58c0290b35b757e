"""Time ``archive verify`` on a large archive, and measure the archive's size per invoice.

Seeds an archive on SQLite and the filesystem blob store as the gateway writes it: per
invoice, a CII of 20 lines (about 15 KB) and a PDF (about 30 KB), each archived with its
journal entry, and the invoice's reception event (journaled too); then one signed
checkpoint. Prints the time to verify everything (every blob re-hashed, the whole chain,
the checkpoint) and the archive's bytes per invoice (blobs, database). The invoices go to
two members in turn and are issued over ten years (2017 to 2026, a checkpoint signed at
each new year); the bench then exports one member's last year (``GET /v1/archive/export``)
and verifies the zip offline, and prints both times and the zip's size.

    .venv/bin/python bench/archive.py [--documents 100000] [--dir DIR]

``--documents`` counts documents (two an invoice; 4 000 by default, for a quick look).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import archive
from gateway.export import export_year, verify_export
from gateway.store import Store

LINE = (
    "<ram:IncludedSupplyChainTradeLineItem><ram:AssociatedDocumentLineDocument>"
    "<ram:LineID>{n}</ram:LineID></ram:AssociatedDocumentLineDocument><ram:SpecifiedTradeProduct>"
    '<ram:GlobalID schemeID="0160">97820709{n:05d}</ram:GlobalID><ram:Name>Le Petit Prince'
    "</ram:Name></ram:SpecifiedTradeProduct><ram:SpecifiedLineTradeAgreement>"
    "<ram:NetPriceProductTradePrice><ram:ChargeAmount>"
    "8.10</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement>"
    '<ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">3</ram:BilledQuantity>'
    "</ram:SpecifiedLineTradeDelivery><ram:SpecifiedLineTradeSettlement>"
    "<ram:SpecifiedTradeSettlementLineMonetarySummation><ram:LineTotalAmount>24.30"
    "</ram:LineTotalAmount></ram:SpecifiedTradeSettlementLineMonetarySummation>"
    "</ram:SpecifiedLineTradeSettlement></ram:IncludedSupplyChainTradeLineItem>\n"
)


def cii(number: str) -> bytes:
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rsm:CrossIndustryInvoice '
        'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">'
        f"<rsm:ExchangedDocument><ram:ID>{number}</ram:ID></rsm:ExchangedDocument>\n"
    )
    body = "".join(LINE.format(n=n) for n in range(1, 21))
    padding = "<!-- " + "x" * 1500 + " -->\n"  # header, parties, totals of a real CII
    return (head + body + padding + "</rsm:CrossIndustryInvoice>\n").encode()


def pdf(rng: random.Random, number: str) -> bytes:
    # A PDF's streams are compressed: as good as random bytes for hashing and storage.
    return b"%PDF-1.7\n% " + number.encode() + b"\n" + rng.randbytes(30_000) + b"\n%%EOF\n"


def tree_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


MEMBERS = ("mem_bench", "mem_other")
FIRST_YEAR, YEARS = 2017, 10


def seed(store: Store, invoices: int, rng: random.Random, key) -> None:
    now = datetime.now(UTC)
    with store.begin() as conn:
        for n, member in enumerate(MEMBERS):
            siret = f"8123456760001{n}"
            store.insert_member(conn, id=member, name=member, siret=siret, created_at=now)
    batch = 500
    for year in range(FIRST_YEAR, FIRST_YEAR + YEARS):
        first = (year - FIRST_YEAR) * invoices // YEARS
        last = (year - FIRST_YEAR + 1) * invoices // YEARS
        for start in range(first, last, batch):
            with store.begin() as conn:
                for index in range(start, min(start + batch, last)):
                    seed_invoice(store, conn, index, year, rng)
            done = min(start + batch, last)
            if done % 5000 == 0 or done == invoices:
                print(f"  semé : {done}/{invoices} factures", file=sys.stderr, flush=True)
        store.add_checkpoint(key)  # the worker signs one a day: one a year is enough here


def seed_invoice(store: Store, conn, index: int, year: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    number = f"FA-{year}-{index:06d}"
    member = MEMBERS[index % 2]
    seq = store.insert_invoice(
        conn,
        id=f"inv_{index:08d}",
        member_id=member,
        number=number,
        type="invoice",
        status="DEPOSEE",
        channel="chorus",
        outlet="chorus",
        source_format="cii",
        data={"number": number, "issue_date": f"{year}-06-15"},
        warnings=[],
        created_at=now,
        updated_at=now,
        attempts=1,
    )
    store.add_event(
        conn,
        member,
        "invoice.received",
        {"number": number, "new": "RECU"},
        invoice_id=f"inv_{index:08d}",
    )
    store.add_document(conn, seq, "facture.xml", "application/xml", cii(number))
    store.add_document(conn, seq, "facture.pdf", "application/pdf", pdf(rng, number))


def bench_export(store: Store, key, root: Path) -> None:
    """Export one member's last year as the API streams it, then verify the zip offline."""
    year = FIRST_YEAR + YEARS - 1
    member = store.get_member(MEMBERS[0])
    started = time.perf_counter()
    made = export_year(store, key, member, year, "bench", lambda: datetime.now(UTC))
    path = root / made.filename
    with path.open("wb") as out:
        for chunk in made.chunks:
            out.write(chunk)
    exported = time.perf_counter() - started
    started = time.perf_counter()
    report = verify_export(path, archive.public_key_hex(key), lambda *_: None)
    verified = time.perf_counter() - started
    assert report.clean, report.problems[:3]
    print(
        f"export de {year} d'un membre : {made.documents} documents, {report.entries} entrées "
        f"du journal, zip de {path.stat().st_size / 1e6:.1f} Mo en {exported:.1f} s ; "
        f"vérifié hors ligne en {verified:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=4000)
    parser.add_argument("--dir", help="where to build the archive (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="archive-bench-"))
    invoices = max(1, args.documents // 2)
    store = Store(
        f"sqlite:///{root / 'gateway.sqlite3'}",
        blobs=archive.FilesystemBlobStore(root / "archive"),
    )
    store.migrate()
    key = Ed25519PrivateKey.generate()
    started = time.perf_counter()
    seed(store, invoices, random.Random(12), key)
    seeded = time.perf_counter() - started

    def progress(what: str, done: int, total: int) -> None:
        if done % 50_000 == 0 or done == total:
            print(f"  {what} : {done}/{total}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    report = archive.verify(store, store.blobs, archive.public_key_hex(key), progress)
    verified = time.perf_counter() - started
    assert report.clean, report.problems[:3]
    blobs = tree_size(root / "archive")
    database = sum(
        (root / name).stat().st_size
        for name in ("gateway.sqlite3", "gateway.sqlite3-wal")
        if (root / name).exists()
    )
    print(f"archive : {root}")
    print(
        f"{report.documents} documents, {report.entries} entrées du journal, "
        f"{invoices} factures (semées en {seeded:.1f} s)"
    )
    print(
        f"vérification : {verified:.1f} s "
        f"({report.documents / verified:.0f} documents/s, "
        f"{(blobs / 1e6) / verified:.0f} Mo/s de blobs, "
        f"{report.entries / verified:.0f} entrées/s)"
    )
    print(
        f"taille par facture : {(blobs + database) / invoices / 1024:.1f} Kio "
        f"(blobs {blobs / invoices / 1024:.1f} Kio, base {database / invoices / 1024:.1f} Kio)"
    )
    print(report.verdict())
    bench_export(store, key, root)
    store.dispose()
    if not args.dir:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

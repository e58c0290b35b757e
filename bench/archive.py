"""Time ``archive verify`` on a large archive, and measure the archive's size per invoice.

Seeds an archive on SQLite and the filesystem blob store as the gateway writes it: per
invoice, a CII of 20 lines (about 15 KB) and a PDF (about 30 KB), each archived with its
journal entry, and the invoice's reception event (journaled too); then one signed
checkpoint. Prints the time to verify everything (every blob re-hashed, the whole chain,
the checkpoint) and the archive's bytes per invoice (blobs, database).

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


def seed(store: Store, invoices: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    with store.begin() as conn:
        store.insert_member(conn, id="mem_bench", name="Librairie du banc", created_at=now)
    batch = 500
    for start in range(0, invoices, batch):
        with store.begin() as conn:
            for index in range(start, min(start + batch, invoices)):
                number = f"FA-2026-{index:06d}"
                seq = store.insert_invoice(
                    conn,
                    id=f"inv_{index:08d}",
                    member_id="mem_bench",
                    number=number,
                    type="invoice",
                    status="DEPOSEE",
                    channel="chorus",
                    outlet="chorus",
                    source_format="cii",
                    data={"number": number},
                    warnings=[],
                    created_at=now,
                    updated_at=now,
                    attempts=1,
                )
                store.add_event(
                    conn,
                    "mem_bench",
                    "invoice.received",
                    {"number": number, "new": "RECU"},
                    invoice_id=f"inv_{index:08d}",
                )
                store.add_document(conn, seq, "facture.xml", "application/xml", cii(number))
                store.add_document(conn, seq, "facture.pdf", "application/pdf", pdf(rng, number))
        done = min(start + batch, invoices)
        if done % 5000 == 0 or done == invoices:
            print(f"  semé : {done}/{invoices} factures", file=sys.stderr, flush=True)


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
    started = time.perf_counter()
    seed(store, invoices, random.Random(12))
    seeded = time.perf_counter() - started
    key = Ed25519PrivateKey.generate()
    store.add_checkpoint(key)

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
    store.dispose()
    if not args.dir:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

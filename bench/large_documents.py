"""Time very large documents through the submission path, in process (no HTTP).

For each format (UBL, CII, CSV, canonical JSON, and a zip holding the CII): the time to
the refusal of a document over ``max_invoice_lines`` (413), then, for the accepted size,
the time to accept it and where it goes, stage by stage (parse, route and enrich, render,
validate, persist), measured on the pipeline's own methods.

    .venv/bin/python bench/large_documents.py [--over 20000] [--accept LINES]
        [--formats json,ubl,cii,csv,zip] [--stages json]

Accepting thousands of lines takes seconds per format: ``--stages`` names the formats whose
accepted document is also timed (json alone by default).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import tempfile
import time
import zipfile
from pathlib import Path

from lxml import etree

from gateway.config import load_config
from gateway.errors import DomainError
from gateway.schemas import load_invoice
from gateway.services import build_services
from gateway.store import Store
from gateway.validation import validate

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = json.loads((ROOT / "tests" / "data" / "json" / "invoice-seine-maritime.json").read_text())
CSV_SAMPLE = (ROOT / "tests" / "data" / "csv" / "seine-maritime-utf8-semicolon.csv").read_text()
MEDIA_TYPES = {
    "json": "application/json",
    "ubl": "application/ubl+xml",
    "cii": "application/cii+xml",
    "csv": "text/csv",
    "zip": "application/zip",
}


def canonical(lines: int, number: str) -> dict:
    """The sample invoice with ``lines`` lines (its own, repeated) and no printed totals."""
    document = copy.deepcopy(SAMPLE)
    document["number"] = number
    document["lines"] = [dict(SAMPLE["lines"][i % 3]) for i in range(lines)]
    return document


#: Documents already built, by (format, lines): the zip holds the CII one.
BUILT: dict[tuple[str, int], bytes] = {}


def document(services, fmt: str, lines: int, number: str) -> bytes:
    if (fmt, lines) not in BUILT:
        BUILT[fmt, lines] = build(services, fmt, lines, number)
    return BUILT[fmt, lines]


def build(services, fmt: str, lines: int, number: str) -> bytes:
    if fmt == "json":
        return json.dumps(canonical(lines, number)).encode()
    if fmt == "csv":
        header, *rows = CSV_SAMPLE.splitlines()
        # Printed totals are the three-line sample's: drop them (the columns stay, empty).
        cut = [row.rsplit(";", 4)[0] + ";;;;" for row in rows]
        body = [cut[i % 3].replace("FA-2026-0142", number, 1) for i in range(lines)]
        return "\n".join([header, *body]).encode()
    invoice = load_invoice(canonical(lines, number))
    if fmt in ("ubl", "cii"):
        # Without indentation: 20 000 CII lines then fit the XML size limit (20 MB).
        rendered = services.registry.renderers[fmt].render(invoice, profile="chorus")
        parser = etree.XMLParser(remove_blank_text=True, huge_tree=True)
        return etree.tostring(etree.fromstring(rendered, parser), xml_declaration=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("facture.xml", document(services, "cii", lines, "BIG-cii"))
    return buffer.getvalue()


def timed(action, *args) -> tuple[float, object]:
    start = time.perf_counter()
    try:
        result = action(*args)
    except DomainError as ex:
        result = ex
    return time.perf_counter() - start, result


def outcome(result) -> str:
    if isinstance(result, DomainError):
        codes = sorted({f.code for f in result.findings if f.is_error})
        return f"{type(result).__name__} {', '.join(codes[:3])}"
    return "accepted"


def stages(services, member_id: str, data: bytes, fmt: str) -> dict[str, object]:
    """Time each stage of one submission, calling the pipeline's own steps in its order."""
    pipeline = services.pipeline
    times: dict[str, object] = {}
    start = time.perf_counter()
    handler, invoices = pipeline.read(data, MEDIA_TYPES[fmt], None)
    times["parse"] = time.perf_counter() - start
    (invoice,) = invoices
    start = time.perf_counter()
    customer = pipeline.customer(member_id, invoice.buyer.siret)
    route, _ = pipeline.route(invoice, customer)
    entry, _ = pipeline.lookup_directory(route, invoice.buyer.siret)
    pipeline.enrich(invoice, customer, entry)
    times["route+enrich"] = time.perf_counter() - start
    start = time.perf_counter()
    rendered, _ = pipeline.render_for(route, invoice, {})
    times["render"] = time.perf_counter() - start
    start = time.perf_counter()
    validate(
        services.registry.pm, invoice, customer=customer, directory_entry=entry, document=rendered
    )
    times["validate"] = time.perf_counter() - start
    times["whole submit"], result = timed(pipeline.submit, member_id, data, MEDIA_TYPES[fmt], None)
    times["outcome"] = outcome(result)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--over",
        default="20000",
        help="lines of the refused documents (sizes, by commas; the limit + 1 is always tried)",
    )
    parser.add_argument(
        "--accept", type=int, help="lines of the accepted ones (default: max_invoice_lines)"
    )
    parser.add_argument("--formats", default="json,ubl,cii,csv,zip")
    parser.add_argument("--stages", default="json", help="formats whose accepted size is timed")
    parser.add_argument(
        "--budget", type=float, default=0, help="max_document_seconds (0: none, the costs alone)"
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-large-"))
    (home / "var").mkdir()
    config = load_config(
        ROOT / "conf" / "gateway.toml",
        env={"GATEWAY_HOME": str(home)},
        database_url=f"sqlite:///{home / 'var' / 'gateway.sqlite3'}",
        secret_key=None,
        secret_key_file=home / "var" / "secret-key",
        rate_limit_per_minute=0,
        # The costs themselves (unless --budget): no heavy-document slot either.
        max_document_seconds=args.budget,
        heavy_documents=0,
    )
    config.channels = {channel: "memory" for channel in config.channels}
    config.plugins = {"memory": {**config.plugins["memory"], "journal": str(home / "j.jsonl")}}
    config.ensure_secret_key()
    store = Store(config.database_url)
    store.migrate()
    services = build_services(config, store=store)
    member, _ = services.members.create("Librairie des Quais", siret=SAMPLE["seller"]["siret"])
    formats = args.formats.split(",")

    print(f"max_invoice_lines = {config.max_invoice_lines}")
    accept = args.accept or config.max_invoice_lines
    for over in [*map(int, args.over.split(",")), config.max_invoice_lines + 1]:
        print(f"\n{over} lines (over the limit):")
        print(f"{'format':8} {'bytes':>11} {'build s':>8} {'answer s':>9}  outcome")
        for fmt in formats:
            start = time.perf_counter()
            data = document(services, fmt, over, f"BIG-{fmt}")
            built = time.perf_counter() - start
            took, result = timed(services.invoices.submit, member["id"], data, MEDIA_TYPES[fmt])
            print(f"{fmt:8} {len(data):>11} {built:>8.2f} {took:>9.2f}  {outcome(result)}")

    print(f"\n{accept} lines (accepted size), stage by stage, seconds:")
    for fmt in args.stages.split(","):
        if not fmt:
            continue
        data = document(services, fmt, accept, f"OK-{fmt}")
        try:
            times = stages(services, member["id"], data, fmt)
        except DomainError as ex:
            print(f"{fmt:8} refused: {outcome(ex)}")
            continue
        per_line = times["whole submit"] / accept * 1000
        print(
            f"{fmt:8} "
            + "  ".join(f"{name} {value:.2f}" for name, value in times.items() if name != "outcome")
            + f"  ({per_line:.2f} ms a line, {times['outcome']})"
        )
    store.dispose()


if __name__ == "__main__":
    main()

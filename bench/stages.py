"""What each stage of one invoice costs the gateway, against the bare libraries, by size.

For invoices of 1, 20, 200 and 2 000 lines (canonical JSON: the Seine-Maritime sample, its
three lines repeated), on the Factur-X route of ``conf/gateway.toml`` (chorus channel →
chorus outlet, ``facturx`` renderer), with the Chorus Pro sandbox (``contrib/chorus_sandbox``)
on a free loopback port for the directory and the deposits. Each stage is timed on the
gateway's own methods, in the order a submission and then the worker call them:

- parse: ``Pipeline.read`` (format chosen, JSON read, schema, model, line count, faults);
- enrich: the first half of ``Pipeline.prepare``: the customer, ``plan_route`` (routing
  hooks, the directory, cached a day), the member's settings, ``enrich``;
- render: ``Pipeline.render_for`` (the Factur-X PDF/A-3b, its CII inside);
- validate: ``gateway.validation.validate`` on the rendered PDF and the original, the
  seller's checks, and the duplicate-number read of ``prepare_all``;
- store: ``Pipeline._persist`` (the invoice, history, event, journal, both documents in
  the archive: one transaction; then the status-change hook, after the commit);
- send: the chorus outlet's ``send_batch`` for that invoice, on the worker's own
  ``SendContext`` (``Worker._prepare``, not timed: lease, directory checked afresh): the
  deposit to the sandbox.

In the same run, each stage's core work done by the libraries alone (the floor): parse =
``json.loads``; render = fpdf2 (same fonts, PDF/A-3b) writing the same cell texts of the
same number of lines with ``text()``, plus the same CII serialised by lxml and attached;
validate = the Factur-X XML taken out of the PDF by the factur-x library, its XSD (lxml)
and the EN 16931 schematron run bare with saxonche; store = one sqlite3 transaction
inserting the row (its data as JSON) and both documents' bytes (and, printed apart, the
same with both documents also written to files and synced, as the archive does); send =
one httpx POST of the same PDF (base64, as the API wants it) to the sandbox's deposit
endpoint. Enrich has no bare equivalent: it is the gateway's own logic (customers,
routes, directory cache).

    .venv/bin/python -m bench.stages [--lines 1,20,200,2000] [--runs 7] [--seconds 20]

Medians over warm runs, taken by rounds (one run of each size a round, so that a shared
machine's load falls alike on every size): up to ``--runs`` per size, fewer once a size
has used its ``--seconds`` (at least 3). parse, enrich, render and validate are CPU time
of the process (``time.process_time``: one core's cost, all threads); store and send are
wall time (store waits for the disk, send for the sandbox, another process). Figures go to
bench/results.json, section ``stages``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import facturx
from lxml import etree
from saxonche import PySaxonProcessor

from bench.chorus import Gateway, sandbox_at_home
from bench.large_documents import MEDIA_TYPES, canonical
from bench.results import record
from gateway import lifecycle
from gateway.codec import invoice_to_data
from gateway.logs import configure_logging
from gateway.pipeline import Prepared, original_document
from gateway.tenancy import seller_findings
from gateway.validation import errors_of, validate, without_overlaps
from plugins.en16931 import pdf as facturx_pdf
from plugins.en16931.mapping import written_figures
from plugins.en16931.rules import ARTEFACTS, SYNTAXES
from tests.contrib.chorus_sandbox.conftest import SandboxClient
from tests.plugins.chorus.sandbox import Sandbox

STAGES = ("parse", "enrich", "render", "validate", "store", "send")
#: Which clock each stage is read on.
CLOCKS = {
    "parse": "cpu",
    "enrich": "cpu",
    "render": "cpu",
    "validate": "cpu",
    "store": "wall",
    "send": "wall",
    "durable": "wall",
}
#: Why a stage has no bare figure.
NO_FLOOR = {
    "enrich": "the gateway's own logic (customer, routing hooks, directory cache, enrichers): "
    "no library does it"
}
DEPOSIT = "factures/v1/deposer/flux"


class Clock:
    """Both clocks of one stage."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    def __enter__(self) -> Clock:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *_) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


class Run:
    """One run's timings: ``gateway[stage]`` and ``bare[stage]``, each (cpu, wall) seconds."""

    def __init__(self) -> None:
        self.gateway: dict[str, tuple[float, float]] = {}
        self.bare: dict[str, tuple[float, float]] = {}
        self.pdf_bytes = 0

    def time(self, side: str, stage: str, action: Callable, *args):
        with Clock() as clock:
            result = action(*args)
        getattr(self, side)[stage] = (clock.cpu, clock.wall)
        return result


class Bare:
    """The libraries alone, doing each stage's core work on the same bytes."""

    def __init__(self, home: Path, sandbox: Sandbox):
        self.processor = PySaxonProcessor(license=False)
        syntax = SYNTAXES["CII"]
        self.schematron = self.processor.new_xslt30_processor().compile_stylesheet(
            stylesheet_file=str(ARTEFACTS / syntax.schematron)
        )
        self.schema = etree.XMLSchema(file=str(ARTEFACTS / syntax.xsd))
        self.blobs = home / "bare-blobs"
        self.db = sqlite3.connect(home / "bare.sqlite3", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(
            """
            CREATE TABLE invoices (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, member_id TEXT,
                number TEXT, status TEXT, line_count INTEGER, data TEXT, created_at TEXT);
            CREATE TABLE documents (id INTEGER PRIMARY KEY, invoice_seq INTEGER
                REFERENCES invoices (seq), name TEXT, media_type TEXT, content BLOB);
            """
        )
        self.platform = SandboxClient(sandbox.url)

    def parse(self, data: bytes) -> dict:
        return json.loads(data)

    def render(self, invoice, cells: list[list[str]], cii: etree._Element) -> bytes:
        """fpdf2 with the gateway's fonts (loaded once per process, as it does) writing the
        lines' cell texts where the columns start (no measuring, no wrapping, no head or
        totals), the same CII serialised by lxml, attached, the file written."""
        page = facturx_pdf._Page(invoice, facturx_pdf.FACTURX_BASE)
        page.add_page()
        page.set_font(facturx_pdf.FAMILY, "", 8.5)
        starts = []
        x = facturx_pdf.MARGIN
        for _, width, _ in facturx_pdf.COLUMNS:
            starts.append(x + 1)
            x += width
        y = 60.0
        for row in cells:
            if y > 270:
                page.add_page()
                y = 20.0
            for start, text in zip(starts, row, strict=True):
                page.text(start, y, text)
            y += 5.8
        xml = etree.tostring(cii, xml_declaration=True, encoding="UTF-8")
        page.embed_file(bytes=xml, basename="factur-x.xml", compress=True)
        return bytes(page.output())

    def validate(self, document: bytes) -> None:
        _, xml = facturx.get_xml_from_pdf(document, check_xsd=False)
        root = etree.fromstring(xml)
        assert self.schema.validate(root), self.schema.error_log
        node = self.processor.parse_xml(xml_text=xml.decode())
        svrl = self.schematron.transform_to_string(xdm_node=node)
        assert "failed-assert" not in svrl

    def store(self, row: dict, data: dict, documents: list[tuple[str, str, bytes]]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            seq = self.db.execute(
                "INSERT INTO invoices (id, member_id, number, status, line_count, data, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*row.values(), json.dumps(data), time.strftime("%Y-%m-%dT%H:%M:%S")),
            ).lastrowid
            self.db.executemany(
                "INSERT INTO documents (invoice_seq, name, media_type, content) VALUES "
                "(?, ?, ?, ?)",
                [(seq, *document) for document in documents],
            )

    def durable(self, documents: list[tuple[str, str, bytes]]) -> None:
        """The documents' bytes written to files and flushed to disk, each file and its
        directory synced, as the archive keeps them (``FilesystemBlobStore.put``)."""
        self.blobs.mkdir(exist_ok=True)
        for _, _, content in documents:
            descriptor, _ = tempfile.mkstemp(dir=self.blobs)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            directory = os.open(self.blobs, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def send(self, content: bytes, number: str) -> None:
        answer = self.platform.call(
            DEPOSIT,
            {
                "fichierFlux": base64.b64encode(content).decode("ascii"),
                "nomFichier": f"bare_{number}.pdf",
                "syntaxeFlux": "IN_DP_E2_CII_FACTURX",
                "avecSignature": False,
            },
        )
        assert answer.status_code == 200 and answer.json().get("numeroFluxDepot"), answer.text

    def close(self) -> None:
        self.db.close()
        self.platform.close()


def one_run(gateway: Gateway, bare: Bare, lines: int, number: str) -> Run:
    """Take one invoice of ``lines`` lines through every stage, each followed by its floor."""
    services, member_id = gateway.services, gateway.member_id
    pipeline = services.pipeline
    run = Run()
    data = json.dumps(canonical(lines, number)).encode()

    handler, (invoice,) = run.time(
        "gateway", "parse", pipeline.read, data, MEDIA_TYPES["json"], None
    )
    run.time("bare", "parse", bare.parse, data)

    def enrich():
        customer = pipeline.customer(member_id, invoice.buyer.siret)
        plan = pipeline.plan_route(member_id, invoice, customer, invoice.buyer.siret)
        findings = plan.findings + pipeline.enrich(invoice, customer, plan.entry)
        return customer, plan, findings, pipeline.member_settings(member_id)

    customer, plan, findings, settings = run.time("gateway", "enrich", enrich)
    assert plan.route is not None and plan.route.outlet == "chorus", plan

    document, rendered = run.time(
        "gateway", "render", pipeline.render_for, plan.route, invoice, settings
    )
    assert document is not None and not rendered, rendered
    run.pdf_bytes = len(document.content)
    figures = written_figures(invoice)
    cells = [facturx_pdf._line_cells(line, figures.currency) for line in figures.lines]
    cii = etree.fromstring(facturx.get_xml_from_pdf(document.content, check_xsd=False)[1])
    run.time("bare", "render", bare.render, figures, cells, cii)

    def judge():
        found = validate(
            services.registry.pm,
            invoice,
            customer=customer,
            directory_entry=plan.entry,
            document=document,
            original=original_document(handler, data),
        )
        found += seller_findings(pipeline.member_siret(member_id), invoice)
        with services.store.read() as conn:
            taken = pipeline.number_taken(conn, member_id, invoice.number)
        return without_overlaps(findings + found, None), taken

    judged, taken = run.time("gateway", "validate", judge)
    assert not errors_of(judged) and not taken, errors_of(judged)
    run.time("bare", "validate", bare.validate, document.content)

    prepared = Prepared(invoice, customer, plan.route, document, judged)
    accepted = run.time(
        "gateway", "store", pipeline._persist, member_id, handler, data, [prepared], None
    )
    (receipt,) = accepted.receipts
    row = {
        "id": receipt["id"] + "-bare",
        "member_id": member_id,
        "number": invoice.number,
        "status": lifecycle.RECU,
        "line_count": len(invoice.lines),
    }
    documents = [
        ("original.json", "application/json", data),
        (document.name, document.media_type, document.content),
    ]
    run.time("bare", "store", bare.store, row, invoice_to_data(invoice), documents)
    run.time("bare", "durable", bare.durable, documents)

    worker = gateway.worker()
    lease = timedelta(seconds=worker.settings.lease_seconds)
    (entry,) = services.store.claim_due(
        worker.owner, worker.clock(), lease, 1, lifecycle.OUTBOX_STATUSES
    )
    assert entry.invoice_id == receipt["id"]
    ready = worker._prepare(entry)
    assert ready is not None and ready.outlet.name == "chorus"
    started = worker.clock()
    (result,) = run.time(
        "gateway",
        "send",
        ready.outlet.send_batch,
        [(ready.invoice, ready.documents, ready.context)],
    )
    worker._record(entry, ready.context.attempt, result, started)
    assert services.store.get_invoice(entry.invoice_id)["status"] == lifecycle.DEPOSEE, result
    run.time("bare", "send", bare.send, document.content, invoice.number)
    return run


def median_ms(runs: list[Run], side: str, stage: str) -> float | None:
    values = [getattr(run, side).get(stage) for run in runs]
    if None in values:
        return None
    index = 0 if CLOCKS[stage] == "cpu" else 1
    return statistics.median(value[index] for value in values) * 1000


def summarise(lines: int, runs: list[Run]) -> dict:
    stages = {}
    for stage in STAGES:
        ours, floor = median_ms(runs, "gateway", stage), median_ms(runs, "bare", stage)
        stages[stage] = {
            "clock": CLOCKS[stage],
            "gateway_ms": ours,
            "bare_ms": floor,
            "ratio": ours / floor if floor else None,
        }
    store = stages["store"]
    store["bare_with_fsync_ms"] = store["bare_ms"] + median_ms(runs, "bare", "durable")
    store["ratio_with_fsync"] = store["gateway_ms"] / store["bare_with_fsync_ms"]
    total = sum(s["gateway_ms"] for s in stages.values())
    floors = [s["bare_ms"] for s in stages.values() if s["bare_ms"] is not None]
    with_floor = sum(s["gateway_ms"] for s in stages.values() if s["bare_ms"] is not None)
    return {
        "runs": len(runs),
        "pdf_bytes": runs[-1].pdf_bytes,
        "stages": stages,
        "total_ms": total,
        "ms_per_line": total / lines,
        "bare_total_ms": sum(floors),
        "ratio_where_bare": with_floor / sum(floors),
    }


def measure(gateway: Gateway, bare: Bare, sizes: list[int], runs: int, seconds: float) -> dict:
    """Runs by rounds, one of each size a round, so that every size meets the same load
    (the machine may be shared); a size stops at ``runs``, or at 3 once past ``seconds``."""
    for index in range(3):  # stylesheets compiled, fonts loaded, token and directory cached
        one_run(gateway, bare, 20, f"WARM-{index}")
    done: dict[int, list[Run]] = {lines: [] for lines in sizes}
    spent = dict.fromkeys(sizes, 0.0)
    while True:
        due = [
            lines
            for lines in sizes
            if len(done[lines]) < runs and (len(done[lines]) < 3 or spent[lines] < seconds)
        ]
        if not due:
            return {lines: summarise(lines, done[lines]) for lines in sizes}
        for lines in due:
            start = time.perf_counter()
            done[lines].append(one_run(gateway, bare, lines, f"ST-{lines}-{len(done[lines])}"))
            spent[lines] += time.perf_counter() - start


def cell(value: float | None, width: int, digits: int = 1) -> str:
    return f"{'—':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def marginal(figures: dict, stage: str, fewer: int, more: int) -> float:
    """What each line between ``fewer`` and ``more`` lines added to ``stage`` (or the total)."""

    def ms(lines: int) -> float:
        size = figures[lines]
        return size["total_ms"] if stage == "total" else size["stages"][stage]["gateway_ms"]

    return (ms(more) - ms(fewer)) / (more - fewer)


def report(figures: dict) -> None:
    print(
        "Per-stage cost of one invoice (canonical JSON → Factur-X → Chorus Pro sandbox), "
        "median ms: gateway, bare libraries, ratio"
    )
    print(f"{'lines':>6} {'stage':<9} {'clock':<5} {'gateway':>9} {'bare':>9} {'ratio':>6}")
    for lines, size in figures.items():
        for stage, row in size["stages"].items():
            print(
                f"{lines:>6} {stage:<9} {row['clock']:<5} {cell(row['gateway_ms'], 9)} "
                f"{cell(row['bare_ms'], 9)} {cell(row['ratio'], 6)}"
            )
        print(
            f"{lines:>6} {'total':<9} {'':<5} {cell(size['total_ms'], 9)} "
            f"{cell(size['bare_total_ms'], 9)} {cell(size['ratio_where_bare'], 6)}"
            f"   ({size['runs']} runs; bare total and ratio without enrich)"
        )
    print("\nCost per line (ms a line, gateway), by stage and in all:")
    sizes = list(figures)
    print(f"{'stage':<9}" + "".join(f"{n:>10}" for n in sizes))
    for stage in STAGES:
        print(
            f"{stage:<9}"
            + "".join(cell(figures[n]["stages"][stage]["gateway_ms"] / n, 10, 3) for n in sizes)
        )
    print(f"{'total':<9}" + "".join(cell(figures[n]["ms_per_line"], 10, 3) for n in sizes))
    if len(sizes) > 1:
        steps = list(zip(sizes, sizes[1:], strict=False))
        print("\nCost of each added line (ms a line, gateway) from one size to the next:")
        print(f"{'stage':<9}" + "".join(f"{f'{a}→{b}':>12}" for a, b in steps))
        for stage in (*STAGES, "total"):
            print(
                f"{stage:<9}"
                + "".join(cell(marginal(figures, stage, a, b), 12, 3) for a, b in steps)
            )
    print(
        "\nstore's floor is a sqlite3 transaction in WAL (synchronous=NORMAL: no fsync at "
        "commit);\nthe gateway also writes both documents to the archive, each file synced. "
        "With that\nfsync in the floor, lines: floor ms (ratio): "
        + ", ".join(
            f"{n}: {size['stages']['store']['bare_with_fsync_ms']:.1f} "
            f"({size['stages']['store']['ratio_with_fsync']:.1f})"
            for n, size in figures.items()
        )
    )
    print(f"enrich has no bare figure (—): {NO_FLOOR['enrich']}.")
    print("cpu = process CPU time (all threads), wall = elapsed; the total adds both kinds.")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="1,20,200,2000", help="line counts, by commas")
    parser.add_argument("--runs", type=int, default=7, help="most runs per line count")
    parser.add_argument(
        "--seconds", type=float, default=20, help="time per line count (at least 3 runs)"
    )
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.lines.split(",") if n]
    configure_logging("console", "WARNING")
    with sandbox_at_home("bench-stages-") as (home, sandbox):
        gateway = Gateway(home, sandbox, 1, "stages")
        bare = Bare(home, sandbox)
        try:
            figures = measure(gateway, bare, sizes, args.runs, args.seconds)
        finally:
            bare.close()
            gateway.services.store.dispose()
    report(figures)
    sizes = list(figures)
    results = {
        "lines": {str(n): size for n, size in figures.items()},
        "ms_per_added_line": {
            f"{a}-{b}": {stage: marginal(figures, stage, a, b) for stage in (*STAGES, "total")}
            for a, b in zip(sizes, sizes[1:], strict=False)
        },
    }
    record("stages", results)
    return results


if __name__ == "__main__":
    main()

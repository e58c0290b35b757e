"""Time the Factur-X PDF/A-3b of a twenty-line invoice, stage by stage, in one process.

Renders the invoice of tests/plugins/en16931/test_formats.py's ``twenty_lines`` with the
``facturx`` renderer for about ``--seconds`` (warm: fonts and templates loaded once), and
prints the median per PDF, the PDFs per second on one core, and where the time goes:
drawing the page with fpdf2, subsetting and embedding the fonts, the XMP (PDF/A) metadata,
the rest of fpdf2's output, writing the CII and attaching it. As a reference, each round
also renders an empty page with the same fonts (fpdf2's floor); their ratio is printed.

    .venv/bin/python bench/render.py [--seconds 10]

Times are the process's CPU time (``time.process_time``: the cost on one core, less
disturbed than the wall clock by other work on a shared machine). The stages are timed by
wrapping the libraries' own methods (a few microseconds a call); the rounds alternate with
the reference, so both see the same load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from pathlib import Path

from fpdf import FPDF
from fpdf.output import OutputProducer

from plugins.en16931 import mapping, pdf, renderers
from plugins.en16931.pdf import FACTURX_BASE, _Page
from plugins.en16931.renderers import FacturxRenderer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the invoice is the tests' one, run from bench/

from tests.plugins.en16931.test_formats import twenty_lines  # noqa: E402

#: Stage name -> the methods whose time it is (owner, attribute).
STAGES = {
    "fonts": [(OutputProducer, "_add_fonts")],
    "xmp": [(OutputProducer, "_add_xmp_metadata")],
    "output": [(FPDF, "output")],
    "cii": [(renderers, "render_xml")],
    "attach": [(pdf._Writer, "_attach")],
}


@contextmanager
def wrapped(owner: object, name: str, spent: dict[str, float], stage: str):
    """Add the time of every call of ``owner.name`` to ``spent[stage]``."""
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[stage] += time.process_time() - start

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)


def empty_page() -> bytes:
    """fpdf2's floor: a PDF/A-3b page with the same fonts, only its footer written."""
    pdf = _Page(mapping.written_figures(twenty_lines()), FACTURX_BASE)
    pdf.add_page()
    return bytes(pdf.output())


def measure(seconds: float) -> dict:
    invoice = twenty_lines()
    renderer = FacturxRenderer()
    for _ in range(5):  # fonts parsed, stylesheets and templates built
        renderer.render(invoice, profile="fr-2026")
        empty_page()
    rounds: list[dict[str, float]] = []
    references: list[float] = []
    size = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rounds) < 20:
        spent: dict[str, float] = defaultdict(float)
        with ExitStack() as stack:
            for stage, methods in STAGES.items():
                for owner, name in methods:
                    stack.enter_context(wrapped(owner, name, spent, stage))
            start = time.process_time()
            size = len(renderer.render(invoice, profile="fr-2026"))
            spent["total"] = time.process_time() - start
        rounds.append(spent)
        start = time.process_time()
        empty_page()
        references.append(time.process_time() - start)

    def median_ms(stage: str) -> float:
        return statistics.median(spent[stage] for spent in rounds) * 1000

    def median_of(part) -> float:
        return statistics.median(part(spent) for spent in rounds) * 1000

    total = median_ms("total")
    alone = median_of(lambda s: s["total"] - s["cii"])
    reference = statistics.median(references) * 1000
    return {
        "runs": len(rounds),
        "bytes": size,
        "total_ms": total,
        "pdfs_per_second": 1000 / total,
        "stages_ms": {
            "draw": median_of(lambda s: s["total"] - s["cii"] - s["attach"] - s["output"]),
            "fonts": median_ms("fonts"),
            "xmp": median_ms("xmp"),
            "output_rest": median_of(lambda s: s["output"] - s["fonts"] - s["xmp"]),
            "cii": median_ms("cii"),
            "attach": median_ms("attach"),
        },
        "pdf_ms": alone,
        "empty_page_ms": reference,
        "ratio": total / reference,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    figures = measure(args.seconds)
    print(
        f"Factur-X PDF/A-3b, twenty-line invoice: {figures['runs']} renders, "
        f"{figures['bytes']} bytes"
    )
    print(
        f"median {figures['total_ms']:.1f} ms a PDF, {figures['pdfs_per_second']:.1f} PDFs/s "
        f"on one core (the PDF alone {figures['pdf_ms']:.1f} ms)"
    )
    for stage, value in figures["stages_ms"].items():
        print(f"  {stage:<12} {value:7.2f} ms  {value * 100 / figures['total_ms']:5.1f} %")
    print(
        f"empty page, same fonts: {figures['empty_page_ms']:.1f} ms; ratio {figures['ratio']:.2f}"
    )
    print("draw = fpdf2 drawing the page; fonts = subsetting and embedding them; xmp = the")
    print("PDF/A metadata written; output_rest = the rest of fpdf2's output (compression")
    print("included); cii = writing the XML; attach = declaring it to fpdf2 and building its")
    print("Factur-X XMP. CPU time; stage medians do not add up exactly to the total's.")
    return figures


if __name__ == "__main__":
    main()

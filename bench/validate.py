"""Time the EN 16931 rule set against the same stylesheets run bare with saxonche.

For a 20-line invoice in CII and in UBL: the hook's full validation (median of 200 warm
runs), the bare stylesheet run on the same document (parse + transform, median of 200),
their ratio, the first-call time (compiling included) and the rate per core.

    .venv/bin/python bench/validate.py [--runs 200] [--lines 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

from saxonche import PySaxonProcessor

from gateway.outlets import Document
from plugins.en16931.rules import ARTEFACTS, SYNTAXES, judge_documents

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "schematron_samples", ROOT / "tests" / "data" / "schematron" / "samples.py"
)
samples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(samples)


def medians_ms(actions: list, runs: int) -> list[float]:
    """Return each action's median time; runs alternate so that both see the same load."""
    timings: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        for action, samples_ in zip(actions, timings, strict=True):
            start = time.perf_counter()
            action()
            samples_.append(time.perf_counter() - start)
    return [statistics.median(samples_) * 1000 for samples_ in timings]


def bench(syntax: str, lines: int, runs: int, processor: PySaxonProcessor) -> dict:
    content = samples.render(samples.invoice_data(lines), syntax)
    document = Document(f"invoice.{syntax.lower()}.xml", "application/xml", content)

    def full():
        findings = judge_documents(document=document, original=None, rule_sets=None)
        assert findings == [], findings

    start = time.perf_counter()
    full()
    first_call = (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    executable = processor.new_xslt30_processor().compile_stylesheet(
        stylesheet_file=str(ARTEFACTS / SYNTAXES[syntax].schematron)
    )
    bare_compile = (time.perf_counter() - start) * 1000
    text = content.decode()

    def bare():
        executable.transform_to_string(xdm_node=processor.parse_xml(xml_text=text))

    for _ in range(10):  # warm both paths alike
        full()
        bare()
    full_ms, bare_ms = medians_ms([full, bare], runs)
    return {
        "syntax": syntax,
        "size": len(content),
        "full": full_ms,
        "bare": bare_ms,
        "ratio": full_ms / bare_ms,
        "first": first_call,
        "compile": bare_compile,
        "rate": 1000 / full_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--lines", type=int, default=20)
    args = parser.parse_args()
    processor = PySaxonProcessor(license=False)
    print(f"EN 16931 validation, {args.lines}-line invoice, median of {args.runs} warm runs")
    print(
        f"{'syntax':<6} {'bytes':>6} {'full ms':>8} {'bare ms':>8} {'ratio':>6} "
        f"{'1st call ms':>11} {'compile ms':>10} {'inv/s/core':>10}"
    )
    for syntax in ("CII", "UBL"):
        row = bench(syntax, args.lines, args.runs, processor)
        print(
            f"{row['syntax']:<6} {row['size']:>6} {row['full']:>8.2f} {row['bare']:>8.2f} "
            f"{row['ratio']:>6.2f} {row['first']:>11.0f} {row['compile']:>10.0f} "
            f"{row['rate']:>10.1f}"
        )
    print("full = the hook (XSD + schematron + SVRL to findings); bare = saxonche parse +")
    print("transform of the same stylesheet; 1st call = the hook's first call, compiling")
    print("included; compile = compiling the stylesheet alone.")


if __name__ == "__main__":
    main()

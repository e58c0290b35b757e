"""`make bench`: the per-stage table, then the end-to-end load run; both print their figures
and record them in bench/results.json.

    .venv/bin/python -m bench [--quick]

``--quick`` runs each with small sizes (a smoke run, not figures to quote). Each bench also
runs alone, with its own options: ``python -m bench.stages -h``, ``python -m bench.load -h``.
"""

from __future__ import annotations

import argparse

from bench import load, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args()
    stages.main(["--lines", "1,20", "--runs", "3"] if args.quick else [])
    load.main(["--invoices", "50"] if args.quick else [])


if __name__ == "__main__":
    main()

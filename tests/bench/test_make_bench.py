"""`make bench` runs on a fresh checkout: its quick run (small sizes, both databases) prints
the stage table and the load table and records both, nothing lost or sent twice. Figures
are not asserted: they are the benchmark's to print."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_bench_records_its_stages_and_its_load(tmp_path):
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        env={**os.environ, "BENCH_RESULTS": str(results)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Per-stage cost of one invoice" in run.stdout
    recorded = json.loads(results.read_text())
    assert {"stages", "load"} <= set(recorded)
    for database, layout in recorded["load"]["runs"].items():
        assert layout["accepted"] == layout["deposee"] == layout["invoices"], database
        assert (layout["lost"], layout["deposited_twice"]) == (0, 0), database
    assert set(recorded["load"]["runs"]) == {"sqlite", "postgresql"}

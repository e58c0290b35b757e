"""bench/results.json: each benchmark records its section there, next to the others'."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

#: Where the figures go; BENCH_RESULTS elsewhere (a smoke run must not replace them).
RESULTS = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).resolve().parent / "results.json")


def record(section: str, figures: dict, path: Path = RESULTS) -> None:
    """Replace ``section`` in the results file with ``figures``, stamped with when and where
    they were measured; the other sections stay as their last run left them."""
    results = json.loads(path.read_text()) if path.exists() else {}
    results[section] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()},
        **figures,
    }
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")

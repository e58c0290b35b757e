"""Two heavy documents sent at once to the real gunicorn: what the other members wait.

Runs the scenario of tests/integration/test_heavy_documents.py (two 3 000-line documents
from one member; meanwhile ``/v1/health`` probed in a loop and a small invoice from another
member) with the heavy-document slots off (``heavy_documents = 0``, as before) and on (1,
as shipped), and prints the slowest health answer and the small invoice's time.

    .venv/bin/python bench/heavy_neighbours.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scenario is the integration test's, run from bench/

from tests.integration.test_heavy_documents import (  # noqa: E402
    start_stack,
    watch_neighbours,
)


def main() -> None:
    print(
        f"{'heavy_documents':>15} {'heavy answers':>14} {'took s':>7} {'health max ms':>14} "
        f"{'health p50 ms':>14} {'small invoice ms':>17}"
    )
    for slots in (0, 1):
        stack, other_key = start_stack(Path(tempfile.mkdtemp(prefix="bench-heavy-")), slots)
        try:
            seen = watch_neighbours(stack, stack.key("demo"), other_key)
        finally:
            stack.close()
        latencies = sorted(latency for _, latency in seen.health)
        statuses = sorted(response.status_code for response in seen.heavy)
        small = f"{seen.small_seconds * 1000:.0f} ({seen.small.status_code})" if seen.small else "-"
        print(
            f"{slots:>15} {str(statuses):>14} {seen.heavy_done:>7.1f} "
            f"{latencies[-1] * 1000:>14.0f} {latencies[len(latencies) // 2] * 1000:>14.0f} "
            f"{small:>17}"
        )


if __name__ == "__main__":
    main()

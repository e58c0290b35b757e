"""A platform sandbox of ``contrib/`` in a subprocess, for outlet harnesses, tests and benches.

The sandboxes are not installed with the package: they run from a source checkout, found
beside it (or at the directory an environment variable names).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import ClassVar


class ContribSandbox:
    """A sandbox listening on a free loopback port, its state file and log in ``directory``.

    Subclasses name the ``module`` (``contrib.pa_sandbox``), a ``label`` for errors and the
    environment variable ``root_variable`` that may point at the checkout.
    """

    module: ClassVar[str]
    label: ClassVar[str]
    root_variable: ClassVar[str]

    def __init__(self, directory: Path, *arguments: str):
        stem = self.module.rsplit(".", 1)[-1].replace("_", "-")
        self.log = open(directory / f"{stem}.log", "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.module,
                "--port",
                "0",
                "--state",
                str(directory / f"{stem}.sqlite3"),
                *arguments,
            ],
            cwd=self.source_root(),
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        first = self.process.stdout.readline()  # printed once it listens
        found = re.search(r"http://127\.0\.0\.1:\d+", first)
        if not found:
            self.stop()
            raise RuntimeError(f"{self.label} did not start: {first!r}")
        self.base_url = found.group(0)

    @classmethod
    def source_root(cls) -> Path:
        """The checkout holding the sandbox's package."""
        root = Path(os.environ.get(cls.root_variable) or Path(__file__).resolve().parents[2])
        package = root.joinpath(*cls.module.split("."))
        if not (package / "__main__.py").exists():
            raise RuntimeError(
                f"{cls.label} is not under {root}: run from a source checkout of "
                f"facture-gateway, or set {cls.root_variable}"
            )
        return root

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process.stdout.close()
        self.log.close()

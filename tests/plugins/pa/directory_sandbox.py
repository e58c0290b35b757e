"""The PA sandbox (``contrib/pa_sandbox``) in a subprocess, for the tests of the reform's
directory: over HTTP on a free loopback port, with a state file of its own; its control API
(``/control/``) injects faults and reads its counters."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT

#: Seeded in the sandbox's directory (contrib/pa_sandbox/seed.py): a company receiving
#: through an approved platform, at its SIREN.
COMPANY_SIRET = "55210055400013"
COMPANY_NAME = "DIFFUSION DU LIVRE NORMAND"
#: A well-formed SIRET neither the reform's directory nor Chorus Pro's lists.
UNLISTED_SIRET = "55208131766522"


class PaSandbox:
    def __init__(self, directory: Path):
        self.log = open(directory / "pa-sandbox.log", "w")  # noqa: SIM115 (closed in stop)
        credentials = directory / "pa-sandbox-credentials.json"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "contrib.pa_sandbox",
                "--port",
                "0",
                "--state",
                str(directory / "state.sqlite3"),
                "--credentials-out",
                str(credentials),
                "--ack-delay",
                "-1",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        first = self.process.stdout.readline()  # printed once it listens
        found = re.search(r"http://127\.0\.0\.1:\d+", first)
        if not found:
            self.stop()
            raise RuntimeError(f"the PA sandbox did not start: {first!r}")
        self.url = found.group(0)
        self.credentials = json.loads(credentials.read_text())
        self.control = httpx.Client(base_url=f"{self.url}/control", timeout=30)

    def directory_settings(self, **overrides) -> dict:
        """``[plugins.pa_directory]`` for the sandbox's first demo client."""
        keys = ("directory_url", "token_url", "client_id", "client_secret")
        return {**{key: self.credentials[key] for key in keys}, **overrides}

    def faults(self, **plan) -> None:
        self.control.put("/faults", json=plan).raise_for_status()

    def clear_faults(self) -> None:
        self.control.delete("/faults").raise_for_status()

    def calls(self, operation: str) -> int:
        return self.control.get("/counters").json()["calls"].get(operation, 0)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process.stdout.close()
        self.log.close()

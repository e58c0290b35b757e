"""The Chorus Pro sandbox (``contrib/chorus_sandbox``) in a subprocess, for the tests and
benchmarks that reach it as a black box: over HTTP, on a free loopback port, with a state
file of its own; its control API (``/_sandbox/``) injects faults and reads its counters."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT


class Sandbox:
    """The Chorus Pro sandbox in a subprocess, flux processed only when asked."""

    def __init__(self, directory: Path, *options: str):
        self.log = open(directory / "sandbox.log", "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "contrib.chorus_sandbox",
                "--port",
                "0",
                "--state",
                str(directory / "state.sqlite3"),
                "--processing-delay",
                "-1",
                *options,
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
            raise RuntimeError(f"the sandbox did not start: {first!r}")
        self.url = found.group(0)
        self.control = httpx.Client(base_url=f"{self.url}/_sandbox", timeout=30)
        self.credentials = self.control.get("/credentials").json()

    def settings(self, **overrides) -> dict:
        keys = ("client_id", "client_secret", "login", "password", "token_url", "api_url")
        return {**{key: self.credentials[key] for key in keys}, **overrides}

    def process_flux(self) -> list[str]:
        return self.control.post("/process").json()["processed"]

    def faults(self, **plan) -> None:
        self.control.put("/faults", json=plan).raise_for_status()

    def clear_faults(self) -> None:
        self.control.delete("/faults").raise_for_status()

    def calls(self, operation: str) -> int:
        return self.control.get("/counters").json()["calls"].get(operation, 0)

    def deposits(self, number: str) -> int:
        counters = self.control.get("/counters").json()["deposits"]
        return counters.get(self.credentials["siret"], {}).get(number, 0)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process.stdout.close()
        self.log.close()

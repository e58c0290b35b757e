"""A platform sandbox of ``contrib/`` in a subprocess, for outlet harnesses, tests and benches.

The sandboxes are not installed with the package: they run from a source checkout, found
beside it (or at the directory an environment variable names).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from gateway.outlets import Outlet
from gateway.testing.odd import OddPlatform
from gateway.testing.outlets import OutletHarness


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


#: Seconds an outlet waits while an answer is lost or late, and how long a sandbox holds it
#: (longer, so that the outlet gives up).
SHORT_TIMEOUT = 0.5
HELD = 1.5


@contextmanager
def socket_closed(path: str) -> Iterator[str]:
    """A loopback URL (ending in ``path``) nothing listens on while the block runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{path}"


class SandboxHarness(OutletHarness):
    """The conformance harness of an outlet whose platform is a :class:`ContribSandbox`,
    with an :class:`OddPlatform` answering oddly at the same ``service_path``.

    Subclasses name the outlet, its ``sandbox_class``, the setting holding the platform's
    URL (``url_key``) and the odd bodies (``odd_bodies``), and provoke the sandbox's
    faults in :meth:`fail` (``server_error``, ``timeout``) and :meth:`lose_deposits`.
    """

    outages = ("refused", "server_error", "timeout")
    odd_answers = {"malformed": "illisible", "shape": "illisible|inattendue"}
    sandbox_class: ClassVar[type[ContribSandbox]]
    service_path: ClassVar[str]
    url_key: ClassVar[str]
    odd_bodies: ClassVar[dict[str, tuple[str, bytes]]]

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.sandbox = self.sandbox_class(workdir)
        self.odd = OddPlatform(self.odd_bodies, self.service_path)
        self.outlets: list[Outlet] = []

    def close(self) -> None:
        for outlet in self.outlets:
            outlet.http.close()
        self.odd.stop()
        self.sandbox.stop()

    def make(self, settings: dict) -> Outlet:
        outlet = self.new_outlet(settings)
        self.outlets.append(outlet)
        return outlet

    def new_outlet(self, settings: dict) -> Outlet:
        return self.outlet(settings)

    def good_settings(self) -> dict:
        return self.sandbox.settings(timeout=5.0)

    def fail(self, kind: str) -> None:
        raise NotImplementedError

    def lose_deposits(self) -> None:
        raise NotImplementedError

    @contextmanager
    def outage(self, kind: str) -> Iterator[dict]:
        if kind == "refused":
            with socket_closed(self.service_path) as url:
                yield {**self.good_settings(), self.url_key: url}
            return
        self.fail(kind)
        try:
            yield {**self.good_settings(), "timeout": SHORT_TIMEOUT}
        finally:
            self.sandbox.clear_faults()

    @contextmanager
    def odd_answer(self, kind: str) -> Iterator[dict]:
        self.odd.kind = kind
        yield {**self.good_settings(), self.url_key: self.odd.url}

    @contextmanager
    def lost_answer(self) -> Iterator[dict]:
        self.lose_deposits()
        try:
            yield {**self.good_settings(), "timeout": SHORT_TIMEOUT}
        finally:
            self.sandbox.clear_faults()

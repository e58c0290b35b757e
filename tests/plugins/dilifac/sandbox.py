"""The Dilifac sandbox (``contrib/dilifac_sandbox``) in a subprocess, one per test module
that asks for it: ``from tests.plugins.dilifac.sandbox import dilifac`` makes the fixture
available. The helper itself ships with the plugin's conformance harness."""

from __future__ import annotations

import pytest

from plugins.dilifac.testing import DilifacSandbox

__all__ = ["DilifacSandbox", "dilifac"]


@pytest.fixture(scope="module")
def dilifac(tmp_path_factory):
    """The Dilifac sandbox, deposits moved only through its control API."""
    server = DilifacSandbox(tmp_path_factory.mktemp("dilifac-sandbox"))
    yield server
    server.stop()

"""The PA sandbox (``contrib/pa_sandbox``) in a subprocess, one per test module that asks
for it: ``from tests.plugins.pa.sandbox import pa_sandbox`` makes the fixture available.
The helper itself ships with the plugin's conformance harness."""

from __future__ import annotations

import pytest

from plugins.pa.testing import PaSandbox

__all__ = ["PaSandbox", "pa_sandbox"]


@pytest.fixture(scope="module")
def pa_sandbox(tmp_path_factory):
    """The PA sandbox, flows acknowledged only through its control API."""
    server = PaSandbox(tmp_path_factory.mktemp("pa-sandbox"))
    yield server
    server.stop()

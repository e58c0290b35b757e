"""The Chorus Pro sandbox the ``chorus`` plugin's tests run against, one per test module."""

from __future__ import annotations

import pytest

from tests.plugins.chorus.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    server = Sandbox(tmp_path_factory.mktemp("chorus-sandbox"))
    yield server
    server.stop()

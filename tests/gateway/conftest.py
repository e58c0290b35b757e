"""Fixtures of the core's tests that move the clock."""

from __future__ import annotations

import pytest

from tests.conftest import Clock, Gateway, make_config


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(tmp_path, sqlite_url, clock) -> Gateway:
    """A gateway whose clock the test moves."""
    instance = Gateway(make_config(tmp_path, sqlite_url), clock=clock)
    yield instance
    instance.store.dispose()

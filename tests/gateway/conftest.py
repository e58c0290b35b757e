"""Fixtures of the core's tests: a migrated store on each database, a clock tests move."""

from __future__ import annotations

import pytest

from gateway.store import Store
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


@pytest.fixture
def store(database_url):
    """A migrated store: an SQLite file, then a PostgreSQL database."""
    instance = Store(database_url)
    instance.migrate()
    yield instance
    instance.dispose()

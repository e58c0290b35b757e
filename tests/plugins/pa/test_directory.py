"""The reform's directory client (``pa_directory``) against the PA sandbox's Directory
Service over HTTP: a company's platform and electronic address, a public buyer, a SIREN the
directory does not list, an unreachable directory, refused credentials; and the core's cache
in front of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway import outbound
from gateway.directory import COMPANY, PUBLIC, DirectoryService
from gateway.outlets import TransientOutletError
from gateway.plugins import build_plugin_manager
from gateway.store import Store
from plugins.pa.directory import PaDirectoryPlugin, ReformDirectory
from plugins.pa.oauth import CredentialsRefused
from tests.conftest import Clock, make_config
from tests.plugins.pa.sandbox import pa_sandbox  # noqa: F401 (fixture)

SEINE_MARITIME = "22760540900019"
#: Seeded in the sandbox's directory (contrib/pa_sandbox/seed.py): a company receiving
#: through an approved platform, at its SIREN.
COMPANY_SIRET = "55210055400013"
COMPANY_NAME = "DIFFUSION DU LIVRE NORMAND"
#: A well-formed SIRET neither the reform's directory nor Chorus Pro's lists.
UNLISTED_SIRET = "55208131766522"
#: The route the sandbox counts the directory's searches under.
SEARCH = "POST /directory-service/v1/directory-line/search"


def directory_settings(sandbox, **overrides) -> dict:
    """``[plugins.pa_directory]`` for the sandbox's first demo client."""
    keys = ("directory_url", "token_url", "client_id", "client_secret")
    return {**{key: sandbox.credentials[key] for key in keys}, "timeout": 5, **overrides}


def searches(sandbox) -> int:
    return sandbox.control.get("/counters").json()["calls"].get(SEARCH, 0)


@pytest.fixture
def directory(pa_sandbox):  # noqa: F811
    yield ReformDirectory(directory_settings(pa_sandbox), http=httpx.Client(timeout=5))
    pa_sandbox.clear_faults()


def test_a_company_receives_through_its_platform_at_its_electronic_address(directory):
    entry = directory.lookup(COMPANY_SIRET[:9], COMPANY_SIRET)

    assert entry is not None
    assert (entry.siren, entry.kind, entry.active) == (COMPANY_SIRET[:9], COMPANY, True)
    assert (entry.name, entry.electronic_address) == (COMPANY_NAME, COMPANY_SIRET[:9])
    assert entry.platform_id == "WK"
    assert entry.routing_code is None


def test_a_public_buyer_receives_on_the_public_platform(directory):
    entry = directory.lookup(SEINE_MARITIME[:9], SEINE_MARITIME)

    assert (entry.kind, entry.platform_id, entry.active) == (PUBLIC, "DFH", True)
    assert entry.name == "DEPARTEMENT DE LA SEINE MARITIME"


def test_a_siren_the_directory_does_not_list_is_none(directory):
    assert directory.lookup(UNLISTED_SIRET[:9], UNLISTED_SIRET) is None


def test_a_directory_in_trouble_is_unreachable_not_unknown(directory, pa_sandbox):  # noqa: F811
    pa_sandbox.faults(error_rate=1.0, error_statuses=[503], paths=["/directory-service/"])

    with pytest.raises(TransientOutletError):
        directory.lookup(COMPANY_SIRET[:9], COMPANY_SIRET)


def test_refused_credentials_name_the_setting_to_fix(pa_sandbox):  # noqa: F811
    settings = directory_settings(pa_sandbox, client_secret="not-the-secret")
    directory = ReformDirectory(settings, http=httpx.Client(timeout=5))

    with pytest.raises(CredentialsRefused) as refused:
        directory.lookup(COMPANY_SIRET[:9], COMPANY_SIRET)

    assert refused.value.findings[0].field == "plugins.pa_directory.client_secret"


def test_the_core_caches_the_directory_as_it_caches_chorus_pros(
    tmp_path,
    sqlite_url,
    pa_sandbox,  # noqa: F811
):
    config = make_config(tmp_path, sqlite_url)
    config.plugins = {"pa_directory": directory_settings(pa_sandbox)}
    store = Store(sqlite_url)
    store.migrate()
    pm, _ = build_plugin_manager(load_entrypoints=False, extra_plugins=[PaDirectoryPlugin()])
    pm.hook.gateway_configure(config=config)
    outbound.configure(None)  # any host: the sandbox's loopback port
    clock = Clock(datetime(2026, 12, 1, 9, tzinfo=UTC))
    service = DirectoryService(pm, store, timedelta(days=1), clock)
    before = searches(pa_sandbox)

    first = service.reform_lookup(COMPANY_SIRET)
    again = service.reform_lookup(COMPANY_SIRET)
    clock.advance(days=2)
    later = service.reform_lookup(COMPANY_SIRET)
    store.dispose()

    assert first.electronic_address == again.electronic_address == later.electronic_address
    assert again.checked_at == first.checked_at
    assert later.checked_at > first.checked_at
    assert searches(pa_sandbox) - before == 2

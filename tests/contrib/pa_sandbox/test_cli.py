"""`facture-gateway run` starts the PA sandbox too: its credentials file is written, and the
demo member gets them only once a `pa` outlet is installed."""

from __future__ import annotations

import json

import pytest

from gateway import cli, outbound
from gateway.services import build_services
from gateway.store import Store
from tests.conftest import free_port, make_config


@pytest.fixture
def config(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    Store(config.database_url).migrate()
    yield config
    outbound.configure(None)  # the demo's services set the allow-list


def test_run_starts_the_pa_sandbox_and_the_demo_survives_a_missing_outlet(config, capsys):
    port = str(free_port())
    child = cli.start_sandbox(config, port, cli.PA_SANDBOX)
    try:
        assert f"PA sandbox on http://127.0.0.1:{port}" in capsys.readouterr().out
        written = json.loads((config.var_dir / "pa-sandbox-credentials.json").read_text())
        assert written["flow_url"] == f"http://127.0.0.1:{port}/flow-service"
        assert cli.sandbox_settings(config, cli.PA_SANDBOX) == {
            key: written[key]
            for key in ("flow_url", "directory_url", "token_url", "client_id", "client_secret")
        }
        cli.ensure_demo(config)
    finally:
        child.terminate()
        child.wait(timeout=10)
        child.stdout.close()
    services = build_services(config)
    try:
        member_id = cli._member_for_cli(services, None)
        settings = services.members.settings(member_id)
        assert ("pa" in settings) == ("pa" in services.registry.outlets)
    finally:
        services.store.dispose()

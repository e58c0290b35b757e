"""`facture-gateway run` starts every sandbox: the helper it calls starts the Dilifac one
(a real subprocess on a free loopback port), and the demo member receives its credentials
and a customer whose invoices go through Dilifac."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys

import httpx
import pytest

from gateway import cli, outbound
from gateway.services import build_services
from gateway.store import Store
from tests.conftest import ROOT, free_port, make_config


@pytest.fixture
def config(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    Store(config.database_url).migrate()
    yield config
    outbound.configure(None)  # the demo's services set the allow-list


def test_run_starts_every_sandbox_the_dilifac_one_included():
    assert [sandbox.module for sandbox in cli.SANDBOXES] == [
        "contrib.chorus_sandbox",
        "contrib.dilifac_sandbox",
        "contrib.pa_sandbox",
    ]
    ports = {sandbox.port_variable: sandbox.default_port for sandbox in cli.SANDBOXES}
    assert ports == {
        "SANDBOX_PORT": "8081",
        "DILIFAC_SANDBOX_PORT": "8082",
        "PA_SANDBOX_PORT": "8083",
    }


def test_the_dilifac_sandbox_starts_and_the_demo_member_gets_its_credentials(config, capsys):
    port = str(free_port())
    child = cli.start_sandbox(config, port, cli.DILIFAC_SANDBOX)
    try:
        assert f"Dilifac sandbox on http://127.0.0.1:{port}" in capsys.readouterr().out
        written = config.var_dir / "dilifac-sandbox-credentials.json"
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
        credentials = json.loads(written.read_text())
        assert credentials["url"] == f"http://127.0.0.1:{port}/dilifac"
        wsdl = httpx.get(credentials["url"], params={"wsdl": ""})
        assert wsdl.status_code == 200 and b"DeposerFacture" in wsdl.content

        cli.ensure_demo(config)
    finally:
        child.terminate()
        child.wait(timeout=10)
        child.stdout.close()

    services = build_services(config)
    try:
        member_id = cli._member_for_cli(services, None)
        settings = services.members.settings(member_id)["dilifac"]
        assert settings == {key: credentials[key] for key in ("url", "login", "password")}
        library = services.customers.get(member_id, "25450102600028")
        assert library["channel"] == "dilifac"
    finally:
        services.store.dispose()


def test_a_taken_port_is_said_naming_its_variable(config):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        with pytest.raises(cli.PartFailed, match="DILIFAC_SANDBOX_PORT"):
            cli.start_sandbox(config, port, cli.DILIFAC_SANDBOX)


def test_the_dilifac_sandbox_command_has_french_help():
    shown = subprocess.run(
        [sys.executable, "-m", "gateway", "dilifac-sandbox", "-h"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0
    assert (
        "lancer le bac à sable Dilifac" in shown.stdout and "DILIFAC_SANDBOX_PORT" in shown.stdout
    )

"""``facture-gateway inbound``: the notification token a platform presents, and a pull."""

from __future__ import annotations

from gateway.config import load_config
from gateway.inbound import notify_token
from tests.conftest import ROOT
from tests.gateway.test_cli import cli


def test_notify_token_is_the_one_the_gateway_checks(tmp_path):
    assert cli("migrate", home=tmp_path).returncode == 0
    done = cli("inbound", "notify-token", "--member", "mem_1", "--outlet", "pa", home=tmp_path)
    assert done.returncode == 0, done.stderr
    config = load_config(ROOT / "conf" / "gateway.toml", env={"GATEWAY_HOME": str(tmp_path)})
    config.ensure_secret_key()
    token = done.stdout.decode().strip()
    assert token == notify_token(config, "mem_1", "pa")
    assert token != notify_token(config, "mem_2", "pa")
    pulled = cli("inbound", "pull", home=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert "0 facture(s) reçue(s)" in pulled.stdout.decode()

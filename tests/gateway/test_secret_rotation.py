"""Secret-key rotation: several keys open, the first seals, `rotate-secrets` re-seals."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from gateway.config import load_config
from gateway.secretbox import SecretBox, SecretBoxError
from tests.conftest import Gateway, make_config
from tests.gateway.test_cli import cli

SETTINGS = {"chorus": {"login": "TECH_1", "password": "s3cr3t-du-membre"}}


def new_key() -> str:
    return Fernet.generate_key().decode()


def test_settings_sealed_with_an_old_key_open_once_a_new_one_is_prepended():
    old, new = new_key(), new_key()
    sealed = SecretBox(old).seal(SETTINGS)
    assert SecretBox(f"{new}\n{old}").open(sealed) == SETTINGS
    assert SecretBox(f"{new},{old}").open(sealed) == SETTINGS
    with pytest.raises(SecretBoxError):
        SecretBox(new).open(sealed)
    # The first key seals.
    assert SecretBox(new).open(SecretBox(f"{new}\n{old}").seal(SETTINGS)) == SETTINGS


def test_a_list_of_references_is_the_keys_in_order(tmp_path):
    old, new = new_key(), new_key()
    (tmp_path / "old-key").write_text(old + "\n")
    path = tmp_path / "gateway.toml"
    path.write_text('[security]\nsecret_key = [{"$env" = "NEW_KEY"}, {"$file" = "old-key"}]\n')
    config = load_config(path, env={"GATEWAY_HOME": str(tmp_path), "NEW_KEY": new})
    assert config.secret_key == f"{new}\n{old}"


@pytest.fixture
def home_gateway(tmp_path):
    """A gateway on the database and key file the command line finds in its home."""
    home = tmp_path / "home"
    instance = Gateway(make_config(tmp_path, f"sqlite:///{home / 'var' / 'gateway.sqlite3'}"))
    instance.home = home
    yield instance
    instance.store.dispose()


def sealed_settings(gateway, member_id: str) -> str:
    return gateway.store.get_member(member_id)["settings_encrypted"]


def test_rotate_secrets_reseals_every_member_with_the_first_key(home_gateway):
    gateway = home_gateway
    member = gateway.new_member()
    other = gateway.new_member("Librairie du Port", "73282932000074")
    path = f"/v1/members/{member['id']}"
    patched = gateway.client.simulate_patch(
        path, json={"settings": SETTINGS}, headers=member["headers"]
    )
    assert patched.status_code == 200, patched.json
    key_file = gateway.config.secret_key_file
    old, new = key_file.read_text().strip(), new_key()
    expected = SecretBox(old).open(sealed_settings(gateway, member["id"]))
    assert expected["chorus"]["password"] == "s3cr3t-du-membre"

    key_file.write_text(f"{new}\n{old}\n")
    result = cli("rotate-secrets", home=gateway.home)
    assert result.returncode == 0, result.stderr
    assert "2 membre(s)" in result.stdout.decode()
    shown = result.stdout + result.stderr
    for secret in (b"s3cr3t-du-membre", old.encode(), new.encode()):
        assert secret not in shown

    assert SecretBox(new).open(sealed_settings(gateway, member["id"])) == expected
    assert SecretBox(new).open(sealed_settings(gateway, other["id"])) == {}
    with pytest.raises(SecretBoxError):
        SecretBox(old).open(sealed_settings(gateway, member["id"]))

    # The old key removed, the gateway still reads them.
    key_file.write_text(new + "\n")
    config = make_config(gateway.home.parent, gateway.config.database_url)
    reader = Gateway(config)
    assert reader.services.members.settings(member["id"]) == expected
    reader.store.dispose()


def test_settings_no_key_opens_are_named_not_shown(home_gateway):
    gateway = home_gateway
    member = gateway.new_member()
    gateway.config.secret_key_file.write_text(new_key() + "\n")
    result = cli("rotate-secrets", home=gateway.home)
    assert result.returncode == 1
    assert member["id"] in result.stderr.decode()
    assert "0 membre(s)" in result.stdout.decode()

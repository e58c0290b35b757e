"""`rotate-secrets` re-seals webhook secrets with their member's settings: once the old
key is removed, deliveries are still signed with the same secret."""

from __future__ import annotations

from cryptography.fernet import Fernet

from gateway.secretbox import SecretBox
from tests.conftest import Gateway, make_config
from tests.gateway.test_cli import cli


def test_rotate_secrets_reseals_webhook_secrets(tmp_path):
    home = tmp_path / "home"
    gateway = Gateway(make_config(tmp_path, f"sqlite:///{home / 'var' / 'gateway.sqlite3'}"))
    try:
        member = gateway.new_member()
        answer = gateway.client.simulate_post(
            "/v1/webhooks", headers=member["headers"], json={"url": "http://127.0.0.1:9/h"}
        )
        assert answer.status_code == 201, answer.json
        secret = answer.json["secret"]
        key_file = gateway.config.secret_key_file
        old, new = key_file.read_text().strip(), Fernet.generate_key().decode()
        key_file.write_text(f"{new}\n{old}\n")

        result = cli("rotate-secrets", home=home)
        assert result.returncode == 0, result.stderr
        assert secret.encode() not in result.stdout + result.stderr
        (hook,) = gateway.store.list_webhooks(member["id"])
        assert SecretBox(new).open(hook["secret_encrypted"]) == {"secret": secret}
    finally:
        gateway.store.dispose()

"""``facture-gateway archive checkpoint`` and ``archive verify`` with an RFC 3161 authority
in the configuration (a real one on loopback: OpenSSL's, tests/tsa_server.py), each run in
its own process as an operator would; and the token checked by ``openssl ts -verify`` as
docs/archive.md tells an inspector to."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess

import pytest

from tests.integration.test_archive_verify import Archive, verdict

STAMPED = re.compile(
    r"Horodaté \(RFC 3161\) par « Horodatage de test » \(http://127\.0\.0\.1:\d+/tsa\) : "
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z, jeton n° \d+"
)


@pytest.fixture
def archived(tmp_path, sqlite_url):
    instance = Archive(tmp_path, sqlite_url)
    yield instance
    instance.gateway.store.dispose()


def configure(archived: Archive, tsa, *, allowed: bool = True, certificate=None) -> None:
    """Name ``tsa`` in the archive's configuration file, its host allowed or not."""
    text = archived.config_file.read_text()
    hosts = f'outbound_hosts = ["127.0.0.1:{tsa.port}"]\n' if allowed else ""
    text = text.replace("[security]\n", f"[security]\n{hosts}")
    text += f'[archive]\ntsa_url = "{tsa.url}"\n'
    if certificate is not None:
        text += f'tsa_certificate = {{"$file" = "{certificate}"}}\n'
    archived.config_file.write_text(text)


def test_a_checkpoint_is_time_stamped_then_verified(archived, tsa):
    configure(archived, tsa, certificate=tsa.authority.ca_file)
    code, out, err = archived.cli("checkpoint")
    assert code == 0, err
    signed, stamped = out.strip().splitlines()
    assert signed.startswith("Point de contrôle signé : entrée ")
    assert STAMPED.fullmatch(stamped), stamped
    code, out, _ = archived.cli("verify")
    assert code == 0, out
    assert out.strip().endswith("1 point de contrôle, dont 1 horodaté")
    code, out, _ = archived.cli("verify", "--json")
    report = json.loads(out)
    assert report["clean"] and (report["checkpoints"], report["timestamped"]) == (1, 1)


def test_without_an_authority_the_checkpoint_says_it_is_not_time_stamped(archived):
    code, out, _ = archived.cli("checkpoint")
    assert code == 0
    assert out.strip().splitlines()[1] == (
        "Non horodaté : aucune autorité d'horodatage configurée ([archive] tsa_url)."
    )
    code, out, _ = archived.cli("verify", "--json")
    assert code == 0 and json.loads(out)["timestamped"] == 0


def test_an_authority_the_allow_list_does_not_name_is_not_called(archived, tsa):
    configure(archived, tsa, allowed=False)
    code, out, _ = archived.cli("checkpoint")
    assert code == 0  # the checkpoint is made, signed
    line = out.strip().splitlines()[1]
    assert line.startswith(f"Non horodaté : l'autorité d'horodatage ({tsa.url}) est refusée : ")
    assert "[security] outbound_hosts" in line
    assert line.endswith("Le point de contrôle est gardé, signé, sans jeton.")
    assert tsa.queries == []
    assert archived.gateway.store.list_checkpoints()[0]["timestamp_token"] is None


def test_the_authority_down_leaves_a_signed_checkpoint_without_token(archived, tsa):
    configure(archived, tsa)
    tsa.stop()
    code, out, _ = archived.cli("checkpoint")
    assert code == 0
    assert (
        out.strip()
        .splitlines()[1]
        .startswith(f"Non horodaté : l'autorité d'horodatage ({tsa.url}) est injoignable")
    )
    code, out, _ = archived.cli("verify")
    assert code == 0 and out.strip().endswith("1 point de contrôle")


def test_a_token_of_another_authority_is_found_by_verify(archived, tsa, other_tsa):
    configure(archived, other_tsa)  # no certificate: any authority's token is kept
    code, out, _ = archived.cli("checkpoint")
    assert code == 0 and "par « Autre horodatage »" in out
    code, out, _ = archived.cli("verify", "--tsa-certificate", str(tsa.authority.ca_file))
    assert code == 1
    assert verdict(out).endswith(
        "jeton d'horodatage invalide : signé par « Autre horodatage », qui n'est pas "
        "l'autorité d'horodatage configurée ni certifié par elle"
    )
    code, _, _ = archived.cli("verify", "--tsa-certificate", str(other_tsa.authority.ca_file))
    assert code == 0


def test_an_unreadable_authority_certificate_stops_the_command(archived, tsa, tmp_path):
    configure(archived, tsa, certificate=tmp_path / "absent.pem")
    code, _, err = archived.cli("checkpoint")
    assert code == 2 and "autorité d'horodatage mal configurée" in err
    assert archived.gateway.store.list_checkpoints() == []
    code, _, err = archived.cli("verify")
    assert code == 2 and "certificat de l'autorité d'horodatage illisible" in err


def test_openssl_verifies_the_token_as_the_inspector_does(archived, tsa, tmp_path):
    configure(archived, tsa)
    assert archived.cli("checkpoint")[0] == 0
    checkpoint_id = archived.gateway.store.list_checkpoints()[0]["id"]
    # docs/archive.md: the message and the token, out of the SQLite database.
    database = archived.gateway.config.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        seq, hash_, at, token = conn.execute(
            "SELECT seq, hash, replace(at, ' ', 'T') || 'Z', hex(timestamp_token) "
            "FROM checkpoints WHERE id = ?",
            (checkpoint_id,),
        ).fetchone()
    message = tmp_path / "checkpoint.txt"
    message.write_text(f"facture-gateway checkpoint v1\n{seq}\n{hash_}\n{at}\n")
    token_file = tmp_path / "checkpoint.tsr"
    token_file.write_bytes(bytes.fromhex(token))
    command = [tsa.openssl, "ts", "-verify", "-data", str(message), "-in", str(token_file)]
    checked = subprocess.run(
        [*command, "-token_in", "-CAfile", str(tsa.authority.ca_file)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr
    # Another message: OpenSSL refuses the token too.
    message.write_text(f"facture-gateway checkpoint v1\n{seq + 1}\n{hash_}\n{at}\n")
    refused = subprocess.run(
        [*command, "-token_in", "-CAfile", str(tsa.authority.ca_file)],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "Verification: FAILED" in refused.stdout

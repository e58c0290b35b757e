"""``facture-gateway archive verify`` on an archive the real gateway and worker wrote (real
files, real database): clean when untouched; each alteration found at its place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import Clock, Gateway, example, make_config


class Archive:
    """A gateway that received, sent and served invoices, and the CLI on its configuration."""

    def __init__(self, tmp_path: Path, sqlite_url: str):
        self.gateway = Gateway(make_config(tmp_path, sqlite_url))
        self.home = self.gateway.config.base_dir
        self.gateway.config.archive.ensure_signing_key()  # as `facture-gateway migrate` does
        self.config_file = tmp_path / "gateway.toml"
        self.config_file.write_text(
            f'base_dir = "{self.home}"\n'
            f'[database]\nurl = "{sqlite_url}"\n'
            '[security]\nsecret_key = {"$file" = "var/secret-key"}\n'
            '[logging]\nlevel = "WARNING"\n'
        )
        member = self.gateway.new_member()
        self.invoices = []
        for number in ("FA-2026-0001", "FA-2026-0002", "FA-2026-0003"):
            result = self.gateway.post_invoice(
                member, {**example("invoice-seine-maritime"), "number": number}
            )
            assert result.status_code == 202, result.json
            self.invoices.append(result.json["id"])
        worker = self.gateway.worker(clock=Clock(datetime.now(UTC) + timedelta(seconds=1)))
        assert worker.run_once() == 3
        self.member = member
        view = self.gateway.get_invoice(member, self.invoices[0])
        name = view["documents"][0]["name"]
        read = self.gateway.client.simulate_get(
            f"/v1/invoices/{self.invoices[0]}/documents/{name}", headers=member["headers"]
        )
        assert read.status_code == 200
        # A tax inspector reads it too: every request of its key is journaled.
        auditor = self.gateway.client.simulate_post(
            f"/v1/members/{member['id']}/keys",
            headers=member["headers"],
            json={
                "role": "auditor",
                "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
        )
        assert auditor.status_code == 201, auditor.json
        inspector = {"Authorization": f"Bearer {auditor.json['api_key']}"}
        for path in (f"/v1/invoices/{self.invoices[0]}/documents/{name}", "/v1/invoices"):
            assert self.gateway.client.simulate_get(path, headers=inspector).status_code == 200

    def cli(self, *args: str) -> tuple[int, str, str]:
        """Run ``facture-gateway archive …`` in its own process, as an operator would (its
        logging configuration stays there)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "archive", *args, "--config", str(self.config_file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr

    def sql(self, statement: str, **params) -> None:
        with self.gateway.store.begin() as conn:
            conn.execute(sa.text(statement), params)

    def last_seq(self) -> int:
        return self.gateway.store.journal_head()["seq"]


@pytest.fixture
def archived(tmp_path, sqlite_url):
    instance = Archive(tmp_path, sqlite_url)
    yield instance
    instance.gateway.store.dispose()


def verdict(out: str) -> str:
    return out.strip().splitlines()[-1]


def test_an_untouched_archive_verifies_clean_with_progress_and_one_verdict(archived):
    code, out, err = archived.cli("checkpoint")
    assert code == 0 and out.startswith("Point de contrôle signé : entrée "), err
    documents = archived.gateway.store.count_documents()
    entries = archived.gateway.store.count_journal()
    assert documents >= 6 and entries >= 10  # received, rendered, sent, statuses, a read
    code, out, err = archived.cli("verify")
    assert code == 0, out
    assert out.strip() == (
        f"Archive intègre : {documents} documents, {entries} entrées, 1 point de contrôle"
    )
    assert f"documents : {documents}/{documents}" in err
    assert f"journal : {entries}/{entries}" in err
    kinds = {e["kind"] for e in archived.gateway.store.journal_rows(1, entries)}
    assert {"invoice.received", "invoice.status_changed", "document.archived"} <= kinds
    assert {"document.read", "api_key.created", "auditor.read"} <= kinds


def test_one_altered_byte_of_a_stored_document_is_found_and_named(archived):
    seq = archived.gateway.store.get_invoice(archived.invoices[1])["seq"]
    document = next(
        d for d in archived.gateway.store.list_documents(seq) if d["role"] == "original"
    )
    path = archived.gateway.store.blobs.path(document["sha256"])
    path.chmod(0o600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, out, _ = archived.cli("verify")
    assert code == 1
    assert verdict(out).startswith("Archive ALTÉRÉE : document")
    assert f"« {document['name']} » de la facture {archived.invoices[1]} altéré" in out


def test_a_missing_blob_is_reported_missing(archived):
    seq = archived.gateway.store.get_invoice(archived.invoices[2])["seq"]
    document = archived.gateway.store.list_documents(seq)[0]
    archived.gateway.store.blobs.path(document["sha256"]).unlink()
    code, out, _ = archived.cli("verify")
    assert code == 1
    assert f"« {document['name']} » de la facture {archived.invoices[2]} manquant" in out


def test_a_deleted_journal_entry_is_found_at_its_number(archived):
    archived.sql("DELETE FROM journal WHERE seq = 5")
    code, out, _ = archived.cli("verify")
    assert code == 1
    assert verdict(out) == (
        "Archive ALTÉRÉE : journal : entrée 5 manquante (l'entrée 6 suit l'entrée 4)"
    )


def test_two_swapped_entries_are_found(archived):
    store = archived.gateway.store
    a, b = store.journal_rows(7, 8)
    columns = ("at", "member_id", "kind", "invoice_id", "data")
    for row, other in ((a, b), (b, a)):
        archived.sql(
            "UPDATE journal SET at = :at, member_id = :member_id, kind = :kind, "
            "invoice_id = :invoice_id, data = :data WHERE seq = :seq",
            seq=row["seq"],
            **{c: other[c] for c in columns if c not in ("data", "at")},
            data=json.dumps(other["data"]),
            at=other["at"].replace(tzinfo=None),
        )
    assert [r["kind"] for r in store.journal_rows(7, 8)] == [b["kind"], a["kind"]]
    code, out, _ = archived.cli("verify")
    assert code == 1
    assert verdict(out) == "Archive ALTÉRÉE : journal : entrées 7 et 8 interverties"


def test_an_altered_entry_is_found_at_its_number(archived):
    row = archived.gateway.store.journal_rows(4, 4)[0]
    archived.sql(
        "UPDATE journal SET data = :data WHERE seq = 4",
        data=json.dumps({**row["data"], "forged": True}),
    )
    code, out, _ = archived.cli("verify")
    assert code == 1
    assert verdict(out) == f"Archive ALTÉRÉE : journal : entrée 4 altérée ({row['kind']})"


def test_a_journal_truncated_after_a_checkpoint_is_found(archived):
    assert archived.cli("checkpoint")[0] == 0
    last = archived.last_seq()
    keep = last - 3
    kept = archived.gateway.store.journal_rows(keep, keep)[0]
    # Whoever cut the journal moved its head back too: only the signed checkpoint knows.
    archived.sql("DELETE FROM journal WHERE seq > :keep", keep=keep)
    archived.sql("UPDATE journal_head SET seq = :seq, hash = :hash", seq=keep, hash=kept["hash"])
    code, out, _ = archived.cli("verify")
    assert code == 1
    assert "journal tronqué : le point de contrôle du " in verdict(out)
    assert verdict(out).endswith(f"atteste l'entrée {last}, le journal s'arrête à l'entrée {keep}")


def test_a_forged_checkpoint_signature_is_found(archived):
    assert archived.cli("checkpoint")[0] == 0
    signature = archived.gateway.store.list_checkpoints()[0]["signature"]
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    archived.sql("UPDATE checkpoints SET signature = :s", s=forged)
    code, out, _ = archived.cli("verify")
    assert code == 1
    assert "signature invalide" in verdict(out)


def test_a_checkpoint_verifies_with_the_public_key_alone(archived, tmp_path):
    assert archived.cli("checkpoint")[0] == 0
    code, out, _ = archived.cli("public-key")
    assert code == 0 and len(out.strip()) == 64
    public = tmp_path / "inspector" / "archive.pub"
    public.parent.mkdir()
    public.write_text(out)
    # The inspector has no private key: the configured one is gone.
    (archived.home / "var" / "archive-signing-key").unlink()
    code, out, _ = archived.cli("verify", "--public-key", str(public), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["clean"] and report["checkpoints"] == 1
    assert report["verdict"].startswith("Archive intègre : ")


def test_without_any_key_verify_cannot_run(archived):
    (archived.home / "var" / "archive-signing-key").unlink()
    code, _, err = archived.cli("verify")
    assert code == 2
    assert "aucune clé de signature de l'archive" in err


def test_migrate_creates_the_signing_key_once_and_never_prints_it(tmp_path):
    home = tmp_path / "fresh"
    config_file = tmp_path / "fresh.toml"
    config_file.write_text(f'base_dir = "{home}"\n[logging]\nlevel = "WARNING"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "gateway", *args, "--config", str(config_file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    assert run("migrate").returncode == 0
    key_file = home / "var" / "archive-signing-key"
    private = key_file.read_text()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert run("migrate").returncode == 0
    assert key_file.read_text() == private  # a second migrate keeps it
    shown = run("archive", "public-key")
    assert shown.returncode == 0 and len(shown.stdout.strip()) == 64
    assert private.strip() not in shown.stdout + shown.stderr
    checked = run("archive", "verify")
    assert checked.returncode == 0
    assert checked.stdout.strip() == "Archive intègre : 0 document, 0 entrée, 0 point de contrôle"

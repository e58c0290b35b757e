"""GET /v1/archive/export: a member's year as one zip, exactly that year's documents and
nothing of another member's; ``archive verify --export`` checks it offline and finds each
alteration at its place."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from falcon import testing

from gateway import archive, outbound
from gateway.auth import hash_key
from gateway.export import manifest_csv, verify_export
from gateway.store import Store
from tests.conftest import Clock, Gateway, example, make_config, sold_by
from tests.gateway.store.conftest import add_member
from tests.gateway.store.test_store import add_invoice

OTHER_SIRET = "79345612000013"
OTHER_NUMBER = "B-CONFIDENTIEL-2026"
FORMULA = '=HYPERLINK("http://evil.example","x")'


def invoice(number: str, issued: str, **changes) -> dict:
    year = issued[:4]
    return {
        **example("invoice-seine-maritime"),
        "number": number,
        "issue_date": issued,
        "due_date": f"{year}-12-31",
        **changes,
    }


class Year:
    """Member A with invoices issued in 2025, 2026 and 2027; member B with one of 2026."""

    def __init__(self, tmp_path):
        self.gateway = Gateway(make_config(tmp_path, f"sqlite:///{tmp_path / 'g.sqlite3'}"))
        gateway = self.gateway
        gateway.config.archive.ensure_signing_key()  # as `facture-gateway migrate` does
        self.public_key = archive.public_key_hex(gateway.config.archive.private_key())
        self.a = gateway.new_member()
        self.b = gateway.new_member("Librairie du Marché", OTHER_SIRET)
        # An earlier checkpoint: the proof starts there, not at the genesis.
        gateway.store.add_checkpoint(gateway.config.archive.private_key())
        buyer = {**example("invoice-seine-maritime")["buyer"], "name": FORMULA}
        self.numbers = {}
        for number, issued, extra in (
            ("FA-2025-0099", "2025-12-31", {}),
            ("FA-2026-0001", "2026-01-01", {}),
            ("FA-2026-0002", "2026-12-31", {"buyer": buyer}),
            ("FA-2027-0001", "2027-01-01", {}),
        ):
            posted = gateway.post_invoice(self.a, invoice(number, issued, **extra))
            assert posted.status_code == 202, posted.json
            self.numbers[number] = posted.json["id"]
        other = sold_by(invoice(OTHER_NUMBER, "2026-06-15"), OTHER_SIRET)
        posted = gateway.post_invoice(self.b, other)
        assert posted.status_code == 202, posted.json
        self.other_invoice = posted.json["id"]
        worker = gateway.worker(clock=Clock(datetime.now(UTC) + timedelta(seconds=1)))
        assert worker.run_once() == 5
        self.response = self.export(self.a["headers"], year="2026")
        assert self.response.status_code == 200, self.response.text
        self.zip = self.response.content

    def export(self, headers: dict, **params):
        return self.gateway.client.simulate_get(
            "/v1/archive/export", params=params, headers=headers
        )

    def auditor(self) -> dict:
        key = self.gateway.services.members.create_key(
            self.a["id"], "auditor", expires_at=datetime.now(UTC) + timedelta(days=30)
        )
        return {"Authorization": f"Bearer {key['api_key']}"}


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    world = Year(tmp_path_factory.mktemp("export"))
    yield world
    world.gateway.store.dispose()


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(data: bytes, changes: dict) -> bytes:
    """Return the zip ``data`` rewritten, as a forger would: each change (by member name) a
    function of the member's bytes (None removes it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members_of(data).items():
            change = changes.get(name, lambda b: b)
            if (content := change(content)) is not None:
                zf.writestr(name, content)
    return out.getvalue()


def check(data: bytes, tmp_path, public_key: str | None) -> archive.Report:
    path = tmp_path / "export.zip"
    path.write_bytes(data)
    return verify_export(path, public_key, lambda *_: None)


# --- what the zip holds ---------------------------------------------------------------------


def test_the_export_holds_exactly_the_years_documents_of_its_member(year):
    headers = year.response.headers
    assert headers["content-type"] == "application/zip"
    assert (
        headers["content-disposition"] == 'attachment; filename="archive-81234567600017-2026.zip"'
    )
    files = members_of(year.zip)
    folders = {name.split("/")[1] for name in files if name.startswith("documents/")}
    assert folders == {"FA-2026-0001", "FA-2026-0002"}  # not 2025-12-31, nor 2027-01-01
    manifest = json.loads(files["manifest.json"])
    assert manifest["year"] == 2026 and manifest["member"]["siret"] == "81234567600017"
    assert manifest["gateway_version"] and manifest["generated_at"]
    expected = {year.numbers["FA-2026-0001"], year.numbers["FA-2026-0002"]}
    assert {row["invoice_id"] for row in manifest["documents"]} == expected
    for row in manifest["documents"]:  # exact bytes, as the API serves them
        served = year.gateway.client.simulate_get(
            f"/v1/invoices/{row['invoice_id']}/documents/{row['name']}", headers=year.a["headers"]
        )
        assert files[row["path"]] == served.content
        assert hashlib.sha256(files[row["path"]]).hexdigest() == row["sha256"]
    assert set(files) >= {
        "manifest.csv",
        "journal.jsonl",
        "checkpoints.json",
        "public-key.txt",
        "LISEZMOI.txt",
    }
    assert files["public-key.txt"].decode().strip() == year.public_key
    assert "archive verify --export" in files["LISEZMOI.txt"].decode()


def test_nothing_of_another_member_is_in_the_zip(year):
    secrets = [OTHER_SIRET, OTHER_NUMBER, year.other_invoice, year.b["id"]]
    for secret in secrets:
        assert secret.encode() not in year.zip
        for name, content in members_of(year.zip).items():
            assert secret.encode() not in content, (secret, name)
    lines = [json.loads(line) for line in members_of(year.zip)["journal.jsonl"].splitlines()]
    hidden = [line for line in lines if "kind" not in line]
    assert hidden and all(
        set(line) == {"seq", "content_hash", "prev_hash", "hash"} for line in hidden
    )
    own = [line for line in lines if "kind" in line]
    assert {line["member_id"] for line in own} == {year.a["id"]}


def test_the_proof_runs_from_the_checkpoint_before_the_year_to_one_signed_at_export(year):
    lines = [json.loads(line) for line in members_of(year.zip)["journal.jsonl"].splitlines()]
    checkpoints = json.loads(members_of(year.zip)["checkpoints.json"])
    first_of_year = min(
        line["seq"] for line in lines if line.get("invoice_id") == year.numbers["FA-2026-0001"]
    )
    assert lines[0]["seq"] == checkpoints[0]["seq"] + 1 < first_of_year
    assert lines[0]["prev_hash"] == checkpoints[0]["hash"]
    assert (lines[-1]["seq"], lines[-1]["hash"]) == (
        checkpoints[-1]["seq"],
        checkpoints[-1]["hash"],
    )
    assert lines[-1]["kind"] == "archive.exported"
    assert lines[-1]["data"]["year"] == 2026 and lines[-1]["data"]["documents"] == 4
    reader = year.gateway.store.find_api_key(hash_key(year.a["api_key"]))
    assert lines[-1]["data"]["reader"] == reader["id"]
    for checkpoint in checkpoints:  # the public key alone
        signed = {**checkpoint, "at": datetime.fromisoformat(checkpoint["at"])}
        assert archive.checkpoint_valid(year.public_key, signed)


def test_manifest_csv_is_for_a_spreadsheet_and_neutralises_formulas(year):
    text = members_of(year.zip)["manifest.csv"].decode("utf-8")
    assert text.startswith("\ufeffNuméro de facture;")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert len(rows) == 4
    buyers = {row["Acheteur"] for row in rows}
    assert "'" + FORMULA in buyers and FORMULA not in buyers
    assert {row["Date de facture"] for row in rows} == {"2026-01-01", "2026-12-31"}


def test_an_empty_year_exports_its_proof_and_verifies(year, tmp_path):
    result = year.export(year.a["headers"], year="2031")
    assert result.status_code == 200
    assert not [n for n in members_of(result.content) if n.startswith("documents/")]
    assert check(result.content, tmp_path, year.public_key).clean


# --- who may export what ----------------------------------------------------------------------


def test_an_auditor_exports_its_member_and_the_export_is_journaled(year):
    result = year.export(year.auditor(), year="2026")
    assert result.status_code == 200
    store = year.gateway.store
    last = store.journal_rows(store.journal_head()["seq"] - 5, store.journal_head()["seq"])
    exported = [row for row in last if row["kind"] == "archive.exported"][-1]
    assert exported["member_id"] == year.a["id"]
    assert exported["data"]["documents"] == 4 and exported["data"]["year"] == 2026
    assert exported["data"]["reader"].startswith("key_")


def test_another_member_cannot_export_a_and_the_admin_must_name_the_member(year):
    assert year.export(year.b["headers"], year="2026", member_id=year.a["id"]).status_code == 404
    own = year.export(year.b["headers"], year="2026")
    assert own.status_code == 200 and b"FA-2026-0001" not in own.content
    assert OTHER_NUMBER in {
        r["invoice_number"]
        for r in json.loads(members_of(own.content)["manifest.json"])["documents"]
    }
    refused = year.export(year.gateway.admin(), year="2026")
    assert refused.status_code == 422
    assert refused.json["errors"][0]["code"] == "member_id.required"
    assert refused.json["errors"][0]["field"] == "member_id"
    admin = year.export(year.gateway.admin(), year="2026", member_id=year.a["id"])
    assert admin.status_code == 200
    assert json.loads(members_of(admin.content)["manifest.json"])["member"]["id"] == year.a["id"]


@pytest.mark.parametrize("value", [None, "", "26", "deux-mille", "1999", "2101"])
def test_a_year_that_is_not_one_is_refused(year, value):
    params = {} if value is None else {"year": value}
    result = year.export(year.a["headers"], **params)
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "year"


def test_without_a_signing_key_the_export_is_refused(tmp_path, sqlite_url):
    gateway = Gateway(make_config(tmp_path, sqlite_url))
    member = gateway.new_member()
    result = gateway.client.simulate_get(
        "/v1/archive/export", params={"year": "2026"}, headers=member["headers"]
    )
    assert result.status_code == 503
    assert result.json["errors"][0]["code"] == "archive.signing_key_missing"
    assert "migrate" in result.json["errors"][0]["message"]
    gateway.config.archive.signing_key_file.write_text("pas une clé")
    result = gateway.client.simulate_get(
        "/v1/archive/export", params={"year": "2026"}, headers=member["headers"]
    )
    assert result.status_code == 503
    assert result.json["errors"][0]["code"] == "archive.signing_key_unreadable"
    gateway.store.dispose()


# --- verifying offline ------------------------------------------------------------------------


def test_an_untouched_export_verifies_offline_with_the_cli(year, tmp_path):
    path = tmp_path / "archive.zip"
    path.write_bytes(year.zip)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    command = [sys.executable, "-m", "gateway", "archive", "verify", "--export", str(path)]
    given = subprocess.run(
        [*command, "--public-key", year.public_key],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert given.returncode == 0, given.stdout + given.stderr
    assert given.stdout.strip().startswith("Export intègre : 4 documents, ")
    assert "clé publique donnée" in given.stdout
    own = subprocess.run(
        command + ["--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert own.returncode == 0
    report = json.loads(own.stdout)
    assert report["clean"] and "lue dans l'export" in report["verdict"]


def test_the_whole_archive_still_verifies_after_exports(year):
    report = archive.verify(
        year.gateway.store, year.gateway.store.blobs, year.public_key, lambda *_: None
    )
    assert report.clean, report.problems


def flip(content: bytes) -> bytes:
    return content[:10] + bytes([content[10] ^ 1]) + content[11:]


def lines_of(change):
    def apply(content: bytes) -> bytes:
        lines = content.splitlines()
        return b"\n".join(change(lines)) + b"\n"

    return apply


def hidden_index(content: bytes) -> int:
    lines = [json.loads(line) for line in content.splitlines()]
    return next(i for i, line in enumerate(lines) if "kind" not in line and i > 0)


def swap(lines):
    lines[3], lines[5] = lines[5], lines[3]
    return lines


def alter_hidden(content: bytes) -> bytes:
    lines = content.splitlines()
    i = hidden_index(content)
    entry = json.loads(lines[i])
    entry["content_hash"] = "0" * 64
    lines[i] = json.dumps(entry).encode()
    return b"\n".join(lines) + b"\n"


def first_document(year) -> dict:
    return json.loads(members_of(year.zip)["manifest.json"])["documents"][0]


def manifest_hash_changed(both: bool):
    def change_json(content: bytes) -> bytes:
        manifest = json.loads(content)
        manifest["documents"][0]["sha256"] = "f" * 64
        return json.dumps(manifest).encode()

    def change_csv(content: bytes) -> bytes:
        text = content.decode("utf-8-sig")
        first = text.splitlines()[1].split(";")[10]
        return ("\ufeff" + text.replace(first, "f" * 64, 1)).encode()

    return (
        {"manifest.json": change_json, "manifest.csv": change_csv}
        if both
        else {"manifest.csv": change_csv}
    )


def replace_document_everywhere(year) -> dict:
    """A forger's consistent zip: another document, both manifests rewritten to match."""
    forged = b"<Invoice>forged</Invoice>"
    manifest = json.loads(members_of(year.zip)["manifest.json"])
    row = manifest["documents"][0]
    row["sha256"], row["size"] = hashlib.sha256(forged).hexdigest(), len(forged)
    return {
        row["path"]: lambda _: forged,
        "manifest.json": lambda _: json.dumps(manifest).encode(),
        "manifest.csv": lambda _: manifest_csv(manifest["documents"]).encode(),
    }


def add_member_file(data: bytes) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("documents/FA-2026-0001/ajout.pdf", b"%PDF-1.7")
    return out.getvalue()


@pytest.mark.parametrize(
    ("case", "kind", "where"),
    [
        ("document replaced everywhere", "manquant", "sans entrée document.archived"),
        ("last journal line removed", "tronqué", "entrée absente du journal"),
        ("journal line unreadable", "altéré", "journal.jsonl ligne 3 illisible"),
        ("document missing", "manquant", "absent du zip"),
        ("manifest row hash", "altéré", "manifest.csv ligne 2 : « SHA-256 » ne concorde pas"),
        ("both manifests' hash", "altéré", "SHA-256 différent"),
        ("journal line removed", "manquant", "journal.jsonl ligne 5 : entrée"),
        ("journal lines swapped", "interverti", "journal.jsonl : lignes 4 et 6 interverties"),
        ("redacted content hash", "altéré", "altérée (masquée)"),
        ("signature of another key", "signature", "signature invalide"),
    ],
)
def test_each_alteration_is_found_at_its_place(year, tmp_path, case, kind, where):
    document = first_document(year)
    key = document["path"]
    changes = {
        "document byte": {key: flip},
        "document missing": {key: lambda _: None},
        "manifest row hash": manifest_hash_changed(both=False),
        "both manifests' hash": manifest_hash_changed(both=True),
        "journal line removed": {"journal.jsonl": lines_of(lambda lines: lines[:4] + lines[5:])},
        "journal lines swapped": {"journal.jsonl": lines_of(swap)},
        "redacted content hash": {"journal.jsonl": alter_hidden},
        "document replaced everywhere": replace_document_everywhere(year),
        "last journal line removed": {"journal.jsonl": lines_of(lambda lines: lines[:-1])},
        "journal line unreadable": {
            "journal.jsonl": lines_of(lambda lines: [*lines[:2], b"{", *lines[3:]])
        },
        "signature of another key": {
            "checkpoints.json": forge_signatures_with(Ed25519PrivateKey.generate())
        },
    }[case]
    report = check(rezip(year.zip, changes), tmp_path, year.public_key)
    assert not report.clean
    first = report.problems[0]
    assert first.kind == kind, report.problems
    assert where in first.message, first.message
    assert report.verdict().startswith("Export ALTÉRÉ : ")
    if case in ("document byte", "document missing"):
        assert first.file == document["path"] and first.invoice_id == document["invoice_id"]
    if case in ("journal line removed", "journal lines swapped", "redacted content hash"):
        assert first.file == "journal.jsonl" and first.line and first.seq


def test_a_removed_line_names_the_entry_and_its_line(year, tmp_path):
    lines = members_of(year.zip)["journal.jsonl"].splitlines()
    removed = json.loads(lines[4])["seq"]
    altered = rezip(year.zip, {"journal.jsonl": lines_of(lambda ls: ls[:4] + ls[5:])})
    first = check(altered, tmp_path, year.public_key).problems[0]
    assert (first.seq, first.line) == (removed, 5)
    assert f"entrée {removed} manquante" in first.message


def test_a_redacted_entry_changed_is_found_at_its_number(year, tmp_path):
    content = members_of(year.zip)["journal.jsonl"]
    i = hidden_index(content)
    seq = json.loads(content.splitlines()[i])["seq"]
    first = check(
        rezip(year.zip, {"journal.jsonl": alter_hidden}), tmp_path, year.public_key
    ).problems[0]
    assert (first.seq, first.line) == (seq, i + 1)


def test_a_forger_s_own_key_in_the_zip_fools_only_who_trusts_the_zip(year, tmp_path):
    forger = Ed25519PrivateKey.generate()
    forged = rezip(
        year.zip,
        {
            "checkpoints.json": forge_signatures_with(forger),
            "public-key.txt": lambda _: archive.public_key_hex(forger).encode(),
        },
    )
    trusting = check(forged, tmp_path, None)
    assert trusting.clean and "lue dans l'export" in trusting.verdict()
    assert not check(forged, tmp_path, year.public_key).clean


def forge_signatures_with(forger):
    def change(content: bytes) -> bytes:
        checkpoints = json.loads(content)
        for c in checkpoints:
            at = datetime.fromisoformat(c["at"])
            c["signature"] = archive.sign_checkpoint(forger, c["seq"], c["hash"], at)
        return json.dumps(checkpoints).encode()

    return change


def test_a_document_not_in_the_manifest_is_found(year, tmp_path):
    report = check(add_member_file(year.zip), tmp_path, year.public_key)
    assert [p.message for p in report.problems] == [
        "document « documents/FA-2026-0001/ajout.pdf » absent du manifeste"
    ]


def test_a_byte_flipped_in_the_zip_itself_is_found(year, tmp_path):
    document = first_document(year)
    data = bytearray(year.zip)
    start = data.index(document["path"].encode()) + len(document["path"]) + 40
    data[start] ^= 0xFF
    report = check(bytes(data), tmp_path, year.public_key)
    assert not report.clean and report.problems[0].kind == "altéré"


# --- streaming --------------------------------------------------------------------------------


def test_a_large_export_streams_in_bounded_memory(tmp_path, sqlite_url):
    gateway = Gateway(make_config(tmp_path, sqlite_url))
    gateway.config.archive.ensure_signing_key()
    member = gateway.new_member()
    store = gateway.store
    count, size = 300, 200 * 1024
    for n in range(count):
        number = f"FA-2026-{n:04d}"
        seq = add_invoice(
            store, member["id"], number, data={"number": number, "issue_date": "2026-03-01"}
        )
        with store.begin() as conn:
            store.add_document(conn, seq, "facture.pdf", "application/pdf", os.urandom(size))
    environ = testing.create_environ(
        "/v1/archive/export", query_string="year=2026", headers=member["headers"]
    )
    started: list[str] = []
    path = tmp_path / "large.zip"
    tracemalloc.start()
    try:
        chunks = gateway.app(environ, lambda status, headers: started.append(status))
        with path.open("wb") as out:
            biggest = 0
            for chunk in chunks:
                out.write(chunk)
                biggest = max(biggest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert started == ["200 OK"]
    total = count * size
    assert path.stat().st_size > total  # random bytes do not deflate
    print(f"export of {count} documents: peak {peak / 1e6:.1f} MB, biggest chunk {biggest}")
    assert peak < total / 10, f"peak {peak / 1e6:.1f} MB for {total / 1e6:.0f} MB of documents"
    assert biggest <= 2 * archive.CHUNK
    report = verify_export(path, None, lambda *_: None)
    assert report.clean and report.documents == count, report.problems
    store.dispose()


# --- the store's year, on both databases ----------------------------------------------------


def test_the_store_selects_a_year_by_issue_date_on_each_database(database_url):
    store = Store(database_url)
    store.migrate()
    add_member(store, "mem_a")
    add_member(store, "mem_b")
    issued = {
        "FA-1": ("mem_a", "2025-12-31"),
        "FA-2": ("mem_a", "2026-01-01"),
        "FA-3": ("mem_a", "2026-12-31"),
        "FA-4": ("mem_a", "2027-01-01"),
        "FB-1": ("mem_b", "2026-06-15"),
    }
    for number, (member, day) in issued.items():
        data = {"number": number, "issue_date": day, "buyer": {"name": "Rouen"}}
        data["totals"] = {"tax_exclusive": "10.00", "tax_inclusive": "12.00"}
        add_invoice(store, member, number, data=data)
        with store.begin() as conn:
            store.append_journal(
                conn, "test", {}, member_id=member, invoice_id=f"inv_{member}_{number}"
            )
    rows = store.invoices_issued_in("mem_a", 2026)
    assert [(r["number"], r["issue_date"]) for r in rows] == [
        ("FA-2", "2026-01-01"),
        ("FA-3", "2026-12-31"),
    ]
    assert (rows[0]["buyer_name"], rows[0]["tax_inclusive"]) == ("Rouen", "12.00")
    assert store.first_journal_seq_of_year("mem_a", 2026) == 2
    assert store.first_journal_seq_of_year("mem_a", 2031) is None
    store.dispose()


def test_an_export_carries_the_checkpoint_s_time_stamp_and_verifies_it_offline(
    tmp_path, tsa, other_tsa
):
    config = make_config(
        tmp_path, f"sqlite:///{tmp_path / 'g.sqlite3'}", outbound_hosts=(f"127.0.0.1:{tsa.port}",)
    )
    config.archive.tsa_url = tsa.url
    gateway = Gateway(config)
    try:
        config.archive.ensure_signing_key()
        member = gateway.new_member()
        assert (
            gateway.post_invoice(member, invoice("FA-2026-0001", "2026-03-01")).status_code == 202
        )
        response = gateway.client.simulate_get(
            "/v1/archive/export", params={"year": "2026"}, headers=member["headers"]
        )
        assert response.status_code == 200, response.text
    finally:
        gateway.store.dispose()
        outbound.configure(None)  # as outside a gateway, for the tests that follow
    final = json.loads(members_of(response.content)["checkpoints.json"])[-1]
    assert final["timestamp_token"] and final["timestamped_at"]
    path = tmp_path / "export.zip"
    path.write_bytes(response.content)
    trusted = tsa.authority.ca_file.read_text()
    report = verify_export(path, None, lambda *_: None, trusted)
    assert report.clean, report.problems
    assert report.timestamped == 1 and report.as_dict()["timestamped"] == 1
    # The same token checked against another authority, then a token of another checkpoint.
    refused = verify_export(path, None, lambda *_: None, other_tsa.authority.ca_file.read_text())
    assert [problem.kind for problem in refused.problems] == ["horodatage"]

    def forged(data: bytes) -> bytes:
        records = json.loads(data)
        records[-1]["timestamped_at"] = "2026-01-01T00:00:00.000000Z"
        return json.dumps(records).encode()

    tampered = check(rezip(response.content, {"checkpoints.json": forged}), tmp_path, None)
    assert tampered.problems[0].kind == "horodatage"
    assert "checkpoints.json" in tampered.problems[0].message

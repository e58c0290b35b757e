"""RFC 3161 time-stamps of the checkpoints, against a real authority on loopback (OpenSSL's
own TSA, tests/tsa_server.py): stamped and verified clean; a token of another message, of
another authority, late, altered, each found; an authority down or misbehaving leaves the
checkpoint signed without a token, and says so in a warning."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from asn1crypto import cms, tsp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs

from gateway import archive, outbound, timestamping
from gateway.store import Store
from gateway.timestamping import InvalidToken, Stamper, TimestampError
from tests.gateway.store.test_store import migrate_to


def journal(store: Store, entries: int = 3) -> None:
    for index in range(entries):
        with store.begin() as conn:
            store.append_journal(conn, "test", {"index": index})


def checkpoint(store: Store, key, at: datetime | None = None) -> dict:
    journal(store, 1)
    return store.add_checkpoint(key, at or datetime.now(UTC))


def verify(store: Store, key, tsa_certificate: str | None = None) -> archive.Report:
    public = archive.public_key_hex(key)
    return archive.verify(store, None, public, lambda *_: None, tsa_certificate)


def message_of(row: dict) -> bytes:
    return archive.checkpoint_message(row["seq"], row["hash"], row["at"])


def test_a_checkpoint_is_time_stamped_and_verifies_clean(store, tsa, tmp_path):
    key = Ed25519PrivateKey.generate()
    ca = tsa.authority.ca_file.read_text()
    made = checkpoint(store, key)
    stamp = timestamping.stamp_checkpoint(store, made, Stamper(tsa.url, ca))
    assert stamp.tsa == "Horodatage de test"
    row = store.list_checkpoints()[0]
    assert row["timestamp_token"] == stamp.token
    assert row["timestamped_at"] == stamp.gen_time
    assert made["at"] - timedelta(seconds=1) <= stamp.gen_time <= made["at"] + timedelta(minutes=1)
    # What the authority was asked: the SHA-256 of the checkpoint's message, and nothing else.
    assert len(tsa.queries) == 1 and b"facture-gateway" not in tsa.queries[0]
    report = verify(store, key, ca)
    assert report.clean, report.problems
    assert (report.checkpoints, report.timestamped) == (1, 1)
    assert report.as_dict()["timestamped"] == 1
    assert report.verdict().endswith("1 point de contrôle, dont 1 horodaté")
    # Offline, with the token and the message alone; the authority's own certificate will do.
    again = timestamping.verify_token(row["timestamp_token"], message_of(row))
    assert (again.gen_time, again.tsa) == (stamp.gen_time, stamp.tsa)
    own = tsa.authority.certificate_file.read_text()
    assert timestamping.verify_token(row["timestamp_token"], message_of(row), own).tsa == stamp.tsa
    # And OpenSSL, an independent verifier, accepts it.
    (tmp_path / "checkpoint.txt").write_bytes(message_of(row))
    (tmp_path / "checkpoint.tsr").write_bytes(row["timestamp_token"])
    checked = subprocess.run(
        [
            tsa.openssl,
            "ts",
            "-verify",
            "-data",
            str(tmp_path / "checkpoint.txt"),
            "-in",
            str(tmp_path / "checkpoint.tsr"),
            "-token_in",
            "-CAfile",
            str(tsa.authority.ca_file),
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr


def test_a_token_of_another_checkpoint_is_found(store, tsa):
    key = Ed25519PrivateKey.generate()
    stamper = Stamper(tsa.url)
    first, second = checkpoint(store, key), checkpoint(store, key)
    for made in (first, second):
        timestamping.stamp_checkpoint(store, made, stamper)
    assert verify(store, key).clean
    # Swapped: each token is a real one, of the other checkpoint's message.
    with store.begin() as conn:
        for made, other in ((first, second), (second, first)):
            conn.execute(
                sa.text("UPDATE checkpoints SET timestamp_token = :token WHERE id = :id"),
                {"token": other["timestamp_token"], "id": made["id"]},
            )
    report = verify(store, key)
    assert report.timestamped == 2
    assert [p.kind for p in report.problems] == ["horodatage", "horodatage"]
    at = archive.canonical_time(first["at"])[:19].replace("T", " ")
    assert report.problems[0].message == (
        f"point de contrôle du {at} (entrée {first['seq']}) : jeton d'horodatage invalide : "
        "il horodate un autre message (empreinte différente)"
    )
    assert report.verdict().startswith("Archive ALTÉRÉE : point de contrôle du ")


def test_a_token_of_another_authority_than_the_configured_one_is_found(store, tsa, other_tsa):
    key = Ed25519PrivateKey.generate()
    made = checkpoint(store, key)
    timestamping.stamp_checkpoint(store, made, Stamper(other_tsa.url))  # no certificate
    assert verify(store, key).clean  # a valid token, of some authority
    assert verify(store, key, other_tsa.authority.ca_file.read_text()).clean
    report = verify(store, key, tsa.authority.ca_file.read_text())
    assert len(report.problems) == 1
    assert report.problems[0].message.endswith(
        "jeton d'horodatage invalide : signé par « Autre horodatage », qui n'est pas "
        "l'autorité d'horodatage configurée ni certifié par elle"
    )
    # At stamping time, a configured certificate refuses the other authority's token.
    later = checkpoint(store, key)
    with capture_logs() as logs, pytest.raises(InvalidToken, match="Autre horodatage"):
        timestamping.stamp_checkpoint(
            store, later, Stamper(other_tsa.url, tsa.authority.ca_file.read_text())
        )
    assert store.list_checkpoints()[-1]["timestamp_token"] is None
    assert logs[0]["event"] == "archive.timestamp_failed"


def test_the_authority_down_leaves_the_checkpoint_signed_without_a_token(store, tsa):
    key = Ed25519PrivateKey.generate()
    tsa.stop()
    made = checkpoint(store, key)
    # Credentials in the URL (HTTP basic) never reach the logs.
    url = tsa.url.replace("http://", "http://archiviste:motdepasse@")
    with capture_logs() as logs, pytest.raises(TimestampError, match="injoignable"):
        timestamping.stamp_checkpoint(store, made, Stamper(url))
    row = store.list_checkpoints()[0]
    assert (row["timestamp_token"], row["timestamped_at"]) == (None, None)
    assert archive.checkpoint_valid(archive.public_key_hex(key), row)
    assert [log["log_level"] for log in logs] == ["warning"]
    warning = logs[0]
    assert warning["event"] == "archive.timestamp_failed"
    assert warning["tsa"] == tsa.url and warning["seq"] == made["seq"]
    assert "injoignable" in warning["reason"]
    assert "motdepasse" not in repr(logs)
    report = verify(store, key)
    assert report.clean and (report.checkpoints, report.timestamped) == (1, 0)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("http-error", "a répondu HTTP 500"),
        ("garbage", "a répondu autre chose qu'une réponse RFC 3161"),
        ("rejection", "a refusé la demande (rejection : unsupported algorithm, bad_alg)"),
        ("replay", "a donné un jeton invalide : il horodate un autre message"),
    ],
)
def test_an_authority_answering_badly_gives_no_token(store, tsa, mode, reason):
    key = Ed25519PrivateKey.generate()
    stamper = Stamper(tsa.url)
    timestamping.stamp_checkpoint(store, checkpoint(store, key), stamper)
    tsa.mode = mode
    made = checkpoint(store, key)
    with capture_logs() as logs, pytest.raises(TimestampError) as raised:
        timestamping.stamp_checkpoint(store, made, stamper)
    assert reason in str(raised.value)
    assert reason in logs[0]["reason"]
    assert store.list_checkpoints()[-1]["timestamp_token"] is None


def test_an_authority_too_slow_gives_no_token(store, tsa):
    key = Ed25519PrivateKey.generate()
    tsa.mode = "slow"
    made = checkpoint(store, key)
    with pytest.raises(TimestampError, match="n'a pas répondu dans les 0.5 s"):
        timestamping.stamp_checkpoint(store, made, Stamper(tsa.url, timeout=0.5))
    assert store.list_checkpoints()[0]["timestamp_token"] is None


def test_a_replayed_reply_to_the_same_message_is_refused_by_its_nonce(tsa):
    message = b"facture-gateway checkpoint v1\n1\n" + b"a" * 64 + b"\n"
    first = timestamping.request_timestamp(message, tsa.url)
    tsa.mode = "replay"
    with pytest.raises(InvalidToken, match="nonce différent"):
        timestamping.request_timestamp(message, tsa.url)
    assert timestamping.verify_token(first.token, message).nonce == first.nonce


def test_the_authority_goes_through_the_outbound_allow_list(store, tsa):
    key = Ed25519PrivateKey.generate()
    made = checkpoint(store, key)
    outbound.configure(["api.piste.gouv.fr"])
    try:
        with capture_logs() as logs, pytest.raises(TimestampError, match="outbound_hosts"):
            timestamping.stamp_checkpoint(store, made, Stamper(tsa.url))
        assert tsa.queries == []  # never called
        assert "[archive] tsa_url" in logs[0]["reason"]
        outbound.configure([f"127.0.0.1:{tsa.port}"])
        timestamping.stamp_checkpoint(store, made, Stamper(tsa.url))
    finally:
        outbound.configure(None)
    assert store.list_checkpoints()[0]["timestamp_token"] is not None


def test_a_late_token_and_an_altered_one_are_found(store, tsa):
    key = Ed25519PrivateKey.generate()
    stamper = Stamper(tsa.url)
    # A checkpoint signed an hour before it was time-stamped proves nothing of its date.
    late = checkpoint(store, key, datetime.now(UTC) - timedelta(hours=1))
    timestamping.stamp_checkpoint(store, late, stamper)
    report = verify(store, key)
    assert len(report.problems) == 1
    assert "minutes après le point de contrôle" in report.problems[0].message
    assert "jeton daté du " in report.problems[0].message
    # One bit of the authority's signature flipped.
    made = checkpoint(store, key)
    token = bytearray(timestamping.stamp_checkpoint(store, made, stamper).token)
    token[-5] ^= 0x01
    with pytest.raises(InvalidToken, match="la signature de l'autorité est invalide"):
        timestamping.verify_token(bytes(token), message_of(made))
    # The date stored beside the token moved.
    with store.begin() as conn:
        conn.execute(
            sa.text("UPDATE checkpoints SET timestamped_at = :at WHERE id = :id"),
            {
                "at": (made["timestamped_at"] - timedelta(days=1)).replace(tzinfo=None),
                "id": made["id"],
            },
        )
    problems = [p.message for p in verify(store, key).problems]
    assert any("date d'horodatage enregistrée" in p for p in problems), problems


def test_a_token_altered_inside_its_signed_content_is_found(tsa):
    message = b"facture-gateway checkpoint v1\n7\n" + b"b" * 64 + b"\n"
    stamp = timestamping.request_timestamp(message, tsa.url)
    # The TSTInfo's serial number, inside the signed content: messageDigest no longer holds.
    signed = cms.ContentInfo.load(stamp.token)["content"]
    content = signed["encap_content_info"]["content"].contents
    info = tsp.TSTInfo.load(content)
    imprint, serial = info["message_imprint"].dump(), info["serial_number"].dump()
    where = content.index(imprint) + len(imprint)
    assert content[where : where + len(serial)] == serial
    end = where + len(serial) - 1
    changed = content[:end] + bytes([content[end] ^ 0x40]) + content[end + 1 :]
    forged = stamp.token.replace(content, changed)
    assert forged != stamp.token and len(forged) == len(stamp.token)
    with pytest.raises(InvalidToken, match="messageDigest"):
        timestamping.verify_token(forged, message)
    with pytest.raises(InvalidToken, match="lisible"):
        timestamping.verify_token(b"\x30\x03\x02\x01\x01", message)


def test_the_daily_job_time_stamps_its_checkpoint(store, tsa, tmp_path):
    from gateway.config import load_config
    from gateway.schedule import checkpoint_job

    config = load_config(tmp_path / "none.toml", env={"GATEWAY_HOME": str(tmp_path)})
    config.archive.ensure_signing_key()
    config.archive.tsa_url = tsa.url
    config.archive.tsa_certificate = {"$file": str(tsa.authority.ca_file)}
    journal(store, 2)
    job = checkpoint_job(store, config, lambda: datetime.now(UTC))
    assert job(None) == 1
    row = store.list_checkpoints()[0]
    assert row["seq"] == 2 and row["timestamp_token"] is not None
    key = config.archive.private_key()
    report = verify(store, key, config.archive.tsa_certificate_pem())
    assert report.clean and report.timestamped == 1
    # The authority down: the job still signs its checkpoint, and warns.
    tsa.stop()
    with capture_logs() as logs:
        assert job(None) == 1
    assert [row["timestamp_token"] is None for row in store.list_checkpoints()] == [False, True]
    assert logs[0]["event"] == "archive.timestamp_failed"
    # A certificate file that cannot be read: signed, not stamped, warned.
    config.archive.tsa_certificate = {"$file": str(tmp_path / "absent.pem")}
    with capture_logs() as logs:
        assert job(None) == 1
    assert len(store.list_checkpoints()) == 3
    assert logs[0]["event"] == "archive.timestamp_failed" and "absent.pem" in logs[0]["reason"]


def test_a_token_is_kept_once(store, tsa):
    key = Ed25519PrivateKey.generate()
    made = checkpoint(store, key)
    stamp = timestamping.stamp_checkpoint(store, made, Stamper(tsa.url))
    assert not store.set_checkpoint_timestamp(made["id"], b"other", stamp.gen_time)
    assert store.list_checkpoints()[0]["timestamp_token"] == stamp.token


def test_the_timestamps_migration_goes_down_and_up(store):
    key = Ed25519PrivateKey.generate()
    checkpoint(store, key)
    migrate_to(store, "0014_archive", down=True)
    with store.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("checkpoints")}
    assert "timestamp_token" not in columns and "timestamped_at" not in columns
    store.migrate()
    row = store.list_checkpoints()[0]
    assert row["timestamp_token"] is None and archive.checkpoint_valid(
        archive.public_key_hex(key), row
    )

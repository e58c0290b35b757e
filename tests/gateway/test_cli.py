"""The command line, run as a user runs it (a subprocess of `python -m gateway`)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

from tests.conftest import DATA, EXAMPLES, ROOT


def cli(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "GATEWAY_HOME": str(home), "GATEWAY_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )


def test_validate_exit_codes_and_report(tmp_path):
    valid = cli("validate", str(EXAMPLES / "invoice-aube.json"), home=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert "valide" in valid.stdout.decode()
    invalid = cli(
        "validate",
        str(EXAMPLES / "invoice-aube.json"),
        str(DATA / "invalid" / "fr-iban-checksum.json"),
        home=tmp_path,
    )
    assert invalid.returncode == 1
    assert "iban.invalid [payment.iban]" in invalid.stdout.decode()


def test_validate_json_with_chosen_rule_sets(tmp_path):
    result = cli(
        "validate",
        "--json",
        "--rules",
        "en16931",
        str(DATA / "invalid" / "en16931-br-co-13-ubl.xml"),
        str(DATA / "invalid" / "fr-payment-missing.json"),
        home=tmp_path,
    )
    assert result.returncode == 1
    broken, french_only = json.loads(result.stdout)
    assert "en16931.BR-CO-13" in {e["code"] for e in broken["errors"]}
    assert french_only["valid"] is True  # the French rules were not asked for


def test_convert_then_validate(tmp_path):
    target = tmp_path / "aube.xml"
    converted = cli(
        "convert",
        str(EXAMPLES / "invoice-aube.json"),
        "--to",
        "cii",
        "-o",
        str(target),
        home=tmp_path,
    )
    assert converted.returncode == 0, converted.stderr
    assert target.read_bytes().startswith(b"<?xml")
    assert cli("validate", str(target), home=tmp_path).returncode == 0
    unknown = cli("convert", str(EXAMPLES / "invoice-aube.json"), "--to", "docx", home=tmp_path)
    assert unknown.returncode == 2
    assert "Rendu inconnu" in unknown.stderr.decode()


# --- a command line a vendor scripts ----------------------------------------------------------


def test_an_unreadable_file_is_one_french_line_and_exit_status_2(tmp_path):
    for args in (
        ("validate", str(tmp_path / "absente.json")),
        ("validate", str(EXAMPLES / "invoice-aube.json"), str(tmp_path)),
        ("convert", str(tmp_path / "absente.json"), "--to", "ubl"),
    ):
        result = cli(*args, home=tmp_path)
        errors = result.stderr.decode().splitlines()
        assert result.returncode == 2, args
        assert len(errors) == 1 and errors[0].startswith("facture-gateway : impossible de lire")
        assert "Traceback" not in result.stderr.decode()


def test_standard_output_carries_the_result_alone_and_logs_wait_for_v(tmp_path):
    quiet = cli("validate", "--json", str(EXAMPLES / "invoice-aube.json"), home=tmp_path)
    assert json.loads(quiet.stdout)[0]["valid"] is True
    assert quiet.stderr == b""
    told = cli("validate", "-v", "--json", str(EXAMPLES / "invoice-aube.json"), home=tmp_path)
    assert json.loads(told.stdout) == json.loads(quiet.stdout)
    assert told.stderr.strip()


def test_help_and_usage_errors_are_french_and_name_the_environment(tmp_path):
    main_help = cli("--help", home=tmp_path).stdout.decode()
    assert main_help.startswith("utilisation : facture-gateway")
    for variable in ("GATEWAY_CONFIG", "GATEWAY_DATABASE_URL", "PORT", "SANDBOX_PORT"):
        assert variable in main_help
    assert "``" not in main_help and "usage:" not in main_help
    validate_help = cli("validate", "-h", home=tmp_path).stdout.decode()
    assert validate_help.startswith("utilisation : facture-gateway validate")
    assert "afficher cette aide" in validate_help
    wrong = cli("validate", "--rulez", "x", str(EXAMPLES / "invoice-aube.json"), home=tmp_path)
    assert wrong.returncode == 2
    assert "erreur : arguments inconnus : --rulez" in wrong.stderr.decode()


def test_validate_shows_its_progress_on_a_terminal_only(tmp_path):
    files = [str(EXAMPLES / "invoice-aube.json"), str(EXAMPLES / "invoice-seine-maritime.json")]
    piped = cli("validate", *files, home=tmp_path)
    assert "[2/2]" not in piped.stderr.decode()
    terminal, attached = pty.openpty()
    env = {**os.environ, "GATEWAY_HOME": str(tmp_path)}
    with subprocess.Popen(
        [sys.executable, "-m", "gateway", "validate", *files],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=attached,
    ) as child:
        os.close(attached)
        shown = b""
        while chunk := _read_terminal(terminal):
            shown += chunk
    os.close(terminal)
    assert child.returncode == 0
    assert b"[1/2]" in shown and b"[2/2]" in shown


def _read_terminal(terminal: int) -> bytes:
    try:
        return os.read(terminal, 4096)
    except OSError:  # the other end closed (EIO on Linux)
        return b""


def test_convert_refuses_amounts_that_do_not_add_up_unless_told_to_recompute(tmp_path):
    inconsistent = str(DATA / "invalid" / "totals-vat.json")
    validated = cli("validate", "--json", inconsistent, home=tmp_path)
    refused = cli(
        "convert", inconsistent, "--to", "ubl", "-o", str(tmp_path / "x.xml"), home=tmp_path
    )
    assert refused.returncode == 1 and not (tmp_path / "x.xml").exists()
    (finding,) = json.loads(validated.stdout)[0]["errors"]
    assert f"erreur {finding['code']} [{finding['field']}] : {finding['message']}" in (
        refused.stdout.decode()
    )
    assert "--recompute" in refused.stderr.decode()
    recomputed = cli(
        "convert",
        inconsistent,
        "--to",
        "ubl",
        "-o",
        str(tmp_path / "x.xml"),
        "--recompute",
        home=tmp_path,
    )
    assert recomputed.returncode == 0
    assert (
        "recalculé [totals.vat] : Le total de la TVA indiqué (5,10)" in recomputed.stderr.decode()
    )
    assert (
        b'<cbc:TaxAmount currencyID="EUR">5.09</cbc:TaxAmount>' in (tmp_path / "x.xml").read_bytes()
    )

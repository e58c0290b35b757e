"""The command line, run as a user runs it (a subprocess of `python -m gateway`)."""

from __future__ import annotations

import json
import os
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

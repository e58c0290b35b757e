"""Every refusal end to end, through both doors: one table of what a client may send wrong,
each row with its code, field and severity, and a French message for the bookseller.

Document rows go through `POST /v1/invoices/validate`, `POST /v1/invoices` (nothing stored
when refused) and `python -m gateway validate --json` under the same member and
configuration; request rows and command rows try what only one door can be sent.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from gateway.formats import MAX_INVOICES
from gateway.pipeline import CLAIM_SECONDS, request_hash
from tests.conftest import DATA, ROOT, Gateway, example, make_config, sold_by
from tests.gateway.test_validation import EXPECTED, INVALID

#: The `member` fixture's SIRET and VAT number, which the interop documents are given.
MEMBER_SIRET, MEMBER_VAT = "81234567600017", "FR19812345676"
OTHER_SIRET = "79345612000013"

Finding = tuple[str, str | None, str]


def encoded(document: dict) -> bytes:
    return json.dumps(document).encode()


def interop(name: str, *edits: tuple[str, str]) -> Callable[[], bytes]:
    """An interop document in the member's name, with each ``(old, new)`` edit made once."""

    def build() -> bytes:
        text = (DATA / "interop" / name).read_text()
        text = text.replace("FR32793456120", MEMBER_VAT).replace(OTHER_SIRET, MEMBER_SIRET)
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new, 1)
        return text.encode()

    return build


def with_lines(count: int) -> bytes:
    document = example("invoice-seine-maritime")
    return encoded({**document, "lines": document["lines"][:1] * count})


def zip_of_files(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(count):
            archive.writestr(f"f{n}.xml", b"<a/>")
    return buffer.getvalue()


@dataclass(frozen=True)
class Document:
    """A document sent as it is; ``read_status``: the door's refusal (413) before any rule."""

    name: str
    body: Callable[[], bytes]
    findings: list[Finding]
    read_status: int | None = None

    @property
    def refused(self) -> bool:
        return any(severity == "error" for _, _, severity in self.findings)


def corpus_row(name: str) -> Document:
    expected = [(e["code"], e["field"], e["severity"]) for e in EXPECTED[name]]
    return Document(name, (INVALID / name).read_bytes, expected)


UBL, CII = "ubl-chorus-0009.xml", "cii-facturx-globalid-0009.xml"
UBL_SELLER_ID = '<cbc:ID schemeID="0009">81234567600017'
UBL_SELLER_COMPANY = '<cbc:CompanyID schemeID="0009">81234567600017'

DOCUMENTS = [corpus_row(name) for name in sorted(EXPECTED)] + [
    Document(
        "seller.not_member",
        lambda: encoded(sold_by(example("invoice-seine-maritime"), OTHER_SIRET)),
        [("seller.not_member", "seller.siret", "error")],
    ),
    Document(
        "credit_note.unknown_invoice alone",
        lambda: encoded(example("credit-note-seine-maritime")),
        [("credit_note.unknown_invoice", "preceding_invoice.number", "warning")],
    ),
    Document("ubl as is", interop(UBL), []),
    Document(
        "siret read from scheme 0002",
        interop(
            UBL,
            (UBL_SELLER_ID, UBL_SELLER_ID.replace("0009", "0002")),
            (UBL_SELLER_COMPANY, UBL_SELLER_COMPANY.replace("0009", "0002")),
        ),
        [],
    ),
    Document(
        "siret read without a scheme",
        interop(
            UBL,
            (UBL_SELLER_ID, "<cbc:ID>81234567600017"),
            (UBL_SELLER_COMPANY, "<cbc:CompanyID>81234567600017"),
        ),
        [],
    ),
    Document(
        "siret.conflict",
        interop(UBL, (UBL_SELLER_COMPANY, '<cbc:CompanyID schemeID="0009">35600000010000')),
        [("siret.conflict", "seller.siret", "error")],
    ),
    Document(
        "BR-02 ubl",
        interop(UBL, ("<cbc:ID>GO-2026-0401</cbc:ID>", "")),
        [("en16931.BR-02", "number", "error")],
    ),
    Document(
        "BR-02 cii",
        interop(CII, ("<ram:ID>GO-2026-0501</ram:ID>", "")),
        [("en16931.BR-02", "number", "error")],
    ),
    Document(
        "BR-03 ubl",
        interop(UBL, ("<cbc:IssueDate>2026-11-05</cbc:IssueDate>", "")),
        [("en16931.BR-03", "issue_date", "error")],
    ),
    Document(
        "BR-05 ubl",
        interop(UBL, ("<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>", "")),
        [("en16931.BR-05", "currency", "error")],
    ),
    Document(
        "BR-06 ubl",
        interop(
            UBL, ("<cbc:RegistrationName>Librairie La Grande Ourse</cbc:RegistrationName>", "")
        ),
        [("en16931.BR-06", "seller.name", "error")],
    ),
    Document(
        "BR-06 cii",
        interop(CII, ("<ram:Name>Librairie La Grande Ourse</ram:Name>", "")),
        [("en16931.BR-06", "seller.name", "error")],
    ),
    Document(
        "request.too_large: lines of an invoice",
        lambda: with_lines(10_001),
        [("request.too_large", "lines", "error")],
        read_status=413,
    ),
    Document(
        "request.too_large: files of a zip",
        lambda: zip_of_files(MAX_INVOICES + 1),
        [("request.too_large", None, "error")],
        read_status=413,
    ),
]

#: Words of the English messages a library or a schema would give, never a bookseller.
ENGLISH = re.compile(
    r"\b(missing|invalid|required|must|should|expected|element|not allowed|error)\b", re.I
)


def assert_french(findings: list[dict]) -> None:
    for finding in findings:
        message = finding["message"]
        assert message and message[0].isupper(), finding
        assert message.rstrip("»)").endswith((".", "!", "?", "…")), finding
        assert not ENGLISH.search(message), finding


def triples(answer: dict) -> list[Finding]:
    findings = answer.get("errors", []) + answer.get("warnings", [])
    assert_french(findings)
    return [(f["code"], f["field"], f["severity"]) for f in findings]


def stored(gateway, member) -> list:
    return gateway.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"]


def cli_on(gateway, tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """``python -m gateway`` on the gateway's database and configuration."""
    config = gateway.config
    channels = "\n".join(f'{name} = "{outlet}"' for name, outlet in config.channels.items())
    memory = "\n".join(
        f"{key} = {json.dumps(value)}" for key, value in config.plugins["memory"].items()
    )
    toml = tmp_path / "cli.toml"
    toml.write_text(
        f"[server]\nmax_invoice_lines = {config.max_invoice_lines}\n"
        f"[routing]\ndefault_channel = {json.dumps(config.default_channel)}\n"
        f"[routing.channels]\n{channels}\n[plugins.memory]\n{memory}\n"
    )
    env = {
        **os.environ,
        "GATEWAY_HOME": str(config.base_dir),
        "GATEWAY_DATABASE_URL": config.database_url,
        "GATEWAY_SECRET_KEY": config.secret_key,
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "gateway", "--config", str(toml), *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=300)

    return run


@pytest.fixture
def cli(gateway, tmp_path):
    return cli_on(gateway, tmp_path)


@pytest.fixture(scope="module")
def cli_reports(tmp_path_factory) -> dict[str, dict]:
    """Every document row checked by ONE run of ``validate --json`` (a subprocess a row took
    minutes), as the member of a gateway of its own, which holds no invoice either."""
    tmp = tmp_path_factory.mktemp("cli")
    gateway = Gateway(make_config(tmp, f"sqlite:///{tmp / 'gateway.sqlite3'}"))
    try:
        member = gateway.new_member()
        paths = []
        for index, row in enumerate(DOCUMENTS):
            paths.append(tmp / f"document-{index:02}")
            paths[-1].write_bytes(row.body())
        checked = cli_on(gateway, tmp)(
            "validate", "--json", "--member", member["id"], *map(str, paths)
        )
    finally:
        gateway.store.dispose()
    assert checked.returncode == 1, checked.stderr  # some rows are refused
    reports = json.loads(checked.stdout)
    return {row.name: report for row, report in zip(DOCUMENTS, reports, strict=True)}


@pytest.mark.parametrize("row", DOCUMENTS, ids=lambda row: row.name)
def test_a_document_gets_its_findings_over_http_and_the_cli(gateway, member, cli_reports, row):
    body = row.body()
    headers = {**member["headers"], "Content-Type": ""}
    dry = gateway.client.simulate_post("/v1/invoices/validate", body=body, headers=headers)
    # A document refused while being read is answered as an error, not as a report.
    assert dry.status_code in ({row.read_status} if row.read_status else {200, 422}), dry.json
    assert triples(dry.json) == row.findings
    assert dry.json.get("valid", False) is not row.refused

    report = cli_reports[row.name]
    assert report["valid"] is not row.refused
    assert triples(report) == row.findings

    submitted = gateway.post_invoice(member, body, content_type="")
    status = row.read_status or (422 if row.refused else 202)
    assert submitted.status_code == status, submitted.json
    assert triples(submitted.json) == row.findings
    assert len(stored(gateway, member)) == (0 if row.refused else 1)


# --- what only the HTTP door can be sent ------------------------------------------------------


def unsupported_media_type(gateway, member):
    return gateway.post_invoice(member, example("invoice-seine-maritime"), content_type="image/png")


def unknown_parameter(gateway, member):
    return gateway.client.simulate_get(
        "/v1/invoices", headers=member["headers"], params={"colour": "rouge"}
    )


def key_reused_for_another_document(gateway, member):
    assert gateway.post_invoice(member, example("invoice-aube"), key="k").status_code == 202
    return gateway.post_invoice(member, example("invoice-seine-maritime"), key="k")


def key_claimed_by_a_request_in_progress(gateway, member):
    body = encoded(example("invoice-seine-maritime"))
    now = gateway.services.pipeline.clock()
    until = now + timedelta(seconds=CLAIM_SECONDS)
    digest = request_hash(body, "application/json", None)
    gateway.store.claim_idempotent(member["id"], "k", digest, "other", now, until)
    return gateway.post_invoice(member, body, key="k")


def siret_of_another_member(gateway, member):
    return gateway.client.simulate_post(
        "/v1/members",
        json={"name": "Librairie du Marché", "siret": MEMBER_SIRET},
        headers=gateway.admin(),
    )


def member_changing_its_siret(gateway, member):
    return gateway.client.simulate_patch(
        f"/v1/members/{member['id']}", json={"siret": OTHER_SIRET}, headers=member["headers"]
    )


def setting_naming_a_host_not_allowed(gateway, member):
    settings = {"chorus": {"token_url": "https://piste.example.net/token"}}
    return gateway.client.simulate_patch(
        f"/v1/members/{member['id']}", json={"settings": settings}, headers=member["headers"]
    )


def revoked_key(gateway, member):
    (key,) = gateway.client.simulate_get(
        f"/v1/members/{member['id']}/keys", headers=member["headers"]
    ).json["keys"]
    revoked = gateway.client.simulate_delete(
        f"/v1/members/{member['id']}/keys/{key['id']}", headers=member["headers"]
    )
    assert revoked.status_code == 200, revoked.json
    return gateway.client.simulate_get("/v1/invoices", headers=member["headers"])


@dataclass(frozen=True)
class Request:
    send: Callable
    status: int
    findings: list[Finding] = field(default_factory=list)


REQUESTS = [
    Request(unsupported_media_type, 415, [("format.unsupported", "Content-Type", "error")]),
    Request(unknown_parameter, 422, [("field.unknown", "colour", "error")]),
    Request(
        key_reused_for_another_document, 409, [("idempotency.conflict", "Idempotency-Key", "error")]
    ),
    Request(
        key_claimed_by_a_request_in_progress,
        409,
        [("idempotency.in_progress", "Idempotency-Key", "error")],
    ),
    Request(siret_of_another_member, 409, [("member.siret_taken", "siret", "error")]),
    Request(member_changing_its_siret, 403, [("member.siret_admin_only", "siret", "error")]),
    Request(
        setting_naming_a_host_not_allowed,
        422,
        [("setting.host_not_allowed", "settings.chorus.token_url", "error")],
    ),
    Request(revoked_key, 401, [("auth.required", None, "error")]),
]


@pytest.mark.parametrize("row", REQUESTS, ids=lambda row: row.send.__name__)
def test_a_request_gets_its_refusal(gateway, member, row):
    result = row.send(gateway, member)
    assert result.status_code == row.status, result.json
    assert triples(result.json) == row.findings
    if row.status != 401:  # the invoice sent by a refused request is not stored
        numbers = {item["number"] for item in stored(gateway, member)}
        assert example("invoice-seine-maritime")["number"] not in numbers


# --- what only the command line is asked -------------------------------------------------------

TOTALS = str(INVALID / "totals-vat.json")
REPORTED = re.compile(r"^  - (erreur|avertissement) (\S+)(?: \[(.+)\])? : (.+)$", re.M)


@pytest.mark.parametrize(
    ("argv", "status", "findings"),
    [
        (("convert", TOTALS, "--to", "ubl"), 1, [("totals.mismatch", "totals.vat", "error")]),
        (("convert", TOTALS, "--to", "ubl", "--recompute"), 0, []),
        (("validate", str(INVALID / "absente.json")), 2, []),
    ],
    ids=["convert totals.mismatch", "convert --recompute", "validate unreadable file"],
)
def test_a_command_gets_its_refusal(cli, argv, status, findings):
    result = cli(*argv)
    assert result.returncode == status, result.stderr
    reported = [
        {
            "code": code,
            "field": where or None,
            "severity": "error" if kind == "erreur" else "warning",
            "message": message,
        }
        for kind, code, where, message in REPORTED.findall(result.stdout.decode())
    ]
    assert triples({"errors": reported}) == findings
    if status == 2:  # one French line, no traceback
        (line,) = result.stderr.decode().splitlines()
        assert line.startswith("facture-gateway : impossible de lire")

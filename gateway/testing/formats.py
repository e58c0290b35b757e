"""The rules every format plugin keeps, as functions a vendor can run on its own plugin
(``python -m gateway.testing PLUGIN`` runs them all, see :data:`CHECKS`).

Each check takes a handler (and samples) and raises AssertionError with a readable reason
when the plugin breaks a rule:

- it declares a name, its media types and extensions;
- it comes with samples of its format;
- ``sniff`` recognises its own samples and never raises, whatever it is given;
- ``parse`` turns each sample into canonical invoices that survive the JSON contract, and
  matches the ``<sample>.expected.json`` beside it when there is one;
- malformed input (truncated, corrupted, wrongly encoded) raises ``FormatError`` — never
  another exception — saying where (a line or an XPath; a PDF or a zip cannot);
- hostile XML (an external entity, a billion laughs, a DTD fetched from the network) is
  refused without reading the file or the network it names.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from gateway.errors import FormatError
from gateway.formats import FormatHandler
from gateway.model import Invoice
from gateway.schemas import dump_invoice

JUNK = [
    b"",
    b"\x00" * 64,
    b"%PDF-1.7\n",
    b"<",
    b"{",
    b"PK\x03\x04",
    "é;à\n".encode("cp1252"),
    bytes(range(256)),
]
SECRET = "conformance-secret-7d1f"
BINARY_MAGIC = (b"%PDF", b"PK\x03\x04")


def check_declaration(handler: FormatHandler) -> None:
    assert isinstance(handler.name, str) and handler.name, "a format needs a name"
    assert handler.name == handler.name.lower() and " " not in handler.name, (
        "names are lowercase words"
    )
    assert all(isinstance(t, str) and "/" in t for t in handler.media_types), (
        "media types look like a/b"
    )
    assert all(isinstance(e, str) and e.startswith(".") for e in handler.extensions), (
        "extensions are written with their dot: .xml"
    )


def check_samples(handler: FormatHandler, samples: list[Path]) -> None:
    assert samples, (
        f"no sample of format {handler.name}: give valid files of it "
        "(python -m gateway.testing PLUGIN --samples DIR)"
    )


def check_sniff(handler: FormatHandler, samples: list[Path]) -> None:
    for sample in samples:
        assert handler.sniff(sample.read_bytes()), (
            f"{handler.name} does not recognise {sample.name}"
        )
    for junk in JUNK:
        try:
            handler.sniff(junk)
        except Exception as ex:  # noqa: BLE001 - the rule is "never raises"
            raise AssertionError(f"{handler.name}.sniff raised {ex!r} on {junk[:16]!r}") from ex


def _subset(expected, actual, path="invoice") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object"
        for key, value in expected.items():
            _subset(value, actual.get(key), f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            f"{path}: {len(expected)} items expected"
        )
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            _subset(want, got, f"{path}[{index}]")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def check_parse(handler: FormatHandler, samples: list[Path]) -> list[Invoice]:
    parsed = []
    for sample in samples:
        invoices = handler.parse(sample.read_bytes())
        assert invoices and all(isinstance(i, Invoice) for i in invoices), (
            f"{sample.name}: no invoice"
        )
        for invoice in invoices:
            dumped = json.loads(json.dumps(dump_invoice(invoice)))
            assert dumped["number"], f"{sample.name}: an invoice without a number"
        expected_file = sample.with_name(sample.name.rsplit(".", 1)[0] + ".expected.json")
        if expected_file.exists():
            expected = json.loads(expected_file.read_text())
            expected = expected if isinstance(expected, list) else [expected]
            _subset(expected, [json.loads(json.dumps(dump_invoice(i))) for i in invoices])
        parsed.extend(invoices)
    return parsed


def _refused(handler: FormatHandler, data: bytes, what: str) -> FormatError | None:
    """Parse ``data``: FormatError or a result are fine, any other exception breaks the rule."""
    try:
        handler.parse(data)
    except FormatError as ex:
        assert ex.message and (ex.code == "format.unreadable" or ex.code.startswith("field.")), (
            f"{handler.name}: {what}: a FormatError needs a message and a format code"
        )
        return ex
    except Exception as ex:  # noqa: BLE001
        raise AssertionError(f"{handler.name}: {what} raised {ex!r} instead of FormatError") from ex
    return None


def check_malformed(handler: FormatHandler, samples: list[Path], seed: int = 16931) -> None:
    rng = random.Random(seed)
    for sample in samples:
        data = sample.read_bytes()
        truncated = _refused(handler, data[: len(data) // 2], f"{sample.name} cut in half")
        assert truncated is not None, f"{handler.name}: {sample.name} cut in half was accepted"
        binary = data.startswith(BINARY_MAGIC)  # a PDF or a zip has no line to point at
        assert (
            binary or truncated.line or truncated.xpath or truncated.field or truncated.findings
        ), f"{handler.name}: the error on a truncated {sample.name} does not say where"
        for _ in range(5):
            corrupted = bytearray(data)
            for _ in range(max(1, len(data) // 200)):
                corrupted[rng.randrange(len(corrupted))] = rng.randrange(256)
            _refused(handler, bytes(corrupted), f"{sample.name} with corrupted bytes")
        _refused(
            handler, data.decode("utf-8", "replace").encode("utf-16"), f"{sample.name} in UTF-16"
        )


class _Tripwire:
    """A loopback server that records whether anybody connected to it."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connected.set()
            connection.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.server.close()


def hostile_documents(secret_file: Path, port: int) -> dict[str, bytes]:
    file_entity = (
        f'<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x SYSTEM "file://{secret_file}">]>'
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"'
        ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        "<cbc:ID>&x;</cbc:ID></Invoice>"
    )
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + ']><rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:'
        + 'CrossIndustryInvoice:100">&i;</rsm:CrossIndustryInvoice>'
    )
    network_dtd = (
        f'<?xml version="1.0"?><!DOCTYPE Invoice SYSTEM "http://127.0.0.1:{port}/invoice.dtd">'
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
    )
    return {
        "external entity": file_entity.encode(),
        "billion laughs": laughs.encode(),
        "network DTD": network_dtd.encode(),
    }


def check_hostile_xml(handler: FormatHandler, tmp_dir: Path) -> None:
    secret_file = tmp_dir / "secret.txt"
    secret_file.write_text(SECRET)
    tripwire = _Tripwire()
    try:
        for what, document in hostile_documents(secret_file, tripwire.port).items():
            try:
                invoices = handler.parse(document)
            except FormatError as ex:
                assert SECRET not in str(ex.message), f"{handler.name}: {what}: the file was read"
                continue
            except Exception as ex:  # noqa: BLE001
                raise AssertionError(
                    f"{handler.name}: {what} raised {ex!r} instead of FormatError"
                ) from ex
            text = json.dumps([dump_invoice(i) for i in invoices])
            assert SECRET not in text, f"{handler.name}: {what}: the file was read"
        assert not tripwire.connected.is_set(), (
            f"{handler.name}: a DTD was fetched over the network"
        )
    finally:
        tripwire.close()


#: The suite, in order: check name → check(handler, samples, scratch directory).
CHECKS: dict[str, Callable[[FormatHandler, list[Path], Path], object]] = {
    "declaration": lambda handler, samples, tmp_dir: check_declaration(handler),
    "samples": lambda handler, samples, tmp_dir: check_samples(handler, samples),
    "sniff": lambda handler, samples, tmp_dir: check_sniff(handler, samples),
    "parse": lambda handler, samples, tmp_dir: check_parse(handler, samples),
    "malformed": lambda handler, samples, tmp_dir: check_malformed(handler, samples),
    "hostile_xml": lambda handler, samples, tmp_dir: check_hostile_xml(handler, tmp_dir),
}

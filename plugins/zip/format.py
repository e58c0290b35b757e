"""A zip of invoices in: each file inside is read by the registered format that recognises
it (UBL, CII, Factur-X, a vendor's…) and each of its invoices becomes its own.

Bounded: invoice count (the core's, as for any document: each file holds at least one
invoice, so more files than that is refused before reading them), size of each member and
of the whole once uncompressed, and compression ratio (zip bombs); names that climb out of
the archive are refused even though nothing is written to disk.
"""

from __future__ import annotations

import io
import zipfile

from gateway.plugin_api import (
    MAX_INVOICES,
    FormatCatalog,
    FormatError,
    FormatHandler,
    Invoice,
    TooManyInvoices,
)

MAX_ZIP_BYTES = 50 * 1024 * 1024
#: As large as the largest invoice file Chorus Pro takes (a Factur-X PDF).
MAX_MEMBER_BYTES = 20 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024
#: Uncompressed/compressed ratio above which a member is taken for a bomb (XML compresses
#: about 10 to 30 times).
MAX_RATIO = 200


def _skipped(name: str) -> bool:
    """Directories and the resource forks macOS adds to archives hold no invoice."""
    base = name.rsplit("/", 1)[-1]
    return name.endswith("/") or name.startswith("__MACOSX/") or base.startswith(".")


def _check_name(name: str) -> None:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise FormatError(f"Nom de fichier refusé dans l'archive : « {name} ».")


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    if info.flag_bits & 0x1:
        raise FormatError(f"{info.filename} : fichier chiffré, illisible.")
    if info.file_size > MAX_MEMBER_BYTES or info.file_size > budget:
        raise FormatError(f"{info.filename} : fichier trop volumineux une fois décompressé.")
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
        raise FormatError(f"{info.filename} : taux de compression suspect (bombe zip).")
    # The sizes in the header are the sender's word: never read past them.
    limit = min(MAX_MEMBER_BYTES, budget)
    with archive.open(info) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise FormatError(f"{info.filename} : fichier trop volumineux une fois décompressé.")
    return data


class ZipFormat(FormatHandler):
    name = "zip"
    media_types = ("application/zip", "application/x-zip-compressed")
    extensions = (".zip",)
    description = "Zip archive of invoices in any registered format (one document per file)"

    def __init__(self, formats: FormatCatalog):
        #: Every registered format, this one included: archives inside archives are refused.
        self.formats = formats

    def sniff(self, data: bytes) -> bool:
        return data.startswith(b"PK\x03\x04")

    def parse(self, data: bytes) -> list[Invoice]:
        if len(data) > MAX_ZIP_BYTES:
            raise FormatError(f"Archive trop volumineuse (maximum {MAX_ZIP_BYTES} octets).")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except Exception as ex:  # zipfile fails on damaged input in many ways (zlib, struct…)
            raise FormatError(f"Archive zip illisible : {ex}") from ex
        with archive:
            members = [info for info in archive.infolist() if not _skipped(info.filename)]
            if len(members) > MAX_INVOICES:
                raise TooManyInvoices()
            invoices: list[Invoice] = []
            budget = MAX_TOTAL_BYTES
            for info in members:
                _check_name(info.filename)
                try:
                    content = _read(archive, info, budget)
                except FormatError:
                    raise
                except Exception as ex:  # damaged member: zlib, CRC, struct, encryption…
                    raise FormatError(f"{info.filename} : fichier endommagé ({ex}).") from ex
                budget -= len(content)
                invoices.extend(self._parse_member(info.filename, content))
                if len(invoices) > MAX_INVOICES:
                    raise TooManyInvoices()
        if not invoices:
            raise FormatError("L'archive ne contient aucune facture.")
        return invoices

    def _parse_member(self, name: str, content: bytes) -> list[Invoice]:
        handler = self.formats.sniff(content)
        if handler is None or handler.name == self.name:
            accepted = ", ".join(sorted(set(self.formats.names()) - {self.name}))
            raise FormatError(
                f"{name} : format non reconnu (formats acceptés dans une archive : {accepted})."
            )
        try:
            invoices = handler.parse(content)
        except FormatError as ex:
            raise FormatError(
                f"{name} : {ex.message}", line=ex.line, xpath=ex.xpath, field=ex.field
            ) from ex
        if not invoices:
            raise FormatError(f"{name} : aucune facture dans ce fichier.")
        return invoices

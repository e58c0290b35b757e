"""Reading the PDFs the gateway produces as a person or a portal would: their text, their
PDF/A claim and attachments, their page images (under /tmp/paper-pages/, to look at)."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pypdfium2
from pypdf import PdfReader

PAGES = Path("/tmp/paper-pages")
#: The French number format's spaces (no-break before €, narrow no-break in thousands).
SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


def text_of(content: bytes) -> str:
    """Every page's text, the French spaces made plain."""
    pages = PdfReader(io.BytesIO(content)).pages
    return "\n".join(page.extract_text() for page in pages).translate(SPACES)


def plain(text: str) -> str:
    return text.translate(SPACES)


def pdfa_and_attachments(content: bytes) -> tuple[tuple[str, str], bool]:
    """Return the XMP (pdfaid:part, pdfaid:conformance) and whether the file carries any
    embedded file or associated file (what the portal's upload refuses)."""
    with pikepdf.open(io.BytesIO(content)) as pdf:
        meta = pdf.open_metadata()
        claim = (str(meta.get("pdfaid:part")), str(meta.get("pdfaid:conformance")))
        names = pdf.Root.get("/Names")
        attached = "/AF" in pdf.Root or (names is not None and "/EmbeddedFiles" in names)
        attached = attached or any("/AF" in page.obj for page in pdf.pages)
    return claim, attached


def save_pages(content: bytes, name: str) -> list[Path]:
    """Render every page to ``/tmp/paper-pages/<name>-<n>.png`` and return the paths."""
    PAGES.mkdir(parents=True, exist_ok=True)
    document = pypdfium2.PdfDocument(content)
    paths = []
    for index in range(len(document)):
        path = PAGES / f"{name}-{index + 1}.png"
        document[index].render(scale=1.4).to_pil().save(path)
        paths.append(path)
    document.close()
    return paths


def text_within(content: bytes, page: int, box: tuple[float, float, float, float]) -> str:
    """The text of page ``page`` (from 0) lying in ``box``: x, y from the top left corner,
    width, height, in millimetres."""
    x, y, width, height = (value * 72 / 25.4 for value in box)
    document = pypdfium2.PdfDocument(content)
    try:
        sheet = document[page]
        top = sheet.get_height()
        text = sheet.get_textpage().get_text_bounded(
            left=x, bottom=top - y - height, right=x + width, top=top - y
        )
    finally:
        document.close()
    return text.translate(SPACES)

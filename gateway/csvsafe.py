"""CSV files a spreadsheet opens safely: French layout, and no cell read as a formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula
to Excel or LibreOffice (OWASP, « CSV injection »): such a cell gets a leading apostrophe,
which the spreadsheet shows as text and does not display.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: UTF-8's byte order mark: without it, Excel reads a CSV file as Windows-1252.
BOM = "\ufeff"


def cell(value: object) -> str:
    """Return ``value`` as a CSV cell no spreadsheet evaluates (None is empty)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def rows_text(rows: Iterable[Iterable[object]]) -> str:
    """Return ``rows`` as the text of a CSV file: BOM, ``;`` separator, every cell safe."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()

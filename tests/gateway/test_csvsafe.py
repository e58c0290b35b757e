"""CSV cells a spreadsheet never evaluates."""

from __future__ import annotations

import csv
import io

import pytest

from gateway import csvsafe


@pytest.mark.parametrize(
    "value", ['=HYPERLINK("http://x")', "+33 1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
)
def test_a_cell_a_spreadsheet_would_evaluate_is_neutralised(value):
    assert csvsafe.cell(value) == "'" + value


@pytest.mark.parametrize(("value", "text"), [("FA-1", "FA-1"), (None, ""), (12, "12"), ("", "")])
def test_other_cells_are_left_as_they_are(value, text):
    assert csvsafe.cell(value) == text


def test_the_file_has_a_bom_semicolons_and_reads_back():
    text = csvsafe.rows_text([["Numéro", "Montant"], ["=1+1", "a;b"]])
    assert text.startswith("\ufeffNuméro;Montant\r\n")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert rows == [["Numéro", "Montant"], ["'=1+1", "a;b"]]

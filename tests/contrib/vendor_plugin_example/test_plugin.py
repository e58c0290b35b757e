"""The example vendor plugin (contrib/vendor_plugin_example), as installed in the venv.

It must be installed like a vendor's plugin would be:
``.venv/bin/pip install -e contrib/vendor_plugin_example``.
"""

from __future__ import annotations

import ast
import dataclasses
from datetime import date
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gateway
from gateway.config import Config
from gateway.errors import FormatError
from gateway.model import (
    InvoiceType,
    PrecedingInvoice,
    References,
    Totals,
)
from gateway.plugins import Registry, build_plugin_manager
from tests.conftest import ROOT
from tests.invoices import seine_maritime

PACKAGE = ROOT / "contrib" / "vendor_plugin_example" / "liseron_facture"
DATA = ROOT / "tests" / "data" / "vendor"
EXPORT = DATA / "liseron-export-2026-11.lis"
CREDIT_NOTE = DATA / "liseron-avoir-2026-11.lis"
PUBLIC_MODULES = {"gateway", "gateway.plugin_api"}


@pytest.fixture(scope="module")
def handler():
    try:
        distribution("liseron-facture")
    except PackageNotFoundError:
        pytest.fail("run .venv/bin/pip install -e contrib/vendor_plugin_example")
    (entry_point,) = [ep for ep in entry_points(group="facture_gateway") if ep.name == "liseron"]
    (found,) = entry_point.load().gateway_register_formats()
    return found


def parse_error(handler, data: bytes) -> FormatError:
    with pytest.raises(FormatError) as caught:
        handler.parse(data)
    return caught.value


def test_installed_distribution_declares_the_entry_point_and_one_dependency(handler) -> None:
    dist = distribution("liseron-facture")
    assert dist.requires == ["facture-gateway"]
    (entry_point,) = [ep for ep in dist.entry_points if ep.group == "facture_gateway"]
    assert (entry_point.name, entry_point.value) == ("liseron", "liseron_facture.plugin")
    assert (handler.name, handler.media_types) == ("liseron", ("application/vnd.liseron.factures",))


def test_the_gateway_plugin_manager_loads_it(handler) -> None:
    pm, failures = build_plugin_manager()
    registry = Registry(pm, Config(), failures)
    assert not [failure for failure in registry.failures if failure["plugin"] == "liseron"]
    assert registry.format_named("liseron") is not None
    assert registry.sniff(EXPORT.read_bytes()).name == "liseron"
    media_type = "application/vnd.liseron.factures"
    assert registry.format_for_media_type(media_type).name == "liseron"


def test_it_imports_only_the_public_surface() -> None:
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gateway"):
                assert node.module in PUBLIC_MODULES, (path.name, node.module)
                assert {alias.name for alias in node.names} <= set(gateway.__all__), path.name
            elif isinstance(node, ast.Import):
                assert not any(
                    alias.name.split(".")[0] in ("gateway", "plugins") for alias in node.names
                )


#: The canonical Seine-Maritime invoice's books, with the line amounts the export prints.
BOOKS = [
    dataclasses.replace(book, line_amount=Decimal(amount))
    for book, amount in zip(seine_maritime().lines, ("38.40", "26.16", "23.00"), strict=True)
]
PRINTED = Totals(
    lines=None,
    allowances=None,
    charges=None,
    prepaid=None,
    rounding=None,
    tax_exclusive=Decimal("92.56"),
    vat=Decimal("5.09"),
    tax_inclusive=Decimal("97.65"),
    payable=Decimal("97.65"),
)


def test_export_parses_to_the_expected_invoices(handler) -> None:
    seine, aube = handler.parse(EXPORT.read_bytes())
    canonical = seine_maritime()
    (shipping,) = canonical.charges
    # No e-mail, delivery note, payment terms or note in the export.
    assert seine == dataclasses.replace(
        canonical,
        seller=dataclasses.replace(canonical.seller, email=None),
        delivery_notes=[],
        lines=BOOKS,
        charges=[dataclasses.replace(shipping, reason_code="FC")],
        payment=dataclasses.replace(canonical.payment, terms=None),
        notes=[],
        totals=PRINTED,
    )
    assert aube.references == References(
        service_code="DFCG",
        engagement="Ej-Aube-2026-4417",
        purchase_order="CMD-77120",
        contract="MAPA-2026-LIVRES-03",
    )
    for invoice in (seine, aube):
        assert invoice.totals.mismatches(invoice.computed_totals()) == []
    assert aube.computed_totals().payable == Decimal("90.72")


def test_credit_note_names_the_cancelled_invoice(handler) -> None:
    (credit_note,) = handler.parse(CREDIT_NOTE.read_bytes())
    assert credit_note.type is InvoiceType.CREDIT_NOTE
    assert credit_note.preceding_invoice == PrecedingInvoice("FA-2026-0142", date(2026, 11, 20))
    assert credit_note.lines == BOOKS
    assert credit_note.totals.mismatches(credit_note.computed_totals()) == []


def replace_line(number: int, old: bytes, new: bytes) -> bytes:
    lines = EXPORT.read_bytes().split(b"\r\n")
    assert old in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(old, new)
    return b"\r\n".join(lines)


@pytest.mark.parametrize(
    ("data", "line", "field"),
    [
        (replace_line(5, b"+000005", b"+0000x5"), 5, "lines[0].quantity"),
        (replace_line(1, b"20261120", b"20261131"), 1, "issue_date"),
        (replace_line(7, b"0550", b"05,5"), 7, "lines[2].vat_rate"),
        (replace_line(9, b"PIE0003", b"PIE0004"), 9, None),
        (replace_line(1, b"ENTF", b"ENTX"), 1, "type"),
        (replace_line(3, b"CLI", b"XYZ"), 3, None),
        (replace_line(10, b"ENTF", b"LIGF"), 10, None),
        (replace_line(6, b"Le Petit", b"\x81e Petit"), 6, None),
        (EXPORT.read_bytes().split(b"PIE0003")[0], 1, None),
    ],
    ids=["quantity", "date", "rate", "count", "type", "record", "order", "encoding", "truncated"],
)
def test_errors_give_line_and_field(handler, data: bytes, line: int, field: str | None) -> None:
    error = parse_error(handler, data)
    assert (error.line, error.field) == (line, field)
    assert error.message.startswith("Ligne")


def test_readme_error_example_is_what_the_plugin_says(handler) -> None:
    error = parse_error(handler, replace_line(5, b"+000005", b"+0000x5"))
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    assert f"`{error.message}`" in readme


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_damaged_exports_raise_only_format_errors(handler, data) -> None:
    original = EXPORT.read_bytes()
    start = data.draw(st.integers(0, len(original) - 1))
    end = data.draw(st.integers(start, min(len(original), start + 30)))
    damaged = original[:start] + data.draw(st.binary(max_size=4)) + original[end:]
    try:
        handler.parse(damaged)
    except FormatError as ex:
        assert ex.line is not None


def test_sniff(handler) -> None:
    assert handler.sniff(EXPORT.read_bytes()) and handler.sniff(CREDIT_NOTE.read_bytes())
    others = [
        *(ROOT / "tests" / "data" / "csv").glob("*"),
        *(ROOT / "tests" / "data" / "edifact").glob("*"),
    ]
    assert not any(handler.sniff(path.read_bytes()) for path in others)


@pytest.mark.parametrize("path", [EXPORT, CREDIT_NOTE], ids=lambda path: path.name)
def test_samples_are_accepted_by_the_api(handler, gateway, member, path: Path) -> None:
    result = gateway.post_invoice(
        member, path.read_bytes(), content_type="application/vnd.liseron.factures"
    )
    assert result.status_code == 202, result.json

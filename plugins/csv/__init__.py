"""Bookshop CSV exports in (layout: docs/formats/csv.md)."""

from gateway.plugin_api import FormatHandler, hookimpl
from plugins.csv.format import CsvFormat


# Sniffed after the formats recognised by a signature: a header line is a loose guess.
@hookimpl(trylast=True)
def gateway_register_formats() -> list[FormatHandler]:
    return [CsvFormat()]

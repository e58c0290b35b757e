"""Bookshop CSV exports in (layout: docs/formats/csv.md)."""

from gateway.plugin_api import FormatHandler, hookimpl
from plugins.csv.format import CsvFormat


@hookimpl
def gateway_register_formats() -> list[FormatHandler]:
    return [CsvFormat()]

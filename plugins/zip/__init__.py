"""Zip archives of invoices in: each file inside is read by whichever format recognises it."""

from gateway.plugin_api import FormatCatalog, FormatHandler, hookimpl
from plugins.zip.format import ZipFormat


@hookimpl
def gateway_register_formats(formats: FormatCatalog) -> list[FormatHandler]:
    return [ZipFormat(formats)]

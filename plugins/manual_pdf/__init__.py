"""The manual deposit outlet (``manual_pdf``): the bookseller uploads the invoice on the
Chorus Pro portal, from a plain PDF and a deposit sheet the gateway prepares."""

from gateway.plugin_api import hookimpl
from plugins.manual_pdf.outlet import ManualPdfOutlet


@hookimpl
def gateway_register_outlets():
    return [ManualPdfOutlet]

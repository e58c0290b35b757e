"""EN 16931 in every syntax: UBL, CII and Factur-X in; UBL, CII, Factur-X and PDF out; and
the ``en16931`` (and ``fr-ctc``) rule sets, the official XSD and schematron.

``mapping`` maps the canonical invoice to and from EN 16931 business terms, ``formats``
reads documents, ``renderers`` and ``pdf`` write them, ``rules`` and ``fields`` judge them.
"""

from gateway.plugin_api import FormatHandler, Renderer, hookimpl
from plugins.en16931.formats import CiiFormat, FacturxFormat, UblFormat
from plugins.en16931.renderers import CiiRenderer, FacturxRenderer, PdfRenderer, UblRenderer
from plugins.en16931.rules import gateway_validate_invoice

__all__ = ["gateway_register_formats", "gateway_register_renderers", "gateway_validate_invoice"]


@hookimpl
def gateway_register_formats() -> list[FormatHandler]:
    return [UblFormat(), CiiFormat(), FacturxFormat()]


@hookimpl
def gateway_register_renderers() -> list[Renderer]:
    return [UblRenderer(), CiiRenderer(), FacturxRenderer(), PdfRenderer()]

"""EN 16931 EDIFACT INVOIC D16B in (layout: docs/formats/edifact.md)."""

from gateway.plugin_api import FormatHandler, hookimpl
from plugins.edifact.format import EdifactFormat


@hookimpl
def gateway_register_formats() -> list[FormatHandler]:
    return [EdifactFormat()]

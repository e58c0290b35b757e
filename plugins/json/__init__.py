"""The canonical JSON format (``examples/*.json``): the REST contract's own invoice shape."""

from gateway.plugin_api import FormatHandler, hookimpl
from plugins.json.format import CanonicalJson


# Sniffed after the formats recognised by a signature: a leading ``{`` is a loose guess.
@hookimpl(trylast=True)
def gateway_register_formats() -> list[FormatHandler]:
    return [CanonicalJson()]

"""What the ``facture_gateway`` entry point names: the hook implementations.

The gateway finds this module through the entry point declared in setup.cfg and calls
every function marked with ``hookimpl`` whose name is a hook of the gateway.
"""

from __future__ import annotations

from gateway.plugin_api import (
    FormatHandler,
    hookimpl,
)

from .format import LiseronFormat


@hookimpl
def gateway_register_formats() -> list[FormatHandler]:
    return [LiseronFormat()]

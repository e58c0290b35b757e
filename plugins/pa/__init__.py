"""Approved platforms (« plateformes agréées », PA) of the 2026 e-invoicing reform, reached
through the AFNOR XP Z12-013 API: the ``pa`` outlet (Flow Service) and, in ``directory``,
the Directory Service client. ``oauth`` holds the client-credentials tokens both use.
See docs/outlets/pa.md.
"""

from __future__ import annotations

from gateway.plugin_api import Outlet, hookimpl
from plugins.pa.outlet import PaOutlet

__all__ = ["PaOutlet"]


@hookimpl
def gateway_register_outlets() -> list[type[Outlet]]:
    return [PaOutlet]

"""Dilifac, Dilicom's e-invoicing service for the book trade: the ``dilifac`` outlet, which
deposits invoices with Dilifac (archived, then forwarded to Chorus Pro) and follows them.

``transport`` is the interface to the service and its SOAP client; see docs/outlets/dilifac.md.
"""

from __future__ import annotations

from gateway.plugin_api import Outlet, hookimpl
from plugins.dilifac.outlet import DilifacOutlet

__all__ = ["DilifacOutlet"]


@hookimpl
def gateway_register_outlets() -> list[type[Outlet]]:
    return [DilifacOutlet]

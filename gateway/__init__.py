"""facture-gateway: send booksellers' invoices to the French public sector (Chorus Pro).

What plugins may import is listed here; everything else is internal and may change.
"""

from gateway.directory import DirectoryEntry, Service
from gateway.errors import Finding, FormatError
from gateway.formats import FormatHandler
from gateway.hookspecs import hookimpl
from gateway.model import (
    Address,
    AllowanceCharge,
    Invoice,
    InvoiceType,
    Line,
    LineAdjustment,
    Party,
    Payment,
    PrecedingInvoice,
    References,
    Totals,
)
from gateway.outlets import (
    ConfigField,
    Cost,
    Document,
    Outlet,
    OutletError,
    PermanentOutletError,
    PollContext,
    Receipt,
    SendContext,
    StatusUpdate,
    TransientOutletError,
)
from gateway.renderers import Renderer
from gateway.routing import Customer, Route

__version__ = "0.1.0"

__all__ = [
    "Address",
    "AllowanceCharge",
    "ConfigField",
    "Cost",
    "Customer",
    "DirectoryEntry",
    "Document",
    "Finding",
    "FormatError",
    "FormatHandler",
    "Invoice",
    "InvoiceType",
    "Line",
    "LineAdjustment",
    "Outlet",
    "OutletError",
    "Party",
    "Payment",
    "PermanentOutletError",
    "PollContext",
    "PrecedingInvoice",
    "Receipt",
    "References",
    "Renderer",
    "Route",
    "SendContext",
    "Service",
    "StatusUpdate",
    "Totals",
    "TransientOutletError",
    "hookimpl",
]

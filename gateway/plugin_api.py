"""The public plugin API: everything a plugin imports from the gateway, and nothing else.

Built-in plugins (``plugins/``) and vendors' plugins import only this module (or
``gateway``, which re-exports it); the rest of the core is internal and may change.
Layer contracts (``import-linter``, run by ``make test``) hold the built-ins to it.
"""

from gateway.budget import BudgetExceeded, check_lines, checkpoint
from gateway.config import Config, ConfigError, seconds_setting
from gateway.directory import (
    COMPANY,
    OUT_OF_SCOPE,
    PUBLIC,
    UNKNOWN,
    DirectoryEntry,
    ReformDirectoryEntry,
    Service,
)
from gateway.errors import Finding, FormatError
from gateway.formats import MAX_INVOICES, FormatCatalog, FormatHandler, TooManyInvoices
from gateway.french import NBSP, euros, french_date, french_number
from gateway.hookspecs import hookimpl
from gateway.inbound import aware
from gateway.logs import get_logger
from gateway.mentions import Mentions
from gateway.model import (
    CENT,
    TYPES_BY_CODE,
    ZERO,
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
    VatBreakdown,
    default_vat_category,
    round_amount,
)
from gateway.outbound import (
    OutboundRefused,
    TokenCache,
    check_outbound_url,
    outbound_client,
    platform_client,
)
from gateway.outlets import (
    CAPABILITIES,
    ConfigField,
    Cost,
    CostItem,
    Document,
    InboundFlow,
    Outlet,
    OutletError,
    PermanentOutletError,
    PollContext,
    PriceBand,
    PrintContext,
    Printout,
    Receipt,
    ReceiveContext,
    SendContext,
    StatusUpdate,
    TransientOutletError,
    UnavailableOutletError,
    UncertainOutletError,
)
from gateway.renderers import PROFILES, Renderer
from gateway.routing import Customer, Route
from gateway.schemas import dump_invoice, findings_from_errors, load_invoice
from gateway.validation import totals_findings
from gateway.xmlsafe import MAX_XML_BYTES, looks_like_xml, parse_xml, root_tag

__all__ = [
    "CAPABILITIES",
    "CENT",
    "COMPANY",
    "MAX_XML_BYTES",
    "NBSP",
    "OUT_OF_SCOPE",
    "PROFILES",
    "PUBLIC",
    "TYPES_BY_CODE",
    "UNKNOWN",
    "MAX_INVOICES",
    "ZERO",
    "Address",
    "AllowanceCharge",
    "BudgetExceeded",
    "Config",
    "ConfigError",
    "ConfigField",
    "Cost",
    "CostItem",
    "Customer",
    "DirectoryEntry",
    "ReformDirectoryEntry",
    "Document",
    "InboundFlow",
    "Finding",
    "FormatCatalog",
    "FormatError",
    "FormatHandler",
    "Invoice",
    "InvoiceType",
    "Line",
    "LineAdjustment",
    "Mentions",
    "OutboundRefused",
    "Outlet",
    "OutletError",
    "Party",
    "Payment",
    "PermanentOutletError",
    "PollContext",
    "PriceBand",
    "PrecedingInvoice",
    "PrintContext",
    "Printout",
    "Receipt",
    "ReceiveContext",
    "References",
    "Renderer",
    "Route",
    "SendContext",
    "Service",
    "StatusUpdate",
    "TokenCache",
    "TooManyInvoices",
    "Totals",
    "TransientOutletError",
    "UncertainOutletError",
    "UnavailableOutletError",
    "VatBreakdown",
    "aware",
    "check_lines",
    "check_outbound_url",
    "checkpoint",
    "default_vat_category",
    "dump_invoice",
    "euros",
    "french_date",
    "french_number",
    "findings_from_errors",
    "get_logger",
    "hookimpl",
    "load_invoice",
    "looks_like_xml",
    "outbound_client",
    "platform_client",
    "parse_xml",
    "round_amount",
    "seconds_setting",
    "root_tag",
    "totals_findings",
]

"""The hook specifications: the contract between the core and every plugin.

Hooks are called with keyword arguments only. An implementation may accept fewer
arguments than its spec, so that specs can grow without breaking plugins. Grouped by the
phase of an invoice's life in which they are called. Each hook is documented in
``docs/plugins.md`` (a test fails when one is missing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from gateway.archive import BlobStore
    from gateway.config import Config
    from gateway.directory import DirectoryEntry, ReformDirectoryEntry
    from gateway.errors import Finding
    from gateway.formats import FormatCatalog, FormatHandler
    from gateway.model import Invoice
    from gateway.outlets import Document, Outlet
    from gateway.renderers import Renderer
    from gateway.routing import Customer, Route

PROJECT_NAME = "facture_gateway"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --- Registration (called once, when the plugin manager is built) -----------------------


@hookspec
def gateway_configure(config: Config) -> None:
    """Receive the gateway's configuration, once, before any other hook is called.

    A plugin keeps what it needs, typically its own settings with secrets resolved:
    ``config.plugin_config("<plugin name>")`` (the ``[plugins.<name>]`` table). Hooks that
    receive no configuration (directory lookup, rule sets) use what was kept here.
    """


@hookspec
def gateway_register_formats(formats: FormatCatalog) -> list[FormatHandler]:
    """Return format handlers (instances of :class:`gateway.formats.FormatHandler`).

    Each handler has a unique ``name``, its ``media_types`` and implements
    ``sniff(data) -> bool`` and ``parse(data) -> list[Invoice]``. Every plugin's list is
    merged; a second handler with a name already taken is logged and ignored. Sniffing asks
    the formats in the order this hook is called: a format recognised by a loose guess
    (a leading ``{``) declares it ``trylast``.
    ``formats`` is the catalogue of every registered format (:class:`FormatCatalog`), for
    container formats that hand their members on: it is complete only once registration
    is over, so keep it and use it when parsing.
    """


@hookspec
def gateway_register_outlets() -> list[type[Outlet]]:
    """Return outlet classes (subclasses of :class:`gateway.outlets.Outlet`).

    The core instantiates each class with its configuration (``[plugins.<name>]``) and
    calls ``send``, ``poll`` and ``health``. Names must be unique.
    """


@hookspec
def gateway_register_renderers() -> list[Renderer]:
    """Return renderers (instances of :class:`gateway.renderers.Renderer`).

    A renderer turns the canonical invoice into a document (``ubl``, ``cii``, ``facturx``,
    ``pdf``…) for outlets and for ``facture-gateway convert``. Names must be unique.
    """


@hookspec(firstresult=True)
def gateway_archive_storage(config: Config) -> BlobStore | None:
    """Return the blob store the archive keeps documents' bytes in, instead of the files
    under ``[archive] path`` (an object store, for instance).

    Stops at the first non-None result. Called once, when the services are built. The
    store must honour :class:`gateway.archive.BlobStore`: ``put(data) -> sha256`` durable
    and idempotent, ``get``/``open`` by SHA-256 (``KeyError`` when absent), ``exists``,
    ``iterate``; and it must never overwrite or delete a blob (write-once: object lock or
    retention policy on the bucket). Return None to leave the default.
    """


# --- Before sending ---------------------------------------------------------------------


@hookspec(firstresult=True)
def gateway_directory_lookup(siret: str) -> DirectoryEntry | None:
    """Return the public structure with this SIRET as the directory knows it.

    Stops at the first non-None result. Return None when this provider does not know the
    SIRET (the next provider is asked); raise an exception only when the directory could
    not be reached.
    """


@hookspec(firstresult=True)
def gateway_reform_directory_lookup(siren: str, siret: str | None) -> ReformDirectoryEntry | None:
    """Return where the 2026 reform's directory says invoices to this company must go.

    Stops at the first non-None result. ``siret`` narrows to one establishment when the
    buyer has one. Return None when the recipient is not in the directory (not subject,
    or unknown); raise an exception only when the directory could not be reached.
    """


@hookspec
def gateway_enrich_invoice(
    invoice: Invoice,
    customer: Customer | None,
    directory_entry: DirectoryEntry | None,
    route: Route | None,
) -> list[Finding]:
    """Complete or correct ``invoice`` in place before it is rendered and validated.

    Called once per invoice, after the directory lookup and before rendering. ``route`` is
    the way the invoice takes (its ``electronic_address`` is the buyer's reform address,
    scheme 0225, when it goes to a company's platform), None when it has none. Return
    warnings saying what was changed (e.g. a service code the structure does not accept,
    stripped by policy), or ``[]``. Must not raise on ordinary input.
    """


@hookspec
def gateway_validate_invoice(
    invoice: Invoice,
    customer: Customer | None,
    directory_entry: DirectoryEntry | None,
    document: Document | None,
    original: Document | None,
    rule_sets: frozenset[str] | None,
) -> list[Finding]:
    """Return the findings of one rule set on ``invoice`` (an empty list when all is well).

    ``customer`` is the member's record for the buyer (None when unknown),
    ``directory_entry`` what the directory says of the buyer (None when not looked up),
    ``document`` the very document the outlet will send (UBL, CII or Factur-X, rendered
    in the outlet's profile), or None when the route sends no structured document;
    ``original`` the document as the client sent it when it holds this one invoice alone
    (a UBL, CII or Factur-X file is then judged as it is, not only as re-rendered).
    ``rule_sets`` is the set of rule-set names the caller asked for, or None for all: a
    rule set whose name is not in it returns ``[]``. Every implementation's findings are
    merged; errors block sending, warnings are kept with the invoice.
    """


@hookspec(firstresult=True)
def gateway_choose_route(
    invoice: Invoice | None, customer: Customer | None, route: Route
) -> Route | None:
    """Return a :class:`gateway.routing.Route` overriding ``route``, the customer's default.

    Stops at the first non-None result; return None to keep the default. ``invoice`` is
    None when the route is previewed for a buyer (``GET /v1/customers/{siret}/route``).
    A customer on ``auto`` comes with the route the directories decided (its ``scope``,
    ``requested_channel`` ``auto``).
    The directory has its say after this hook: a route to a structure not active on
    Chorus Pro falls back to paper when the member allows it. An exception refuses the
    invoice (``route.unavailable``), it never makes a 500.
    """


# --- After sending ----------------------------------------------------------------------


@hookspec
def gateway_invoice_status_changed(invoice: dict, old: str | None, new: str, event: dict) -> None:
    """Tell notifiers (webhooks, e-mail…) that an invoice changed status.

    ``invoice`` is the invoice as ``GET /v1/invoices/{id}`` shows it, ``old`` the previous
    status (None on creation), ``new`` the new one, ``event`` the event as the feed shows
    it. Called after the change is committed; an exception is logged, never propagated.
    """

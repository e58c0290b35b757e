"""What a format plugin provides: a handler that recognises and parses one document format."""

from __future__ import annotations

from typing import ClassVar, Protocol

from gateway.errors import FormatError
from gateway.model import Invoice

#: Invoices one document may hold: a Chorus Pro flux's limit, and about what the gateway
#: validates within the web server's time-out (60 s). The core refuses more (413).
MAX_INVOICES = 500


class TooManyInvoices(FormatError):
    """Raised by a format that knows, before reading them all, that a document holds more
    than :data:`MAX_INVOICES` invoices (a zip of many files): the core refuses it as any
    document of too many invoices."""

    def __init__(self):
        super().__init__(f"Plus de {MAX_INVOICES} factures.", code="request.too_large")


class FormatHandler:
    """Base class of format handlers, returned by ``gateway_register_formats``.

    Subclasses set the class attributes and implement :meth:`sniff` and :meth:`parse`.
    ``parse`` raises :class:`gateway.errors.FormatError` (with a line or an XPath) on input
    it cannot read; it must never read files or the network named by the document.
    """

    #: Short unique name, used by ``?format=`` (``ubl``, ``cii``, ``facturx``, ``csv``…).
    name: ClassVar[str]
    #: Media types this handler accepts in ``Content-Type``.
    media_types: ClassVar[tuple[str, ...]] = ()
    #: File name extensions with their dot (``".xml"``); the first names archived originals.
    extensions: ClassVar[tuple[str, ...]] = ()
    #: One line for people, in English (shown by the CLI and the API listing).
    description: ClassVar[str] = ""

    def sniff(self, data: bytes) -> bool:
        """Return True when ``data`` looks like this format (cheap: look at the first bytes)."""
        raise NotImplementedError

    def parse(self, data: bytes) -> list[Invoice]:
        """Return every invoice ``data`` holds (one file may hold several)."""
        raise NotImplementedError


class FormatCatalog(Protocol):
    """Every format registered, as ``gateway_register_formats(formats=…)`` hands it over: a
    container format (zip) reads its members with it. Complete only once every plugin has
    registered, so keep it and use it when parsing, not while registering."""

    def sniff(self, data: bytes) -> FormatHandler | None:
        """Return the first handler, in sniffing order, recognising ``data``, or None."""

    def get(self, name: str) -> FormatHandler | None:
        """Return the handler named ``name``, or None."""

    def names(self) -> list[str]:
        """Return the names of every registered format."""

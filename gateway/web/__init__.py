"""The web pages under ``/app/``: server-rendered French pages for booksellers and the
association's admin, over the same services as the REST API (docs/web.md).

Each module gives its pages' routes; :mod:`gateway.web.site` holds what they share.
"""

from __future__ import annotations

from gateway.web import admin, home, invoice, invoices, member, received
from gateway.web.site import CsrfRefused, PageErrors, PageNotFound, SessionMiddleware, Site

__all__ = ["CsrfRefused", "PageErrors", "PageNotFound", "SessionMiddleware", "Site", "routes"]


def routes(site: Site) -> list[tuple[str, object]]:
    return [
        *home.routes(site),
        *invoices.routes(site),
        *invoice.routes(site),
        *member.routes(site),
        *received.routes(site),
        *admin.routes(site),
    ]

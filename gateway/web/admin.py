"""The association's pages: its members and how their invoices flow."""

from __future__ import annotations

import falcon

from gateway.web.site import Page, Site


class AdminHome(Page):
    role = "admin"

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.site.render(req, resp, "admin/accueil.html", members=self.services.members.list())


def routes(site: Site) -> list[tuple[str, object]]:
    return [("/app/admin", AdminHome(site))]

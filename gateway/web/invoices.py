"""The member's invoices: what needs doing first ("À traiter")."""

from __future__ import annotations

import falcon

from gateway.web.site import Page, Site, member_of


class ToDoPage(Page):
    """The invoices waiting for the bookseller, the longest waiting first, each with the
    buyer's reason and the actions it allows."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        listing = self.services.invoices.list(
            member_of(req),
            needs_action=True,
            with_reasons=True,
            limit=100,
            cursor=req.get_param("suite"),
        )
        self.site.render(req, resp, "a_traiter.html", listing=listing)


def routes(site: Site) -> list[tuple[str, object]]:
    return [("/app/a-traiter", ToDoPage(site))]

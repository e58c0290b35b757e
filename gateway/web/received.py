"""« Factures reçues »: the suppliers' invoices received through the platform, one
invoice's page, its original, and the bookseller's answer (docs/inbound.md)."""

from __future__ import annotations

import falcon

from gateway import inbound
from gateway.errors import Conflict, InvalidInput
from gateway.web.site import Page, Site, form_value, session_of

#: The answers the page offers, in the order of its buttons.
OFFERED = ("204", "205", "207", "210")


def received_url(inbound_id: str) -> str:
    return f"/app/factures-recues/{inbound_id}"


class ReceivedListPage(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        page = self.services.inbound.list(
            session_of(req).principal, cursor=req.get_param("suite") or None, limit=50
        )
        self.site.render(req, resp, "factures_recues.html", page=page, statuses=inbound.STATUSES)


class ReceivedPage(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response, inbound_id: str) -> None:
        self.show(req, resp, inbound_id)

    def show(self, req, resp, inbound_id: str, errors=(), values=None) -> None:
        received = self.services.inbound.get(session_of(req).principal, inbound_id)
        allowed = inbound.TRANSITIONS[received["status"]]
        self.site.render(
            req,
            resp,
            "facture_recue.html",
            received=received,
            offered=[(code, inbound.STATUSES[code]) for code in OFFERED if code in allowed],
            reasons=inbound.REASONS,
            errors=list(errors),
            values=values or {},
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response, inbound_id: str) -> None:
        """Answer with the button's status (the same service as the REST route)."""
        form = req.get_media()
        values = {
            "status": form_value(form, "status"),
            "reason": form_value(form, "reason") or None,
            "comment": form_value(form, "comment") or None,
        }
        principal = session_of(req).principal
        try:
            self.services.inbound.answer(principal.acting_member(), inbound_id, values)
        except (InvalidInput, Conflict) as ex:
            resp.status = falcon.HTTP_422 if isinstance(ex, InvalidInput) else falcon.HTTP_409
            return self.show(req, resp, inbound_id, [f.message for f in ex.findings], values)
        label = inbound.STATUSES[values["status"]]
        self.site.redirect(
            resp,
            received_url(inbound_id),
            req=req,
            flash=f"Statut « {label} » enregistré : il part vers la plateforme.",
        )


class ReceivedOriginal(Page):
    """The original as received (always downloaded: never shown from the site's origin)."""

    content_security_policy = "default-src 'none'; frame-ancestors 'self'"

    def on_get(self, req: falcon.Request, resp: falcon.Response, inbound_id: str) -> None:
        row, content = self.services.inbound.original(session_of(req).principal, inbound_id)
        resp.content_type = row["media_type"]
        resp.data = content
        resp.set_header("Content-Disposition", f'attachment; filename="{row["id"]}"')


def routes(site: Site) -> list[tuple[str, object]]:
    return [
        ("/app/factures-recues", ReceivedListPage(site)),
        ("/app/factures-recues/{inbound_id}", ReceivedPage(site)),
        ("/app/factures-recues/{inbound_id}/original", ReceivedOriginal(site)),
    ]

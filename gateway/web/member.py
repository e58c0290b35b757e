"""The member's own pages: its customers, the Chorus Pro directory, its settings (outlet
accounts, webhooks, digests) and what its invoices cost."""

from __future__ import annotations

import re
from decimal import Decimal

import falcon
from markupsafe import Markup
from marshmallow import ValidationError

from gateway.config import REDACTED
from gateway.errors import DomainError, Finding, InvalidInput, NotFound, Unavailable
from gateway.schemas import CustomerWriteSchema, findings_from_errors
from gateway.services import Services
from gateway.web.charts import bar_chart
from gateway.web.site import Page, Site, findings_by_field, form_value, member_of

#: The channels as the bookseller names them.
CHANNEL_LABELS = {
    "chorus": "Chorus Pro",
    "dilifac": "Dilifac",
    "manual_pdf": "PDF à déposer sur le portail",
    "paper": "Papier",
    "pa": "Plateforme agréée (PA)",
    "auto": "Automatique (selon les annuaires)",
}
#: The outlet settings that make an account (typed in by the bookseller), in French; an
#: outlet's other settings are the association's tuning and keep their values.
ACCOUNT_LABELS = {
    "environment": "Environnement (sandbox, qualification ou production)",
    "url": "Adresse du service",
    "token_url": "Adresse d'authentification PISTE",
    "api_url": "Adresse de l'API",
    "client_id": "Identifiant de l'application PISTE (client_id)",
    "client_secret": "Secret de l'application PISTE (client_secret)",
    "login": "Identifiant du compte",
    "password": "Mot de passe du compte",
}
#: The events a webhook may be limited to (none ticked: every event).
WEBHOOK_EVENTS = {
    "invoice.received": "Facture reçue et validée",
    "invoice.status_changed": "Changement de statut",
    "invoice.send_abandoned": "Envoi abandonné",
    "invoice.copy_parked": "Copie d'information abandonnée",
    "directory.changed": "Changement dans l'annuaire Chorus Pro",
}
DELIVERY_LABELS = {"pending": "en attente", "delivered": "livrée", "parked": "abandonnée"}
ADDRESSES = re.compile(r"[\s,;]+")


def renamed(findings: list[Finding], rename) -> dict[str, list[str]]:
    """``findings`` by field as a form names its inputs (``rename``: API field → input)."""
    return findings_by_field(
        [{**finding.as_dict(), "field": rename(finding.field or "")} for finding in findings]
    )


def top_field(field: str) -> str:
    """``copies[0].to`` → ``copies``: the form has one input per top-level field."""
    return re.split(r"[.\[]", field, maxsplit=1)[0]


def short(label: str) -> str:
    """An outlet's label under a chart's bar: its first words."""
    words = label.split(" (")[0]
    return words if len(words) <= 20 else words[:19] + "…"


def compact_siret(text: str) -> str:
    """A SIRET as typed, without the spaces the portal prints it with."""
    return re.sub(r"\s+", "", text)


class CustomerForms:
    """What the customer pages share: reading a customer's form, and its directory facts."""

    def __init__(self, services: Services):
        self.services = services

    def values(self, form: dict, old_copies: list[dict]) -> dict:
        """The customer as its form gives it, loaded like ``PUT /v1/customers/{siret}``
        (copies: one e-mail address per line; a label kept for an address kept)."""
        labels = {copy["to"]: copy.get("label") for copy in old_copies}
        copies = []
        for address in ADDRESSES.split(form_value(form, "copies")):
            if address:
                copy = {"channel": "email", "to": address}
                copies.append({**copy, "label": labels[address]} if labels.get(address) else copy)
        given = {"name": form_value(form, "name"), "copies": copies}
        if form_value(form, "channel"):  # none chosen: the API's default
            given["channel"] = form_value(form, "channel")
        try:
            return CustomerWriteSchema().load(given)
        except ValidationError as ex:
            raise InvalidInput(findings_from_errors(ex)) from ex

    def directory(self, siret: str) -> tuple[dict | None, str | None]:
        """The structure as the directory cache holds it (asked once a day at most), or why
        there is none."""
        try:
            return self.services.structures.show(siret), None
        except DomainError as ex:  # unknown, unreachable: said in the row, not a failed page
            return None, ex.findings[0].message

    def route(self, member_id: str, siret: str) -> tuple[dict | None, list[str]]:
        try:
            return self.services.customers.route(member_id, siret), []
        except DomainError as ex:
            return None, [finding.message for finding in ex.findings]


class CustomersPage(Page):
    """The member's customers, each with its channel, its directory facts and its route;
    the form that adds one."""

    def __init__(self, site: Site):
        super().__init__(site)
        self.forms = CustomerForms(site.services)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = {
            "siret": compact_siret(req.get_param("siret") or ""),
            "name": req.get_param("nom") or "",
            "channel": "chorus",
            "copies": "",
        }
        self.show(req, resp, given, {})

    def show(self, req, resp, given: dict, shown: dict) -> None:
        member = member_of(req)
        rows = []
        for customer in self.services.customers.list(member):
            entry, missing = self.forms.directory(customer["siret"])
            route, refused = self.forms.route(member, customer["siret"])
            rows.append(
                {
                    **customer,
                    "entry": entry,
                    "missing": missing,
                    "route": route,
                    "refused": refused,
                }
            )
        self.site.render(
            req,
            resp,
            "clients.html",
            customers=rows,
            given=given,
            shown=shown,
            channels=CHANNEL_LABELS,
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        member = member_of(req)
        form = req.get_media()
        given = {key: form_value(form, key) for key in ("siret", "name", "channel", "copies")}
        siret = compact_siret(given["siret"])
        try:
            self.services.customers.check_siret(siret)
            known = {customer["siret"] for customer in self.services.customers.list(member)}
            if siret in known:
                raise InvalidInput.of(
                    "customer.exists",
                    "Ce SIRET est déjà l'un de vos clients : modifiez-le depuis sa page.",
                    field="siret",
                )
            values = self.forms.values(form, [])
            self.services.customers.put(member, siret, values)
        except InvalidInput as ex:
            resp.status = falcon.HTTP_422
            return self.show(req, resp, given, renamed(ex.findings, top_field))
        self.site.redirect(
            resp, f"/app/clients/{siret}", flash=f"Client {values['name']} ajouté.", req=req
        )


class CustomerPage(Page):
    """One customer: what the directory says of it, its route, and the form that changes
    its name, channel and information copies."""

    def __init__(self, site: Site):
        super().__init__(site)
        self.forms = CustomerForms(site.services)

    def on_get(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        customer = self.customer(req, siret)
        given = {
            "name": customer["name"],
            "channel": customer["channel"],
            "copies": "\n".join(copy["to"] for copy in customer["copies"]),
        }
        self.show(req, resp, customer, given, {})

    def customer(self, req, siret: str) -> dict:
        try:
            return self.services.customers.get(member_of(req), siret)
        except NotFound:
            raise falcon.HTTPNotFound() from None

    def show(self, req, resp, customer: dict, given: dict, shown: dict) -> None:
        entry, missing = self.forms.directory(customer["siret"])
        route, refused = self.forms.route(member_of(req), customer["siret"])
        self.site.render(
            req,
            resp,
            "client.html",
            customer=customer,
            entry=entry,
            missing=missing,
            route=route,
            refused=refused,
            given=given,
            shown=shown,
            channels=CHANNEL_LABELS,
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        customer = self.customer(req, siret)
        form = req.get_media()
        try:
            values = self.forms.values(form, customer["copies"])
            self.services.customers.put(member_of(req), siret, values)
        except InvalidInput as ex:
            resp.status = falcon.HTTP_422
            given = {key: form_value(form, key) for key in ("name", "channel", "copies")}
            return self.show(req, resp, customer, given, renamed(ex.findings, top_field))
        self.site.redirect(resp, f"/app/clients/{siret}", flash="Client enregistré.", req=req)


class DirectoryPage(Page):
    """A structure as the Chorus Pro portal shows it, asked afresh of the platform."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        siret = compact_siret(req.get_param("siret") or "")
        entry, shown, customer = None, {}, None
        if siret:
            try:
                entry = self.services.structures.show(siret, fresh=True)
            except DomainError as ex:
                resp.status = falcon.code_to_http_status(
                    404 if isinstance(ex, NotFound) else 503 if isinstance(ex, Unavailable) else 422
                )
                shown = findings_by_field(ex.findings)
            if entry is not None:
                customer = next(
                    (
                        item
                        for item in self.services.customers.list(member_of(req))
                        if item["siret"] == siret
                    ),
                    None,
                )
        self.site.render(
            req, resp, "annuaire.html", siret=siret, entry=entry, shown=shown, customer=customer
        )


class SettingsPage(Page):
    """The member's outlet accounts (with their expiry), webhooks and digests; each form
    posts to its own address and comes back here."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.show(req, resp)

    def outlets(self, settings: dict) -> list[dict]:
        """Each outlet that takes an account: its fields as the form shows them (a secret,
        or a value shown masked, is never sent back to the browser)."""
        found = []
        for name, outlet in self.services.registry.outlets.items():
            own = settings.get(name) or {}
            fields = []
            for key, spec in outlet.config_fields.items():
                if key not in ACCOUNT_LABELS and not spec.secret:
                    continue
                value = own.get(key)
                masked = spec.secret or value == REDACTED
                fields.append(
                    {
                        "key": key,
                        "label": ACCOUNT_LABELS.get(key, key),
                        "secret": spec.secret,
                        "masked": masked,
                        "set": value not in (None, ""),
                        "value": "" if masked or value is None else str(value),
                    }
                )
            if any(field["masked"] for field in fields):
                found.append({"name": name, "label": outlet.label, "fields": fields})
        return found

    def show(
        self,
        req,
        resp,
        shown: dict | None = None,
        created: dict | None = None,
        digests: dict | None = None,
    ) -> None:
        member_id = member_of(req)
        member = self.services.members.get(member_id)
        hooks = []
        for hook in self.services.webhooks.list(member_id):
            last = self.services.webhooks.deliveries(member_id, hook["id"], limit=1)
            hooks.append({**hook, "last": last[0] if last else None})
        digests = digests or member["settings"].get("digests") or {}
        self.site.render(
            req,
            resp,
            "reglages.html",
            account=member,
            outlets=self.outlets(member["settings"]),
            health=self.services.health.member_outlets(member_id),
            hooks=hooks,
            created=created,
            events=WEBHOOK_EVENTS,
            deliveries=DELIVERY_LABELS,
            digests={
                "daily": bool(digests.get("daily")),
                "weekly": bool(digests.get("weekly")),
                "recipients": ", ".join(digests.get("recipients") or []),
            },
            shown=shown or {},
        )

    def refused(self, req, resp, findings: list[Finding], rename, **given) -> None:
        resp.status = falcon.HTTP_422
        self.show(req, resp, renamed(findings, rename), **given)


class OutletAccountForm(SettingsPage):
    """``POST /app/reglages/sorties/{outlet}``: an outlet's account; a secret left empty
    keeps its value."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, outlet: str) -> None:
        member_id = member_of(req)
        settings = self.services.members.get(member_id)["settings"]
        chosen = next((item for item in self.outlets(settings) if item["name"] == outlet), None)
        if chosen is None:
            raise falcon.HTTPNotFound()
        form = req.get_media()
        values = dict(settings.get(outlet) or {})  # redacted: secrets come back as they were
        for field in chosen["fields"]:
            given = form_value(form, f"{outlet}.{field['key']}")
            if given:
                values[field["key"]] = given
            elif field["masked"] and field["set"]:
                values[field["key"]] = REDACTED
            else:
                values.pop(field["key"], None)
        try:
            self.services.members.update(member_id, {"settings": {outlet: values}}, by_admin=False)
        except InvalidInput as ex:
            return self.refused(
                req, resp, ex.findings, lambda name: f"{outlet}." + name.rsplit(".", 1)[-1]
            )
        self.site.redirect(
            resp, "/app/reglages", flash=f"Compte {chosen['label']} enregistré.", req=req
        )


class DigestsForm(SettingsPage):
    """``POST /app/reglages/resumes``: which digests the member receives, and where."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = req.get_media()
        recipients = [
            address
            for address in ADDRESSES.split(form_value(form, "digests.recipients"))
            if address
        ]
        digests = {
            "daily": form_value(form, "digests.daily") == "oui",
            "weekly": form_value(form, "digests.weekly") == "oui",
            "recipients": recipients,
        }
        try:
            self.services.members.update(
                member_of(req), {"settings": {"digests": digests}}, by_admin=False
            )
        except InvalidInput as ex:
            return self.refused(
                req, resp, ex.findings, lambda name: name.removeprefix("settings."), digests=digests
            )
        self.site.redirect(resp, "/app/reglages", flash="Résumés enregistrés.", req=req)


class WebhooksForm(SettingsPage):
    """``POST /app/reglages/webhooks``: a new webhook, its secret shown on this answer only
    (no redirect: the secret is never kept to be shown again)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = req.get_media()
        chosen = form.get("events", [])
        chosen = [chosen] if isinstance(chosen, str) else chosen
        events = sorted(event for event in chosen if event in WEBHOOK_EVENTS) or ["*"]
        try:
            created = self.services.webhooks.create(member_of(req), form_value(form, "url"), events)
        except InvalidInput as ex:
            return self.refused(req, resp, ex.findings, lambda name: "url")
        self.show(req, resp, created=created)


class WebhookDeleteForm(Page):
    """``POST /app/reglages/webhooks/{id}/supprimer``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, webhook_id: str) -> None:
        try:
            self.services.webhooks.delete(member_of(req), webhook_id)
        except NotFound:
            raise falcon.HTTPNotFound() from None
        self.site.redirect(resp, "/app/reglages", flash="Webhook supprimé.", req=req)


class CostsPage(Page):
    """What the period's invoices cost per outlet, drawn and tabled, and what they would
    have cost through each other outlet."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        period = req.get_param("periode") or None
        try:
            costs = self.services.costs.period(member_of(req), period)
        except InvalidInput as ex:
            resp.status = falcon.HTTP_422
            shown = renamed(ex.findings, lambda name: "periode")
            return self.site.render(
                req, resp, "couts.html", costs=None, period=period, shown=shown, charts=[]
            )
        self.site.render(
            req,
            resp,
            "couts.html",
            costs=costs,
            period=costs["period"],
            shown={},
            charts=self.charts(costs) if costs["count"] else [],
        )

    @staticmethod
    def charts(costs: dict) -> list[tuple[str, Markup]]:
        """Each chart's caption and its SVG (the caption is its title too)."""
        used, compared = costs["outlets"], costs["alternatives"]
        counts = f"Factures envoyées par sortie ({costs['period']})"
        amounts = f"Coût de ces factures selon la sortie, en euros HT ({costs['period']})"
        return [
            (
                counts,
                bar_chart(
                    counts,
                    [short(item["label"]) for item in used],
                    {"Factures": [item["count"] for item in used]},
                    ident="factures-",
                ),
            ),
            (
                amounts,
                bar_chart(
                    amounts,
                    [short(item["label"]) for item in compared],
                    {"Coût HT": [Decimal(item["amount"]) for item in compared]},
                    unit=" €",
                    ident="couts-",
                ),
            ),
        ]


def routes(site: Site) -> list[tuple[str, object]]:
    return [
        ("/app/clients", CustomersPage(site)),
        ("/app/clients/{siret}", CustomerPage(site)),
        ("/app/annuaire", DirectoryPage(site)),
        ("/app/reglages", SettingsPage(site)),
        ("/app/reglages/sorties/{outlet}", OutletAccountForm(site)),
        ("/app/reglages/resumes", DigestsForm(site)),
        ("/app/reglages/webhooks", WebhooksForm(site)),
        ("/app/reglages/webhooks/{webhook_id}/supprimer", WebhookDeleteForm(site)),
        ("/app/couts", CostsPage(site)),
    ]

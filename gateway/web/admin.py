"""The association's pages: its members and how their invoices flow, the outlets' health,
the invoices given up on, the archive and the keys."""

from __future__ import annotations

from datetime import date, datetime, time

import falcon
from marshmallow import ValidationError

from gateway import lifecycle, schemas
from gateway.auth import PASSWORD_MIN_LENGTH
from gateway.errors import Conflict, InvalidInput
from gateway.services.members import ERRORS, MONTH, NEEDS_ACTION, PAID, SENT, WEEK
from gateway.times import PARIS
from gateway.web.charts import bar_chart
from gateway.web.site import MONTHS, Page, Site, findings_by_field, form_value, session_of

#: The status groups as the admin reads them, in the charts' and tables' order.
GROUP_LABELS = {
    SENT: "Envoyées ou en cours",
    PAID: "Payées",
    NEEDS_ACTION: "À traiter",
    ERRORS: "En erreur",
}
#: ``?periode=`` of the dashboard: its word, the service's unit, and how many periods.
PERIODS = {"semaine": (WEEK, 10), "mois": (MONTH, 12)}
MEMBERS = "/app/admin/membres"
KEYS = "/app/admin/cles"
#: Statuses shown on a member's page, in the lifecycle's order.
STATUSES = lifecycle.GATEWAY_STATUSES + lifecycle.PLATFORM_STATUSES


def period_label(start: datetime, unit: str, short: bool = False) -> str:
    """``23 nov.`` (a week, by its Monday), ``nov. 2026`` (a month; ``nov.`` if ``short``)."""
    local = start.astimezone(PARIS)
    if unit == WEEK:
        return f"{local.day} {MONTHS[local.month - 1]}"
    return MONTHS[local.month - 1] if short else f"{MONTHS[local.month - 1]} {local.year}"


def ago(then: str | None, now: datetime) -> str:
    """``il y a 4 s``, ``il y a 3 min``, ``il y a 2 h``: how long ago ``then`` (ISO 8601) was."""
    if not then:
        return "jamais"
    seconds = max(0, int((now - datetime.fromisoformat(then)).total_seconds()))
    if seconds < 120:
        return f"il y a {seconds} s"
    if seconds < 7200:
        return f"il y a {seconds // 60} min"
    if seconds < 172800:
        return f"il y a {seconds // 3600} h"
    return f"il y a {seconds // 86400} jours"


def key_state(key: dict, now: datetime) -> str:
    if key["revoked_at"]:
        return "Révoquée"
    if key["expires_at"] and datetime.fromisoformat(key["expires_at"]) <= now:
        return "Expirée"
    return "Active"


def back_to(target: str | None, default: str) -> str:
    """Where a form returns: one of the admin's pages, never elsewhere."""
    if target and target.startswith("/app/admin") and "//" not in target and "\\" not in target:
        return target
    return default


class AdminPage(Page):
    role = "admin"

    def now(self) -> datetime:
        return self.services.clock()

    def keys_with_state(self, keys: list[dict]) -> list[dict]:
        now = self.now()
        return [{**key, "state": key_state(key, now)} for key in keys]


class Dashboard(AdminPage):
    """Volumes over time by status group (a chart and its table), the queue and the worker
    at a glance, and the last alerts."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        period = req.get_param("periode") if req.get_param("periode") in PERIODS else "semaine"
        unit, count = PERIODS[period]
        volumes = self.services.members.volumes_over_time(unit, count)
        categories = [period_label(item["start"], unit) for item in volumes]
        series = {
            label: [item["counts"][group] for item in volumes]
            for group, label in GROUP_LABELS.items()
        }
        title = "Factures reçues par " + ("semaine" if unit == WEEK else "mois")
        # The chart's labels are short, to fit under their bars; the title gives the span.
        span = f" ({categories[0]} – {categories[-1]})"
        bars = [period_label(item["start"], unit, short=True) for item in volumes]
        now = self.now()
        health = self.services.health
        worker = health.worker(now)
        members = self.services.members.list()
        self.site.render(
            req,
            resp,
            "admin/accueil.html",
            period=period,
            title_chart=title,
            chart=bar_chart(title + span + ", par état actuel", bars, series),
            rows=list(zip(categories, volumes, strict=True)),
            groups=GROUP_LABELS,
            queue=health.queue(now),
            worker=worker,
            heartbeat_age=ago(worker["last_heartbeat"], now),
            alerts=self.services.alerts.recent(10),
            given_up=len(self.services.alerts.given_up()),
            members=members,
            names={member["id"]: member["name"] for member in members},
            activity=self.services.members.activity(),
        )


class MembersPage(AdminPage):
    """The members with their volumes per status group, and the form creating one."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.show(req, resp, values={}, shown={})

    def show(self, req, resp, values: dict, shown: dict) -> None:
        self.site.render(
            req,
            resp,
            "admin/membres.html",
            members=self.services.members.list(),
            activity=self.services.members.activity(),
            groups=GROUP_LABELS,
            values=values,
            shown=shown,
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = req.get_media()
        values = {name: form_value(form, name) for name in ("name", "siret", "email")}
        given = {name: value for name, value in values.items() if value}
        try:
            try:
                data = schemas.MemberCreateSchema().load(given)
            except ValidationError as ex:
                raise InvalidInput(schemas.findings_from_errors(ex)) from ex
            member, key = self.services.members.create(**data)
        except (InvalidInput, Conflict) as ex:
            resp.status = falcon.HTTP_409 if isinstance(ex, Conflict) else falcon.HTTP_422
            return self.show(req, resp, values, findings_by_field(ex.findings))
        resp.status = falcon.HTTP_201
        self.site.render(req, resp, "admin/membre_cree.html", created=member, api_key=key)


class MemberPage(AdminPage):
    """One member: its volumes per status, its keys (revoked in a click), its password."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        self.show(req, resp, member_id, shown={})

    def show(self, req, resp, member_id: str, shown: dict) -> None:
        shown_member = self.services.members.get(member_id)
        self.site.render(
            req,
            resp,
            "admin/membre.html",
            shown_member=shown_member,
            activity=self.services.members.activity(member_id).get(member_id),
            statuses=STATUSES,
            keys=self.keys_with_state(self.services.members.keys(member_id)),
            shown=shown,
            password_min=PASSWORD_MIN_LENGTH,
        )


class MemberPassword(AdminPage):
    """Set the member's web password; it is never shown back."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, member_id: str) -> None:
        password = req.get_media().get("password", "")
        try:
            self.services.members.set_password(
                member_id, password if isinstance(password, str) else ""
            )
        except InvalidInput as ex:
            resp.status = falcon.HTTP_422
            return MemberPage(self.site).show(req, resp, member_id, findings_by_field(ex.findings))
        self.site.redirect(
            resp,
            f"{MEMBERS}/{member_id}",
            flash="Mot de passe enregistré : transmettez-le à la librairie ; ses sessions "
            "ouvertes sont fermées.",
            req=req,
        )


class OutletsPage(AdminPage):
    """Each outlet's health, members' expiring credentials, the queue, the worker, the
    information copies."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = self.services.health.report(admin=True)
        now = self.now()
        worker = report.get("worker", {"alive": False, "last_heartbeat": None})
        self.site.render(
            req,
            resp,
            "admin/sorties.html",
            report=report,
            worker=worker,
            heartbeat_age=ago(worker["last_heartbeat"], now),
        )


class GivenUpPage(AdminPage):
    """The invoices the worker gave up sending, per member, with the reason."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        by_member: dict[str, dict] = {}
        for invoice in self.services.alerts.given_up():
            shown = by_member.setdefault(
                invoice["member_id"], {"name": invoice["member"], "invoices": []}
            )
            shown["invoices"].append(invoice)
        self.site.render(req, resp, "admin/abandonnees.html", by_member=by_member)


class ArchivePage(AdminPage):
    """The journal's head, its last checkpoint and time-stamp, retention, and how to verify."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.site.render(req, resp, "admin/archive.html", state=self.services.archive.state())


class KeysPage(AdminPage):
    """Every key, revoked in a click, and the form creating an admin key (shown once)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.show(req, resp, values={}, shown={}, created=None)

    def show(self, req, resp, values: dict, shown: dict, created: dict | None) -> None:
        self.site.render(
            req,
            resp,
            "admin/cles.html",
            keys=self.keys_with_state(self.services.members.all_keys()),
            own_key=session_of(req).principal.key_id,
            values=values,
            shown=shown,
            created=created,
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = req.get_media()
        values = {name: form_value(form, name) for name in ("label", "expires_at")}
        try:
            created = self.services.members.create_key(
                None,
                "admin",
                label=values["label"] or None,
                expires_at=end_of(values["expires_at"]),
            )
        except InvalidInput as ex:
            resp.status = falcon.HTTP_422
            return self.show(req, resp, values, findings_by_field(ex.findings), None)
        resp.status = falcon.HTTP_201
        self.show(req, resp, values={}, shown={}, created=created)


def end_of(day: str) -> datetime | None:
    """The end of ``day`` (AAAA-MM-JJ, Paris time); None when not given."""
    if not day:
        return None
    try:
        return datetime.combine(date.fromisoformat(day), time(23, 59, 59), PARIS)
    except ValueError as ex:
        raise InvalidInput.of(
            "field.invalid", "Date attendue au format AAAA-MM-JJ.", field="expires_at"
        ) from ex


class RevokeKey(AdminPage):
    def on_post(self, req: falcon.Request, resp: falcon.Response, key_id: str) -> None:
        key = self.services.members.revoke_any_key(key_id)
        self.site.redirect(
            resp,
            back_to(form_value(req.get_media(), "retour"), KEYS),
            flash=f"Clé {key['prefix']}… révoquée : elle ne donne plus accès à la passerelle.",
            req=req,
        )


def routes(site: Site) -> list[tuple[str, object]]:
    return [
        ("/app/admin", Dashboard(site)),
        (MEMBERS, MembersPage(site)),
        (MEMBERS + "/{member_id}", MemberPage(site)),
        (MEMBERS + "/{member_id}/mot-de-passe", MemberPassword(site)),
        ("/app/admin/sorties", OutletsPage(site)),
        ("/app/admin/abandonnees", GivenUpPage(site)),
        ("/app/admin/archive", ArchivePage(site)),
        (KEYS, KeysPage(site)),
        (KEYS + "/{key_id}/revoquer", RevokeKey(site)),
    ]

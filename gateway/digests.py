"""Daily and weekly e-mail digests: what changed for a member, what needs its action.

A member opts in through its settings::

    {"digests": {"daily": true, "weekly": true, "recipients": ["compta@librairie.example"]}}

(``recipients`` defaults to the member's e-mail). The worker's schedule runs each kind at
``[digests] hour`` (Europe/Paris), the weekly one on ``weekly_day``; a digest covers the
member's events since its previous one of the same kind (``digests.last_event_seq``), so
a worker down for a day loses nothing: the next digest covers the whole gap. Sent through
``[smtp]``; nothing is sent while no host is configured.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from gateway import lifecycle
from gateway.config import DigestConfig
from gateway.errors import Finding
from gateway.logs import get_logger
from gateway.mail import Mailer
from gateway.secretbox import SecretBox
from gateway.store import Store
from gateway.times import PARIS

log = get_logger(__name__)

DAILY = "daily"
WEEKLY = "weekly"
#: A digest sent less than this long ago is not sent again (a job run again after a
#: failure: the members already served are skipped).
RESEND_AFTER = {DAILY: timedelta(hours=12), WEEKLY: timedelta(days=3)}
#: Changes listed at most in one digest; the rest are counted.
MAX_CHANGES = 50
#: Invoices needing action listed at most in one digest.
MAX_NEEDING = 500

#: An address as a digest's "To" takes it: one mailbox, nothing that could end a header.
ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+")
PREFERENCES = ("daily", "weekly", "recipients")


def check_preferences(settings: dict) -> list[Finding]:
    """Return what is wrong with a member's ``settings["digests"]``, field by field."""
    prefs = settings.get("digests")
    if prefs is None:
        return []
    if not isinstance(prefs, dict):
        return [
            Finding(
                code="field.invalid",
                message='Les réglages des résumés sont un objet : {"daily": true, '
                '"weekly": false, "recipients": ["compta@librairie.example"]}.',
                field="settings.digests",
            )
        ]
    findings = [
        Finding(
            code="field.unknown",
            message=f"Réglage « {key} » inconnu (réglages possibles : daily, weekly, recipients).",
            field=f"settings.digests.{key}",
        )
        for key in prefs
        if key not in PREFERENCES
    ]
    findings += [
        Finding(
            code="field.invalid",
            message="Une valeur booléenne (true ou false) est attendue.",
            field=f"settings.digests.{kind}",
        )
        for kind in (DAILY, WEEKLY)
        if kind in prefs and not isinstance(prefs[kind], bool)
    ]
    recipients = prefs.get("recipients", [])
    if not isinstance(recipients, list) or not all(
        isinstance(r, str) and len(r) <= 320 and ADDRESS.fullmatch(r) for r in recipients
    ):
        findings.append(
            Finding(
                code="field.invalid",
                message="Les destinataires sont une liste d'adresses e-mail "
                '(["compta@librairie.example"]).',
                field="settings.digests.recipients",
            )
        )
    return findings


def next_daily(at: datetime, settings: DigestConfig) -> datetime:
    """Return the first ``settings.hour`` o'clock, Paris time, after ``at``."""
    local = at.astimezone(PARIS)
    candidate = datetime.combine(local.date(), time(settings.hour), PARIS)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(settings.hour), PARIS)
    return candidate.astimezone(at.tzinfo)


def next_weekly(at: datetime, settings: DigestConfig) -> datetime:
    """Return the first ``settings.hour`` o'clock on ``settings.weekly_day`` after ``at``."""
    candidate = next_daily(at, settings)
    while candidate.astimezone(PARIS).weekday() != settings.weekly_day:
        candidate = next_daily(candidate, settings)
    return candidate


@dataclass
class Digest:
    member: dict
    kind: str
    day: date
    last_event_seq: int
    changes: list[dict] = field(default_factory=list)
    more_changes: int = 0
    needs_action: list[dict] = field(default_factory=list)
    paid: list[dict] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    expiring: list[dict] = field(default_factory=list)
    directory: list[dict] = field(default_factory=list)
    #: Invoices in the bookseller's hands (to upload, to print) for too long.
    reminders: list[dict] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.changes or self.needs_action or self.paid or self.expiring or self.directory
        )

    @property
    def title(self) -> str:
        period = "quotidien" if self.kind == DAILY else "hebdomadaire"
        waiting = len(self.needs_action)
        todo = (
            f"{waiting} facture(s) demandent votre action"
            if waiting
            else "aucune facture n'attend votre action"
        )
        return f"Résumé {period} du {self.day:%d/%m/%Y} — {todo}"


def expiring(settings: dict, today: date, within: int) -> list[dict]:
    """Return the dated settings (a key with "expires" in its name holding an ISO date,
    such as ``"password_expires": "2027-01-15"``) due within ``within`` days."""
    found = []
    for outlet, values in sorted(settings.items()):
        if not isinstance(values, dict):
            continue
        for key, value in sorted(values.items()):
            if "expires" not in key or not isinstance(value, str):
                continue
            try:
                when = date.fromisoformat(value[:10])
            except ValueError:
                continue
            days = (when - today).days
            if days <= within:
                found.append({"outlet": outlet, "setting": key, "date": when, "days": days})
    return found


def _invoice_line(row: dict, history: list[dict]) -> dict:
    reason = next(
        (entry["comment"] for entry in reversed(history) if entry["status"] == row["status"]),
        None,
    )
    data = row["data"] or {}
    return {
        "id": row["id"],
        "number": row["number"],
        "status": row["status"],
        "buyer": (data.get("buyer") or {}).get("name") or row["buyer_siret"],
        "payable": (data.get("totals") or {}).get("payable"),
        "reason": reason or row["last_error"],
        "action": lifecycle.explain(row),
    }


#: What waits for the bookseller's hands, as a reminder says it.
WAITING_FOR = {
    lifecycle.A_DEPOSER: "à déposer sur le portail Chorus Pro",
    lifecycle.A_IMPRIMER: "à imprimer et poster (lot d'impression)",
}


def _reminder(row: dict, history: list[dict], now: datetime, after_days: int) -> dict | None:
    """Return the reminder of an invoice waiting in a manual status for ``after_days``
    days or more (counted from when it entered that status), else None."""
    if row["status"] not in lifecycle.MANUAL_STATUSES:
        return None
    entered = [entry["at"] for entry in history if entry["status"] == row["status"]]
    since = entered[-1] if entered else row["updated_at"]
    days = (now - since).days
    if days < after_days:
        return None
    return {
        "number": row["number"],
        "buyer": ((row["data"] or {}).get("buyer") or {}).get("name") or row["buyer_siret"],
        "status": row["status"],
        "since": since.astimezone(PARIS),
        "days": days,
        "what": WAITING_FOR[row["status"]],
    }


def _reminder_sentence(item: dict) -> str:
    return (
        f"Facture {item['number']} ({item['buyer']}) : {item['what']} depuis {item['days']} "
        f"jour(s) (le {item['since']:%d/%m/%Y})"
    )


class DigestBuilder:
    def __init__(self, store: Store, settings: DigestConfig):
        self.store = store
        self.settings = settings

    def build(self, member: dict, settings: dict, kind: str, now: datetime) -> Digest:
        mark = self.store.get_digest_mark(member["id"], kind)
        cursor = mark["last_event_seq"] if mark else 0
        digest = Digest(member, kind, now.astimezone(PARIS).date(), cursor)
        paid_ids: set[str] = set()
        while True:
            page = self.store.list_events(member["id"], after=digest.last_event_seq, limit=500)
            if not page:
                break
            digest.last_event_seq = page[-1]["member_seq"]
            for event in page:
                self._take(digest, event, paid_ids)
        # Oldest first: what waits longest comes first.
        needing = self.store.list_needing_action(member["id"], limit=MAX_NEEDING)
        paid = sorted(self.store.get_invoices(list(paid_ids), member["id"]), key=lambda r: r["id"])
        histories = self.store.histories([row["seq"] for row in needing + paid])
        digest.needs_action = [_invoice_line(row, histories[row["seq"]]) for row in needing]
        after_days = self.settings.deposit_reminder_days
        reminders = (_reminder(row, histories[row["seq"]], now, after_days) for row in needing)
        digest.reminders = [item for item in reminders if item is not None]
        digest.paid = [_invoice_line(row, histories[row["seq"]]) for row in paid]
        digest.totals = dict(sorted(self.store.count_invoices_by_status(member["id"]).items()))
        digest.expiring = expiring(settings, digest.day, self.settings.expiry_warning_days)
        return digest

    def _take(self, digest: Digest, event: dict, paid_ids: set[str]) -> None:
        data = event["data"] or {}
        if event["type"] == "directory.changed":
            digest.directory.append(data)
            return
        if "new" not in data:
            return
        if data["new"] in lifecycle.PAID_STATUSES and event["invoice_id"]:
            paid_ids.add(event["invoice_id"])
        if len(digest.changes) >= MAX_CHANGES:
            digest.more_changes += 1
            return
        digest.changes.append(
            {
                "number": data.get("number"),
                "old": data.get("old"),
                "new": data["new"],
                "comment": data.get("comment"),
                "at": event["at"].astimezone(PARIS),
            }
        )


def render_text(digest: Digest) -> str:
    lines = [f"Bonjour {digest.member['name']},", "", digest.title + ".", ""]
    if digest.reminders:
        lines.append("Rappels")
        lines += [f"- {_reminder_sentence(item)}" for item in digest.reminders]
        lines.append("")
    if digest.needs_action:
        lines.append("À faire")
        for item in digest.needs_action:
            lines += [
                f"- Facture {item['number']} ({item['buyer']}) : {item['status']}",
                f"  Motif : {item['reason'] or 'non précisé'}",
                f"  À faire : {item['action']}",
            ]
        lines.append("")
    if digest.paid:
        lines.append("Mises en paiement")
        lines += [f"- Facture {i['number']} ({i['buyer']}) : {i['payable']} €" for i in digest.paid]
        lines.append("")
    if digest.changes:
        lines.append("Ce qui a changé")
        for change in digest.changes:
            comment = f" — {change['comment']}" if change["comment"] else ""
            lines.append(
                f"- {change['at']:%d/%m %H:%M} facture {change['number']} : "
                f"{change['old'] or 'nouvelle'} → {change['new']}{comment}"
            )
        if digest.more_changes:
            lines.append(f"- … et {digest.more_changes} autre(s) changement(s)")
        lines.append("")
    if digest.directory:
        lines.append("Changements dans l'annuaire Chorus Pro (vos clients)")
        for entry in digest.directory:
            lines.append(f"- {entry.get('name') or entry.get('siret')} ({entry.get('siret')}) :")
            lines += [f"  {change}" for change in entry.get("changes", [])]
        lines.append("")
    if digest.expiring:
        lines.append("Identifiants à renouveler")
        lines += [_expiry_sentence(item) for item in digest.expiring]
        lines.append("")
    lines.append("Factures par statut")
    lines += [f"- {status} : {count}" for status, count in digest.totals.items()]
    return "\n".join(lines) + "\n"


def _expiry_sentence(item: dict) -> str:
    when = f"{item['date']:%d/%m/%Y}"
    if item["days"] < 0:
        return f"- {item['outlet']} : « {item['setting']} » a expiré le {when} : renouvelez-le."
    return (
        f"- {item['outlet']} : « {item['setting']} » expire le {when} "
        f"(dans {item['days']} jour(s)) : renouvelez-le avant."
    )


def render_html(digest: Digest) -> str:
    e = html.escape
    parts = [
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">',
        f"<title>{e(digest.title)}</title></head><body>",
        f"<p>Bonjour {e(digest.member['name'])},</p><h1>{e(digest.title)}</h1>",
    ]
    if digest.reminders:
        parts.append("<h2>Rappels</h2><ul>")
        parts += [f"<li>{e(_reminder_sentence(item))}</li>" for item in digest.reminders]
        parts.append("</ul>")
    if digest.needs_action:
        parts.append(
            "<h2>À faire</h2><table><tr><th>Facture</th><th>Client</th>"
            "<th>Statut</th><th>Motif</th><th>À faire</th></tr>"
        )
        for item in digest.needs_action:
            parts.append(
                f"<tr><td>{e(item['number'])}</td><td>{e(str(item['buyer']))}</td>"
                f"<td>{e(item['status'])}</td><td>{e(item['reason'] or 'non précisé')}</td>"
                f"<td>{e(item['action'])}</td></tr>"
            )
        parts.append("</table>")
    if digest.paid:
        parts.append("<h2>Mises en paiement</h2><ul>")
        parts += [
            f"<li>Facture {e(i['number'])} ({e(str(i['buyer']))}) : {e(str(i['payable']))} €</li>"
            for i in digest.paid
        ]
        parts.append("</ul>")
    if digest.changes:
        parts.append("<h2>Ce qui a changé</h2><ul>")
        for change in digest.changes:
            comment = f" — {e(change['comment'])}" if change["comment"] else ""
            parts.append(
                f"<li>{change['at']:%d/%m %H:%M} facture {e(str(change['number']))} : "
                f"{e(change['old'] or 'nouvelle')} → {e(change['new'])}{comment}</li>"
            )
        if digest.more_changes:
            parts.append(f"<li>… et {digest.more_changes} autre(s) changement(s)</li>")
        parts.append("</ul>")
    if digest.directory:
        parts.append("<h2>Changements dans l'annuaire Chorus Pro (vos clients)</h2><ul>")
        for entry in digest.directory:
            changes = "".join(f"<li>{e(str(c))}</li>" for c in entry.get("changes", []))
            name = e(str(entry.get("name") or entry.get("siret")))
            parts.append(f"<li>{name} ({e(str(entry.get('siret')))})<ul>{changes}</ul></li>")
        parts.append("</ul>")
    if digest.expiring:
        parts.append("<h2>Identifiants à renouveler</h2><ul>")
        parts += [f"<li>{e(_expiry_sentence(i)[2:])}</li>" for i in digest.expiring]
        parts.append("</ul>")
    parts.append("<h2>Factures par statut</h2><ul>")
    parts += [f"<li>{e(status)} : {count}</li>" for status, count in digest.totals.items()]
    parts.append("</ul></body></html>")
    return "".join(parts)


class DigestFailed(Exception):
    """Some digests could not be sent: the job is run again soon (the others are skipped)."""


def digest_job(
    kind: str,
    *,
    store: Store,
    secretbox: SecretBox,
    mailer: Mailer,
    settings: DigestConfig,
    clock: Callable[[], datetime],
) -> Callable[[threading.Event | None], int]:
    """Return the run of the ``kind`` digest job: one e-mail per member who opted in."""
    builder = DigestBuilder(store, settings)

    def run(stop: threading.Event | None) -> int:
        if not mailer.configured:
            return 0
        now = clock()
        sent, failed = 0, []
        for member in store.list_members():
            if stop is not None and stop.is_set():
                break
            try:
                member_settings = secretbox.open(member["settings_encrypted"])
                prefs = member_settings.get("digests") or {}
                recipients = prefs.get("recipients") or (
                    [member["email"]] if member["email"] else []
                )
                if not prefs.get(kind) or not recipients:
                    continue
                mark = store.get_digest_mark(member["id"], kind)
                if mark and mark["sent_at"] > now - RESEND_AFTER[kind]:
                    continue
                digest = builder.build(member, member_settings, kind, now)
                if not digest.empty:
                    mailer.send(
                        list(recipients), digest.title, render_text(digest), render_html(digest)
                    )
                    sent += 1
                store.set_digest_mark(member["id"], kind, digest.last_event_seq, now)
            except Exception as ex:
                log.warning("digest.failed", member_id=member["id"], kind=kind, error=repr(ex))
                failed.append(member["id"])
        log.info("digest.sent", kind=kind, sent=sent, failed=len(failed))
        if failed:
            raise DigestFailed(f"{len(failed)} digest(s) not sent")
        return sent

    return run

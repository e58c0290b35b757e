"""``GET /v1/health``: a minimal answer for anyone (load balancers), and for the admin the
outlets' health, the worker's heartbeat, the outbox and the information copies.

Asking an outlet (``Outlet.health``) may take the network (a Chorus Pro token): it is done
in a thread of its own, waited for ``PROBE_TIMEOUT`` at most, and its answer kept
``PROBE_TTL`` in this process, so that a slow platform never makes the answer hang.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway import __version__, lifecycle
from gateway.config import Config
from gateway.digests import expiring
from gateway.logs import get_logger
from gateway.outlets import Outlet
from gateway.plugins import Registry
from gateway.secretbox import SecretBox
from gateway.store import Store
from gateway.times import PARIS
from gateway.views import iso
from gateway.worker import ALIVE_WITHIN

log = get_logger(__name__)

#: Seconds the answer waits for the outlets at most, all together.
PROBE_TIMEOUT = 2.0
#: How long an outlet's answer is trusted before it is asked again.
PROBE_TTL = timedelta(minutes=1)
#: Members whose own settings of one outlet are checked at most (the others are not shown).
MAX_MEMBER_PROBES = 50
#: Statuses of an invoice the outlet could not take (yet).
TROUBLED = (lifecycle.EN_ERREUR, lifecycle.EN_ATTENTE_PLATEFORME)


#: A probe's key: the outlet, and the member whose settings it uses (None: the outlet's own).
ProbeKey = tuple[str, str | None]


class OutletProbe:
    """``Outlet.health(settings)`` per outlet and member, asked off the caller's thread, with
    a cache."""

    def __init__(self, clock: Callable[[], datetime]):
        self.clock = clock
        self.lock = threading.Lock()
        #: key → (checked_at, answer) of the last probe that finished.
        self.answers: dict[ProbeKey, tuple[datetime, dict]] = {}
        self.running: dict[ProbeKey, threading.Thread] = {}

    def _probe(self, key: ProbeKey, outlet: Outlet, settings: dict | None) -> None:
        try:
            answer = outlet.health(settings)
            answer = answer if isinstance(answer, dict) else {"ok": False}
        except Exception as ex:  # the contract says it never raises: contained all the same
            log.warning("outlet.health_failed", outlet=key[0], member_id=key[1], error=repr(ex))
            answer = {"ok": False, "error": f"la vérification a échoué ({ex.__class__.__name__})"}
        with self.lock:
            self.answers[key] = (self.clock(), answer)
            self.running.pop(key, None)

    def results(
        self, targets: dict[ProbeKey, tuple[Outlet, dict | None]], timeout: float = PROBE_TIMEOUT
    ) -> dict[ProbeKey, tuple[datetime | None, dict]]:
        """Return each target's (checked_at, answer): cached, or asked now for ``timeout``
        seconds at most; a target still silent says so (its probe goes on, for next time)."""
        now = self.clock()
        with self.lock:
            for key, (outlet, settings) in targets.items():
                cached = self.answers.get(key)
                fresh = cached is not None and now - cached[0] < PROBE_TTL
                if not fresh and key not in self.running:
                    thread = threading.Thread(
                        target=self._probe,
                        args=(key, outlet, settings),
                        daemon=True,
                        name=f"health-{key[0]}",
                    )
                    self.running[key] = thread
                    thread.start()
            waiting = list(self.running.values())
        deadline = time.monotonic() + timeout
        for thread in waiting:
            thread.join(max(0.0, deadline - time.monotonic()))
        silent = {
            "ok": False,
            "error": f"la sortie n'a pas répondu en {timeout:g} s ; vérification en cours",
        }
        with self.lock:
            return {key: self.answers.get(key, (None, silent)) for key in targets}


def details(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key != "ok"}


class HealthService:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        config: Config,
        secretbox: SecretBox,
        clock: Callable[[], datetime],
    ):
        self.store = store
        self.registry = registry
        self.config = config
        self.secretbox = secretbox
        self.clock = clock
        self.probe = OutletProbe(clock)

    def report(self, admin: bool = False) -> dict:
        """Return the public answer; with ``admin``, what the association must watch too."""
        try:
            database = "ok" if self.store.ping() else "error"
        except Exception:
            database = "error"
        public = {
            "status": "ok" if database == "ok" else "degraded",
            "version": __version__,
            "database": database,
            "plugins": self.registry.describe(),
        }
        if not admin or database != "ok":
            return public
        now = self.clock()
        members = self.members_settings()
        return {
            **public,
            "outlets": self.outlets(members),
            "credentials": self.credentials(members, now),
            "worker": self.worker(now),
            "queue": self.queue(now),
            "copies": self.store.count_copies(),
        }

    def members_settings(self) -> list[tuple[dict, dict]]:
        """Each member with its settings in clear (those unreadable are skipped, said)."""
        found = []
        for member in self.store.list_members():
            try:
                found.append((member, self.secretbox.open(member["settings_encrypted"])))
            except Exception as ex:  # a key rotated away: said, not fatal to the report
                log.warning("health.settings_unreadable", member_id=member["id"], error=repr(ex))
        return found

    def outlets(self, members: list[tuple[dict, dict]]) -> dict[str, dict]:
        """Each outlet's health: with each member's own settings of it (credentials are a
        member's: a token each), or with the outlet's own configuration when no member has
        settings of it."""
        activity = self.store.last_successes()
        queues = self.store.queue_by_outlet(lifecycle.OUTBOX_STATUSES, TROUBLED)
        names = {member["id"]: member["name"] for member, _ in members}
        targets: dict[ProbeKey, tuple[Outlet, dict | None]] = {}
        for name, outlet in self.registry.outlets.items():
            own = [(m["id"], settings[name]) for m, settings in members if settings.get(name)]
            for member_id, settings in own[:MAX_MEMBER_PROBES]:
                targets[(name, member_id)] = (outlet, settings)
            if not own:
                targets[(name, None)] = (outlet, None)
        results = self.probe.results(targets)
        report = {}
        for name in self.registry.outlets:
            last = activity.get(name)
            counts = queues.get(name, {})
            probed = [(key[1], *result) for key, result in results.items() if key[0] == name]
            own = next((answer for member, _, answer in probed if member is None), None)
            report[name] = {
                "ok": all(answer.get("ok") for _, _, answer in probed),
                "checked_at": iso(min((at for _, at, _ in probed if at), default=None)),
                "details": details(own) if own is not None else {},
                "members": [
                    {
                        "member_id": member,
                        "member": names[member],
                        "ok": bool(answer.get("ok")),
                        "checked_at": iso(at),
                        "details": details(answer),
                    }
                    for member, at, answer in probed
                    if member is not None
                ],
                "last_success": iso(last["last_success_at"]) if last else None,
                "queue": counts.get("queue", 0),
                "errors": counts.get("errors", 0),
            }
        return report

    def credentials(self, members: list[tuple[dict, dict]], now: datetime) -> list[dict]:
        """Members' outlet settings expiring within ``[digests] expiry_warning_days`` (or
        past), as their digests recall them."""
        today = now.astimezone(PARIS).date()
        within = self.config.digests.expiry_warning_days
        found = []
        for member, settings in members:
            for item in expiring(settings, today, within):
                found.append(
                    {
                        "member_id": member["id"],
                        "member": member["name"],
                        "outlet": item["outlet"],
                        "setting": item["setting"],
                        "expires": item["date"].isoformat(),
                        "days": item["days"],
                    }
                )
        return found

    def member_outlets(self, member_id: str) -> dict[str, dict]:
        """Each outlet the member has settings of, checked with them (a Chorus Pro answer
        carries the technical account's password expiry), with the dated settings that
        expire within ``[digests] expiry_warning_days`` (or are past)."""
        member = self.store.get_member(member_id)
        settings = self.secretbox.open(member["settings_encrypted"]) if member else {}
        targets: dict[ProbeKey, tuple[Outlet, dict | None]] = {
            (name, member_id): (outlet, settings[name])
            for name, outlet in self.registry.outlets.items()
            if isinstance(settings.get(name), dict) and settings[name]
        }
        today = self.clock().astimezone(PARIS).date()
        due = expiring(settings, today, self.config.digests.expiry_warning_days)
        return {
            key[0]: {
                "ok": bool(answer.get("ok")),
                "checked_at": iso(at),
                "details": details(answer),
                "expiring": [
                    {**item, "date": item["date"].isoformat()}
                    for item in due
                    if item["outlet"] == key[0]
                ],
            }
            for key, (at, answer) in self.probe.results(targets).items()
        }

    def worker(self, now: datetime) -> dict:
        """The worker heard of last, and whether any is alive."""
        within = max(ALIVE_WITHIN, timedelta(seconds=5 * self.config.worker.poll_interval))
        workers = self.store.list_workers()
        alive = [w for w in workers if now - w["heartbeat_at"] <= within]
        if not workers:
            return {"alive": False, "last_heartbeat": None, "alive_count": 0}
        last = workers[0]
        return {
            "alive": bool(alive),
            "alive_count": len(alive),
            "last_heartbeat": iso(last["heartbeat_at"]),
            "owner": last["owner"],
            "host": last["host"],
            "pid": last["pid"],
            "started_at": iso(last["started_at"]),
        }

    def queue(self, now: datetime) -> dict:
        depth = self.store.queue_depth(lifecycle.OUTBOX_STATUSES, now)
        return {**depth, "oldest_due_at": iso(depth["oldest_due_at"])}

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
#: Statuses of an invoice the outlet could not take (yet).
TROUBLED = (lifecycle.EN_ERREUR, lifecycle.EN_ATTENTE_PLATEFORME)


class OutletProbe:
    """Each outlet's ``health()``, asked off the caller's thread, with a cache."""

    def __init__(self, outlets: dict[str, Outlet], clock: Callable[[], datetime]):
        self.outlets = outlets
        self.clock = clock
        self.lock = threading.Lock()
        #: name → (checked_at, answer) of the last probe that finished.
        self.answers: dict[str, tuple[datetime, dict]] = {}
        self.running: dict[str, threading.Thread] = {}

    def _probe(self, name: str, outlet: Outlet) -> None:
        try:
            answer = outlet.health()
            answer = answer if isinstance(answer, dict) else {"ok": False}
        except Exception as ex:  # the contract says it never raises: contained all the same
            log.warning("outlet.health_failed", outlet=name, error=repr(ex))
            answer = {"ok": False, "error": f"la vérification a échoué ({ex.__class__.__name__})"}
        with self.lock:
            self.answers[name] = (self.clock(), answer)
            self.running.pop(name, None)

    def results(self, timeout: float = PROBE_TIMEOUT) -> dict[str, tuple[datetime | None, dict]]:
        """Return each outlet's (checked_at, answer): cached, or asked now for ``timeout``
        seconds at most; an outlet still silent says so (its probe goes on, for next time)."""
        now = self.clock()
        with self.lock:
            for name, outlet in self.outlets.items():
                cached = self.answers.get(name)
                fresh = cached is not None and now - cached[0] < PROBE_TTL
                if not fresh and name not in self.running:
                    thread = threading.Thread(
                        target=self._probe, args=(name, outlet), daemon=True, name=f"health-{name}"
                    )
                    self.running[name] = thread
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
            return {name: self.answers.get(name, (None, silent)) for name in self.outlets}


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
        self.probe = OutletProbe(registry.outlets, clock)

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
        return {
            **public,
            "outlets": self.outlets(),
            "credentials": self.credentials(now),
            "worker": self.worker(now),
            "queue": self.queue(now),
            "copies": self.store.count_copies(),
        }

    def outlets(self) -> dict[str, dict]:
        activity = self.store.last_successes()
        queues = self.store.queue_by_outlet(lifecycle.OUTBOX_STATUSES, TROUBLED)
        report = {}
        for name, (checked_at, answer) in self.probe.results().items():
            last = activity.get(name)
            counts = queues.get(name, {})
            report[name] = {
                "ok": bool(answer.get("ok")),
                "checked_at": iso(checked_at),
                "details": {key: value for key, value in answer.items() if key != "ok"},
                "last_success": iso(last["last_success_at"]) if last else None,
                "queue": counts.get("queue", 0),
                "errors": counts.get("errors", 0),
            }
        return report

    def credentials(self, now: datetime) -> list[dict]:
        """Members' outlet settings expiring within ``[digests] expiry_warning_days`` (or
        past), as their digests recall them."""
        today = now.astimezone(PARIS).date()
        within = self.config.digests.expiry_warning_days
        found = []
        for member in self.store.list_members():
            try:
                settings = self.secretbox.open(member["settings_encrypted"])
            except Exception as ex:  # a key rotated away: said, not fatal to the report
                log.warning("health.settings_unreadable", member_id=member["id"], error=repr(ex))
                continue
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

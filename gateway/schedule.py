"""What the worker does besides sending and polling, on a schedule kept in the store.

Two kinds of schedule, both persistent, so that a restarted worker loses nothing and two
workers never do the same thing twice:

- per row: an outbox invoice's ``next_attempt_at`` and ``next_poll_at``, a webhook
  delivery's or an information copy's ``next_attempt_at``; each row is leased while handled
  (``Store.claim_due``, ``Store.claim_deliveries``, ``Store.claim_copies``);
- per job: the periodic jobs below (``schedule`` table: job name, next run, lease). A job is
  claimed with a lease when due, run, then given its next run; a worker dying mid-run leaves
  the lease to expire and another worker runs the job again (at least once, never
  concurrently).

``Worker.run_forever`` calls :meth:`Scheduler.run_due` once a cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.logs import get_logger
from gateway.store import Store

log = get_logger(__name__)

#: A job that failed is tried again this much later (not at its next regular run).
RETRY_AFTER_FAILURE = timedelta(minutes=5)


@dataclass(frozen=True)
class Job:
    name: str
    #: Do the job; return how much was done (0: nothing was due).
    run: Callable[[threading.Event | None], int]
    #: When the job runs next, given the time it ran (or, for the first run, the time the
    #: schedule first sees it, unless ``immediate``).
    after: Callable[[datetime], datetime]
    immediate: bool = False
    #: The longest a run may take before another worker may take the job over.
    lease: timedelta = timedelta(minutes=10)


#: The lease of a job that may take long (one e-mail per member).
LONG = timedelta(minutes=30)


def every(interval: timedelta) -> Callable[[datetime], datetime]:
    return lambda at: at + interval


class Scheduler:
    def __init__(
        self,
        store: Store,
        owner: str,
        clock: Callable[[], datetime],
        jobs: list[Job],
        continuous: list[Callable[[threading.Event | None], int]] = (),
    ):
        self.store = store
        self.owner = owner
        self.clock = clock
        self.jobs = jobs
        #: Run every cycle: their rows carry their own schedule (webhook deliveries,
        #: information copies).
        self.continuous = list(continuous)

    def run_due(self, stop: threading.Event | None = None) -> int:
        """Run what is due, each job at most once; return how much was done."""
        done = 0
        for run in self.continuous:
            if stop is not None and stop.is_set():
                return done
            done += run(stop)
        for job in self.jobs:
            if stop is not None and stop.is_set():
                break
            now = self.clock()
            first = now if job.immediate else job.after(now)
            if not self.store.claim_job(job.name, self.owner, now, job.lease, first):
                continue
            try:
                done += job.run(stop)
                next_run = job.after(now)
            except Exception:
                log.exception("schedule.job_failed", job=job.name)
                next_run = self.clock() + RETRY_AFTER_FAILURE
            if not self.store.finish_job(job.name, self.owner, self.clock(), next_run):
                log.warning("schedule.lease_lost", job=job.name, owner=self.owner)
        return done


def refresh_directory(directory) -> Callable[[threading.Event | None], int]:
    """Refresh every customer's directory entry older than its TTL, one at a time."""

    def run(stop: threading.Event | None) -> int:
        refreshed = 0
        while (stop is None or not stop.is_set()) and directory.refresh_one_stale():
            refreshed += 1
        return refreshed

    return run


def checkpoint_job(store, config, clock) -> Callable[[threading.Event | None], int] | None:
    """Return the daily job signing the journal's state, or None without a signing key;
    with ``[archive] tsa_url``, each checkpoint is time-stamped too (RFC 3161). An authority
    out of reach, or misconfigured, leaves the checkpoint signed without a token (warned)."""
    from gateway import timestamping

    key = config.archive.private_key()
    if key is None:
        return None

    def run(stop: threading.Event | None) -> int:
        timestamping.try_stamp(store, store.add_checkpoint(key, clock()), config.archive)
        return 1

    return run


def for_worker(worker) -> Scheduler:
    """Return the schedule of ``worker`` (a :class:`gateway.worker.Worker`)."""
    from gateway import digests, idempotency, inbound
    from gateway.copies import CopyDeliverer
    from gateway.mail import Mailer
    from gateway.webhooks import WebhookDeliverer, purge_delivered
    from gateway.worker import backoff_delay

    deliverer = WebhookDeliverer(
        store=worker.store,
        secretbox=worker.secretbox,
        settings=worker.config.webhooks,
        clock=worker.clock,
        owner=worker.owner,
        rng=worker.rng,
        backoff=backoff_delay,
    )
    jobs = [
        Job(
            "directory.refresh",
            refresh_directory(worker.directory),
            every(timedelta(minutes=1)),
            immediate=True,
        ),
        Job(
            "idempotency.purge",
            idempotency.purge_job(
                worker.store,
                timedelta(seconds=worker.config.idempotency_retention_seconds),
                worker.clock,
            ),
            every(idempotency.PURGE_EVERY),
            immediate=True,
        ),
        Job(
            "webhooks.purge",
            purge_delivered(worker.store, worker.config.webhooks, worker.clock),
            every(timedelta(hours=1)),
        ),
    ]
    checkpoint = checkpoint_job(worker.store, worker.config, worker.clock)
    if checkpoint is not None:
        jobs.append(Job("archive.checkpoint", checkpoint, every(timedelta(days=1))))
    mailer = Mailer(worker.config.smtp)
    settings = worker.config.digests
    for kind, after in ((digests.DAILY, digests.next_daily), (digests.WEEKLY, digests.next_weekly)):
        run = digests.digest_job(
            kind,
            store=worker.store,
            secretbox=worker.secretbox,
            mailer=mailer,
            settings=settings,
            clock=worker.clock,
        )
        jobs.append(
            Job(f"digest.{kind}", run, lambda at, after=after: after(at, settings), lease=LONG)
        )
    copies = CopyDeliverer(
        store=worker.store,
        registry=worker.registry,
        mailer=mailer,
        settings=worker.config.copies,
        clock=worker.clock,
        owner=worker.owner,
        rng=worker.rng,
        backoff=backoff_delay,
    )
    receiver, answers = inbound.for_worker(worker)
    jobs.append(
        Job(
            "inbound.pull",
            receiver.pull_all,
            every(timedelta(minutes=worker.config.inbound.poll_minutes)),
            immediate=True,
            lease=LONG,
        )
    )
    return Scheduler(
        worker.store,
        worker.owner,
        worker.clock,
        jobs,
        continuous=[
            deliverer.deliver_due,
            copies.deliver_due,
            receiver.pull_requested,
            answers.send_due,
        ],
    )

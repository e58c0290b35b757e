"""The worker's persistent schedule and webhook delivery leases, on both databases: a job
due runs in one worker only, a restart loses nothing, a dead worker's job is taken over
once its lease expires; a delivery is leased by one worker and waits for the earlier
events of its invoice."""

from __future__ import annotations

import threading
from datetime import timedelta

from gateway.schedule import Job, Scheduler, every
from gateway.store import DELIVERY_DELIVERED, DELIVERY_PARKED, Store
from tests.gateway.store.conftest import T0, add_member

LEASE = timedelta(minutes=10)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def counting_job(runs: list, name: str = "digest.daily", **kwargs) -> Job:
    def run(stop):
        runs.append(name)
        return 1

    return Job(name, run, every(timedelta(days=1)), **kwargs)


def test_a_due_job_runs_once_across_workers_and_restarts(store):
    clock = Clock()
    runs: list = []
    first = Scheduler(store, "w1", clock, [counting_job(runs, immediate=True)])
    second = Scheduler(store, "w2", clock, [counting_job(runs, immediate=True)])
    assert first.run_due() == 1
    assert second.run_due() == 0  # done for today
    restarted = Scheduler(store, "w1-again", clock, [counting_job(runs, immediate=True)])
    assert restarted.run_due() == 0
    clock.now += timedelta(days=1)
    assert second.run_due() == 1 and first.run_due() == 0
    assert runs == ["digest.daily", "digest.daily"]
    assert store.get_job("digest.daily")["next_run_at"] == T0 + timedelta(days=2)


def test_a_job_not_immediate_waits_for_its_first_run(store):
    clock = Clock()
    runs: list = []
    scheduler = Scheduler(store, "w1", clock, [counting_job(runs)])
    assert scheduler.run_due() == 0
    clock.now += timedelta(days=1)
    assert scheduler.run_due() == 1


def test_a_dead_workers_job_is_taken_over_after_its_lease(store):
    clock = Clock()
    assert store.claim_job("digest.weekly", "dead", clock.now, LEASE, clock.now)
    runs: list = []
    alive = Scheduler(store, "alive", clock, [counting_job(runs, "digest.weekly", lease=LEASE)])
    assert alive.run_due() == 0  # leased by the dead one
    clock.now += LEASE + timedelta(seconds=1)
    assert alive.run_due() == 1
    # The dead worker coming back cannot record a run it lost.
    assert not store.finish_job("digest.weekly", "dead", clock.now, clock.now)


def test_a_failing_job_is_tried_again_soon(store):
    clock = Clock()

    def fail(stop):
        raise RuntimeError("le serveur SMTP ne répond pas")

    scheduler = Scheduler(
        store, "w1", clock, [Job("digest.daily", fail, every(timedelta(days=1)), immediate=True)]
    )
    assert scheduler.run_due() == 0
    assert store.get_job("digest.daily")["next_run_at"] == T0 + timedelta(minutes=5)


def test_concurrent_claims_of_a_job_give_it_to_one(store):
    clock = Clock()
    won = []
    barrier = threading.Barrier(4)

    def claim(owner):
        barrier.wait()
        if store.claim_job("directory.refresh", owner, clock.now, LEASE, clock.now):
            won.append(owner)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1


def add_webhook(store: Store, member: str, hook_id: str, events=("*",)) -> None:
    store.insert_webhook(
        id=hook_id,
        member_id=member,
        url="http://127.0.0.1:9/h",
        events=list(events),
        secret_encrypted="sealed",
        created_at=T0,
    )


def test_deliveries_are_leased_once_and_wait_for_their_invoices_earlier_events(store):
    member = add_member(store)
    add_webhook(store, member, "whk_1")
    add_webhook(store, member, "whk_2", events=["invoice.status_changed"])
    with store.begin() as conn:
        for invoice, type_ in (
            ("inv_1", "invoice.received"),
            ("inv_2", "invoice.received"),
            ("inv_1", "invoice.status_changed"),
            (None, "directory.changed"),
        ):
            store.add_event(conn, member, type_, {}, invoice_id=invoice)
    taken = store.claim_deliveries("w1", T0, LEASE, 10)
    # whk_1: inv_1's first event, inv_2's, the directory event; whk_2: inv_1's change.
    assert sorted((d["webhook_id"], d["type"], d["invoice_id"]) for d in taken) == [
        ("whk_1", "directory.changed", None),
        ("whk_1", "invoice.received", "inv_1"),
        ("whk_1", "invoice.received", "inv_2"),
        ("whk_2", "invoice.status_changed", "inv_1"),
    ]
    assert store.claim_deliveries("w2", T0, LEASE, 10) == []  # leased, or waiting
    first = next(d for d in taken if d["webhook_id"] == "whk_1" and d["invoice_id"] == "inv_1")
    assert not store.finish_delivery(first["id"], "w2", state=DELIVERY_DELIVERED)
    assert store.finish_delivery(first["id"], "w1", state=DELIVERY_PARKED)
    following = store.claim_deliveries("w2", T0, LEASE, 10)
    assert [(d["webhook_id"], d["type"]) for d in following] == [
        ("whk_1", "invoice.status_changed")
    ]

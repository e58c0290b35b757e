"""The worker forgets Idempotency-Key answers past ``[server]
idempotency_retention_seconds``: a job of its schedule, run every few minutes, on the
gateway's clock."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from gateway.idempotency import PURGE_EVERY
from gateway.pipeline import request_hash
from tests.conftest import Clock, Gateway, example, make_config

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class OneCycle(threading.Event):
    """A stop signal that the idle worker's wait sets: ``run_forever`` goes round once."""

    def wait(self, timeout=None):
        self.set()
        return True


def build(tmp_path, database_url, **overrides) -> Gateway:
    clock = Clock(T0)
    gateway = Gateway(make_config(tmp_path, database_url, **overrides), clock=clock)
    gateway.clock = clock
    return gateway


@pytest.fixture
def daily(tmp_path, database_url):
    gateway = build(tmp_path, database_url)  # the shipped retention: a day
    yield gateway
    gateway.store.dispose()


@pytest.fixture
def minute(tmp_path, database_url):
    gateway = build(tmp_path, database_url, idempotency_retention_seconds=60)
    yield gateway
    gateway.store.dispose()


def numbered(number: str) -> bytes:
    return json.dumps({**example("invoice-seine-maritime"), "number": number}).encode()


def test_an_answer_is_kept_a_day_then_purged_by_the_worker(daily):
    assert daily.config.idempotency_retention_seconds == 86400
    member = daily.new_member()
    first = daily.post_invoice(member, numbered("FA-2026-0001"), key="commande-1")
    assert first.status_code == 202, first.json
    daily.clock.advance(hours=23)
    second = daily.post_invoice(member, numbered("FA-2026-0002"), key="commande-2")
    assert second.status_code == 202, second.json
    daily.clock.advance(hours=1, seconds=1)

    daily.worker(clock=daily.clock).run_forever(OneCycle())

    assert daily.store.get_idempotent(member["id"], "commande-1") is None
    again = daily.post_invoice(member, numbered("FA-2026-0002"), key="commande-2")
    assert (again.status_code, again.json) == (202, second.json)  # within its day
    # Forgotten, the key no longer answers; the invoice number still refuses a second send.
    late = daily.post_invoice(member, numbered("FA-2026-0001"), key="commande-1")
    assert [error["code"] for error in late.json["errors"]] == ["invoice.duplicate"]


def test_the_worker_purges_at_most_every_few_minutes(minute):
    member = minute.new_member()
    worker = minute.worker(clock=minute.clock)
    assert minute.post_invoice(member, numbered("FA-1"), key="k1").status_code == 202
    minute.clock.advance(seconds=61)
    worker.run_forever(OneCycle())
    assert minute.store.get_idempotent(member["id"], "k1") is None
    purged_at = minute.clock()

    assert minute.post_invoice(member, numbered("FA-2"), key="k2").status_code == 202
    minute.clock.advance(seconds=61)
    worker.run_forever(OneCycle())
    assert minute.store.get_idempotent(member["id"], "k2") is not None  # purged too lately

    minute.clock.now = purged_at + PURGE_EVERY
    worker.run_forever(OneCycle())
    assert minute.store.get_idempotent(member["id"], "k2") is None


def test_a_claim_whose_request_still_runs_outlives_the_retention(minute):
    member = minute.new_member()
    body = numbered("FA-1")
    digest = request_hash(body, "application/json", None)
    lease = T0 + timedelta(minutes=10)
    assert minute.store.claim_idempotent(member["id"], "k", digest, "slow", T0, lease) is None
    minute.clock.advance(minutes=9)
    minute.worker(clock=minute.clock).run_forever(OneCycle())
    assert minute.store.get_idempotent(member["id"], "k")["state"] == "in_progress"
    waiting = minute.post_invoice(member, body, key="k")
    assert [error["code"] for error in waiting.json["errors"]] == ["idempotency.in_progress"]

    # Its lease over, it goes at the purge's next run.
    minute.clock.advance(minutes=1, seconds=1)
    minute.clock.now = max(minute.clock(), T0 + timedelta(minutes=9) + PURGE_EVERY)
    minute.worker(clock=minute.clock).run_forever(OneCycle())
    assert minute.store.get_idempotent(member["id"], "k") is None

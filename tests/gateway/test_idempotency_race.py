"""Idempotency keys under concurrency: the key is claimed before processing, so requests
racing with one key make one invoice; the others get its answer or wait for it."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from gateway.pipeline import CLAIM_SECONDS, request_hash
from tests.conftest import Gateway, example, make_config

#: Concurrent callers; enough to collide on one key on two cores.
CALLERS = 8
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def door(tmp_path, database_url):
    instance = Gateway(make_config(tmp_path, database_url))
    yield instance
    instance.store.dispose()


def invoices_of(gateway: Gateway, member: dict) -> list[dict]:
    result = gateway.client.simulate_get("/v1/invoices", headers=member["headers"])
    assert result.status_code == 200
    return result.json["items"]


def test_concurrent_requests_with_one_key_make_one_invoice(door):
    member = door.new_member()
    body = json.dumps(example("invoice-seine-maritime")).encode()
    barrier = threading.Barrier(CALLERS)

    def post(_):
        barrier.wait()
        return door.post_invoice(member, body, key="commande-42")

    with ThreadPoolExecutor(CALLERS) as pool:
        results = list(pool.map(post, range(CALLERS)))

    accepted = [r.json for r in results if r.status_code == 202]
    waiting = [r for r in results if r.status_code != 202]
    assert accepted and all(answer == accepted[0] for answer in accepted)
    for result in waiting:
        assert result.status_code == 409, result.json
        assert [e["code"] for e in result.json["errors"]] == ["idempotency.in_progress"]
        assert result.headers["Retry-After"] == "1"
    assert [item["id"] for item in invoices_of(door, member)] == [accepted[0]["id"]]
    again = door.post_invoice(member, body, key="commande-42")
    assert (again.status_code, again.json) == (202, accepted[0])


@pytest.fixture
def clocked(tmp_path, sqlite_url):
    now = [T0]
    instance = Gateway(make_config(tmp_path, sqlite_url), clock=lambda: now[0])
    instance.now = now
    yield instance
    instance.store.dispose()


def test_a_claim_in_progress_answers_409_then_lapses_when_its_request_died(clocked):
    member = clocked.new_member()
    body = json.dumps(example("invoice-seine-maritime")).encode()
    digest = request_hash(body, "application/json", None)
    until = T0 + timedelta(seconds=CLAIM_SECONDS)
    # A request that claimed the key and died before answering.
    assert clocked.store.claim_idempotent(member["id"], "k", digest, "dead", T0, until) is None

    waiting = clocked.post_invoice(member, body, key="k")
    assert waiting.status_code == 409
    assert waiting.json["errors"][0]["code"] == "idempotency.in_progress"
    assert waiting.json["errors"][0]["field"] == "Idempotency-Key"
    assert waiting.headers["Retry-After"] == "1"
    other = clocked.post_invoice(member, example("invoice-aube"), key="k")
    assert other.json["errors"][0]["code"] == "idempotency.conflict"

    clocked.now[0] = until + timedelta(seconds=1)
    taken = clocked.post_invoice(member, body, key="k")
    assert taken.status_code == 202, taken.json
    assert clocked.store.get_idempotent(member["id"], "k")["state"] == "done"
    assert len(invoices_of(clocked, member)) == 1


def test_a_refusal_frees_its_key_for_the_corrected_document(gateway, member):
    document = example("invoice-seine-maritime")
    refused = gateway.post_invoice(member, {**document, "number": ""}, key="k")
    assert refused.status_code == 422
    assert gateway.store.get_idempotent(member["id"], "k") is None
    accepted = gateway.post_invoice(member, document, key="k")
    assert accepted.status_code == 202, accepted.json

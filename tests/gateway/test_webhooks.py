"""Webhooks against a real receiver on loopback: every event once, in order per invoice,
signed, after the receiver was down a while; parked deliveries shown and redelivered;
URLs checked at registration; one member's webhooks out of another's reach."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.store import DELIVERY_PENDING
from tests.conftest import ROOT, Clock, Gateway, example, free_port, make_config, sold_by

OTHER_SIRET = "79345612000013"


class Receiver:
    """A webhook endpoint on 127.0.0.1: refuses connections until started."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[tuple[dict, bytes]] = []
        self.server = None

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver():
    instance = Receiver()
    yield instance
    instance.stop()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def gateway(tmp_path, database_url, clock):
    instance = Gateway(make_config(tmp_path, database_url), clock=clock)
    yield instance
    instance.store.dispose()


def documented_verify():
    """Return the ``verify`` function docs/webhooks.md gives receivers, run as written."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    code = text.split("### Verifying a delivery", 1)[1].split("```python\n", 1)[1]
    namespace: dict = {}
    exec(code.split("```", 1)[0], namespace)
    return namespace["verify"]


def verify(secret: str, headers: dict, body: bytes) -> bool:
    # The test's clock is not the receiver's: no freshness check here.
    return documented_verify()(secret, headers["X-Gateway-Signature"], body, tolerance=10**10)


def register(gateway, member, url, **body):
    result = gateway.client.simulate_post(
        "/v1/webhooks", headers=member["headers"], json={"url": url, **body}
    )
    assert result.status_code == 201, result.json
    return result.json


def feed(gateway, member) -> list[dict]:
    return gateway.client.simulate_get("/v1/events", headers=member["headers"]).json["events"]


def submit(gateway, member, *numbers):
    for number in numbers:
        doc = {**example("invoice-seine-maritime"), "number": number}
        assert gateway.post_invoice(member, doc).status_code == 202


def test_every_event_once_in_order_signed_after_the_receiver_was_down(gateway, clock, receiver):
    member = gateway.new_member()
    hook = register(gateway, member, receiver.url, events="*")
    assert hook["secret"].startswith("whsec_")
    worker = gateway.worker(clock=clock)
    submit(gateway, member, "FA-1", "FA-2", "FA-3")
    worker.run_once()
    for _ in range(4):  # two hours of refused connections
        worker.scheduler.run_due()
        clock.advance(minutes=30)
    tried = gateway.client.simulate_get(
        f"/v1/webhooks/{hook['id']}/deliveries", headers=member["headers"]
    ).json["deliveries"]
    assert {d["state"] for d in tried} == {"pending"}
    # Only each invoice's first event was tried: the later ones wait behind it.
    assert sorted(d["event_type"] for d in tried if d["attempts"]) == ["invoice.received"] * 3
    assert all("ne répond pas" in d["last_error"] for d in tried if d["attempts"])

    receiver.start()
    clock.advance(hours=2)
    worker.scheduler.run_due()

    events = feed(gateway, member)
    assert len(events) == 6  # received, then deposited, for each invoice
    got = [(headers, body) for headers, body in receiver.received]
    ids = [headers["X-Gateway-Event-Id"] for headers, _ in got]
    assert sorted(ids, key=int) == [event["id"] for event in events]  # each once
    assert all(verify(hook["secret"], headers, body) for headers, body in got)
    assert not verify("whsec_another", *got[0])
    assert not verify(hook["secret"], got[0][0], got[0][1] + b" ")
    bodies = [json.loads(body) for _, body in got]
    assert sorted(bodies, key=lambda e: int(e["id"])) == events  # as the feed shows them
    for invoice_id in {event["invoice_id"] for event in events}:
        mine = [int(b["id"]) for b in bodies if b["invoice_id"] == invoice_id]
        assert mine == sorted(mine) and len(mine) == 2
    assert not receiver.received[0][0]["X-Gateway-Signature"].count(hook["secret"])

    worker.scheduler.run_due()
    assert len(receiver.received) == 6  # nothing delivered twice
    states = gateway.client.simulate_get(
        f"/v1/webhooks/{hook['id']}/deliveries", headers=member["headers"]
    ).json["deliveries"]
    assert {d["state"] for d in states} == {"delivered"}


def test_deliveries_failing_for_a_day_are_parked_shown_and_redelivered(gateway, clock, receiver):
    member = gateway.new_member()
    hook = register(gateway, member, receiver.url, events=["invoice.received"])
    worker = gateway.worker(clock=clock)
    submit(gateway, member, "FA-1")
    worker.run_once()  # its deposit is not among the events this webhook takes
    for _ in range(30):
        worker.scheduler.run_due()
        clock.advance(hours=1)
    path = f"/v1/webhooks/{hook['id']}/deliveries"
    parked = gateway.client.simulate_get(
        path, headers=member["headers"], params={"state": "parked"}
    ).json["deliveries"]
    assert [(d["event_type"], d["state"]) for d in parked] == [("invoice.received", "parked")]
    assert parked[0]["attempts"] > 3 and parked[0]["last_error"]

    receiver.start()
    worker.scheduler.run_due()
    assert receiver.received == []  # parked stays parked until asked
    answer = gateway.client.simulate_post(
        f"/v1/webhooks/{hook['id']}/redeliver", headers=member["headers"]
    )
    assert answer.json == {"redelivered": 1}
    worker.scheduler.run_due()
    assert [json.loads(body)["type"] for _, body in receiver.received] == ["invoice.received"]
    assert (
        gateway.client.simulate_get(
            path, headers=member["headers"], params={"state": "parked"}
        ).json["deliveries"]
        == []
    )


@pytest.mark.parametrize("url", ["http://localhost:9/hook", "http://127.0.0.2:9/hook"])
def test_a_loopback_host_the_admin_did_not_allow_is_refused(gateway, url):
    member = gateway.new_member()
    result = gateway.client.simulate_post(
        "/v1/webhooks", headers=member["headers"], json={"url": url}
    )
    assert result.status_code == 422
    assert [(e["code"], e["field"]) for e in result.json["errors"]] == [
        ("setting.host_not_allowed", "url")
    ]
    assert gateway.client.simulate_get("/v1/webhooks", headers=member["headers"]).json == {
        "webhooks": []
    }


def test_member_b_cannot_see_nor_delete_member_a_webhooks(gateway, receiver):
    a = gateway.new_member()
    b = gateway.new_member("Librairie du Marché", OTHER_SIRET)
    hook = register(gateway, a, receiver.url, secret="un-secret-choisi-par-le-libraire")
    assert hook["secret"] == "un-secret-choisi-par-le-libraire"
    client = gateway.client
    assert client.simulate_get("/v1/webhooks", headers=b["headers"]).json == {"webhooks": []}
    for method, path in (
        ("GET", f"/v1/webhooks/{hook['id']}"),
        ("DELETE", f"/v1/webhooks/{hook['id']}"),
        ("GET", f"/v1/webhooks/{hook['id']}/deliveries"),
        ("POST", f"/v1/webhooks/{hook['id']}/redeliver"),
    ):
        answer = client.simulate_request(method, path, headers=b["headers"])
        assert answer.status_code == 404, (method, path)
        assert hook["id"] not in answer.text
    # B's events reach no webhook of A's.
    doc = sold_by({**example("invoice-seine-maritime"), "number": "B-1"}, OTHER_SIRET)
    assert gateway.post_invoice(b, doc).status_code == 202
    shown = client.simulate_get("/v1/webhooks", headers=a["headers"]).json["webhooks"]
    assert [w["id"] for w in shown] == [hook["id"]] and "secret" not in shown[0]
    assert (
        client.simulate_get(f"/v1/webhooks/{hook['id']}/deliveries", headers=a["headers"]).json[
            "deliveries"
        ]
        == []
    )
    path = f"/v1/webhooks/{hook['id']}"
    assert client.simulate_delete(path, headers=a["headers"]).status_code == 204
    assert client.simulate_get(path, headers=a["headers"]).status_code == 404


def test_two_workers_deliver_every_event_once_in_order_per_invoice(gateway, clock, receiver):
    member = gateway.new_member()
    hook = register(gateway, member, receiver.url)
    receiver.start()
    numbers = [f"FA-{n}" for n in range(8)]
    submit(gateway, member, *numbers)
    gateway.worker(clock=clock).run_once()  # received, then deposited: 16 events
    workers = [gateway.worker(clock=clock, owner=f"w{n}") for n in range(2)]

    def pending() -> int:
        return len(gateway.store.list_deliveries(hook["id"], state=DELIVERY_PENDING))

    def work(worker):
        for _ in range(100):  # bounded: a delivery stuck in the future fails, not hangs
            if not pending():
                return
            worker.scheduler.run_due()

    threads = [threading.Thread(target=work, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pending() == 0
    bodies = [json.loads(body) for _, body in receiver.received]
    assert sorted(int(b["id"]) for b in bodies) == list(range(1, 17))
    for invoice_id in {b["invoice_id"] for b in bodies}:
        mine = [b["type"] for b in bodies if b["invoice_id"] == invoice_id]
        assert mine == ["invoice.received", "invoice.status_changed"]


def test_a_delivery_left_by_a_dead_worker_goes_once_its_lease_expired(gateway, clock, receiver):
    member = gateway.new_member()
    hook = register(gateway, member, receiver.url)
    receiver.start()
    submit(gateway, member, "FA-1")
    (left,) = gateway.store.claim_deliveries("dead", clock.now, timedelta(minutes=1), 10)
    worker = gateway.worker(clock=clock)
    worker.scheduler.run_due()
    assert receiver.received == []  # still leased by the dead worker
    clock.advance(minutes=2)
    worker.scheduler.run_due()
    assert [headers["X-Gateway-Event-Id"] for headers, _ in receiver.received] == ["1"]
    assert not gateway.store.finish_delivery(left["id"], "dead", state="parked")

    path = f"/v1/webhooks/{hook['id']}/deliveries"
    assert len(gateway.client.simulate_get(path, headers=member["headers"]).json["deliveries"]) == 1
    clock.advance(days=31)
    worker.scheduler.run_due()  # delivered a month ago: purged
    assert gateway.client.simulate_get(path, headers=member["headers"]).json["deliveries"] == []

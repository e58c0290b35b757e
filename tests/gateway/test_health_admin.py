"""``GET /v1/health``: the same minimal answer without a key and with a member's; with the
admin's, each outlet's health and last success, the worker's heartbeat, the queue and the
copies; a silent outlet never makes the answer wait."""

from __future__ import annotations

import threading
import time

import pytest

from gateway.hookspecs import hookimpl
from gateway.outlets import Outlet
from tests.conftest import ADMIN_KEY, Clock, Gateway, example, make_config

PUBLIC_FIELDS = {"status", "version", "database", "plugins"}


class SilentOutlet(Outlet):
    """An outlet whose platform takes its time to answer a health check."""

    name = "silent"
    released = threading.Event()

    def health(self, settings=None):
        self.released.wait(30)
        return {"ok": True, "token": "ok"}


class SilentOutletPlugin:
    @hookimpl
    def gateway_register_outlets(self):
        return [SilentOutlet]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def gateway(tmp_path, sqlite_url, clock):
    instance = Gateway(make_config(tmp_path, sqlite_url), clock=clock)
    yield instance
    instance.store.dispose()


def health(gateway, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = gateway.client.simulate_get("/v1/health", headers=headers)
    assert answer.status_code == 200, answer.json
    return answer.json


def test_without_the_admins_key_the_answer_stays_minimal(gateway):
    member = gateway.new_member()
    assert gateway.post_invoice(member, example("invoice-seine-maritime")).status_code == 202
    anonymous = health(gateway)
    assert set(anonymous) == PUBLIC_FIELDS
    assert anonymous["status"] == "ok" and anonymous["database"] == "ok"
    assert health(gateway, member["api_key"]) == anonymous
    assert health(gateway, "fgw_not-a-key") == anonymous


def test_the_admin_sees_outlets_worker_queue_and_copies(gateway, clock):
    member = gateway.new_member()
    before = health(gateway, ADMIN_KEY)
    assert set(before) == PUBLIC_FIELDS | {"outlets", "credentials", "worker", "queue", "copies"}
    memory = before["outlets"]["memory"]
    assert memory["ok"] is True and memory["checked_at"] == clock.now.isoformat()
    assert memory["last_success"] is None and memory["queue"] == 0
    assert before["worker"] == {"alive": False, "last_heartbeat": None, "alive_count": 0}
    assert before["queue"] == {"due": 0, "waiting": 0, "oldest_due_at": None}
    assert before["copies"] == {"pending": 0, "parked": 0}

    for number in ("FA-1", "FA-2"):
        doc = {**example("invoice-seine-maritime"), "number": number}
        assert gateway.post_invoice(member, doc).status_code == 202
    clock.advance(seconds=1)
    queued = health(gateway, ADMIN_KEY)
    assert queued["queue"] == {"due": 2, "waiting": 0, "oldest_due_at": "2026-12-01T09:00:00+00:00"}
    assert queued["outlets"]["memory"]["queue"] == 2

    worker = gateway.worker(clock=clock)
    assert worker.run_once() == 2
    after = health(gateway, ADMIN_KEY)
    assert after["queue"]["due"] == 0
    assert after["outlets"]["memory"]["queue"] == 0
    assert after["outlets"]["memory"]["last_success"] == clock.now.isoformat()
    beat = after["worker"]
    assert beat["alive"] is True and beat["owner"] == worker.owner
    assert beat["last_heartbeat"] == clock.now.isoformat() and beat["pid"] > 0

    clock.advance(minutes=5)  # the worker fell silent
    assert health(gateway, ADMIN_KEY)["worker"]["alive"] is False


def test_the_admin_hears_of_credentials_about_to_expire(gateway):
    member = gateway.new_member()
    settings = {"chorus": {"password_expires": "2026-12-20"}}
    patched = gateway.client.simulate_patch(
        f"/v1/members/{member['id']}", headers=member["headers"], json={"settings": settings}
    )
    assert patched.status_code == 200, patched.json
    assert health(gateway, ADMIN_KEY)["credentials"] == [
        {
            "member_id": member["id"],
            "member": "Librairie des Quais",
            "outlet": "chorus",
            "setting": "password_expires",
            "expires": "2026-12-20",
            "days": 19,
        }
    ]


def test_a_silent_outlet_does_not_hold_the_answer(tmp_path, sqlite_url, clock):
    gateway = Gateway(
        make_config(tmp_path, sqlite_url), extra_plugins=[SilentOutletPlugin()], clock=clock
    )
    try:
        started = time.monotonic()
        report = health(gateway, ADMIN_KEY)
        assert time.monotonic() - started < 5
        silent = report["outlets"]["silent"]
        assert silent["ok"] is False and silent["checked_at"] is None
        assert "n'a pas répondu" in silent["details"]["error"]
        assert report["outlets"]["memory"]["ok"] is True
        assert set(health(gateway)) == PUBLIC_FIELDS  # the public answer asks no outlet

        SilentOutlet.released.set()  # the platform answers at last: kept for the next report
        deadline = time.monotonic() + 10
        while not health(gateway, ADMIN_KEY)["outlets"]["silent"]["ok"]:
            assert time.monotonic() < deadline, "the outlet's late answer was not kept"
        assert health(gateway, ADMIN_KEY)["outlets"]["silent"]["details"] == {"token": "ok"}
    finally:
        SilentOutlet.released.set()
        gateway.store.dispose()

"""Two worker processes on PostgreSQL, one killed with SIGKILL mid-run: 200 invoices, each
deposited on the Chorus Pro sandbox exactly once, every event delivered to the member's
webhook receiver.

The API runs in the test (the real app on the real store); the workers are real
``facture-gateway worker`` processes reading the same configuration file; the sandbox and
the webhook receiver listen on loopback. Every wait polls a condition until a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from gateway.config import load_config
from tests.conftest import ADMIN_KEY, Gateway, example
from tests.gateway.test_webhooks import Receiver
from tests.integration.test_server import wait_for

INVOICES = 200
DEPOSIT = "factures/v1/deposer/flux"
DEPOSIT_PATH = f"/cpro/{DEPOSIT}"
#: Short, so that the surviving worker takes the victim's invoices over within the test.
LEASE_SECONDS = 3
CONFIG = """\
[database]
url = "{database_url}"

[security]
secret_key = {{"$file" = "var/secret-key"}}
outbound_hosts = ["127.0.0.1"]
rate_limit_per_minute = 0

[logging]
format = "json"
level = "INFO"

[routing]
default_channel = "chorus"

[routing.channels]
chorus = "chorus"
dilifac = "memory"
manual_pdf = "memory"
paper = "memory"

[worker]
poll_interval = 0.05
batch_size = 10
lease_seconds = {lease}
max_attempts = 8
backoff_base = 0.2
backoff_max = 1.0
poll_fast = 3600
poll_slow = 3600

[webhooks]
timeout = 2
backoff_base = 0.2
backoff_max = 1.0

[plugins.memory]
journal = "var/memory-outlet.jsonl"

[plugins.chorus]
environment = "sandbox"
timeout = 5.0

[plugins.directory_chorus]
{directory}
"""


@pytest.fixture
def receiver():
    instance = Receiver()
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def home(tmp_path, postgres, sandbox):
    home = tmp_path / "home"
    (home / "var").mkdir(parents=True)
    directory = "\n".join(
        f"{key} = {json.dumps(value)}" for key, value in sandbox.settings().items()
    )
    (home / "gateway.toml").write_text(
        CONFIG.format(
            database_url=postgres.create_database(), lease=LEASE_SECONDS, directory=directory
        )
    )
    return home


def start_worker(home, name: str) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update(GATEWAY_HOME=str(home), PYTHONUNBUFFERED="1")
    with open(home / f"{name}.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(home / "gateway.toml"), "worker"],
            env=env,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_two_workers_one_killed_deposit_each_invoice_once_and_deliver_every_event(
    home, sandbox, receiver
):
    config = load_config(
        home / "gateway.toml", env={"GATEWAY_HOME": str(home)}, admin_api_key=ADMIN_KEY
    )
    config.ensure_secret_key()
    gateway = Gateway(config)
    member = gateway.new_member()
    patched = gateway.client.simulate_patch(
        f"/v1/members/{member['id']}",
        json={"settings": {"chorus": sandbox.settings()}},
        headers=gateway.admin(),
    )
    assert patched.status_code == 200, patched.json
    hook = gateway.client.simulate_post(
        "/v1/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=member["headers"]
    )
    assert hook.status_code == 201, hook.json

    numbers, ids = [f"KILL-{n:03}" for n in range(INVOICES)], []
    for number in numbers:
        accepted = gateway.post_invoice(
            member, {**example("invoice-seine-maritime"), "number": number}
        )
        assert accepted.status_code == 202, accepted.json
        ids.append(accepted.json["id"])

    # Slow deposits, so that the kill falls in the middle of the run (and maybe of a call).
    sandbox.faults(slow_rate=1.0, slow_seconds=0.5, paths=[DEPOSIT_PATH])
    workers = [start_worker(home, "worker-a"), start_worker(home, "worker-b")]
    processes = [*workers]
    try:
        wait_for(lambda: sandbox.calls(DEPOSIT) >= 3, 60, "the first flux deposited", 0.02)
        victim = workers[0]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        assert victim.returncode == -signal.SIGKILL
        sandbox.clear_faults()
        deposited_before = sum(sandbox.deposits(number) for number in numbers)
        assert deposited_before < INVOICES, "the run was over before the kill"

        def all_deposited():
            sandbox.process_flux()  # as the platform does in the background
            rows = [gateway.store.get_invoice(invoice_id) for invoice_id in ids]
            return all(row["status"] == "DEPOSEE" for row in rows)

        wait_for(all_deposited, 180, "every invoice to be DEPOSEE", 0.5)
        assert workers[1].poll() is None, "the surviving worker stopped"

        # On the platform: each number deposited once, none lost.
        assert {number: sandbox.deposits(number) for number in numbers} == dict.fromkeys(numbers, 1)
        for invoice_id in ids:
            history = gateway.get_invoice(member, invoice_id)["history"]
            assert [entry["status"] for entry in history].count("DEPOSEE") == 1

        # Every event of the member's feed reaches the receiver, in order per invoice.
        feed, cursor = [], "0"
        while True:
            page = gateway.client.simulate_get(
                "/v1/events", params={"after": cursor}, headers=member["headers"]
            ).json
            if not page["events"]:
                break
            feed += page["events"]
            cursor = page["next_cursor"]
        feed_ids = [event["id"] for event in feed]
        assert len(feed_ids) >= 2 * INVOICES  # received, then deposited

        def all_received():
            got = {headers["X-Gateway-Event-Id"] for headers, _ in receiver.received}
            return got >= set(feed_ids)

        wait_for(all_received, 120, "every event at the webhook receiver", 0.2)
        stop(workers[1])
        received = [
            (headers["X-Gateway-Event-Id"], json.loads(body)) for headers, body in receiver.received
        ]
        counts = Counter(event_id for event_id, _ in received)
        assert set(counts) == set(feed_ids)
        # At-least-once: only a delivery the victim had in flight may arrive twice.
        assert sum(counts.values()) - len(counts) <= 1
        by_id = {event["id"]: event for event in feed}
        assert all(event == by_id[event_id] for event_id, event in received)
        first_seen = defaultdict(list)
        seen = set()
        for event_id, event in received:
            if event_id not in seen:
                seen.add(event_id)
                first_seen[event["invoice_id"]].append(int(event_id))
        assert all(order == sorted(order) for order in first_seen.values())
    finally:
        for process in processes:
            stop(process)
        gateway.store.dispose()

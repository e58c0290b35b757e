"""Retries that never strand an invoice, and times that read right, against the Chorus Pro
sandbox over HTTP: a worker process killed with SIGKILL mid-deposit, a 503 then a minute's
outage, a platform that gives its times to the minute.

The gateway's time is a Clock the test moves (retries become due without sleeping); the
sandbox processes flux only when asked. Waits poll a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from plugins.chorus.outlet import UNCERTAIN_SINCE
from tests.conftest import ROOT, Clock
from tests.integration.test_chorus import Platform, invoice
from tests.integration.test_server import wait_for
from tests.plugins.chorus.sandbox import Sandbox

LEASE = 120


@pytest.fixture
def chorus(tmp_path, sqlite_url, sandbox):
    platform = Platform(
        tmp_path,
        sqlite_url,
        sandbox,
        chorus={"retry_delay": 0.01},
        lease_seconds=LEASE,
        backoff_base=5.0,  # a minute's outage is a handful of tries, not thousands
        backoff_max=3600.0,
    )
    yield platform
    sandbox.clear_faults()
    platform.close()


def statuses(view: dict) -> list[str]:
    return [entry["status"] for entry in view["history"]]


def retry_at(view: dict) -> datetime:
    return datetime.fromisoformat(view["retry_at"])


def test_a_503_then_a_minute_of_outage_waits_without_using_attempts(chorus, sandbox):
    document = invoice()
    invoice_id = chorus.submit(document)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    worker = chorus.gateway.worker(clock=clock)
    sandbox.faults(fail_next=1, error_statuses=[503], paths=["/cpro/factures/v1/deposer/flux"])

    assert worker.run_once() == 1
    view = chorus.view(invoice_id)
    assert (view["status"], view["attempts"]) == ("EN_ATTENTE_PLATEFORME", 0)
    assert "HTTP 503" in view["history"][-1]["comment"]

    # The whole platform is down (its token endpoint too) for a minute.
    sandbox.faults(error_rate=1.0, error_statuses=[503])
    sandbox.control.post("/tokens/expire")
    outage = clock.now
    while clock.now - outage < timedelta(seconds=60):
        clock.now = retry_at(view)
        assert worker.run_once() == 1
        view = chorus.view(invoice_id)
        assert (view["status"], view["attempts"]) == ("EN_ATTENTE_PLATEFORME", 0)
        assert "Nouvel essai prévu " in view["history"][-1]["comment"]
    tries = len(view["history"]) - 1
    assert 3 <= tries <= 10, tries  # backoff: a few tries in a minute, each one logged
    sandbox.clear_faults()

    clock.now = retry_at(view)
    assert worker.run_once() == 1
    view = chorus.view(invoice_id)
    assert (view["status"], view["attempts"], view["retry_at"]) == ("DEPOSEE", 1, None)
    assert "EN_ERREUR" not in statuses(view)
    assert set(statuses(view)[1:-1]) == {"EN_ATTENTE_PLATEFORME"}
    assert sandbox.deposits(document["number"]) == 1


def worker_config(chorus: Platform, sandbox: Sandbox, path) -> None:
    """A configuration file for a worker process sharing the in-test gateway's database."""
    config = chorus.gateway.config
    lines = [
        f"[database]\nurl = {json.dumps(config.database_url)}",
        '[security]\nsecret_key = {"$file" = "var/secret-key"}\noutbound_hosts = ["127.0.0.1"]',
        '[routing.channels]\nchorus = "chorus"',
        f"[worker]\npoll_interval = 0.05\nlease_seconds = {LEASE}",
        # The deposit's answer is held longer than the test runs: the worker dies waiting.
        '[plugins.chorus]\nenvironment = "sandbox"\ntimeout = 120',
        "[plugins.directory_chorus]\n"
        + "\n".join(f"{key} = {json.dumps(value)}" for key, value in sandbox.settings().items()),
    ]
    path.write_text("\n\n".join(lines) + "\n")


def test_a_worker_killed_mid_deposit_leaves_one_deposit_and_no_error(chorus, sandbox, tmp_path):
    document = invoice()
    invoice_id = chorus.submit(document)
    config = tmp_path / "worker.toml"
    worker_config(chorus, sandbox, config)
    sandbox.faults(
        timeout_rate=1.0,
        timeout_seconds=600,
        timeout_mode="after",
        paths=["/cpro/factures/v1/deposer/flux"],
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update(GATEWAY_HOME=str(chorus.gateway.config.base_dir), GATEWAY_CONFIG=str(config))
    with open(tmp_path / "worker.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: sandbox.deposits(document["number"]) == 1, 60, "the deposit")
    finally:
        process.kill()  # SIGKILL, while it waits for the platform's answer
        process.wait(timeout=30)
    sandbox.clear_faults()
    assert process.returncode == -signal.SIGKILL

    row = chorus.gateway.store.get_invoice(invoice_id)
    assert (row["status"], row["attempts"]) == ("RECU", 1)  # the call that could deposit
    assert row["lease_owner"] and UNCERTAIN_SINCE in row["outlet_state"]
    assert chorus.view(invoice_id)["status"] == "RECU"

    clock = Clock(row["lease_until"] + timedelta(seconds=1))  # the dead worker's lease is over
    worker = chorus.gateway.worker(clock=clock)
    assert worker.run_once() == 1
    view = chorus.view(invoice_id)
    # The platform has not processed the flux yet: the gateway waits, it does not deposit.
    assert (view["status"], view["attempts"]) == ("EN_ATTENTE_PLATEFORME", 1)
    assert "réponse certaine" in view["history"][-1]["comment"]
    assert sandbox.deposits(document["number"]) == 1

    sandbox.process_flux()
    clock.now = retry_at(view)
    assert worker.run_once() == 1
    view = chorus.view(invoice_id)
    assert view["status"] == "DEPOSEE" and "Déjà déposée" in view["history"][-1]["comment"]
    assert view["attempts"] <= chorus.gateway.config.worker.max_attempts
    assert statuses(view) == ["RECU", "EN_ATTENTE_PLATEFORME", "DEPOSEE"]
    assert sandbox.deposits(document["number"]) == 1


def test_platform_times_to_the_minute_keep_their_offset_and_the_recorded_order(chorus, sandbox):
    document = invoice()
    invoice_id = chorus.submit(document)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    worker = chorus.gateway.worker(clock=clock)
    assert worker.run_once() == 1
    deposited = chorus.view(invoice_id)["history"][-1]
    sandbox.process_flux()
    clock.advance(seconds=chorus.gateway.config.worker.poll_fast)
    assert worker.follow_once() == 1
    platform_id = chorus.receipt_data(invoice_id)["identifiantFactureCPP"]
    chorus.move(platform_id, "MISE_A_DISPOSITION")
    clock.advance(seconds=chorus.gateway.config.worker.poll_fast)
    assert worker.follow_once() == 1

    view = chorus.view(invoice_id)
    assert statuses(view) == ["RECU", "DEPOSEE", "MISE_A_DISPOSITION"]
    gateway_step, platform_step = view["history"][1], view["history"][2]
    assert gateway_step == deposited and gateway_step["platform_at"] is None
    # The platform says "AAAA-MM-JJ HH:MI", Paris time: kept with its offset.
    platform_at = datetime.fromisoformat(platform_step["platform_at"])
    assert platform_at.second == 0 and platform_at.utcoffset() in (
        timedelta(hours=1),
        timedelta(hours=2),
    )
    assert datetime.fromisoformat(platform_step["at"]) == platform_at
    assert datetime.fromisoformat(platform_step["at"]).utcoffset() == timedelta(0)
    assert datetime.fromisoformat(platform_step["at_paris"]) == platform_at
    assert platform_step["at_paris"] == platform_at.isoformat()
    # Coarser than the gateway's own deposit time, yet shown after it, as it happened.
    assert platform_at <= datetime.fromisoformat(gateway_step["at"])
    assert datetime.fromisoformat(view["updated_at"]) >= datetime.fromisoformat(gateway_step["at"])

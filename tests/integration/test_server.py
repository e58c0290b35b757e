"""The real thing over loopback: the CLI, gunicorn and worker processes, killed for real.

A temporary home holds the configuration, the SQLite database, the keys and the memory
outlet's journal; nothing here touches the repository's own ``var/``. Every wait polls a
condition until a deadline.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway.store import Store
from tests.conftest import DATA, free_port

SAMPLE = DATA / "json" / "invoice-seine-maritime.json"
README_TOTALS = {
    "lines": "87.56",
    "charges": "5.00",
    "tax_exclusive": "92.56",
    "vat": "5.09",
    "tax_inclusive": "97.65",
    "payable": "97.65",
}
#: Each deposit takes this long, so that a worker can be killed in the middle of a batch.
OUTLET_DELAY = 0.1
LEASE_SECONDS = 2

CONFIG = """\
[server]
max_body_bytes = 10485760

[security]
secret_key = {{"$file" = "var/secret-key"}}
outbound_hosts = ["127.0.0.1"]  # the sandbox `run` starts
rate_limit_per_minute = 0  # the tests poll faster than a bookshop

[logging]
format = "json"
level = "INFO"

[routing]
default_channel = "chorus"

[routing.channels]
chorus = "memory"
dilifac = "memory"
manual_pdf = "memory"
paper = "memory"

[worker]
poll_interval = 0.1
batch_size = 3
lease_seconds = {lease}
max_attempts = 8
backoff_base = 0.2
backoff_max = 1.0

[plugins.memory]
journal = "{journal}"
delay = {delay}
"""


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_healthy(
    base_url: str, process: subprocess.Popen, logs: Callable[[], str] = str, timeout: float = 90
) -> None:
    """Poll the health endpoint that ``process`` serves at ``base_url`` until it answers;
    fail at once, with ``logs()``, if the process exits."""

    def healthy():
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited ({process.returncode})\n{logs()}")
        try:
            return httpx.get(f"{base_url}/v1/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(healthy, timeout, "GET /v1/health")


class Stack:
    """The gateway's processes, run from the command line in a home of their own."""

    def __init__(self, home: Path, journal: str = "memory-outlet.jsonl"):
        self.home = home.resolve()  # as the gateway resolves GATEWAY_HOME
        self.var = self.home / "var"
        self.var.mkdir(parents=True)
        self.journal = self.var / journal
        self.config = self.home / "gateway.toml"
        self.config.write_text(
            CONFIG.format(journal=self.journal, delay=OUTLET_DELAY, lease=LEASE_SECONDS)
        )
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")
        }
        self.env.update(
            GATEWAY_HOME=str(self.home),
            GATEWAY_CONFIG=str(self.config),
            PORT=str(self.port),
            SANDBOX_PORT=str(free_port()),  # `run` starts the Chorus Pro sandbox too
            DILIFAC_SANDBOX_PORT=str(free_port()),  # and the Dilifac one
            PA_SANDBOX_PORT=str(free_port()),  # and the PA one
            GATEWAY_WEB_WORKERS="2",
            PYTHONUNBUFFERED="1",
        )
        self.processes: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.api: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        script = Path(sys.executable).with_name("facture-gateway")
        return [str(script)] if script.exists() else [sys.executable, "-m", "gateway"]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*self.command, *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def spawn(self, name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
        with open(self.home / f"{name}-{len(self.processes)}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway", *args],
                env=self.env if env is None else env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}"
            for path in sorted(self.home.glob("*.log"))
        )

    def wait_healthy(self, process: subprocess.Popen) -> None:
        wait_healthy(self.base_url, process, self.logs)

    def start_api(self) -> None:
        self.api = self.spawn("api", "serve")
        self.wait_healthy(self.api)

    def start_worker(self) -> subprocess.Popen:
        worker = self.spawn("worker", "worker")
        self.workers.append(worker)
        return worker

    def ensure_worker(self) -> None:
        if not any(worker.poll() is None for worker in self.workers):
            self.start_worker()

    @staticmethod
    def stop(process: subprocess.Popen, signum: int = signal.SIGTERM) -> None:
        """Signal the process group this test started, then reap it (SIGKILL if it lingers)."""
        if process.poll() is None:
            os.killpg(process.pid, signum)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)

    def stop_workers(self) -> None:
        for worker in self.workers:
            self.stop(worker)

    @staticmethod
    def stop_all(processes: list[subprocess.Popen]) -> None:
        """Stop each of ``processes`` still running (one already gone is left be)."""
        for process in processes:
            try:
                Stack.stop(process)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self.stop_all(self.processes)

    def key(self, name: str) -> str:
        return (self.var / f"{name}-api-key").read_text().strip()

    def deposits(self) -> list[dict]:
        """The journal's complete lines (a line being written is left for the next look)."""
        if not self.journal.exists():
            return []
        lines = self.journal.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("gateway-home"))
    try:
        stack.run("migrate")
        welcome = stack.run("demo").stdout
        assert "curl" in welcome and str(stack.var / "demo-api-key") in welcome
        assert re.search(r"identifiant : mem_[0-9a-f]{24}\n", welcome)  # for /v1/members/{id}
        stack.start_api()
        yield stack
    finally:
        stack.close()


@pytest.fixture
def worker(stack):
    stack.ensure_worker()


@pytest.fixture(scope="module")
def client(stack):
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def demo(stack) -> dict:
    return {"Authorization": f"Bearer {stack.key('demo')}"}


def post_sample(
    client, headers: dict, key: str | None = None, body: bytes | None = None
) -> httpx.Response:
    headers = {**headers, "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        "/v1/invoices", content=SAMPLE.read_bytes() if body is None else body, headers=headers
    )


def invoice_count(client, headers: dict) -> int:
    result = client.get("/v1/invoices", params={"limit": 200}, headers=headers)
    assert result.status_code == 200
    return len(result.json()["items"])


def wait_until_deposited(client, headers: dict, invoice_id: str) -> dict:
    def deposited():
        view = client.get(f"/v1/invoices/{invoice_id}", headers=headers).json()
        return view if view["status"] == "DEPOSEE" else None

    return wait_for(deposited, 15, f"invoice {invoice_id} to be DEPOSEE")


def submit_backlog(client, headers: dict, prefix: str, count: int) -> tuple[list[str], list[str]]:
    """Submit ``count`` copies of the sample numbered PREFIX-000…; return (numbers, ids)."""
    sample = json.loads(SAMPLE.read_text())
    numbers, ids = [f"{prefix}-{n:03}" for n in range(count)], []
    for number in numbers:
        result = post_sample(
            client, headers, body=json.dumps({**sample, "number": number}).encode()
        )
        assert result.status_code == 202, result.text
        ids.append(result.json()["id"])
    return numbers, ids


def deposited(stack: Stack, prefix: str) -> list[str]:
    return [d["number"] for d in stack.deposits() if d["number"].startswith(f"{prefix}-")]


def wait_until_all_deposited(client, headers: dict, ids: list[str]) -> None:
    def done():
        query = {"limit": 200, "status": "DEPOSEE"}
        items = client.get("/v1/invoices", params=query, headers=headers).json()["items"]
        return {item["id"] for item in items} >= set(ids)

    wait_for(done, 30, "every invoice to be DEPOSEE", interval=0.2)


def test_health_answers_without_a_key(client):
    result = client.get("/v1/health")
    assert result.status_code == 200
    body = result.json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    assert "memory" in body["plugins"]["outlets"]


def test_request_id_is_echoed_or_generated(client):
    assert (
        client.get("/v1/health", headers={"X-Request-Id": "essai-42"}).headers["X-Request-Id"]
        == "essai-42"
    )
    generated = client.get("/v1/health").headers["X-Request-Id"]
    assert re.fullmatch("[0-9a-f]{32}", generated)


def test_sample_is_accepted_then_deposited_once_even_when_replayed(stack, client, demo, worker):
    first = post_sample(client, demo, key="integration-1")
    assert first.status_code == 202, first.text
    accepted = first.json()
    assert {name: accepted["totals"][name] for name in README_TOTALS} == README_TOTALS
    assert accepted["status"] == "RECU"

    view = wait_until_deposited(client, demo, accepted["id"])
    assert [entry["status"] for entry in view["history"]] == ["RECU", "DEPOSEE"]

    replay = post_sample(client, demo, key="integration-1")
    assert replay.status_code == 202
    assert replay.json()["id"] == accepted["id"]
    other = SAMPLE.read_bytes().replace(b"FA-2026-0142", b"FA-2026-0143")
    conflict = post_sample(client, demo, key="integration-1", body=other)
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["code"] == "idempotency.conflict"
    assert [d["invoice_id"] for d in stack.deposits() if d["number"] == "FA-2026-0142"] == [
        accepted["id"]
    ]
    assert (
        client.get(f"/v1/invoices/{accepted['id']}", headers=demo).json()["history"]
        == view["history"]
    )


def test_other_members_and_anonymous_callers_see_nothing(stack, client, demo):
    body = SAMPLE.read_bytes().replace(b"FA-2026-0142", b"FA-2026-TENANCY")
    accepted = post_sample(client, demo, body=body)
    assert accepted.status_code == 202, accepted.text
    invoice_id = accepted.json()["id"]
    admin = {"Authorization": f"Bearer {stack.key('admin')}"}
    created = client.post(
        "/v1/members",
        json={"name": "Librairie du Marché", "siret": "79345612000013"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    other = {"Authorization": f"Bearer {created.json()['api_key']}"}
    assert client.get(f"/v1/invoices/{invoice_id}", headers=demo).status_code == 200
    refused = client.get(f"/v1/invoices/{invoice_id}", headers=other)
    assert refused.status_code == 404
    assert refused.json()["errors"][0]["code"] == "not_found"
    assert client.get(f"/v1/invoices/{invoice_id}").status_code == 401
    anonymous = post_sample(client, {})
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "auth.required"


def test_the_archive_export_streams_through_gunicorn_and_verifies_offline(stack, client, demo):
    body = SAMPLE.read_bytes().replace(b"FA-2026-0142", b"FA-2026-EXPORT")
    assert post_sample(client, demo, body=body).status_code == 202
    path = stack.home / "archive-2026.zip"
    with client.stream("GET", "/v1/archive/export", params={"year": 2026}, headers=demo) as got:
        assert got.status_code == 200, got.read()
        assert got.headers["content-type"] == "application/zip"
        assert "content-length" not in got.headers  # streamed as it is written
        with path.open("wb") as out:
            for chunk in got.iter_bytes():
                out.write(chunk)
    public_key = stack.run("archive", "public-key").stdout.strip()
    verified = stack.run("archive", "verify", "--export", str(path), "--public-key", public_key)
    assert verified.stdout.strip().startswith("Export intègre : "), verified.stdout
    assert "FA-2026-EXPORT" in zipfile.ZipFile(path).read("manifest.csv").decode()


def test_a_20_mb_body_is_refused_and_nothing_is_stored(client, demo):
    before = invoice_count(client, demo)
    sample = json.loads(SAMPLE.read_text())
    sample["number"] = "FA-2026-HUGE"
    sample["notes"] = ["x" * (20 * 1024 * 1024)]
    result = post_sample(client, demo, body=json.dumps(sample).encode())
    assert result.status_code == 413
    assert result.json()["errors"][0]["code"] == "request.too_large"
    assert invoice_count(client, demo) == before


def test_sigterm_stops_the_worker_without_draining_the_outbox(stack, client, demo):
    stack.stop_workers()  # the invoices below wait in the outbox until our worker starts
    numbers, ids = submit_backlog(client, demo, "TERM", 30)
    worker = stack.start_worker()
    wait_for(lambda: deposited(stack, "TERM"), 20, "the first deposit", interval=0.01)
    os.kill(worker.pid, signal.SIGTERM)
    worker.wait(timeout=30)
    assert worker.returncode == 0
    assert len(deposited(stack, "TERM")) < len(numbers)  # it stopped, the rest waits

    stack.start_worker()
    wait_until_all_deposited(client, demo, ids)
    assert sorted(deposited(stack, "TERM")) == numbers


def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(stack, client, demo):
    stack.stop_workers()  # the invoices below wait in the outbox until our worker starts
    numbers, ids = submit_backlog(client, demo, "KILL", 30)

    victim = stack.start_worker()
    wait_for(lambda: len(deposited(stack, "KILL")) >= 5, 20, "the first deposits", interval=0.01)
    stack.stop(victim, signal.SIGKILL)
    assert victim.returncode == -signal.SIGKILL
    assert len(deposited(stack, "KILL")) < len(numbers)
    store = Store(f"sqlite:///{stack.var / 'gateway.sqlite3'}")
    try:
        rows = [store.get_invoice(invoice_id) for invoice_id in ids]
    finally:
        store.dispose()
    orphans = [row for row in rows if row["lease_owner"] and row["status"] != "DEPOSEE"]
    assert orphans, "the worker died holding no lease: nothing was in flight"

    stack.start_worker()  # it takes the orphans over once their lease expired
    wait_until_all_deposited(client, demo, ids)
    journal = Counter(deposited(stack, "KILL"))
    assert sorted(journal) == numbers  # none lost
    assert set(journal.values()) == {1}  # none deposited twice
    for invoice_id in ids:
        history = client.get(f"/v1/invoices/{invoice_id}", headers=demo).json()["history"]
        assert [entry["status"] for entry in history].count("DEPOSEE") == 1


def test_run_serves_and_sends_with_the_given_configuration(tmp_path):
    """`facture-gateway --config FILE run`, what `make run` starts: both children use FILE."""
    stack = Stack(tmp_path / "home", journal="configured-journal.jsonl")
    env = {name: value for name, value in stack.env.items() if name != "GATEWAY_CONFIG"}
    try:
        run = stack.spawn("run", "--config", str(stack.config), "run", env=env)
        stack.wait_healthy(run)
        demo = {"Authorization": f"Bearer {stack.key('demo')}"}
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            accepted = post_sample(client, demo)
            assert accepted.status_code == 202, accepted.text
            wait_until_deposited(client, demo, accepted.json()["id"])
        assert [d["invoice_id"] for d in stack.deposits()] == [accepted.json()["id"]]

        os.kill(run.pid, signal.SIGTERM)  # to `run` alone: it stops its children itself
        run.wait(timeout=40)
        assert run.returncode == 0
        with pytest.raises(ProcessLookupError):
            os.killpg(run.pid, 0)  # neither gunicorn nor the worker outlived it
    finally:
        stack.close()

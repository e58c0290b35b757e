"""End-to-end throughput of the Chorus Pro outlet against the sandbox, one by one vs batched.

Starts the Chorus Pro sandbox (``contrib/chorus_sandbox``) on a free loopback port. For each
mode and run, builds the gateway from ``conf/gateway.toml`` (chorus channel → chorus outlet,
Factur-X, the directory on the sandbox's credentials), in this process: the Falcon app, a
fresh SQLite database, a member whose Chorus Pro settings are the sandbox's credentials,
and a worker thread. Then:

1. submits N invoices through ``POST /v1/invoices`` (the guide's two examples, Seine-Maritime
   and Aube, alternately): acceptance looks the buyer up, renders and validates the Factur-X;
2. starts the worker and times until every invoice is ``DEPOSEE`` (the worker checks each
   buyer afresh and deposits: one flux per invoice, or one per batch of a member's due
   invoices, a tar.gz);
3. lets the sandbox process the flux, then polls once (the platform id of each invoice),
   moves every invoice to ``MISE_A_DISPOSITION`` and polls again (a later poll).

It prints the throughputs (median of the runs) and what each invoice cost in API calls,
read from the sandbox's counters. The API and the worker share one process here; deployed,
they run apart.

    .venv/bin/python bench/chorus.py [--invoices 40] [--runs 3] [--batch-size 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from falcon import testing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the sandbox helper lives with the tests

from gateway.app import create_app  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.logs import configure_logging  # noqa: E402
from gateway.services import build_services  # noqa: E402
from gateway.store import Store, utcnow  # noqa: E402
from gateway.worker import Worker  # noqa: E402
from tests.plugins.chorus.sandbox import Sandbox  # noqa: E402

EXAMPLES = ROOT / "tests" / "data" / "json"
SELLER = {"name": "Librairie des Quais", "siret": "81234567600017"}
#: Sandbox operations by what they serve.
DEPOSIT = ("factures/v1/deposer/flux",)
POLL = (
    "transverses/v1/consulterCRDetaille",
    "factures/v1/rechercher/fournisseur",
    "factures/v1/consulter/historique",
)
DIRECTORY_PREFIX = "structures/"


def wait(condition: Callable[[], bool], what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


class Counters:
    """The sandbox's call counters, read as differences."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.last = self.read()

    def read(self) -> dict[str, int]:
        return self.sandbox.control.get("/counters").json()["calls"]

    def delta(self) -> dict[str, int]:
        now = self.read()
        spent = {op: count - self.last.get(op, 0) for op, count in now.items()}
        self.last = now
        return spent


def total(spent: dict[str, int], operations=(), prefix: str | None = None) -> int:
    return sum(
        count
        for op, count in spent.items()
        if op in operations or (prefix is not None and op.startswith(prefix))
    )


class Gateway:
    """The gateway on a fresh database, sending to the sandbox for one member."""

    def __init__(self, home: Path, sandbox: Sandbox, batch_size: int, name: str):
        config = load_config(ROOT / "conf" / "gateway.toml", env={"GATEWAY_HOME": str(home)})
        config.database_url = f"sqlite:///{home / f'{name}.sqlite3'}"
        config.worker.batch_size = batch_size
        config.worker.poll_interval = 0.01
        config.worker.poll_fast = 3600  # polls are measured apart, once the flux are processed
        config.ensure_secret_key()
        self.config = config
        store = Store(config.database_url)
        store.migrate()
        self.services = build_services(config, store=store)
        self.client = testing.TestClient(create_app(config, self.services))
        member, key = self.services.members.create(
            **SELLER, settings={"chorus": sandbox.settings()}
        )
        self.member_id = member["id"]
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def submit(self, document: dict) -> str:
        answer = self.client.simulate_post(
            "/v1/invoices", body=json.dumps(document), headers=self.headers
        )
        if answer.status_code != 202:
            raise SystemExit(f"refused: {answer.json}")
        return answer.json["id"]

    def count(self, status: str) -> int:
        params = {"status": status, "limit": 200}
        listed = self.client.simulate_get("/v1/invoices", params=params, headers=self.headers)
        return len(listed.json["items"])

    def worker(self, ahead: timedelta = timedelta(0)) -> Worker:
        """A worker; ``ahead`` moves its clock on, so that the next polls are due now."""
        services = self.services
        return Worker(
            store=services.store,
            registry=services.registry,
            config=self.config,
            secretbox=services.secretbox,
            clock=lambda: utcnow() + ahead,
        )

    def platform_ids_known(self, ids: list[str]) -> bool:
        store = self.services.store
        return all(
            (store.get_invoice(i)["receipt_data"] or {}).get("identifiantFactureCPP") for i in ids
        )


@contextmanager
def sandbox_at_home(prefix: str) -> Iterator[tuple[Path, Sandbox]]:
    """A throw-away GATEWAY_HOME and the sandbox, its credentials where conf/gateway.toml
    reads them (as `make run` does)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        home = Path(directory)
        (home / "var").mkdir()
        sandbox = Sandbox(home, "--credentials-out", str(home / "var" / "sandbox-credentials.json"))
        try:
            yield home, sandbox
        finally:
            sandbox.stop()


def documents(prefix: str, count: int) -> list[dict]:
    examples = [
        json.loads((EXAMPLES / f"invoice-{name}.json").read_text())
        for name in ("seine-maritime", "aube")
    ]
    batch = []
    for index in range(count):
        document = json.loads(json.dumps(examples[index % 2]))
        document["number"] = f"{prefix}-{index:04d}"
        batch.append(document)
    return batch


def run(sandbox: Sandbox, home: Path, mode: str, batch_size: int, count: int, index: int):
    name = f"B{mode[0].upper()}{index}"
    gateway = Gateway(home, sandbox, batch_size, name)
    counters = Counters(sandbox)
    batch = documents(name, count)

    started = time.perf_counter()
    ids = [gateway.submit(document) for document in batch]
    accepted = time.perf_counter()
    at_acceptance = counters.delta()

    stop = threading.Event()
    thread = threading.Thread(target=gateway.worker().run_forever, args=(stop,))
    sending = time.perf_counter()
    thread.start()
    wait(lambda: gateway.count("DEPOSEE") == count, "every invoice to be DEPOSEE")
    deposited = time.perf_counter()
    stop.set()
    thread.join()
    at_sending = counters.delta()

    sandbox.process_flux()  # the platform integrates the flux before anyone asks
    counters.delta()
    first = gateway.worker(timedelta(hours=2))
    while not gateway.platform_ids_known(ids):
        first.follow_once()
    at_first_poll = counters.delta()
    store = gateway.services.store
    for invoice_id in ids:
        platform_id = store.get_invoice(invoice_id)["receipt_data"]["identifiantFactureCPP"]
        sandbox.control.post(
            f"/invoices/{platform_id}/status", json={"status": "MISE_A_DISPOSITION"}
        ).raise_for_status()
    later = gateway.worker(timedelta(hours=4))
    while gateway.count("MISE_A_DISPOSITION") < count:
        later.follow_once()
    at_later_poll = counters.delta()
    gateway.services.store.dispose()

    return {
        "accept": count / (accepted - started),
        "send": count / (deposited - sending),
        "end_to_end": count / (deposited - started),
        "deposit": total(at_sending, DEPOSIT) / count,
        "directory": total(at_acceptance, prefix=DIRECTORY_PREFIX) / count
        + total(at_sending, prefix=DIRECTORY_PREFIX) / count,
        "first_poll": total(at_first_poll, POLL) / count,
        "later_poll": total(at_later_poll, POLL) / count,
        "token": sum(spent.get("token", 0) for spent in (at_acceptance, at_sending)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    with sandbox_at_home("bench-chorus-") as (home, sandbox):
        modes = (("single", 1), ("batch", args.batch_size))
        results = {
            mode: [
                run(sandbox, home, mode, size, args.invoices, index) for index in range(args.runs)
            ]
            for mode, size in modes
        }
    print(
        f"Chorus Pro outlet against the sandbox: {args.invoices} invoices (Seine-Maritime and "
        f"Aube alternately, Factur-X), median of {args.runs} runs"
    )
    print(
        f"{'mode':<7} {'batch':>5} {'accept/s':>9} {'send/s':>8} {'end-to-end/s':>13} | "
        f"{'calls per invoice:':<18} {'deposit':>7} {'directory':>9} {'1st poll':>8} "
        f"{'later poll':>10}"
    )
    for mode, size in modes:
        rows = results[mode]

        def median(key: str, rows=rows) -> float:
            return statistics.median(row[key] for row in rows)

        print(
            f"{mode:<7} {size:>5} {median('accept'):>9.1f} {median('send'):>8.1f} "
            f"{median('end_to_end'):>13.1f} | {'':<18} {median('deposit'):>7.2f} "
            f"{median('directory'):>9.2f} {median('first_poll'):>8.2f} "
            f"{median('later_poll'):>10.2f}"
        )
    tokens = sum(row["token"] for rows in results.values() for row in rows)
    print("accept: POST /v1/invoices until 202 (directory lookup, Factur-X rendering, EN 16931);")
    print("send: the worker, from RECU to DEPOSEE (directory checked afresh, then deposit);")
    print("end-to-end: from the first POST to the last DEPOSEE. directory: lookups at")
    print("acceptance (cached a day) and right before sending. 1st poll: flux report, search")
    print("of the flux (10 a page), history only if the buyer moved it already; later poll:")
    print(f"one history per invoice. Tokens: {tokens} for all runs (cached, one per hour).")


if __name__ == "__main__":
    main()

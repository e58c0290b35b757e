"""The end-to-end load: the real processes, HTTP clients submitting, until every invoice is
``DEPOSEE`` on the Chorus Pro sandbox; on SQLite as ``make run`` lays it out, and scaled out
on PostgreSQL.

Each layout starts, in a temporary GATEWAY_HOME with a configuration written here: the
Chorus Pro sandbox (the command ``facture-gateway run`` starts, flux left unprocessed: the
platform integrates them on its own machines), PostgreSQL when asked (a throw-away server,
as the tests start it), ``facture-gateway migrate``, then ``facture-gateway serve``
(gunicorn) and ``facture-gateway worker`` processes on free loopback ports. SQLite: one API
and one worker; PostgreSQL: two APIs (requests spread round-robin, as a load balancer
would) and two workers on one database.

Eight member bookshops are created through the admin API, each with its own PISTE
application and technical account on the sandbox, and its customer. Client threads (httpx)
then POST the twenty-line canonical JSON, a number of its own for each invoice and an
Idempotency-Key, each request timed. Then the bench polls ``GET /v1/invoices`` (the
outbox's statuses, one small page per member) until nothing is left to send, or a
deadline, and reads every member's ``DEPOSEE`` listing and the sandbox's deposit counters.
Meanwhile the resident memory and CPU time of every process are sampled from /proc.

    .venv/bin/python -m bench.load [--invoices 400] [--clients 16]
        [--database sqlite|postgresql|both] [--api-processes N] [--workers N]
        [--web-workers 2] [--deadline 300] [--keep]

It prints, per layout: submit rate, latency percentiles, errors by status, time from the
first submit to the last invoice ``DEPOSEE``, lost and twice-deposited invoices, deposits
per worker process, peak RSS and CPU seconds per role; the layouts side by side; and records
them in bench/results.json (section ``load``). ``--invoices 10000`` is the month-end run.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from stdnum import luhn

from bench.large_documents import canonical
from bench.results import record
from gateway import lifecycle
from gateway.testing.postgres import PostgresServer, free_port
from tests.conftest import sold_by
from tests.integration.test_server import Stack, wait_for, wait_healthy
from tests.plugins.chorus.sandbox import Sandbox

MEMBERS = 8
LINES = 20
DEPOSIT = "factures/v1/deposer/flux"
PENDING = ",".join(lifecycle.OUTBOX_STATUSES)
#: What the issue asks; printed beside the figures, never asserted.
TARGETS = {
    "submit_per_second": 60,
    "clients": 16,
    "p99_ms": 300,
    "month_end": "10 000 twenty-line invoices DEPOSEE in < 4 min, 0 lost, 0 deposited twice",
    "rss_mb_per_process": 200,
}
#: Seconds between two samples of /proc.
SAMPLE_EVERY = 0.5
TICKS = os.sysconf("SC_CLK_TCK")

CONFIG = """\
{database}
[security]
secret_key = {{"$file" = "var/secret-key"}}
outbound_hosts = ["127.0.0.1"]
# rate_limit_per_minute stays as shipped (600 a member): the load is spread over members.

[routing]
default_channel = "chorus"

[routing.channels]
chorus = "chorus"

# As shipped, but following sent invoices at the production pace (docs in conf/gateway.toml).
[worker]
poll_interval = 1.0
batch_size = 10
lease_seconds = 120
poll_fast = 300
poll_slow = 86400

[plugins.chorus]
environment = "sandbox"
syntax = "facturx"

# The association's directory account: the sandbox's demo credentials, from its file.
[plugins.directory_chorus]
{directory}
"""
DIRECTORY_KEYS = ("token_url", "api_url", "client_id", "client_secret", "login", "password")


@dataclass
class Layout:
    database: str
    api_processes: int
    workers: int
    web_workers: int


@dataclass
class Member:
    siret: str
    api_key: str
    numbers: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"}


def bookshop_siret(n: int) -> str:
    """A valid SIRET (Luhn on the SIREN and on the whole) for the bench's ``n``-th bookshop."""
    siren = f"9{n:07d}"
    siren += luhn.calc_check_digit(siren)
    establishment = siren + "0001"
    return establishment + luhn.calc_check_digit(establishment)


def vat_id(siret: str) -> str:
    siren = siret[:9]
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


# --- /proc -----------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    return children


def _process_figures(pid: int) -> tuple[int, int, float] | None:
    """(VmRSS, VmHWM) in kB and CPU seconds of ``pid``, None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    memory = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    cpu = (int(stat[11]) + int(stat[12])) / TICKS
    return int(memory.get("VmRSS", 0)), int(memory.get("VmHWM", 0)), cpu


class Sampler(threading.Thread):
    """Samples every process of the layout: each root (role of the root, role of its
    descendants) and whatever it has started since."""

    def __init__(self):
        super().__init__(name="rss-sampler", daemon=True)
        self.roots: list[tuple[int, str, str]] = []
        self.seen: dict[int, dict] = {}  # pid → role, peak kB, cpu s
        self.role_sums: Counter = Counter()  # role → peak of the role's summed RSS, kB
        self.stop = threading.Event()

    def watch(self, pid: int, role: str, children_role: str | None = None) -> None:
        self.roots.append((pid, role, children_role or role))

    def sample(self) -> None:
        children = _children_map()
        sums: Counter = Counter()
        for root, role, children_role in self.roots:
            todo = [(root, role)]
            while todo:
                pid, pid_role = todo.pop()
                todo += [(child, children_role) for child in children.get(pid, [])]
                figures = _process_figures(pid)
                if figures is None:
                    continue
                rss, hwm, cpu = figures
                # CPU counted from the first sample: start-up is not the load's.
                seen = self.seen.setdefault(pid, {"role": pid_role, "peak": 0, "cpu0": cpu})
                seen["peak"] = max(seen["peak"], hwm, rss)
                seen["cpu"] = cpu - seen["cpu0"]
                sums[pid_role] += rss
        for role, total in sums.items():
            self.role_sums[role] = max(self.role_sums[role], total)

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY):
            self.sample()

    def finish(self) -> dict:
        """Stop sampling (after one last sample); return per role: processes, peak RSS of
        one process and of all together (MB), CPU seconds since the first sample."""
        self.stop.set()
        self.join()
        self.sample()
        roles: dict[str, dict] = {}
        for seen in self.seen.values():
            role = roles.setdefault(seen["role"], {"processes": 0, "peak_mb": 0.0, "cpu_s": 0.0})
            role["processes"] += 1
            role["peak_mb"] = max(role["peak_mb"], round(seen["peak"] / 1024, 1))
            role["cpu_s"] = round(role["cpu_s"] + seen["cpu"], 1)
        for role, figures in roles.items():
            figures["sum_peak_mb"] = round(self.role_sums[role] / 1024, 1)
        return roles


# --- the processes -----------------------------------------------------------------------


class Processes:
    """One layout's processes, in a home of their own; ``close`` stops all of them."""

    def __init__(self, layout: Layout, home: Path, sampler: Sampler):
        self.layout = layout
        self.home = home
        self.var = home / "var"
        self.var.mkdir(parents=True)
        self.sampler = sampler
        self.admin_key = "fgw_" + secrets.token_urlsafe(24)
        self.env = {
            key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")
        }
        self.env.update(
            GATEWAY_HOME=str(home),
            GATEWAY_CONFIG=str(home / "gateway.toml"),
            GATEWAY_ADMIN_KEY=self.admin_key,
            GATEWAY_LOG_FORMAT="json",  # the workers' logs are read back (flux per worker)
            GATEWAY_WEB_WORKERS=str(layout.web_workers),
            PYTHONUNBUFFERED="1",
        )
        self.command = [str(Path(sys.executable).with_name("facture-gateway"))]
        self.children: list[subprocess.Popen] = []
        self.postgres: PostgresServer | None = None
        self.sandbox: Sandbox | None = None
        self.api_urls: list[str] = []
        self.workers: list[Path] = []  # their logs

    def start(self) -> None:
        credentials = self.var / "sandbox-credentials.json"
        self.sandbox = Sandbox(self.home, "--credentials-out", str(credentials))
        self.sampler.watch(self.sandbox.process.pid, "Chorus Pro sandbox")
        database = ""
        if self.layout.database == "postgresql":
            self.postgres = PostgresServer()
            self.postgres.start()
            postmaster = (self.postgres.directory / "data" / "postmaster.pid").read_text()
            self.sampler.watch(int(postmaster.split()[0]), "PostgreSQL")
            database = f'[database]\nurl = "{self.postgres.create_database()}"\n'
        directory = "\n".join(
            f'{key} = {{"$json" = ["{credentials}", "{key}"]}}' for key in DIRECTORY_KEYS
        )
        (self.home / "gateway.toml").write_text(
            CONFIG.format(database=database, directory=directory)
        )
        subprocess.run(
            [*self.command, "migrate"], env=self.env, cwd=self.home, check=True, capture_output=True
        )
        for n in range(self.layout.api_processes):
            port = free_port()
            api = self.spawn(f"api-{n}", "serve", PORT=str(port))
            self.sampler.watch(api.pid, "API gunicorn master", "API web worker")
            self.api_urls.append(f"http://127.0.0.1:{port}")
        for n in range(self.layout.workers):
            self.sampler.watch(self.spawn(f"worker-{n}", "worker").pid, "worker")
            self.workers.append(self.home / f"worker-{n}.log")
        for url, api in zip(self.api_urls, self.children, strict=False):
            wait_healthy(url, api, timeout=60)

    def spawn(self, name: str, *args: str, **env: str) -> subprocess.Popen:
        with open(self.home / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [*self.command, *args],
                env={**self.env, **env},
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopped with its children
            )
        self.children.append(process)
        return process

    def add_members(self) -> list[Member]:
        """Eight bookshops: each a structure on the sandbox with its own PISTE application
        and technical account, a member of the gateway with those credentials, and the
        Seine-Maritime as a Chorus Pro customer."""
        control, api = self.sandbox.control, httpx.Client(base_url=self.api_urls[0], timeout=30)
        admin = {"Authorization": f"Bearer {self.admin_key}"}
        members = []
        try:
            for n in range(MEMBERS):
                siret, name = bookshop_siret(n), f"Librairie de charge {n + 1}"
                control.post(
                    "/structures", json={"siret": siret, "name": name, "public": False}
                ).raise_for_status()
                account = control.post("/accounts", json={"siret": siret}).json()
                client = control.post(
                    "/clients", json={"apis": ["factures", "structures", "transverses"]}
                )
                created = api.post(
                    "/v1/members", json={"name": name, "siret": siret}, headers=admin
                )
                created.raise_for_status()
                settings = self.sandbox.settings(
                    **{key: value for key, value in client.json().items() if key != "apis"},
                    login=account["login"],
                    password=account["password"],
                )
                api.patch(
                    f"/v1/members/{created.json()['id']}",
                    json={"settings": {"chorus": {"environment": "sandbox", **settings}}},
                    headers=admin,
                ).raise_for_status()
                member = Member(siret, created.json()["api_key"])
                api.put(
                    "/v1/customers/22760540900019",
                    json={
                        "name": "DEPARTEMENT DE LA SEINE MARITIME",
                        "channel": "chorus",
                        "copies": [],
                    },
                    headers=member.headers,
                ).raise_for_status()
                members.append(member)
        finally:
            api.close()
        return members

    def close(self) -> None:
        Stack.stop_all(self.children)
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.postgres is not None:
            self.postgres.stop()


# --- the load -------------------------------------------------------------------------------


def invoice_body(member: Member, number: str) -> bytes:
    document = sold_by(canonical(LINES, number), member.siret)
    document["seller"]["vat_id"] = vat_id(member.siret)
    return json.dumps(document).encode()


def submit(urls: list[str], members: list[Member], invoices: int, clients: int, run: str):
    """POST ``invoices`` invoices from ``clients`` threads; return the timings
    (start, seconds, status) and each member's accepted invoice ids."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for n in range(invoices):
        member = members[n % len(members)]
        number = f"LOAD-{run}-{n:06d}"
        member.numbers.append(number)
        work.put((n, member, invoice_body(member, number)))
    timings: list[tuple[float, float, str]] = []
    refusals: dict[str, str] = {}  # status → the first answer's body, as an example
    accepted: dict[str, set[str]] = {member.siret: set() for member in members}
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            while True:
                try:
                    n, member, body = work.get_nowait()
                except queue.Empty:
                    return
                headers = {
                    **member.headers,
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"load-{run}-{n}",
                }
                started = time.perf_counter()
                try:
                    answer = http.post(
                        f"{urls[n % len(urls)]}/v1/invoices", content=body, headers=headers
                    )
                    status = str(answer.status_code)
                except httpx.HTTPError as ex:
                    answer, status = None, type(ex).__name__
                seconds = time.perf_counter() - started
                with lock:
                    timings.append((started, seconds, status))
                    if answer is not None and answer.status_code == 202:
                        accepted[member.siret].add(answer.json()["id"])
                    elif answer is not None:
                        refusals.setdefault(status, answer.text[:300])

    threads = [
        threading.Thread(target=client, name=f"client-{c}", daemon=True) for c in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, accepted, refusals


def pending(http: httpx.Client, url: str, members: list[Member]) -> bool:
    """Whether any member has an invoice still in the outbox (one small page each)."""
    for member in members:
        page = http.get(
            f"{url}/v1/invoices", params={"status": PENDING, "limit": 1}, headers=member.headers
        )
        page.raise_for_status()
        if page.json()["items"]:
            return True
    return False


def deposited(http: httpx.Client, url: str, member: Member) -> dict[str, str]:
    """The member's ``DEPOSEE`` invoices: id → when they became so (their last change)."""
    found, cursor = {}, None
    while True:
        params = {"status": "DEPOSEE", "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = http.get(f"{url}/v1/invoices", params=params, headers=member.headers).json()
        found.update((item["id"], item["updated_at"]) for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def deposits_per_worker(logs: list[Path]) -> list[int]:
    """Flux each worker process deposited, from its own log (``chorus.call`` lines)."""
    counts = []
    for log in logs:
        calls = [
            json.loads(line) for line in log.read_text().splitlines() if '"chorus.call"' in line
        ]
        counts.append(
            sum(1 for call in calls if call.get("operation") == DEPOSIT and call["result"] == "ok")
        )
    return counts


def run_layout(layout: Layout, invoices: int, clients: int, deadline: float, keep: bool) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"bench-load-{layout.database}-"))
    sampler = Sampler()
    processes = Processes(layout, home, sampler)
    try:
        processes.start()
        members = processes.add_members()
        sampler.sample()  # the CPU each process has spent so far, before the first submit
        sampler.start()
        run = secrets.token_hex(2)
        timings, accepted, refusals = submit(processes.api_urls, members, invoices, clients, run)
        submitted, began = time.perf_counter(), min(start for start, _, _ in timings)
        print(f"  submitted in {submitted - began:.0f} s, waiting for DEPOSEE…", flush=True)
        url = processes.api_urls[0]
        with httpx.Client(timeout=60) as http:
            try:
                wait_for(lambda: not pending(http, url, members), deadline, "the outbox", 0.5)
                drained = True
            except AssertionError:
                drained = False
            waited = time.perf_counter() - submitted
            done = {member.siret: deposited(http, url, member) for member in members}
        roles = sampler.finish()
        counters = processes.sandbox.control.get("/counters").json()["deposits"]
        per_worker = deposits_per_worker(processes.workers)
    finally:
        if sampler.is_alive():
            sampler.stop.set()
        processes.close()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    accepted_count = sum(len(ids) for ids in accepted.values())
    last = max(
        (datetime.fromisoformat(at) for found in done.values() for at in found.values()),
        default=None,
    )
    lost = sum(len(ids - set(done[siret])) for siret, ids in accepted.items())
    twice = sum(
        1
        for member in members
        for number in member.numbers
        if counters.get(member.siret, {}).get(number, 0) > 1
    )
    # The invoices' times are the wall clock's: the first submit's start, on that clock.
    first = datetime.fromtimestamp(time.time() - time.perf_counter() + began, UTC)
    seconds = [duration for _, duration, status in timings if status == "202"]
    span = max(start + duration for start, duration, _ in timings) - began
    figures = {
        "layout": {
            "database": layout.database,
            "api_processes": layout.api_processes,
            "web_workers_each": layout.web_workers,
            "workers": layout.workers,
        },
        "invoices": invoices,
        "clients": clients,
        "accepted": accepted_count,
        "submit_per_second": round(accepted_count / span, 1),
        "submit_seconds": round(span, 1),
        "latency_ms": {
            name: round(percentile(seconds, share) * 1000) if seconds else None
            for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
        },
        "statuses": dict(Counter(status for _, _, status in timings)),
        "refusals": refusals,
        "all_deposee_seconds": (
            round((last - first).total_seconds(), 1) if drained and last and not lost else None
        ),
        "waited_after_submit_seconds": round(waited, 1),
        "deposee": accepted_count - lost,
        "lost": lost,
        "deposited_twice": twice,
        "flux_per_worker": per_worker,
        "processes": roles,
    }
    if keep:
        figures["home"] = str(home)
    return figures


# --- output ---------------------------------------------------------------------------------


def rows(runs: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """The side-by-side table: label, then one cell per layout."""

    def each(get) -> list[str]:
        return [str(get(figures)) for figures in runs.values()]

    table = [
        (
            "layout",
            each(
                lambda f: (
                    "{api_processes} API × {web_workers_each} web + {workers} worker(s)".format(
                        **f["layout"]
                    )
                )
            ),
        ),
        ("invoices accepted / sent", each(lambda f: f"{f['accepted']} / {f['invoices']}")),
        ("submit rate /s", each(lambda f: f["submit_per_second"])),
        (
            "submit p50 / p95 / p99 ms",
            each(lambda f: " / ".join(str(v) for v in f["latency_ms"].values())),
        ),
        (
            "answers by status",
            each(lambda f: ", ".join(f"{k}: {v}" for k, v in sorted(f["statuses"].items()))),
        ),
        ("first submit → all DEPOSEE s", each(lambda f: f["all_deposee_seconds"] or "not all")),
        (
            "DEPOSEE / lost / deposited twice",
            each(lambda f: f"{f['deposee']} / {f['lost']} / {f['deposited_twice']}"),
        ),
        ("flux deposited per worker", each(lambda f: " + ".join(map(str, f["flux_per_worker"])))),
    ]
    roles = sorted({role for figures in runs.values() for role in figures["processes"]})
    for role in roles:
        table.append(
            (
                f"{role}: n, peak RSS MB (one / all), CPU s (ms an invoice)",
                each(
                    lambda f, role=role: (
                        "{processes}, {peak_mb} / {sum_peak_mb}, {cpu_s} ({per:.0f})".format(
                            **f["processes"][role],
                            per=1000 * f["processes"][role]["cpu_s"] / max(f["accepted"], 1),
                        )
                        if role in f["processes"]
                        else "-"
                    )
                ),
            )
        )
    return table


def print_table(runs: dict[str, dict]) -> None:
    table = rows(runs)
    width = max(len(label) for label, _ in table)
    cells = [
        max(len(cell) for cell in column) for column in zip(*(c for _, c in table), strict=True)
    ]
    cells = [max(c, len(name)) for c, name in zip(cells, runs, strict=True)]
    print(f"{'':{width}}  " + "  ".join(f"{name:{c}}" for name, c in zip(runs, cells, strict=True)))
    for label, values in table:
        print(
            f"{label:{width}}  " + "  ".join(f"{v:{c}}" for v, c in zip(values, cells, strict=True))
        )
    print(
        "targets: submit ≥ {submit_per_second}/s at {clients} clients with p99 < {p99_ms} ms; "
        "{month_end}; every process < {rss_mb_per_process} MB RSS".format(**TARGETS)
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.splitlines()[0]
    )
    # 400 a layout: both layouts in about three minutes on 2 shared vCPUs.
    parser.add_argument("--invoices", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--api-processes", type=int, help="API processes (SQLite 1, PostgreSQL 2)")
    parser.add_argument("--workers", type=int, help="worker processes (SQLite 1, PostgreSQL 2)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers per API")
    parser.add_argument(
        "--deadline", type=float, default=300, help="seconds after the last submit to wait"
    )
    parser.add_argument("--keep", action="store_true", help="keep each layout's home (logs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    # SIGTERM ends the run like Ctrl-C: every process started is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    runs = {}
    for database in databases:
        scaled = database == "postgresql"
        layout = Layout(
            database,
            args.api_processes or (2 if scaled else 1),
            args.workers or (2 if scaled else 1),
            args.web_workers,
        )
        print(f"{database}: {args.invoices} invoices, {args.clients} clients…", flush=True)
        runs[database] = run_layout(layout, args.invoices, args.clients, args.deadline, args.keep)
    print_table(runs)
    figures = {"targets": TARGETS, "runs": runs}
    record("load", figures)
    return figures


if __name__ == "__main__":
    main()

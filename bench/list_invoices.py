"""``GET /v1/invoices`` with a million stored invoices, on SQLite and on PostgreSQL.

Seeds N invoices (1 000 000 by default) for five members, half of them the measured
member's, with a bookshop's mix of statuses (most paid, some deposited, rejected, to
recycle, suspended, a few in error or waiting for a manual deposit; some with an action
pending or cancelled by a credit note). Each row is a copy of an invoice the gateway
accepted, its number, status and times changed. Rows go in by batches (``executemany``
on SQLite, ``COPY`` on PostgreSQL, a throw-away server started as the tests start it).

Then times each listing through the real WSGI app (authentication included), its first
page and a page further down its cursor, and prints the median and p95 in ms per
database side by side, and each query's plan.

    .venv/bin/python bench/list_invoices.py [--invoices 1000000] [--reuse] [--only sqlite]

``--reuse`` keeps the seeded SQLite file (and its members' keys) under /tmp between runs.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from falcon import testing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the gateway is built as the tests build it

from gateway.store.tables import invoices  # noqa: E402
from gateway.testing.postgres import PostgresServer  # noqa: E402
from tests.conftest import Gateway, example, make_config, sold_by  # noqa: E402

SQLITE_HOME = Path(tempfile.gettempdir()) / "bench-list-invoices"
MEMBERS = 5
#: Status → weight: what a bookshop's store looks like after a few years.
STATUSES = {
    "MISE_EN_PAIEMENT": 800,
    "DEPOSEE": 60,
    "MISE_A_DISPOSITION": 40,
    "COMPTABILISEE": 30,
    "REJETEE": 30,
    "A_RECYCLER": 15,
    "SUSPENDUE": 15,
    "A_DEPOSER": 5,
    "EN_ERREUR": 2,
}
#: The listings timed: label → query string; pages are 50 invoices (the default).
LISTINGS = {
    "all": "",
    "status=REJETEE": "status=REJETEE",
    "status=A_RECYCLER,SUSPENDUE": "status=A_RECYCLER,SUSPENDUE",
    "status=EN_ERREUR (rare)": "status=EN_ERREUR",
    "needs_action=true": "needs_action=true",
}
#: How many pages down the cursor the "further" page is.
DEPTH = 10
RUNS = 40


def invoice_rows(template: dict, member_id: str, count: int, rng: random.Random):
    """Yield ``count`` invoice rows for ``member_id``, oldest first, over four years."""
    statuses, weights = zip(*STATUSES.items(), strict=True)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    step = timedelta(days=4 * 365) / count
    for n in range(count):
        created = start + step * n
        status = rng.choices(statuses, weights)[0]
        updated = created + timedelta(minutes=rng.randrange(1, 60 * 24 * 30))
        pending = status == "A_RECYCLER" and rng.random() < 0.1
        yield {
            **template,
            "id": f"inv_{uuid.UUID(int=rng.getrandbits(128)).hex[:24]}",
            "member_id": member_id,
            "number": f"FA-{member_id[-4:]}-{n:07d}",
            "buyer_siret": f"2276054090{rng.randrange(20):04d}",
            "status": status,
            "created_at": created,
            "updated_at": updated,
            "next_attempt_at": None,
            "reached_buyer_at": None if status in ("EN_ERREUR", "A_DEPOSER") else updated,
            "credited_at": updated if status == "REJETEE" and rng.random() < 0.2 else None,
            "action": "recycle" if pending else None,
            "action_data": {"requested_at": updated.isoformat()} if pending else None,
            "action_due_at": updated if pending else None,
        }


def copy_rows(conn, rows: list[dict]) -> None:
    """Write ``rows`` with PostgreSQL's COPY, values as the store's types write them."""
    columns = list(rows[0])
    raw = conn.connection.driver_connection
    with raw.cursor().copy(f"COPY invoices ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(value)
                    if isinstance(value, dict | list)
                    else value.astimezone(UTC).replace(tzinfo=None)
                    if isinstance(value, datetime)
                    else value
                    for value in row.values()
                ]
            )


def seed(gateway: Gateway, total: int) -> list[dict]:
    """Create the members, one real invoice each, then ``total`` rows in batches."""
    # The measured member's SIRET is a valid one: its invoice is checked.
    members = [gateway.new_member()] + [
        gateway.new_member(f"Librairie {n}", f"8123456760{n:04d}") for n in range(1, MEMBERS)
    ]
    posted = gateway.post_invoice(
        members[0], sold_by(example("invoice-seine-maritime"), members[0]["siret"])
    )
    assert posted.status_code == 202, posted.json
    template = gateway.store.get_invoice(posted.json["id"])
    del template["seq"]
    # Half for the measured member, the rest shared by the others.
    shares = [total // 2] + [total // 2 // (MEMBERS - 1)] * (MEMBERS - 1)
    rng = random.Random(42)
    postgres = gateway.store.dialect == "postgresql"
    started = time.perf_counter()
    for member, count in zip(members, shares, strict=True):
        rows = invoice_rows(template, member["id"], count, rng)
        while batch := [row for _, row in zip(range(20_000), rows, strict=False)]:
            with gateway.store.begin() as conn:
                if postgres:
                    copy_rows(conn, batch)
                else:
                    conn.execute(invoices.insert(), batch)
    if postgres:
        # What autovacuum does soon after such a load: statistics for the planner.
        with gateway.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE invoices")
    print(f"  seeded {total} invoices in {time.perf_counter() - started:.0f} s", flush=True)
    return members


def sqlite_gateway(total: int, reuse: bool) -> tuple[Gateway, dict]:
    keys = SQLITE_HOME / "members.json"
    marker = SQLITE_HOME / "invoices"
    fresh = not (reuse and keys.exists() and marker.exists() and marker.read_text() == str(total))
    if fresh:
        shutil.rmtree(SQLITE_HOME, ignore_errors=True)
        SQLITE_HOME.mkdir(parents=True)
    gateway = Gateway(make_config(SQLITE_HOME, f"sqlite:///{SQLITE_HOME / 'gateway.sqlite3'}"))
    if fresh:
        members = seed(gateway, total)
        keys.write_text(json.dumps(members[0]))
        marker.write_text(str(total))
    return gateway, json.loads(keys.read_text())


def postgres_gateway(server: PostgresServer, total: int) -> tuple[Gateway, dict]:
    home = Path(tempfile.mkdtemp(prefix="bench-list-pg-"))
    gateway = Gateway(make_config(home, server.create_database()))
    return gateway, seed(gateway, total)[0]


def get(app, member: dict, query: str) -> tuple[float, dict]:
    """Call the WSGI app as a server would; return the time in ms and the JSON body."""
    environ = testing.create_environ("/v1/invoices", query_string=query, headers=member["headers"])
    status = []
    started = time.perf_counter()
    body = b"".join(app(environ, lambda code, headers: status.append(code)))
    elapsed = (time.perf_counter() - started) * 1000
    assert status[0].startswith("200"), (status, body[:300])
    return elapsed, json.loads(body)


def listing_queries(gateway: Gateway, member: dict) -> dict[str, str]:
    """Return the query string of each timed page: the first, and one DEPTH pages down."""
    pages = {}
    for label, query in LISTINGS.items():
        pages[f"{label} p1"] = query
        cursor_query = query
        for _ in range(DEPTH):
            _, body = get(gateway.app, member, cursor_query)
            if not body["next_cursor"]:
                break
            cursor_query = "&".join(filter(None, [query, f"cursor={body['next_cursor']}"]))
        pages[f"{label} p{DEPTH + 1}"] = cursor_query
    return pages


def measure(gateway: Gateway, member: dict) -> dict[str, tuple[float, float, str, int]]:
    """Time every page; return label → (median ms, p95 ms, plan, invoices listed)."""
    results = {}
    for label, query in listing_queries(gateway, member).items():
        for _ in range(3):
            get(gateway.app, member, query)  # warm the caches
        times = sorted(get(gateway.app, member, query)[0] for _ in range(RUNS))
        _, body = get(gateway.app, member, query)
        p95 = times[int(len(times) * 0.95) - 1]
        results[label] = (statistics.median(times), p95, plan(gateway, member, query), body)
    return results


def plan(gateway: Gateway, member: dict, query: str) -> str:
    """Return the plan of the listing's query on invoices, as the database explains it."""
    seen = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "FROM invoices" in statement:
            seen.append((statement, parameters))

    engine = gateway.store.engine
    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        get(gateway.app, member, query)
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    sqlite = gateway.store.dialect == "sqlite"
    explain = "EXPLAIN QUERY PLAN" if sqlite else "EXPLAIN (ANALYZE, COSTS OFF)"
    lines = []
    with gateway.store.read() as conn:
        for statement, parameters in seen:
            rows = conn.exec_driver_sql(f"{explain} {statement}", parameters).all()
            lines += [str(row[-1]) for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep the SQLite file in /tmp")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    results = {}
    if args.only != "postgresql":
        print("SQLite:", flush=True)
        gateway, member = sqlite_gateway(args.invoices, args.reuse)
        results["sqlite"] = measure(gateway, member)
        gateway.store.dispose()
    if args.only != "sqlite":
        print("PostgreSQL:", flush=True)
        server = PostgresServer()
        server.start()
        try:
            gateway, member = postgres_gateway(server, args.invoices)
            results["postgresql"] = measure(gateway, member)
            gateway.store.dispose()
        finally:
            server.stop()
    databases = list(results)
    labels = list(results[databases[0]])
    print(f"\nGET /v1/invoices, {args.invoices} invoices, page of 50, ms (median / p95)")
    print(f"{'listing':<36}" + "".join(f"{name:>22}" for name in databases) + f"{'items':>7}")
    for label in labels:
        cells = "".join(
            f"{results[name][label][0]:>13.2f} / {results[name][label][1]:>6.2f}"
            for name in databases
        )
        items = len(results[databases[0]][label][3]["items"])
        print(f"{label:<36}{cells}{items:>7}")
    for name in databases:
        print(f"\nPlans on {name}:")
        for label in labels:
            print(f"- {label}:")
            print("    " + results[name][label][2].replace("\n", "\n    "))


if __name__ == "__main__":
    main()

"""``GET /v1/invoices``: filtered listings page in the right order, and a page costs the
same few queries whatever its size (no query per invoice listed). Both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway import lifecycle
from gateway.store.tables import NEEDS_ACTION_STATUSES, invoices
from gateway.views import invoice_summary
from tests.conftest import Gateway, make_config, statements_on
from tests.gateway.store.conftest import T0
from tests.gateway.store.test_store import add_invoice

#: Cycled through by the seeded invoices: some need the bookseller, some do not.
STATUSES = ("MISE_EN_PAIEMENT", "REJETEE", "A_RECYCLER", "SUSPENDUE", "EN_ERREUR", "DEPOSEE")
LISTINGS = (
    "",
    "status=REJETEE",
    "status=A_RECYCLER,SUSPENDUE",
    "status=SUSPENDUE&status=EN_ERREUR&status=SUSPENDUE",
    "status=A_RECYCLER,REJETEE&customer=22100005200011",
    "needs_action=true",
    "needs_action=true&customer=22100005200011",
)


@pytest.fixture
def listed(tmp_path, database_url, clock):
    """A gateway on each database, its member and 30 invoices of theirs (and one of
    another member's): statuses cycled, two buyers, times that tie, some with an action
    pending or cancelled by a credit note."""
    gateway = Gateway(make_config(tmp_path, database_url), clock=clock)
    member = gateway.new_member()
    other = gateway.new_member("Librairie du Port", "44306184100047")
    add_invoice(gateway.store, other["id"], "FB-1", status="REJETEE")
    for n in range(30):
        add_invoice(
            gateway.store,
            member["id"],
            f"FA-{n:02d}",
            status=STATUSES[n % len(STATUSES)],
            buyer_siret="22100005200011" if n % 4 == 0 else "22760540900019",
            # Every two invoices share a time: the cursor must tell them apart by seq.
            updated_at=T0 + timedelta(hours=(n * 7 % 30) // 2),
            action="recycle" if n == 2 else None,
            action_data={"requested_at": T0.isoformat()} if n == 2 else None,
            credited_at=T0 if n == 7 else None,
        )
    yield gateway, member
    gateway.store.dispose()


def walk(gateway: Gateway, member: dict, query: str, limit: int) -> list[str]:
    """Return the numbers listed, following the cursor page after page."""
    numbers, cursor = [], None
    while True:
        params = "&".join(filter(None, [query, f"limit={limit}", cursor and f"cursor={cursor}"]))
        result = gateway.client.simulate_get(
            "/v1/invoices", query_string=params, headers=member["headers"]
        )
        assert result.status_code == 200, result.json
        assert len(result.json["items"]) <= limit
        numbers += [item["number"] for item in result.json["items"]]
        cursor = result.json["next_cursor"]
        if cursor is None:
            return numbers


def expected(gateway: Gateway, member: dict, query: str) -> list[str]:
    """What ``query`` should list, worked out in Python from every row of the member's."""
    params = dict(part.split("=") for part in query.split("&") if part)
    with gateway.store.read() as conn:
        rows = (
            conn.execute(
                invoices.select()
                .where(invoices.c.member_id == member["id"])
                .order_by(invoices.c.seq.desc())
            )
            .mappings()
            .all()
        )
    if "customer" in params:
        rows = [row for row in rows if row["buyer_siret"] == params["customer"]]
    if "needs_action" in params:
        waiting = [row for row in rows if lifecycle.needs_bookseller(row)]
        return [row["number"] for row in sorted(waiting, key=lambda r: (r["updated_at"], r["seq"]))]
    statuses = {
        status
        for part in query.split("&")
        if part.startswith("status=")
        for status in part.removeprefix("status=").split(",")
    }
    return [row["number"] for row in rows if not statuses or row["status"] in statuses]


@pytest.mark.parametrize("query", LISTINGS)
def test_filtered_listings_page_in_order_without_gaps_or_repeats(listed, query):
    gateway, member = listed
    want = expected(gateway, member, query)
    assert want  # the seeded invoices hold some of each
    for limit in (1, 3, 50):
        assert walk(gateway, member, query, limit) == want


def test_the_needs_action_index_holds_the_lifecycle_statuses():
    assert NEEDS_ACTION_STATUSES == lifecycle.NEEDS_BOOKSELLER


def statements_of(gateway: Gateway, member: dict, params: str) -> list[str]:
    with statements_on(gateway.store.engine) as seen:
        result = gateway.client.simulate_get(
            "/v1/invoices", query_string=params, headers=member["headers"]
        )
    assert result.status_code == 200, result.json
    return seen


def test_a_page_takes_the_same_queries_whatever_its_size(listed):
    gateway, member = listed
    statements_of(gateway, member, "")  # the key's first use is noted once (last_used_at)
    for query in LISTINGS:
        small = statements_of(gateway, member, "&".join(filter(None, [query, "limit=2"])))
        large = statements_of(gateway, member, "&".join(filter(None, [query, "limit=50"])))
        assert len(small) == len(large), (query, large)
        assert sum("FROM invoices" in statement for statement in large) == 1, (query, large)


@pytest.mark.parametrize("query", ["", "status=A_RECYCLER,SUSPENDUE", "needs_action=true"])
def test_a_listing_shows_each_invoice_as_its_whole_row_would(listed, query):
    # The listing reads fewer columns (the totals without the rest of the data).
    gateway, member = listed
    result = gateway.client.simulate_get(
        "/v1/invoices", query_string=query, headers=member["headers"]
    )
    items = result.json["items"]
    assert items == [invoice_summary(gateway.store.get_invoice(item["id"])) for item in items]
    assert items[0]["totals"] == {"payable": "97.65"}

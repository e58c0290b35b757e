"""The outbox worker on the real app and store, sending through the memory outlet.

Time is a controllable clock handed to the worker: retries become due by moving it, never
by sleeping.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from gateway.hookspecs import hookimpl
from gateway.model import Invoice
from gateway.outlets import Outlet, Receipt
from gateway.schemas import dump_invoice
from gateway.worker import backoff_delay
from plugins.outlets.memory import MemoryOutlet, read_journal
from tests.conftest import DATA, Gateway, example, make_config


class Clock:
    """The worker's time, moved by the test."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class ExplodingOutlet(Outlet):
    """An outlet with a bug: it raises something that is not an OutletError."""

    name = "explosive"

    def send(self, invoice, documents, context):
        raise ZeroDivisionError("division by zero in the outlet")


class CountingOutlet(MemoryOutlet):
    """The memory outlet, counting every call it receives (the journal hides repeats)."""

    name = "counting"

    def __init__(self, config=None):
        super().__init__(config)
        self.calls: Counter[str] = Counter()
        self.after_send: Callable[[], object] = lambda: None

    def send(self, invoice, documents, context):
        with self._lock:
            self.calls[context.invoice_id] += 1
        receipt = super().send(invoice, documents, context)
        self.after_send()
        return receipt


class LinelessOutlet(Outlet):
    """Takes invoices without lines (as paper would), keeping those it is handed."""

    name = "lineless"
    capabilities = frozenset({"send", "lineless"})
    received: list[Invoice] = []

    def send(self, invoice, documents, context):
        self.received.append(invoice)
        return Receipt(outlet=self.name, reference=f"L-{invoice.number}")


class StatusListener:
    """A notifier plugin calling ``callback(new_status)`` after each committed change."""

    def __init__(self):
        self.callback: Callable[[str], object] = lambda new: None

    @hookimpl
    def gateway_invoice_status_changed(self, new):
        self.callback(new)


class EventRecorder:
    """A notifier plugin keeping every (invoice, event) it is told of."""

    def __init__(self):
        self.told: list[tuple[dict, dict]] = []

    @hookimpl
    def gateway_invoice_status_changed(self, invoice, event):
        self.told.append((invoice, event))


class ExtraOutlets:
    @hookimpl
    def gateway_register_outlets(self):
        return [ExplodingOutlet, CountingOutlet, LinelessOutlet]


@pytest.fixture
def build(tmp_path, sqlite_url):
    """Return a factory of gateways whose memory outlet and worker settings the test chooses."""
    made: list[Gateway] = []

    def factory(
        memory: dict | None = None,
        url: str = sqlite_url,
        outlet: str = "memory",
        plugins: tuple = (),
        **worker,
    ) -> Gateway:
        config = make_config(tmp_path, url)
        settings = {**config.plugins["memory"], **(memory or {})}
        config.plugins = {**config.plugins, "memory": settings, "counting": settings}
        config.channels = {channel: outlet for channel in config.channels}
        for name, value in worker.items():
            setattr(config.worker, name, value)
        gateway = Gateway(config, extra_plugins=[ExtraOutlets(), *plugins])
        made.append(gateway)
        return gateway

    yield factory
    for gateway in made:
        gateway.store.dispose()


def submit(gateway: Gateway, member: dict, number: str = "FA-2026-0142") -> str:
    result = gateway.post_invoice(member, {**example("invoice-seine-maritime"), "number": number})
    assert result.status_code == 202, result.json
    return result.json["id"]


def clock_after_submission() -> Clock:
    return Clock(datetime.now(UTC) + timedelta(seconds=1))


def stored(gateway: Gateway, invoice_id: str) -> dict:
    return gateway.store.get_invoice(invoice_id)


def statuses(view: dict) -> list[str]:
    return [entry["status"] for entry in view["history"]]


def events(gateway: Gateway, member: dict) -> list[dict]:
    result = gateway.client.simulate_get("/v1/events", headers=member["headers"])
    assert result.status_code == 200
    return result.json["events"]


# --- backoff ---------------------------------------------------------------------------------


def test_backoff_delay_doubles_with_jitter_and_is_capped():
    rng = random.Random(42)
    for attempt, ceiling in [(1, 5), (2, 10), (3, 20), (4, 40), (10, 300), (40, 300)]:
        samples = [backoff_delay(attempt, 5, 300, rng) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in samples), attempt
        assert len(set(samples)) > 150  # jittered, not a fixed value
        assert max(samples) - min(samples) > ceiling / 4  # spread over the half-range
    assert 2.5 <= backoff_delay(0, 5, 300, rng) <= 5  # attempt 0 counts as the first
    # However many attempts the configuration allows, the delay stays a number (2.0**1024
    # overflows a float).
    assert 150 <= backoff_delay(5000, 5.0, 300.0, rng) <= 300


def test_backoff_delay_is_reproducible_from_its_random_source():
    first = [backoff_delay(3, 5, 300, random.Random(7)) for _ in range(2)]
    other = backoff_delay(3, 5, 300, random.Random(8))
    assert first[0] == first[1]
    assert other != first[0]


# --- sending -----------------------------------------------------------------------------------


def test_received_invoice_is_deposited_with_history_and_events(build):
    gateway = build()
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    worker = gateway.worker(clock=clock_after_submission())

    assert worker.run_once() == 1

    view = gateway.get_invoice(member, invoice_id)
    assert view["status"] == "DEPOSEE"
    assert statuses(view) == ["RECU", "DEPOSEE"]
    assert view["attempts"] == 1 and view["last_error"] is None
    deposits = read_journal(gateway.journal)
    assert [(d["invoice_id"], d["number"]) for d in deposits] == [(invoice_id, "FA-2026-0142")]
    assert view["outlet_reference"] == deposits[0]["reference"]
    assert deposits[0]["reference"] in view["history"][-1]["comment"]
    row = stored(gateway, invoice_id)
    assert (row["lease_owner"], row["lease_until"], row["next_attempt_at"]) == (None, None, None)
    feed = events(gateway, member)
    assert [(e["type"], e["data"]["old"], e["data"]["new"]) for e in feed] == [
        ("invoice.received", None, "RECU"),
        ("invoice.status_changed", "RECU", "DEPOSEE"),
    ]
    assert all(e["invoice_id"] == invoice_id for e in feed)
    worker.clock.advance(days=1)
    assert worker.run_once() == 0  # nothing is sent twice
    assert len(read_journal(gateway.journal)) == 1


def test_notifiers_receive_the_invoice_and_the_event_as_the_api_shows_them(build):
    recorder = EventRecorder()
    gateway = build(plugins=(recorder,))
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    gateway.worker(clock=clock_after_submission()).run_once()

    assert [event for _, event in recorder.told] == events(gateway, member)
    (_, told), (invoice, _) = recorder.told[0], recorder.told[-1]
    assert told["type"] == "invoice.received" and isinstance(told["id"], str)
    assert invoice == gateway.get_invoice(member, invoice_id)


def test_transient_failures_are_retried_after_backoff_then_deposited(build):
    gateway = build({"fail_times": 2}, backoff_base=10, backoff_max=1000)
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    clock = clock_after_submission()
    worker = gateway.worker(clock=clock)

    assert worker.run_once() == 1
    row = stored(gateway, invoice_id)
    assert row["status"] == "EN_ERREUR"
    assert "momentanément indisponible" in row["last_error"]
    assert 5 <= (row["next_attempt_at"] - clock.now).total_seconds() <= 10
    assert worker.run_once() == 0  # not due yet
    first_retry = row["next_attempt_at"]
    clock.now = first_retry - timedelta(milliseconds=1)
    assert worker.run_once() == 0

    clock.now = row["next_attempt_at"]
    assert worker.run_once() == 1
    row = stored(gateway, invoice_id)
    assert (row["status"], row["attempts"]) == ("EN_ERREUR", 2)
    assert 10 <= (row["next_attempt_at"] - clock.now).total_seconds() <= 20
    assert read_journal(gateway.journal) == []

    clock.now = row["next_attempt_at"]
    assert worker.run_once() == 1
    view = gateway.get_invoice(member, invoice_id)
    assert statuses(view) == ["RECU", "EN_ERREUR", "EN_ERREUR", "DEPOSEE"]
    assert (view["status"], view["attempts"], view["last_error"]) == ("DEPOSEE", 3, None)
    assert "tentative 1" in view["history"][1]["comment"]
    assert "momentanément indisponible" in view["history"][1]["comment"]
    assert [d["invoice_id"] for d in read_journal(gateway.journal)] == [invoice_id]
    feed = events(gateway, member)
    assert [e["data"]["new"] for e in feed] == ["RECU", "EN_ERREUR", "EN_ERREUR", "DEPOSEE"]
    assert feed[1]["data"]["attempt"] == 1
    assert datetime.fromisoformat(feed[1]["data"]["retry_at"]) == first_retry
    assert "invoice.send_abandoned" not in {e["type"] for e in feed}


def test_backoff_grows_within_bounds_until_retries_are_exhausted(build):
    base, cap, limit = 10.0, 100.0, 7
    gateway = build({"fail": "transient"}, backoff_base=base, backoff_max=cap, max_attempts=limit)
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    clock = clock_after_submission()
    worker = gateway.worker(clock=clock)
    delays, due_times = [], []
    for attempt in range(1, limit):
        assert worker.run_once() == 1
        row = stored(gateway, invoice_id)
        assert (row["status"], row["attempts"]) == ("EN_ERREUR", attempt)
        delay = (row["next_attempt_at"] - clock.now).total_seconds()
        ceiling = min(cap, base * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling, (attempt, delay)
        delays.append(delay)
        due_times.append(row["next_attempt_at"])
        clock.now = row["next_attempt_at"]
    assert due_times == sorted(due_times) and len(set(due_times)) == len(due_times)
    assert delays[:4] == sorted(delays[:4])  # doubling outruns the jitter until the cap
    assert max(delays) <= cap

    assert worker.run_once() == 1  # the last allowed attempt
    row = stored(gateway, invoice_id)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("EN_ERREUR", limit, None)
    view = gateway.get_invoice(member, invoice_id)
    assert f"après {limit} tentatives" in view["history"][-1]["comment"]
    abandoned = [e for e in events(gateway, member) if e["type"] == "invoice.send_abandoned"]
    assert len(abandoned) == 1
    assert abandoned[0]["data"]["attempts"] == limit
    assert "momentanément indisponible" in abandoned[0]["data"]["reason"]
    clock.advance(days=30)
    assert worker.run_once() == 0  # no retry after the limit
    assert read_journal(gateway.journal) == []


def test_permanent_failure_is_not_retried_and_is_reported(build):
    gateway = build({"fail": "permanent"})
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    clock = clock_after_submission()
    worker = gateway.worker(clock=clock)

    assert worker.run_once() == 1
    view = gateway.get_invoice(member, invoice_id)
    assert (view["status"], view["attempts"]) == ("EN_ERREUR", 1)
    assert "refuse cette facture" in view["last_error"]
    assert view["history"][-1]["comment"].startswith("Envoi refusé")
    assert stored(gateway, invoice_id)["next_attempt_at"] is None
    feed = events(gateway, member)
    assert [e["type"] for e in feed] == [
        "invoice.received",
        "invoice.status_changed",
        "invoice.send_abandoned",
    ]
    assert feed[-1]["data"] == {
        "number": "FA-2026-0142",
        "reason": view["last_error"],
        "attempts": 1,
    }
    clock.advance(days=30)
    assert worker.run_once() == 0
    assert read_journal(gateway.journal) == []


def test_an_outlet_crash_becomes_a_status_not_a_worker_crash(build):
    gateway = build(outlet="explosive")
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    clock = clock_after_submission()
    worker = gateway.worker(clock=clock)

    assert worker.run_once() == 1
    row = stored(gateway, invoice_id)
    assert (row["status"], row["attempts"], row["outlet"]) == ("EN_ERREUR", 1, "explosive")
    assert row["last_error"] == "division by zero in the outlet"
    assert row["next_attempt_at"] > clock.now  # an unknown fault is worth a retry
    assert row["lease_owner"] is None
    clock.now = row["next_attempt_at"]
    assert worker.run_once() == 1
    assert stored(gateway, invoice_id)["attempts"] == 2


def test_an_invoice_for_an_outlet_no_longer_installed_waits_in_error(build, tmp_path):
    gateway = build()
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    # The same database seen by a worker process whose plugins lack the memory outlet.
    config = make_config(tmp_path, gateway.config.database_url, load_entrypoints=False)
    bare = Gateway(config)
    try:
        worker = bare.worker(clock=clock_after_submission())
        assert worker.run_once() == 1
    finally:
        bare.store.dispose()
    row = stored(gateway, invoice_id)
    assert row["status"] == "EN_ERREUR"
    assert "n'est pas installée" in row["last_error"]
    assert row["next_attempt_at"] is not None
    # Once the outlet is back, the retry goes through.
    worker = gateway.worker(clock=Clock(row["next_attempt_at"]))
    assert worker.run_once() == 1
    assert stored(gateway, invoice_id)["status"] == "DEPOSEE"


def basic_wl(minimum: bytes) -> bytes:
    """Turn the Factur-X MINIMUM sample into a BASIC WL one: still no lines, but the means
    of payment, VAT breakdown and buyer's address the French rules ask for."""
    changes = [
        (b"1p0:minimum", b"1p0:basicwl"),
        (
            b"</ram:SpecifiedLegalOrganization>\n      </ram:BuyerTradeParty>",
            b"</ram:SpecifiedLegalOrganization>"
            b"<ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>"
            b"</ram:BuyerTradeParty>",
        ),
        (
            b"<ram:SpecifiedTradeSettlementHeaderMonetarySummation>",
            b"<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>30</ram:TypeCode>"
            b"<ram:PayeePartyCreditorFinancialAccount>"
            b"<ram:IBANID>FR7630006000011234567890189</ram:IBANID>"
            b"</ram:PayeePartyCreditorFinancialAccount></ram:SpecifiedTradeSettlementPaymentMeans>"
            b"<ram:ApplicableTradeTax><ram:CalculatedAmount>17.18</ram:CalculatedAmount>"
            b"<ram:TypeCode>VAT</ram:TypeCode><ram:BasisAmount>312.40</ram:BasisAmount>"
            b"<ram:CategoryCode>S</ram:CategoryCode>"
            b"<ram:RateApplicablePercent>5.5</ram:RateApplicablePercent></ram:ApplicableTradeTax>"
            b"<ram:SpecifiedTradeSettlementHeaderMonetarySummation>"
            b"<ram:LineTotalAmount>312.40</ram:LineTotalAmount>",
        ),
    ]
    for old, new in changes:
        assert minimum.count(old) == 1, old
        minimum = minimum.replace(old, new)
    return minimum


def test_an_invoice_without_lines_reaches_its_outlet_as_accepted(build):
    gateway = build(outlet="lineless")
    LinelessOutlet.received = []
    member = gateway.new_member()
    document = basic_wl((DATA / "xml" / "cii-minimum-bibliotheque.xml").read_bytes())
    created = gateway.post_invoice(member, document, content_type="application/xml")
    assert created.status_code == 202, created.json
    (parsed,) = gateway.services.registry.formats["cii"].parse(document)
    accepted = parsed.with_computed_amounts()
    assert accepted.lines == []

    assert gateway.worker(clock=clock_after_submission()).run_once() == 1

    assert LinelessOutlet.received == [accepted]  # read back from the store whole
    view = gateway.get_invoice(member, created.json["id"])
    assert (view["status"], view["outlet_reference"]) == ("DEPOSEE", "L-FA-2026-0209")
    assert view["invoice"] == dump_invoice(accepted)


def test_a_stopped_worker_gives_the_rest_of_its_batch_back(build):
    gateway = build(outlet="counting", batch_size=5)
    member = gateway.new_member()
    ids = [submit(gateway, member, f"FA-2026-{n:04}") for n in range(5)]
    outlet = gateway.services.registry.outlets["counting"]
    stop = threading.Event()
    outlet.after_send = stop.set  # SIGTERM arrives while the first invoice is being sent
    clock = clock_after_submission()
    worker = gateway.worker(clock=clock)
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()

    rows = [stored(gateway, invoice_id) for invoice_id in ids]
    assert [row["status"] for row in rows] == ["DEPOSEE"] + ["RECU"] * 4
    assert [row["lease_owner"] for row in rows] == [None] * 5  # no lease left to expire
    outlet.after_send = lambda: None
    assert gateway.worker(clock=clock).run_once() == 4  # taken over at once
    assert set(outlet.calls) == set(ids) and set(outlet.calls.values()) == {1}


def test_an_invoice_whose_lease_expired_during_a_slow_batch_is_sent_once(build):
    listener = StatusListener()
    gateway = build(outlet="counting", plugins=(listener,), batch_size=3, lease_seconds=120)
    member = gateway.new_member()
    ids = [submit(gateway, member, f"FA-2026-{n:04}") for n in range(3)]
    outlet = gateway.services.registry.outlets["counting"]
    clock = clock_after_submission()
    slow = gateway.worker(clock=clock, owner="slow")
    other = gateway.worker(clock=clock, owner="other")
    outlet.after_send = lambda: clock.advance(seconds=100)  # a slow platform, within the lease

    def first_deposit_recorded(new: str) -> None:
        listener.callback = lambda new: None
        clock.advance(seconds=30)  # the batch's 120 s lease is over
        other.run_once()  # another worker's cycle finds the rest of the batch free

    listener.callback = first_deposit_recorded
    slow.run_once()

    assert [stored(gateway, invoice_id)["status"] for invoice_id in ids] == ["DEPOSEE"] * 3
    assert dict(outlet.calls) == {invoice_id: 1 for invoice_id in ids}


def test_several_workers_send_each_invoice_exactly_once(build, database_url):
    gateway = build({"delay": 0.002}, url=database_url, outlet="counting", batch_size=3)
    member = gateway.new_member()
    numbers = [f"FA-2026-{n:04}" for n in range(40)]
    ids = {submit(gateway, member, number) for number in numbers}
    clock = clock_after_submission()
    workers = [gateway.worker(clock=clock, owner=f"worker-{n}") for n in range(4)]
    start = threading.Barrier(len(workers))
    handled: dict[str, int] = {}
    errors: list[BaseException] = []

    def run(worker) -> None:
        try:
            start.wait()
            handled[worker.owner] = worker.run_once()
        except BaseException as ex:  # surfaced by the assertion below
            errors.append(ex)

    threads = [threading.Thread(target=run, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(handled.values()) == 40
    assert sum(1 for count in handled.values() if count) >= 2  # they did share the work
    calls = gateway.services.registry.outlets["counting"].calls
    assert set(calls) == ids and set(calls.values()) == {1}  # each sent once, by one worker
    deposits = read_journal(gateway.journal)
    assert sorted(d["number"] for d in deposits) == numbers
    assert {d["invoice_id"] for d in deposits} == ids
    listed = gateway.client.simulate_get(
        "/v1/invoices", params={"status": "DEPOSEE", "limit": 100}, headers=member["headers"]
    ).json["items"]
    assert {item["id"] for item in listed} == ids
    for invoice_id in ids:
        assert statuses(gateway.get_invoice(member, invoice_id)) == ["RECU", "DEPOSEE"]

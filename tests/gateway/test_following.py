"""Following invoices after they left, and the directory around sending, with fixture plugins
(a scripted platform outlet and an in-test directory) registered like any vendor plugin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.directory import DirectoryEntry, Service
from gateway.errors import Finding
from gateway.hookspecs import hookimpl
from gateway.outlets import Outlet, Receipt, StatusUpdate
from tests.conftest import Gateway, example, make_config
from tests.invoices import SEINE_MARITIME_ENTRY as SEINE


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


class ScriptedPlatform(Outlet):
    """A platform whose invoice histories the test writes, as a recipient would."""

    name = "scripted"
    capabilities = frozenset({"send", "poll", "directory"})
    histories: dict[str, list] = {}
    polls: list[int] = []
    #: The ``data`` of every receipt handed to ``poll``.
    polled_data: list[dict] = []

    def send(self, invoice, documents, context):
        self.histories[context.invoice_id] = []
        return Receipt(
            outlet=self.name, reference=f"FLUX-{invoice.number}", data={"flux": invoice.number}
        )

    def poll(self, receipts, context):
        self.polls.append(len(receipts))
        updates = []
        for receipt in receipts:
            self.polled_data.append(dict(receipt.data))
            history = self.histories.get(receipt.invoice_id, [])
            if history:
                updates.append(
                    StatusUpdate(
                        invoice_id=receipt.invoice_id,
                        status=history[-1][0],
                        history=list(history),
                        data={"platform_id": 4242},
                    )
                )
        return updates


class FixtureDirectory:
    """Directory provider and a one-rule rule set named ``chorus``, for the core's sake."""

    def __init__(self):
        self.entries = {SEINE.siret: SEINE}
        self.lookups = 0

    @hookimpl
    def gateway_register_outlets(self):
        return [ScriptedPlatform]

    @hookimpl
    def gateway_directory_lookup(self, siret):
        self.lookups += 1
        return self.entries.get(siret)

    @hookimpl
    def gateway_validate_invoice(self, invoice, directory_entry, rule_sets):
        if rule_sets is not None and "chorus" not in rule_sets or directory_entry is None:
            return []
        if directory_entry.engagement_required and not invoice.references.engagement:
            return [
                Finding(code="engagement.required", field="references.engagement", message="EJ")
            ]
        if directory_entry.status == "INCONNU":
            return [Finding(code="directory.unknown", field="buyer.siret", message="inconnu")]
        return []


def platform_gateway(tmp_path, sqlite_url):
    clock = Clock()
    directory = FixtureDirectory()
    config = make_config(tmp_path, sqlite_url)
    config.channels = {**config.channels, "chorus": "scripted"}
    config.worker.poll_fast = 60
    config.worker.poll_slow = 86400
    gateway = Gateway(config, extra_plugins=[directory], clock=clock)
    ScriptedPlatform.histories = {}
    ScriptedPlatform.polls = []
    ScriptedPlatform.polled_data = []
    return gateway, clock, directory


def test_statuses_follow_the_platform_with_their_times(tmp_path, sqlite_url):
    gateway, clock, _ = platform_gateway(tmp_path, sqlite_url)
    member = gateway.new_member()
    invoice_id = gateway.post_invoice(member, example("invoice-seine-maritime")).json["id"]
    worker = gateway.worker(clock=clock)
    assert worker.run_once() == 1
    assert worker.follow_once() == 0  # first poll is due a minute after deposit

    steps = ScriptedPlatform.histories[invoice_id]
    steps += [
        ("DEPOSEE", clock.now, None),
        ("MISE_A_DISPOSITION", clock.now + timedelta(minutes=1), None),
    ]
    clock.advance(minutes=2)
    assert worker.follow_once() == 1
    steps += [
        ("SERVICE_FAIT", clock.now + timedelta(days=1), "Livres reçus"),
        ("MANDATEE", clock.now + timedelta(days=2), None),
        ("MISE_EN_PAIEMENT", clock.now + timedelta(days=3), None),
    ]
    clock.advance(hours=1)
    assert worker.follow_once() == 0  # made available: polled daily now
    clock.advance(days=1)
    assert worker.follow_once() == 1

    invoice = gateway.get_invoice(member, invoice_id)
    assert [h["status"] for h in invoice["history"]] == [
        "RECU",
        "DEPOSEE",
        "MISE_A_DISPOSITION",
        "SERVICE_FAIT",
        "MANDATEE",
        "MISE_EN_PAIEMENT",
    ]
    assert invoice["history"][3]["comment"] == "Livres reçus"
    assert invoice["history"][4]["at"] == (datetime(2026, 11, 22, 9, 2, tzinfo=UTC)).isoformat()
    assert invoice["status"] == "MISE_EN_PAIEMENT"
    clock.advance(days=30)
    assert worker.follow_once() == 0  # final: no more polling
    # The outlet gets back its own data, merged with its updates', and nothing of the core's.
    assert ScriptedPlatform.polled_data == [
        {"flux": "FA-2026-0142"},
        {"flux": "FA-2026-0142", "platform_id": 4242},
    ]
    assert gateway.store.get_invoice(invoice_id)["history_applied"] == 5


def test_unknown_platform_statuses_are_kept_verbatim(tmp_path, sqlite_url):
    gateway, clock, _ = platform_gateway(tmp_path, sqlite_url)
    member = gateway.new_member()
    invoice_id = gateway.post_invoice(member, example("invoice-seine-maritime")).json["id"]
    worker = gateway.worker(clock=clock)
    worker.run_once()
    ScriptedPlatform.histories[invoice_id] += [("PRISE_EN_COMPTE_DESTINATAIRE", clock.now, None)]
    clock.advance(minutes=5)
    worker.follow_once()
    assert gateway.get_invoice(member, invoice_id)["status"] == "PRISE_EN_COMPTE_DESTINATAIRE"


def test_the_directory_is_cached_and_served(tmp_path, sqlite_url):
    gateway, clock, directory = platform_gateway(tmp_path, sqlite_url)
    member = gateway.new_member()
    first = gateway.client.simulate_get("/v1/directory/22760540900019", headers=member["headers"])
    assert first.status_code == 200
    assert first.json["engagement_required"] is True
    assert first.json["services"][0]["code"] == "FACTURES_PUBLIQUES"
    gateway.client.simulate_get("/v1/directory/22760540900019", headers=member["headers"])
    assert directory.lookups == 1
    clock.advance(days=2)
    gateway.client.simulate_get("/v1/directory/22760540900019", headers=member["headers"])
    assert directory.lookups == 2
    unknown = gateway.client.simulate_get("/v1/directory/21750001600019", headers=member["headers"])
    assert unknown.status_code == 404
    assert unknown.json["errors"][0]["code"] == "directory.unknown"


def test_a_directory_change_before_sending_stops_the_invoice(tmp_path, sqlite_url):
    gateway, clock, directory = platform_gateway(tmp_path, sqlite_url)
    member = gateway.new_member()
    document = example("invoice-aube")
    document["buyer"]["siret"] = "22760540900019"
    document["references"] = {"engagement": None}
    directory.entries[SEINE.siret] = DirectoryEntry(siret=SEINE.siret, name=SEINE.name)
    created = gateway.post_invoice(member, document)
    assert created.status_code == 202
    directory.entries[SEINE.siret] = SEINE  # the structure now requires an engagement number
    clock.advance(minutes=5)  # later than the acceptance's lookup stands for the fresh one
    gateway.worker(clock=clock).run_once()
    invoice = gateway.get_invoice(member, created.json["id"])
    assert invoice["status"] == "EN_ERREUR"
    assert invoice["id"] not in ScriptedPlatform.histories  # never sent
    events = gateway.client.simulate_get("/v1/events", headers=member["headers"]).json["events"]
    (failed,) = [e for e in events if e["type"] == "invoice.status_changed"]
    assert failed["data"]["new"] == "EN_ERREUR"
    assert failed["data"]["retry_at"] is None
    assert failed["data"]["errors"][0]["code"] == "engagement.required"
    assert failed["data"]["errors"][0]["field"] == "references.engagement"


def test_daily_refresh_raises_an_event_when_a_flag_changes(tmp_path, sqlite_url):
    gateway, clock, directory = platform_gateway(tmp_path, sqlite_url)
    member = gateway.new_member()
    gateway.client.simulate_put(
        "/v1/customers/22760540900019", headers=member["headers"], json={"name": SEINE.name}
    )
    gateway.client.simulate_get("/v1/directory/22760540900019", headers=member["headers"])
    worker = gateway.worker(clock=clock)
    assert worker.directory.refresh_one_stale() is False  # fresh: nothing due
    directory.entries[SEINE.siret] = DirectoryEntry(
        siret=SEINE.siret,
        name=SEINE.name,
        engagement_required=False,
        services=[Service(code="FACTURES_PUBLIQUES", name="x", status="SUPPRIME")],
    )
    clock.advance(days=1, minutes=1)
    assert worker.directory.refresh_one_stale() is True
    assert worker.directory.refresh_one_stale() is False
    events = gateway.client.simulate_get("/v1/events", headers=member["headers"]).json["events"]
    (changed,) = [e for e in events if e["type"] == "directory.changed"]
    assert changed["data"]["siret"] == SEINE.siret
    assert changed["data"]["changes"] == [
        "numéro d'engagement obligatoire : True → False",
        "service FACTURES_PUBLIQUES : ACTIF → SUPPRIME",
    ]


class BatchPlatform(Outlet):
    """Takes several invoices in one call; refuses the one numbered FA-REFUSE."""

    name = "batchy"
    capabilities = frozenset({"send", "batch"})
    calls: list[list[str]] = []

    def send_batch(self, items):
        from gateway.outlets import PermanentOutletError

        self.calls.append([invoice.number for invoice, _, _ in items])
        return [
            PermanentOutletError("refusée")
            if invoice.number == "FA-REFUSE"
            else Receipt(outlet=self.name, reference=f"FLUX-{len(self.calls)}")
            for invoice, _, _ in items
        ]


class BatchPlugin:
    @hookimpl
    def gateway_register_outlets(self):
        return [BatchPlatform]


def test_a_batch_outlet_gets_a_members_invoices_in_one_call(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    config.channels = {**config.channels, "chorus": "batchy"}
    config.worker.batch_size = 10
    gateway = Gateway(config, extra_plugins=[BatchPlugin()])
    BatchPlatform.calls = []
    member = gateway.new_member()
    numbers = [f"FA-{index:03d}" for index in range(11)] + ["FA-REFUSE"]
    ids = {}
    for number in numbers:
        document = example("invoice-aube")
        document["number"] = number
        ids[number] = gateway.post_invoice(member, document).json["id"]
    assert gateway.worker().run_once() == 12
    assert sorted(len(call) for call in BatchPlatform.calls) == [2, 10]
    assert sorted(n for call in BatchPlatform.calls for n in call) == sorted(numbers)
    statuses = {n: gateway.get_invoice(member, i)["status"] for n, i in ids.items()}
    assert statuses.pop("FA-REFUSE") == "EN_ERREUR"
    assert set(statuses.values()) == {"DEPOSEE"}


class DirectoryBatchPlatform(BatchPlatform):
    """A batch outlet whose buyers the directory checks again right before sending."""

    name = "batchy-directory"
    capabilities = frozenset({"send", "batch", "directory"})


class DirectoryBatchPlugin:
    @hookimpl
    def gateway_register_outlets(self):
        return [DirectoryBatchPlatform]


@pytest.mark.parametrize("recheck_within, lookups_before_sending", [(0, 1), (60, 0)])
def test_a_batch_looks_each_buyer_up_afresh_once(
    tmp_path, sqlite_url, recheck_within, lookups_before_sending
):
    config = make_config(tmp_path, sqlite_url)
    config.worker.recheck_within = recheck_within
    config.channels = {**config.channels, "chorus": "batchy-directory"}
    directory = FixtureDirectory()
    gateway = Gateway(config, extra_plugins=[directory, DirectoryBatchPlugin()])
    BatchPlatform.calls = []
    member = gateway.new_member()
    for index in range(4):
        document = example("invoice-seine-maritime")
        document["number"] = f"FA-LOT-{index}"
        assert gateway.post_invoice(member, document).status_code == 202
    assert directory.lookups == 1  # at acceptance, then from the cache
    assert gateway.worker().run_once() == 4
    assert [len(call) for call in BatchPlatform.calls] == [4]
    # Afresh before sending, once for the four; none when the acceptance's is recent enough.
    assert directory.lookups == 1 + lookups_before_sending


class RememberingOutlet(Outlet):
    """Commits a note before its first (failing) call; records what the retry is handed."""

    name = "remembering"
    seen: list[dict] = []

    def send(self, invoice, documents, context):
        from gateway.outlets import TransientOutletError

        self.seen.append(dict(context.state))
        if context.attempt == 1:
            context.remember({"deposit_started": "2026-11-20T09:00:00+00:00"})
            raise TransientOutletError("coupure")
        return Receipt(outlet=self.name, reference="R-1")


class RememberingPlugin:
    @hookimpl
    def gateway_register_outlets(self):
        return [RememberingOutlet]


def test_what_an_outlet_remembers_mid_call_reaches_the_next_attempt(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    config.channels = {**config.channels, "chorus": "remembering"}
    gateway = Gateway(config, extra_plugins=[RememberingPlugin()])
    RememberingOutlet.seen = []
    member = gateway.new_member()
    invoice_id = gateway.post_invoice(member, example("invoice-aube")).json["id"]
    clock = Clock()
    clock.now = datetime.now(UTC)
    worker = gateway.worker(clock=clock)
    worker.run_once()
    clock.advance(hours=1)
    worker.run_once()
    assert RememberingOutlet.seen == [{}, {"deposit_started": "2026-11-20T09:00:00+00:00"}]
    assert gateway.get_invoice(member, invoice_id)["status"] == "DEPOSEE"


class RefusingOnceOutlet(Outlet):
    """Refuses for good on the first attempt (as a directory change would), then takes it."""

    name = "refusing_once"

    def send(self, invoice, documents, context):
        from gateway.outlets import PermanentOutletError

        if context.attempt == 1:
            raise PermanentOutletError("réglages incomplets")
        return Receipt(outlet=self.name, reference=f"R-{context.attempt}")


class RefusingOncePlugin:
    @hookimpl
    def gateway_register_outlets(self):
        return [RefusingOnceOutlet]


def test_an_invoice_in_error_can_be_sent_again_once_fixed(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    config.channels = {**config.channels, "chorus": "refusing_once"}
    gateway = Gateway(config, extra_plugins=[RefusingOncePlugin()])
    member = gateway.new_member()
    invoice_id = gateway.post_invoice(member, example("invoice-aube")).json["id"]
    path = f"/v1/invoices/{invoice_id}/retry"
    early = gateway.client.simulate_post(path, headers=member["headers"])
    assert early.status_code == 409
    assert early.json["errors"][0]["code"] == "invoice.not_retryable"
    worker = gateway.worker()
    worker.run_once()
    assert gateway.get_invoice(member, invoice_id)["status"] == "EN_ERREUR"
    assert worker.run_once() == 0  # a permanent refusal is not retried by itself
    other = gateway.new_member("Librairie du Marché", "79345612000013")
    assert gateway.client.simulate_post(path, headers=other["headers"]).status_code == 404
    again = gateway.client.simulate_post(path, headers=member["headers"])
    assert again.status_code == 202
    assert again.json["status"] == "RECU"
    assert worker.run_once() == 1
    invoice = gateway.get_invoice(member, invoice_id)
    assert [h["status"] for h in invoice["history"]] == ["RECU", "EN_ERREUR", "RECU", "DEPOSEE"]
    assert invoice["outlet_reference"] == "R-2"

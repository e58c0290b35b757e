"""The Chorus Pro outlet wired into the gateway, end to end, against the sandbox over HTTP.

The sandbox (``contrib/chorus_sandbox``) runs as a black box in a subprocess. Each test
builds the real gateway (app, store, plugins from their entry points, a worker thread)
configured as ``conf/gateway.toml`` does it, with a member whose Chorus Pro settings are the
sandbox's credentials; the test plays the bookseller through the REST API, and the platform
and the buyer through the sandbox's control API. Every wait polls a condition until a
deadline, asking the sandbox to process the flux deposited meanwhile (as the platform does
in the background) at each look.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import pytest

from tests.conftest import Gateway, example, make_config
from tests.integration.test_server import wait_for
from tests.plugins.chorus.sandbox import Sandbox

SEINE_MARITIME = "22760540900019"
AUBE = "22100005200011"
#: Seeded in the sandbox: an inactive town, and a library that asks for no reference.
INACTIVE = "21450877200016"
LIBRARY = "25450102600028"
#: A well-formed SIRET no directory knows.
UNKNOWN = "73282932000074"
NUMBERS = itertools.count(1)
RECIPIENT_STEPS = ["MISE_A_DISPOSITION", "SERVICE_FAIT", "MANDATEE", "MISE_EN_PAIEMENT"]


def invoice(name: str = "invoice-seine-maritime", buyer: str | None = None, **references):
    """One of the guide's examples under a number of its own, buyer and references changed."""
    document = example(name)
    document["number"] = f"IT-{next(NUMBERS):04d}"
    if buyer:
        document["buyer"]["siret"] = buyer
    document["references"].update(references)
    return document


class Platform:
    """The gateway sending to the sandbox, for one member whose credentials are its own."""

    def __init__(self, tmp_path, sqlite_url, sandbox: Sandbox, chorus=None, **worker):
        config = make_config(tmp_path, sqlite_url)
        config.channels = {**config.channels, "chorus": "chorus"}
        config.plugins = {  # as conf/gateway.toml has them: options, directory's credentials
            **config.plugins,
            "chorus": {"environment": "sandbox", "timeout": 5.0, **(chorus or {})},
            "directory_chorus": sandbox.settings(),
        }
        settings = {"poll_interval": 0.05, "poll_fast": 0.3, "poll_slow": 0.3, **worker}
        for key, value in settings.items():
            setattr(config.worker, key, value)
        self.sandbox = sandbox
        self.gateway = Gateway(config)
        self.member = self.gateway.new_member()
        patched = self.gateway.client.simulate_patch(
            f"/v1/members/{self.member['id']}",
            json={"settings": {"chorus": sandbox.settings()}},
            headers=self.gateway.admin(),
        )
        assert patched.status_code == 200, patched.json
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start_worker(self) -> None:
        worker = self.gateway.worker()
        self.thread = threading.Thread(target=worker.run_forever, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        self.gateway.store.dispose()

    def listed(self, status: str) -> list[dict]:
        result = self.gateway.client.simulate_get(
            "/v1/invoices",
            params={"status": status, "limit": 200},
            headers=self.member["headers"],
        )
        assert result.status_code == 200, result.json
        return result.json["items"]

    def submit(self, document: dict) -> str:
        result = self.gateway.post_invoice(self.member, document)
        assert result.status_code == 202, result.json
        return result.json["id"]

    def view(self, invoice_id: str) -> dict:
        return self.gateway.get_invoice(self.member, invoice_id)

    def until(self, condition, what: str, timeout: float = 20, interval: float = 0.05):
        """Wait for ``condition``, the platform processing what was deposited at each look."""

        def look():
            self.sandbox.process_flux()
            return condition()

        return wait_for(look, timeout, what, interval)

    def wait_status(self, invoice_ids: list[str], status: str, timeout: float = 20) -> None:
        def reached():
            return all(self.view(invoice_id)["status"] == status for invoice_id in invoice_ids)

        self.until(reached, f"{len(invoice_ids)} invoice(s) to be {status}", timeout)

    def wait_platform_ids(self, invoice_ids: list[str]) -> None:
        def known():
            return all(self.receipt_data(i).get("identifiantFactureCPP") for i in invoice_ids)

        self.until(known, f"the platform ids of {len(invoice_ids)} invoice(s)")

    def receipt_data(self, invoice_id: str) -> dict:
        return self.gateway.store.get_invoice(invoice_id)["receipt_data"] or {}

    def platform_invoice(self, number: str) -> dict:
        """The invoice as the sandbox holds it (its id, status, history)."""
        found = self.sandbox.control.get("/invoices", params={"numero": number}).json()
        (item,) = found["invoices"]
        return item

    def move(self, platform_id: int, status: str) -> None:
        """Play the buyer: the recipient moves the invoice on the platform."""
        moved = self.sandbox.control.post(
            f"/invoices/{platform_id}/status", json={"status": status}
        )
        assert moved.status_code == 200, moved.text

    def events(self, invoice_id: str) -> list[dict]:
        result = self.gateway.client.simulate_get("/v1/events", headers=self.member["headers"])
        return [event for event in result.json["events"] if event["invoice_id"] == invoice_id]


@pytest.fixture
def platform(tmp_path, sqlite_url, sandbox):
    instances = []

    def build(**options) -> Platform:
        instances.append(Platform(tmp_path / str(len(instances)), sqlite_url, sandbox, **options))
        return instances[-1]

    yield build
    for instance in instances:
        instance.close()


def minute(at: str) -> datetime:
    """A time as the platform reports a status change: to the minute, in UTC."""
    return datetime.fromisoformat(at).astimezone(UTC).replace(second=0, microsecond=0)


def test_seine_maritime_goes_from_recu_to_mise_en_paiement_as_the_buyer_moves_it(platform, sandbox):
    chorus = platform()
    document = invoice()  # an engagement number, no service code: as the department asks
    assert document["references"]["engagement"] and not document["references"]["service_code"]
    invoice_id = chorus.submit(document)
    assert chorus.view(invoice_id)["status"] == "RECU"
    chorus.start_worker()
    chorus.wait_status([invoice_id], "DEPOSEE")
    chorus.wait_platform_ids([invoice_id])
    on_platform = chorus.platform_invoice(document["number"])
    assert chorus.receipt_data(invoice_id)["identifiantFactureCPP"] == on_platform["id"]
    assert (
        sandbox.control.get(f"/flux/{on_platform['flux']}").json()["syntax"]
        == "IN_DP_E2_CII_FACTURX"
    )
    for status in RECIPIENT_STEPS:
        chorus.move(on_platform["id"], status)
        chorus.wait_status([invoice_id], status)

    history = chorus.view(invoice_id)["history"]
    assert [entry["status"] for entry in history] == ["RECU", "DEPOSEE", *RECIPIENT_STEPS]
    assert all(datetime.fromisoformat(entry["at"]).tzinfo for entry in history)
    moves = chorus.platform_invoice(document["number"])["history"][1:]
    assert [move["status"] for move in moves] == RECIPIENT_STEPS
    assert [datetime.fromisoformat(entry["at"]) for entry in history[2:]] == [
        minute(move["at"]) for move in moves
    ]
    assert sandbox.deposits(document["number"]) == 1


@pytest.mark.parametrize(
    ("document", "code", "field", "words"),
    [
        (
            lambda: invoice("invoice-aube", service_code=None),
            "service.required",
            "references.service_code",
            "exige un code service",
        ),
        (
            lambda: invoice("invoice-aube", service_code="DGAEC"),
            "service.inactive",
            "references.service_code",
            "n'est plus actif (statut SUPPRIME)",
        ),
        (
            lambda: invoice("invoice-aube", service_code="dfcg"),
            "service.unknown",
            "references.service_code",
            "Vouliez-vous dire « DFCG » ?",
        ),
        (
            lambda: invoice(engagement=None),
            "engagement.required",
            "references.engagement",
            "numéro d'engagement juridique est exigé",
        ),
        (
            lambda: invoice(service_code="FACTURES_PUBLIQUES"),
            "service.forbidden",
            "references.service_code",
            "ne demande pas de code service",
        ),
        (
            lambda: invoice(buyer=INACTIVE, engagement=None),
            "directory.inactive",
            "buyer.siret",
            "il doit s'inscrire sur Chorus Pro",
        ),
        (
            lambda: invoice(buyer=UNKNOWN),
            "directory.unknown",
            "buyer.siret",
            "n'est pas inscrit comme destinataire public",
        ),
    ],
)
def test_the_directory_rules_refuse_before_anything_leaves(
    platform, sandbox, document, code, field, words
):
    chorus = platform()
    document = document()
    result = chorus.gateway.post_invoice(chorus.member, document)
    assert result.status_code == 422, result.json
    assert [(e["code"], e["field"]) for e in result.json["errors"]] == [(code, field)]
    assert words in result.json["errors"][0]["message"]
    assert sandbox.deposits(document["number"]) == 0


def test_the_strip_policy_removes_a_reference_the_buyer_does_not_want(platform, sandbox):
    chorus = platform(chorus={"forbidden_references": "strip"})
    document = invoice(service_code="FACTURES_PUBLIQUES")
    accepted = chorus.gateway.post_invoice(chorus.member, document)
    assert accepted.status_code == 202, accepted.json
    (warning,) = accepted.json["warnings"]
    assert (warning["code"], warning["severity"]) == ("service.forbidden", "warning")
    assert "est retiré" in warning["message"]
    invoice_id = accepted.json["id"]
    assert chorus.view(invoice_id)["invoice"]["references"]["service_code"] is None
    chorus.start_worker()
    chorus.wait_status([invoice_id], "DEPOSEE")
    chorus.wait_platform_ids([invoice_id])
    assert chorus.platform_invoice(document["number"])["service"] is None


def test_a_directory_change_after_acceptance_stops_the_invoice_before_it_leaves(platform, sandbox):
    # The change comes seconds after the acceptance's lookup (in life, hours): no recent
    # lookup stands in for the one before sending.
    chorus = platform(recheck_within=0)
    document = invoice(buyer=LIBRARY, engagement=None)  # the library asks for nothing
    invoice_id = chorus.submit(document)
    flags = sandbox.control.patch(f"/structures/{LIBRARY}", json={"engagement_required": True})
    assert flags.status_code == 200, flags.text
    try:
        chorus.start_worker()
        chorus.wait_status([invoice_id], "EN_ERREUR")
    finally:
        sandbox.control.patch(f"/structures/{LIBRARY}", json={"engagement_required": False})
    view = chorus.view(invoice_id)
    assert "numéro d'engagement juridique est exigé" in view["last_error"]
    assert "Corrigez la facture" in view["history"][-1]["comment"]
    (failed,) = [e for e in chorus.events(invoice_id) if e["data"].get("new") == "EN_ERREUR"]
    assert [(e["code"], e["field"]) for e in failed["data"]["errors"]] == [
        ("engagement.required", "references.engagement")
    ]
    assert failed["data"]["retry_at"] is None  # the bookseller fixes it; no blind retry
    assert sandbox.deposits(document["number"]) == 0


@pytest.mark.parametrize("recheck_within, lookups", [(60, 0), (0, 1)])
def test_a_lookup_younger_than_recheck_within_is_the_one_before_sending(
    platform, sandbox, recheck_within, lookups
):
    chorus = platform(recheck_within=recheck_within, batch_size=5)
    ids = [chorus.submit(invoice(buyer=LIBRARY, engagement=None)) for _ in range(5)]
    before = sandbox.calls("structures/v1/rechercher")
    chorus.start_worker()
    chorus.wait_status(ids, "DEPOSEE")
    # One flux of five to one buyer: asked once at most, whatever the number of invoices.
    assert sandbox.calls("structures/v1/rechercher") - before == lookups


def test_one_flux_of_25_invoices_each_gets_its_platform_id_and_status(platform, sandbox):
    chorus = platform(batch_size=25)
    documents = [invoice() if n % 2 else invoice("invoice-aube") for n in range(25)]
    ids = [chorus.submit(document) for document in documents]
    deposits = sandbox.calls("factures/v1/deposer/flux")
    searches = sandbox.calls("factures/v1/rechercher/fournisseur")
    chorus.start_worker()
    chorus.wait_status(ids, "DEPOSEE")
    chorus.wait_platform_ids(ids)
    assert sandbox.calls("factures/v1/deposer/flux") == deposits + 1
    (flux,) = {chorus.view(i)["outlet_reference"] for i in ids}
    listed = sandbox.control.get("/invoices", params={"flux": flux}).json()["invoices"]
    platform_ids = {item["numero"]: item["id"] for item in listed}
    assert len(platform_ids) == 25
    for invoice_id, document in zip(ids, documents, strict=True):
        assert (
            chorus.receipt_data(invoice_id)["identifiantFactureCPP"]
            == (platform_ids[document["number"]])
        )
    assert sandbox.calls("factures/v1/rechercher/fournisseur") >= searches + 3  # 10 a page
    for platform_id in platform_ids.values():
        chorus.move(platform_id, "MISE_A_DISPOSITION")
    chorus.wait_status(ids, "MISE_A_DISPOSITION")


def test_with_faults_and_an_expiring_token_50_invoices_are_each_deposited_once(platform, sandbox):
    chorus = platform(
        # Answers held past the client's patience; a read is repeated at once; an uncertain
        # deposit is looked for on the platform before it is ever made again, once the
        # platform had time to process it: its answer held 0.6 s, then processed at the
        # next look (0.2 s). A wait shorter than that is the case of the last safety net
        # (docs/outlets/chorus.md): a second flux, refused as a duplicate.
        chorus={"timeout": 0.3, "retry_delay": 0.01, "settle_seconds": 2.0},
        batch_size=5,
        max_attempts=1000,  # the test is about never twice and never lost, not giving up
        backoff_base=0.05,
        backoff_max=0.3,
        poll_fast=3600,
    )
    documents = [invoice() if n % 2 else invoice("invoice-aube") for n in range(50)]
    ids = [chorus.submit(document) for document in documents[:25]]
    sandbox.faults(error_rate=0.2, timeout_rate=0.3, timeout_seconds=0.6, seed=11)
    try:
        chorus.start_worker()

        def deposited(count: int):
            # One listing, not one read an invoice: the platform processes its flux at each look.
            return lambda: len(chorus.listed("DEPOSEE")) == count

        chorus.until(deposited(25), "25 invoices to be DEPOSEE", timeout=90, interval=0.2)
        # Half-way, the worker still running: every token dies at once.
        sandbox.control.post("/tokens/expire").raise_for_status()
        expired = sandbox.calls("token")
        for document in documents[25:]:
            ids.append(chorus.submit(document))
            sandbox.process_flux()  # the platform goes on processing meanwhile
        chorus.until(deposited(50), "50 invoices to be DEPOSEE", timeout=90, interval=0.2)
        injected = sandbox.control.get("/faults").json()["injected"]
    finally:
        sandbox.clear_faults()
    assert sandbox.calls("token") > expired  # renewed after the expiry
    assert injected["error"] > 0 and injected["timeout"] > 0
    counts = [sandbox.deposits(document["number"]) for document in documents]
    assert counts == [1] * 50
    # The faults did make invoices retry: a call that may have deposited counts as an
    # attempt; one that certainly did not is a wait for the platform, not an attempt.
    views = [chorus.view(i) for i in ids]
    retried = [
        view
        for view in views
        if view["attempts"] > 1
        or "EN_ATTENTE_PLATEFORME" in [entry["status"] for entry in view["history"]]
    ]
    assert retried

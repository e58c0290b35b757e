"""Waiting for the platform is not an error: no attempt used up, ``EN_ATTENTE_PLATEFORME``
with the next try in Paris time, capped by a duration; giving up alerts the administrator.

The memory outlet plays a platform that is down (``fail = "unavailable"``) or whose answer
is lost (``"lost"``); time is the worker's clock, moved by the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.times import PARIS
from plugins.outlets.memory import read_journal
from tests.conftest import Clock, Gateway, example, make_config


@pytest.fixture
def build(tmp_path):
    """Return a factory of gateways whose memory outlet fails as ``fail`` says."""
    made: list[Gateway] = []

    def factory(url: str, fail: str, **worker) -> Gateway:
        config = make_config(tmp_path, url)
        config.plugins["memory"]["fail"] = fail
        config.worker.backoff_base = 10
        config.worker.backoff_max = 600
        for name, value in worker.items():
            setattr(config.worker, name, value)
        made.append(Gateway(config))
        return made[-1]

    yield factory
    for gateway in made:
        gateway.store.dispose()


def submit(gateway: Gateway, member: dict) -> str:
    result = gateway.post_invoice(member, example("invoice-seine-maritime"))
    assert result.status_code == 202, result.json
    return result.json["id"]


def platform_back(gateway: Gateway) -> None:
    gateway.services.registry.outlets["memory"].config["fail"] = None


def events(gateway: Gateway, member: dict) -> list[dict]:
    return gateway.client.simulate_get("/v1/events", headers=member["headers"]).json["events"]


def test_an_unavailable_platform_is_waited_for_without_using_attempts(build, database_url):
    gateway = build(database_url, "unavailable", max_attempts=2)
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    worker = gateway.worker(clock=clock)

    seen = []
    for _ in range(5):  # more knocks on the door than attempts allowed
        assert worker.run_once() == 1
        view = gateway.get_invoice(member, invoice_id)
        seen.append(view["status"])
        assert view["attempts"] == 0
        retry_at = datetime.fromisoformat(view["retry_at"])
        assert retry_at > clock.now
        assert datetime.fromisoformat(view["retry_at_paris"]).utcoffset() in (
            timedelta(hours=1),
            timedelta(hours=2),
        )
        local = retry_at.astimezone(PARIS)
        day = "" if local.date() == clock.now.astimezone(PARIS).date() else f"le {local:%d/%m} "
        when = f"Nouvel essai prévu {day}à {local:%H:%M} (heure de Paris)"
        assert when in view["history"][-1]["comment"]
        assert "hors service" in view["history"][-1]["comment"]
        clock.now = retry_at
    assert seen == ["EN_ATTENTE_PLATEFORME"] * 5
    delays = [
        (datetime.fromisoformat(b["at"]) - datetime.fromisoformat(a["at"])).total_seconds()
        for a, b in zip(view["history"][1:], view["history"][2:], strict=False)
    ]
    assert delays[-1] > delays[0]  # the wait grows with the time already waited

    platform_back(gateway)
    assert worker.run_once() == 1
    view = gateway.get_invoice(member, invoice_id)
    assert (view["status"], view["attempts"], view["retry_at"]) == ("DEPOSEE", 1, None)
    assert view["waiting_since"] is None
    assert "EN_ERREUR" not in [entry["status"] for entry in view["history"]]
    assert len(read_journal(gateway.journal)) == 1
    # One event on entering the wait, one on leaving it: no event for each knock.
    assert [e["data"]["new"] for e in events(gateway, member)] == [
        "RECU",
        "EN_ATTENTE_PLATEFORME",
        "DEPOSEE",
    ]


def test_a_lost_answer_uses_one_attempt_and_waits_to_find_the_invoice(build, sqlite_url):
    gateway = build(sqlite_url, "lost", max_attempts=1)
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    worker = gateway.worker(clock=clock)

    assert worker.run_once() == 1
    view = gateway.get_invoice(member, invoice_id)
    # The only attempt allowed is spent, yet the invoice is not given up: it may be taken.
    assert (view["status"], view["attempts"]) == ("EN_ATTENTE_PLATEFORME", 1)
    assert "a pu être prise" in view["history"][-1]["comment"]
    platform_back(gateway)
    clock.now = datetime.fromisoformat(view["retry_at"])
    assert worker.run_once() == 1
    assert gateway.get_invoice(member, invoice_id)["status"] == "DEPOSEE"
    assert len(read_journal(gateway.journal)) == 1


def test_waiting_beyond_the_cap_abandons_and_alerts_the_administrator(build, database_url):
    gateway = build(database_url, "unavailable", max_wait_seconds=3600)
    member = gateway.new_member()
    other = gateway.new_member("Librairie du Marché", "79345612000013")
    invoice_id = submit(gateway, member)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    worker = gateway.worker(clock=clock)
    started = clock.now
    knocks = 0
    while True:
        assert worker.run_once() == 1
        knocks += 1
        row = gateway.store.get_invoice(invoice_id)
        if row["next_attempt_at"] is None:
            break
        assert row["status"] == "EN_ATTENTE_PLATEFORME"
        clock.now = row["next_attempt_at"]
    assert clock.now - started >= timedelta(seconds=3600)
    assert knocks < 20  # backoff, not a knock a second
    view = gateway.get_invoice(member, invoice_id)
    assert (view["status"], view["attempts"], view["retry_at"]) == ("EN_ERREUR", 0, None)
    assert "1 heure(s) d'attente" in view["history"][-1]["comment"]
    assert "l'administrateur est alerté" in view["history"][-1]["comment"]
    clock.advance(days=30)
    assert worker.run_once() == 0

    feed = gateway.client.simulate_get("/v1/admin/events", headers=gateway.admin())
    assert feed.status_code == 200
    (alert,) = feed.json["events"]
    assert alert["type"] == "invoice.send_abandoned"
    assert (alert["member_id"], alert["invoice_id"]) == (member["id"], invoice_id)
    assert alert["data"]["waited_seconds"] >= 3600 and alert["data"]["attempts"] == 0
    assert "hors service" in alert["data"]["reason"]
    after = gateway.client.simulate_get(
        "/v1/admin/events", params={"after": feed.json["next_cursor"]}, headers=gateway.admin()
    )
    assert after.json["events"] == []
    for caller in (member, other):
        refused = gateway.client.simulate_get("/v1/admin/events", headers=caller["headers"])
        assert refused.status_code == 403
    # The member's own feed has it too (its software is told).
    assert "invoice.send_abandoned" in {e["type"] for e in events(gateway, member)}


def test_a_real_error_after_waiting_counts_and_shows_en_erreur(build, sqlite_url):
    gateway = build(sqlite_url, "unavailable")
    member = gateway.new_member()
    invoice_id = submit(gateway, member)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    worker = gateway.worker(clock=clock)
    worker.run_once()
    gateway.services.registry.outlets["memory"].config["fail"] = "transient"
    clock.now = gateway.store.get_invoice(invoice_id)["next_attempt_at"]
    worker.run_once()
    view = gateway.get_invoice(member, invoice_id)
    assert (view["status"], view["attempts"]) == ("EN_ERREUR", 1)
    assert view["retry_at"] is not None and view["waiting_since"] is None
    assert "tentative 1" in view["history"][-1]["comment"]

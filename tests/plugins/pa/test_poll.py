"""Following a deposited invoice on the PA sandbox: its lifecycle read from the CDAR flows the
platform delivers (the standard's way) agrees with the one its Metadata lists."""

from __future__ import annotations

import pytest

from gateway.outlets import PollContext, Receipt, SendContext
from gateway.schemas import load_invoice
from gateway.testing.outlets import SAMPLE_INVOICE, installed_registry
from plugins.pa.oauth import TokenCache
from plugins.pa.outlet import PaOutlet, metadata_steps
from tests.plugins.pa.sandbox import pa_sandbox  # noqa: F401 (fixture)


@pytest.fixture
def outlet():
    made = PaOutlet({"timeout": 5.0}, tokens=TokenCache())
    yield made
    made.http.close()


def test_cdar_flows_and_metadata_tell_the_same_lifecycle(outlet, pa_sandbox):  # noqa: F811
    settings = pa_sandbox.settings(syntax="CII")
    invoice = load_invoice({**SAMPLE_INVOICE, "number": "PA-POLL-1"})
    renderers = installed_registry().renderers
    context = SendContext(
        invoice_id="inv_poll_1",
        member_id="m1",
        attempt=1,
        settings=settings,
        render=lambda name, inv, profile: renderers[name].render(inv, profile=profile),
    )
    receipt = outlet.send(invoice, [], context)
    # as the core hands it back: its data, not its time
    receipt = Receipt(outlet="pa", reference=receipt.reference, data=receipt.data)
    receipt.invoice_id = "inv_poll_1"
    assert receipt.data["number"] == "PA-POLL-1"
    pa_sandbox.step()
    for code, reason in (("202", None), ("207", None), ("210", "DOUBLON")):
        pa_sandbox.control.post("/clock", json={"advance": 60}).raise_for_status()
        body = {"code": code, **({"reason": reason} if reason else {})}
        pa_sandbox.control.post(f"/flows/{receipt.reference}/status", json=body).raise_for_status()

    client = outlet.client(outlet.settings(settings))
    mine = ("PA-POLL-1", receipt.data["seller_siren"])
    from_cdar = outlet._cdar_steps(client, [receipt])[mine]
    listed = metadata_steps(client.metadata(receipt.reference))
    assert (
        [s[0] for s in from_cdar]
        == [s[0] for s in listed]
        == [
            "DEPOSEE",
            "EN_COURS_ACHEMINEMENT",
            "SUSPENDUE",
            "REJETEE",
        ]
    )
    assert [s[2] for s in from_cdar] == [s[2] for s in listed]
    assert [s[1].replace(microsecond=0) for s in listed] == [s[1] for s in from_cdar]
    assert from_cdar[-1][3] == {"cdar_status": "210", "cdar_reason_code": "DOUBLON"}

    (update,) = outlet.poll([receipt], PollContext("m1", settings))
    assert update.status == "REJETEE" and update.comment == "Refusée (210) : motif DOUBLON"
    assert [s[0] for s in update.history][-2:] == ["SUSPENDUE", "REJETEE"]


def test_a_token_the_platform_expired_is_renewed_without_failing(outlet, pa_sandbox):  # noqa: F811
    settings = pa_sandbox.settings()
    assert outlet.health(settings) == {"ok": True}
    calls = pa_sandbox.control.get("/counters").json()["calls"]
    tokens_before = calls.get("POST /oauth/token", 0)
    pa_sandbox.control.post("/tokens/expire").raise_for_status()
    assert outlet.health(settings) == {"ok": True}  # 401, a new token, the call again
    calls = pa_sandbox.control.get("/counters").json()["calls"]
    assert calls.get("POST /oauth/token", 0) == tokens_before + 1
    refused = outlet.health({**settings, "client_secret": "pas-le-secret"})
    assert refused["ok"] is False and "identifiants refusés" in refused["error"]
    assert "pas-le-secret" not in refused["error"]

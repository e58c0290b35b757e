"""A PA account is one company's mailbox: a member without its own credentials gets nothing
of the plugin's account, and statuses are matched on the invoice number and its seller."""

from __future__ import annotations

import pytest

from gateway.outlets import PermanentOutletError, PollContext, Receipt, ReceiveContext, SendContext
from gateway.schemas import load_invoice
from gateway.testing.outlets import SAMPLE_INVOICE, installed_registry
from plugins.pa.oauth import TokenCache
from plugins.pa.outlet import PaOutlet
from tests.plugins.pa.sandbox import pa_sandbox  # noqa: F401 (fixture)
from tests.plugins.pa.test_receive import inject

OTHER_SIREN = "793456120"
RENDERERS = installed_registry().renderers


def RENDER(name, invoice, profile):  # noqa: N802 (as SendContext calls it)
    return RENDERERS[name].render(invoice, profile=profile)


@pytest.fixture
def shared(pa_sandbox):  # noqa: F811
    """The outlet as an association would configure it: its own account in [plugins.pa]."""
    made = PaOutlet({"timeout": 5.0, **pa_sandbox.settings()}, tokens=TokenCache())
    yield made
    made.http.close()


def test_a_member_without_credentials_gets_nothing_of_the_plugin_s_account(shared, pa_sandbox):  # noqa: F811
    flow_id, _ = inject(pa_sandbox, "FOURN-PARTAGE-1")
    context = ReceiveContext("member_b", {})  # the default URLs, no credentials
    calls = {
        "receive": lambda: shared.receive(context),
        "answer": lambda: shared.answer(flow_id, "210", "DOUBLON", None, context),
        "poll": lambda: shared.poll([], PollContext("member_b", {})),
        "send": lambda: shared.send(
            load_invoice({**SAMPLE_INVOICE, "number": "PA-B-1"}),
            [],
            SendContext("inv_b", "member_b", 1, {}, render=RENDER),
        ),
    }
    for name, call in calls.items():
        with pytest.raises(PermanentOutletError) as refused:
            call()
        fields = {finding.field for finding in refused.value.findings}
        assert fields == {"settings.pa.client_id", "settings.pa.client_secret"}, name
        assert "client_id" in refused.value.message
    health = shared.health({})
    assert health["ok"] is False and "client_secret" in health["error"]
    assert pa_sandbox.control.get(f"/inbound/{flow_id}/answers").json()["answers"] == []


def test_statuses_land_only_on_the_invoice_of_their_seller(shared, pa_sandbox):  # noqa: F811
    settings = pa_sandbox.settings(syntax="CII")
    invoice = load_invoice({**SAMPLE_INVOICE, "number": "PA-MEME-NUMERO"})
    context = SendContext("inv_a", "member_a", 1, settings, render=RENDER)
    sent = shared.send(invoice, [], context)
    pa_sandbox.step()
    body = {"code": "210", "reason": "DOUBLON"}
    pa_sandbox.control.post(f"/flows/{sent.reference}/status", json=body).raise_for_status()
    mine = Receipt(outlet="pa", reference=sent.reference, data=sent.data)
    # another member's invoice of the same number, followed on the same account
    theirs = Receipt(
        outlet="pa",
        reference="autre-flux",
        data={**sent.data, "seller_siren": OTHER_SIREN},
    )
    assert sent.data["seller_siren"] == SAMPLE_INVOICE["seller"]["siret"][:9] != OTHER_SIREN
    steps = shared._cdar_steps(shared.client(shared.settings(settings)), [mine, theirs])
    assert [s[0] for s in steps[("PA-MEME-NUMERO", sent.data["seller_siren"])]][-1] == "REJETEE"
    assert ("PA-MEME-NUMERO", OTHER_SIREN) not in steps

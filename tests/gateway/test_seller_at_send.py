"""The seller's identity is checked again right before the worker sends.

An invoice is accepted in its member's name (``seller.not_member`` otherwise); the
administrator may change or remove that member's SIRET afterwards. The worker then refuses
it for good, and the Chorus Pro sandbox receives nothing.
"""

from __future__ import annotations

import pytest

from tests.conftest import Gateway, example
from tests.plugins.chorus.sandbox import Sandbox

QUAIS = "81234567600017"  # the seller of examples/invoice-seine-maritime.json
OTHER = "79345612000013"


def accepted_invoice(guarded: Gateway, sandbox: Sandbox, number: str) -> tuple[dict, str]:
    member = guarded.new_member("Librairie des Quais", QUAIS)
    saved = guarded.client.simulate_patch(
        f"/v1/members/{member['id']}",
        json={"settings": {"chorus": sandbox.settings()}},
        headers=member["headers"],
    )
    assert saved.status_code == 200, saved.json
    accepted = guarded.post_invoice(member, {**example("invoice-seine-maritime"), "number": number})
    assert accepted.status_code == 202, accepted.json
    return member, accepted.json["id"]


@pytest.mark.parametrize(
    ("number", "siret", "says"),
    [
        ("F-SIRET-RETIRE", None, "n'a pas encore de SIRET"),
        ("F-SIRET-CHANGE", OTHER, f"n'est pas celui de votre compte ({OTHER})"),
    ],
)
def test_an_invoice_whose_seller_is_no_longer_the_member_is_not_sent(
    guarded, sandbox, number, siret, says
):
    member, invoice_id = accepted_invoice(guarded, sandbox, number)
    deposits = sandbox.calls("factures/v1/deposer/flux")
    changed = guarded.client.simulate_patch(
        f"/v1/members/{member['id']}", json={"siret": siret}, headers=guarded.admin()
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["siret"] == siret

    assert guarded.worker().run_once() == 1

    assert sandbox.calls("factures/v1/deposer/flux") == deposits
    assert sandbox.deposits(number) == 0
    view = guarded.get_invoice(member, invoice_id)
    assert view["status"] == "EN_ERREUR"
    assert says in view["last_error"]
    comment = view["history"][-1]["comment"]
    assert comment.startswith("Envoi refusé : le SIRET de votre compte a changé")
    assert ".." not in comment
    events = guarded.client.simulate_get("/v1/events", headers=member["headers"]).json
    (failed,) = [e for e in events["events"] if e["data"].get("new") == "EN_ERREUR"]
    assert [(e["code"], e["field"]) for e in failed["data"]["errors"]] == [
        ("seller.not_member", "seller.siret")
    ]
    assert failed["data"]["retry_at"] is None  # permanent: no blind retry
    assert guarded.worker().run_once() == 0  # nothing left due


def test_the_member_still_named_by_the_invoice_is_sent(guarded, sandbox):
    member, invoice_id = accepted_invoice(guarded, sandbox, "F-SIRET-GARDE")
    kept = guarded.client.simulate_patch(
        f"/v1/members/{member['id']}",
        json={"name": "Librairie des Quais (Rouen)"},
        headers=guarded.admin(),
    )
    assert kept.status_code == 200, kept.json
    guarded.worker().run_once()
    assert guarded.get_invoice(member, invoice_id)["status"] == "DEPOSEE"
    assert sandbox.deposits("F-SIRET-GARDE") == 1

"""Suppliers' invoices received through the PA sandbox, end to end: a publisher's invoice
injected on the sandbox (its control API plays the supplier on another platform) is pulled
by the real gateway's worker over HTTP, listed to the member through the REST API with its
original, and the member's answer reaches the sandbox as a CDAR lifecycle message.
"""

from __future__ import annotations

import base64
import hashlib

from tests.conftest import DATA
from tests.integration.test_pa import bookshop  # noqa: F401 (fixture)
from tests.plugins.pa.sandbox import pa_sandbox  # noqa: F401 (fixture)

#: A publisher's distributor (seeded on the sandbox, SIRET 55210055400013) invoicing the
#: demo bookshop (SIREN 812345676, the sandbox's first client): XP Z12-012's CII, fr-2026.
PUBLISHER_INVOICE = DATA / "xml" / "cii-publisher-to-bookshop.xml"
NUMBER = "DLN-2026-11873"


def inject(sandbox, number: str = NUMBER) -> tuple[str, bytes]:
    """Deliver the publisher's invoice, numbered ``number``, to the demo bookshop."""
    content = PUBLISHER_INVOICE.read_bytes().replace(NUMBER.encode(), number.encode())
    made = sandbox.control.post(
        "/inbound",
        json={
            "to": sandbox.credentials["siren"],
            "syntax": "CII",
            "content_base64": base64.b64encode(content).decode(),
            "name": f"{number}.xml",
        },
    )
    assert made.status_code == 201, made.text
    return made.json()["flow_id"], content


def received(shop, number: str) -> dict:
    """The member's inbound invoice numbered ``number``, as the API lists it."""
    listed = shop.gateway.client.simulate_get(
        "/v1/inbound-invoices", params={"number": number}, headers=shop.member["headers"]
    )
    assert listed.status_code == 200, listed.json
    (item,) = listed.json["items"]
    return item


def answer(shop, item: dict, **body):
    return shop.gateway.client.simulate_post(
        f"/v1/inbound-invoices/{item['id']}/status", json=body, headers=shop.member["headers"]
    )


def answers_held(sandbox, flow_id: str) -> list[tuple[str, str | None]]:
    """The statuses the sandbox recorded from the member's CDAR for this flow, once it has
    read every CDAR deposited."""
    sandbox.step()
    found = sandbox.control.get(f"/inbound/{flow_id}/answers")
    assert found.status_code == 200, found.text
    return [(a["code"], a["reason"]) for a in found.json()["answers"]]


def test_an_approved_invoice_is_answered_205_once(bookshop, pa_sandbox):  # noqa: F811
    shop = bookshop()
    flow_id, content = inject(pa_sandbox)
    shop.worker.scheduler.run_due()  # inbound.pull is due at the worker's first cycle

    item = received(shop, NUMBER)
    assert item["reference"] == flow_id and item["parsed"] is True
    assert item["sender"]["siret"] == "55210055400013"
    assert item["sender"]["name"] == "Diffusion du Livre Normand"
    assert item["totals"]["net"] == "103.08" and item["totals"]["payable"] == "108.75"
    assert item["status"] is None
    original = shop.gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}/original", headers=shop.member["headers"]
    )
    assert original.status_code == 200
    assert original.content == content
    assert original.headers["x-content-sha256"] == hashlib.sha256(content).hexdigest()

    approved = answer(shop, item, status="205", comment="Bon pour paiement")
    assert approved.status_code == 202, approved.json
    assert approved.json["sending"] == "pending"
    assert answers_held(pa_sandbox, flow_id) == []  # recorded, not sent before the worker
    shop.worker.scheduler.run_due()
    assert answers_held(pa_sandbox, flow_id) == [("205", None)]
    view = shop.gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}", headers=shop.member["headers"]
    ).json
    (sent,) = view["statuses"]
    assert sent["sending"] == "sent" and sent["attempts"] == 1
    assert pa_sandbox.flow(sent["message_reference"])["ack_status"] == "Ok"

    shop.worker.scheduler.run_due()  # a second cycle sends nothing again
    assert answers_held(pa_sandbox, flow_id) == [("205", None)]


def test_a_refusal_is_answered_210_with_its_reason_and_needs_one(bookshop, pa_sandbox):  # noqa: F811
    shop = bookshop()
    flow_id, _ = inject(pa_sandbox, "DLN-2026-11874")
    shop.worker.scheduler.run_due()
    item = received(shop, "DLN-2026-11874")

    refused = answer(shop, item, status="210")
    assert refused.status_code == 422, refused.json
    assert [(e["code"], e["field"]) for e in refused.json["errors"]] == [
        ("inbound.reason_required", "reason")
    ]
    # a reason of a dispute (207), not of a refusal: the platform would refuse the CDAR
    refused = answer(shop, item, status="210", reason="PU_ERR")
    assert refused.status_code == 422, refused.json
    assert [(e["code"], e["field"]) for e in refused.json["errors"]] == [
        ("inbound.reason_invalid", "reason")
    ]
    shop.worker.scheduler.run_due()
    assert answers_held(pa_sandbox, flow_id) == []  # nothing reached the platform

    refused = answer(shop, item, status="210", reason="MONTANTTOTAL_ERR", comment="Remise oubliée")
    assert refused.status_code == 202, refused.json
    shop.worker.scheduler.run_due()
    assert answers_held(pa_sandbox, flow_id) == [("210", "MONTANTTOTAL_ERR")]
    assert received(shop, "DLN-2026-11874")["status"] == "210"


def test_another_bookshop_does_not_see_the_invoice(bookshop, pa_sandbox):  # noqa: F811
    shop = bookshop()
    inject(pa_sandbox, "DLN-2026-11875")
    other = shop.gateway.new_member("Librairie La Page Blanche", "79345612000013")
    clients = pa_sandbox.control.get("/credentials").json()
    (client,) = [c for c in clients["clients"] if c["siren"] == "793456120"]
    settings = {
        **pa_sandbox.settings(),
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }
    patched = shop.gateway.client.simulate_patch(
        f"/v1/members/{other['id']}",
        json={"settings": {"pa": settings}},
        headers=shop.gateway.admin(),
    )
    assert patched.status_code == 200, patched.json
    shop.worker.scheduler.run_due()  # both members pull from the platform
    mine = received(shop, "DLN-2026-11875")

    theirs = shop.gateway.client.simulate_get("/v1/inbound-invoices", headers=other["headers"])
    assert theirs.status_code == 200 and theirs.json["items"] == []
    for suffix in ("", "/original"):
        result = shop.gateway.client.simulate_get(
            f"/v1/inbound-invoices/{mine['id']}{suffix}", headers=other["headers"]
        )
        assert result.status_code == 404, suffix

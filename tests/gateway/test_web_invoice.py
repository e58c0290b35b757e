"""The invoice's page and its action pages, in process: what a browser test does not
reach quickly (a refused action's page, a document's headers)."""

from __future__ import annotations

from html import unescape

from tests.conftest import example
from tests.gateway.test_web_sessions import with_key


def submitted(gateway, member) -> str:
    answer = gateway.post_invoice(member, example("invoice-seine-maritime"))
    assert answer.status_code == 202, answer.json
    return answer.json["id"]


def test_the_invoice_page_and_an_action_its_status_does_not_allow(gateway, member):
    invoice_id = submitted(gateway, member)
    cookies = with_key(gateway, member["api_key"])
    page = gateway.client.simulate_get(f"/app/factures/{invoice_id}", cookies=cookies)
    assert page.status_code == 200, page.text
    assert "FA-2026-0142" in page.text and "Reçue, en attente d'envoi" in unescape(page.text)
    refused = gateway.client.simulate_get(f"/app/factures/{invoice_id}/recycler", cookies=cookies)
    assert refused.status_code == 409, refused.text
    assert "n'est pas possible sur une facture au statut RECU" in unescape(refused.text)
    assert "Vérifier dans l" not in refused.text  # no form

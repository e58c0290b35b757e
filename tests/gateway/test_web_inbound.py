"""« Factures reçues »: the list, one invoice's page and its answer buttons, through the
real app (no browser)."""

from __future__ import annotations

from html import unescape

from tests.gateway.test_inbound_receive import flow, receiving
from tests.gateway.test_web_sessions import csrf_of, post_form, site, with_key  # noqa: F401


def test_a_received_invoice_is_listed_shown_and_approved(site):  # noqa: F811
    member = site.new_member()
    receiving(site, member)
    outlet = site.services.registry.outlets["memory"]
    outlet.deliver(member["id"], flow("FLUX-W"))
    site.worker(clock=site.services.clock).scheduler.run_due()
    cookies = with_key(site, member["api_key"])

    listed = site.client.simulate_get("/app/factures-recues", cookies=cookies)
    assert listed.status_code == 200
    assert "FA-2026-0143" in listed.text and "À traiter" in unescape(listed.text)
    inbound_id = site.client.simulate_get("/v1/inbound-invoices", headers=member["headers"]).json[
        "items"
    ][0]["id"]
    path = f"/app/factures-recues/{inbound_id}"
    page = site.client.simulate_get(path, cookies=cookies)
    assert page.status_code == 200 and 'value="205"' in page.text
    token = csrf_of(site, cookies, path)

    refused = post_form(site, path, cookies, csrf=token, status="210", reason="", comment="")
    assert refused.status_code == 422 and "motif" in unescape(refused.text)
    approved = post_form(site, path, cookies, csrf=token, status="205", reason="", comment="")
    assert approved.status_code == 303 and approved.headers["location"] == path
    shown = unescape(site.client.simulate_get(path, cookies=cookies).text)
    assert "Statut « Approuvée » enregistré" in shown and "en cours d'envoi" in shown
    assert 'value="205"' not in shown  # approved: only payment may follow, not offered here

    original = site.client.simulate_get(f"{path}/original", cookies=cookies)
    assert original.status_code == 200 and original.content.startswith(b"<?xml")

    other = site.new_member("Librairie du Port", "52345678900014")
    other_cookies = with_key(site, other["api_key"])
    assert site.client.simulate_get(path, cookies=other_cookies).status_code == 404

"""The invoice's page and its action pages, in process: what a browser test does not
reach quickly (a refused action's page, a document's headers)."""

from __future__ import annotations

import json
import re
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


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (name, file name or None, content) parts."""
    boundary = "----fg-test-boundary"
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += b"Content-Type: application/json\r\n"
        body += b"\r\n" + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def refused_before_buyer(gateway, invoice_id: str) -> None:
    """As the worker leaves an invoice the platform rejected: EN_ERREUR, no retry planned."""
    row = gateway.store.get_invoice(invoice_id)
    with gateway.store.begin() as conn:
        gateway.store.update_invoice(conn, row["seq"], status="EN_ERREUR", next_attempt_at=None)


def test_a_document_is_shown_inline_only_when_a_pdf_and_downloaded_on_demand(gateway, member):
    invoice_id = submitted(gateway, member)
    cookies = with_key(gateway, member["api_key"])
    base = f"/app/factures/{invoice_id}/documents"
    source = gateway.client.simulate_get(f"{base}/original.json", cookies=cookies)
    assert source.status_code == 200 and source.json["number"] == "FA-2026-0142"
    # Whatever an upload holds is never rendered from the site's origin.
    assert source.headers["content-disposition"] == 'attachment; filename="original.json"'
    assert source.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'self'"
    assert source.headers["x-frame-options"] == "SAMEORIGIN"
    missing = gateway.client.simulate_get(f"{base}/absent.pdf", cookies=cookies)
    assert missing.status_code == 404 and "Page introuvable" in missing.text


def test_correcting_with_an_uploaded_document(gateway, member):
    invoice_id = submitted(gateway, member)
    refused_before_buyer(gateway, invoice_id)
    cookies = with_key(gateway, member["api_key"])
    page = f"/app/factures/{invoice_id}/corriger"
    form = gateway.client.simulate_get(page, cookies=cookies)
    assert form.status_code == 200 and 'value="EJ2026000815"' in form.text
    token = re.search(r"corriger\?csrf=([^\"]+)\"", form.text).group(1)
    corrected = example("invoice-seine-maritime")
    corrected["references"]["engagement"] = "EJ-77"
    document = json.dumps(corrected).encode()

    def post(token: str, *parts):
        body, content_type = multipart(list(parts))
        headers = {"Content-Type": content_type}
        return gateway.client.simulate_post(
            page, params={"csrf": token}, body=body, headers=headers, cookies=cookies
        )

    twice = post(token, ("file", "a.json", document), ("file", "b.json", document))
    assert twice.status_code == 422
    assert "Joignez un seul document" in re.search(
        r'id="f-file-erreur">(.*?)</ul>', twice.text, re.S
    ).group(1)
    assert post("forged", ("file", "a.json", document)).status_code == 403
    done = post(token, ("buyer.siret", None, b""), ("file", "a.json", document))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/app/factures/{invoice_id}"
    view = gateway.get_invoice(member, invoice_id)
    assert (view["status"], view["version"]) == ("RECU", 2)
    assert view["invoice"]["references"]["engagement"] == "EJ-77"

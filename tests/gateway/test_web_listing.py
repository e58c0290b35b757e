"""The invoices list (filters, search, pages) and the upload page, through the real app."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from html import unescape

import pytest

from gateway.services import invoices as invoice_service
from tests.conftest import example
from tests.gateway.test_web_sessions import clock, csrf_of, site, with_key

#: The sign-in tests' fixtures, used here by name (a gateway on a fresh SQLite store).
__all__ = ["clock", "site"]

SEINE = "22760540900019"
AUBE = "22100005200011"


def deposit(site, member, number: str, buyer: str = "seine-maritime", **changes) -> str:
    document = {**example(f"invoice-{buyer}"), "number": number, **changes}
    result = site.post_invoice(member, document)
    assert result.status_code == 202, result.json
    return result.json["id"]


def numbers_on(page) -> list[str]:
    assert page.status_code == 200, page.text
    return re.findall(r'<td><a href="/app/factures/[^"]+">([^<]+)</a></td>', page.text)


def listing(site, cookies, **params):
    return site.client.simulate_get("/app/factures", params=params, cookies=cookies)


@pytest.fixture
def member(site):
    member = site.new_member()
    customer = {"name": "Département de l'Aube", "channel": "chorus", "copies": []}
    put = site.client.simulate_put(
        f"/v1/customers/{AUBE}", json=customer, headers=member["headers"]
    )
    assert put.status_code in (200, 201), put.json
    member["cookies"] = with_key(site, member["api_key"])
    return member


def test_the_list_filters_by_status_customer_and_searches(site, member):
    cookies = member["cookies"]
    for index in range(3):
        deposit(site, member, f"FA-2026-{index:03d}")
    aube = deposit(site, member, "AUB-0001", buyer="aube")
    with site.store.begin() as conn:
        site.store.update_invoice(conn, site.store.get_invoice(aube)["seq"], status="REJETEE")
    assert numbers_on(listing(site, cookies)) == [
        "AUB-0001",
        "FA-2026-002",
        "FA-2026-001",
        "FA-2026-000",
    ]
    rejected = listing(site, cookies, statut="REJETEE")
    assert numbers_on(rejected) == ["AUB-0001"]
    # Each status present has its chip, with its count.
    chip = r'value="REJETEE" checked>.*?<span class="compte-statut">1</span>'
    assert re.search(chip, rejected.text)
    assert numbers_on(listing(site, cookies, statut=["REJETEE", "RECU"])) == [
        "AUB-0001",
        "FA-2026-002",
        "FA-2026-001",
        "FA-2026-000",
    ]
    assert numbers_on(listing(site, cookies, a_traiter="1")) == ["AUB-0001"]
    assert numbers_on(listing(site, cookies, client=AUBE)) == ["AUB-0001"]
    assert numbers_on(listing(site, cookies, q="fa-2026-00")) == [
        "FA-2026-002",
        "FA-2026-001",
        "FA-2026-000",
    ]
    assert numbers_on(listing(site, cookies, q="aube")) == ["AUB-0001"]  # the customer's name
    assert numbers_on(listing(site, cookies, q="227 605 409 00019"))[0] == "FA-2026-002"
    payable = site.get_invoice(member, aube)["totals"]["payable"]
    assert numbers_on(listing(site, cookies, q=payable.replace(".", ","))) == ["AUB-0001"]
    assert numbers_on(listing(site, cookies, q="FA-2026", statut="REJETEE")) == []
    empty = listing(site, cookies, q="nulle-part")
    assert "Aucune facture ne correspond" in unescape(empty.text)
    wrong = listing(site, cookies, depuis="demain")
    assert wrong.status_code == 422 and "Indiquez une date" in wrong.text
    # Another member's invoices are not searched.
    other = site.new_member(name="Autre librairie", siret="73282932000074")
    assert numbers_on(listing(site, with_key(site, other["api_key"]), q="FA")) == []


def test_pages_go_on_and_a_search_reads_a_bounded_window(site, member, monkeypatch):
    cookies = member["cookies"]
    for index in range(5):
        deposit(site, member, f"PG-{index}")
    monkeypatch.setattr("gateway.web.invoices.PAGE_SIZE", 2)
    first = listing(site, cookies)
    assert numbers_on(first) == ["PG-4", "PG-3"]
    more = unescape(re.search(r'href="\?([^"]+)">Suivantes', first.text).group(1))
    second = site.client.simulate_get("/app/factures", query_string=more, cookies=cookies)
    assert numbers_on(second) == ["PG-2", "PG-1"]
    # Three invoices looked at by a page: PG-4 alone is found, then the search goes on.
    monkeypatch.setattr(invoice_service, "SEARCH_SCAN", 3)
    found = listing(site, cookies, q="PG-4")
    assert numbers_on(found) == ["PG-4"] and "parcouru 3 factures" in unescape(found.text)
    link = re.search(r'href="\?([^"]+)">Chercher dans les plus anciennes', found.text)
    deeper = unescape(link.group(1))
    assert "q=PG-4" in deeper
    # A number given whole is found at once, however old (and not with another filter).
    assert numbers_on(listing(site, cookies, q="PG-0")) == ["PG-0"]
    assert numbers_on(listing(site, cookies, q="PG-0", statut="REJETEE")) == []
    rest = site.client.simulate_get("/app/factures", query_string=deeper, cookies=cookies)
    assert numbers_on(rest) == [] and "Chercher dans les plus anciennes" not in rest.text


def multipart(**fields) -> tuple[bytes, str]:
    """A multipart/form-data body: ``name=(filename, bytes)`` for a file, else text."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in fields.items():
        if isinstance(value, tuple):
            head = f'Content-Disposition: form-data; name="{name}"; filename="{value[0]}"\r\n'
            head += "Content-Type: application/octet-stream\r\n"
            content = value[1]
        else:
            head = f'Content-Disposition: form-data; name="{name}"\r\n'
            content = value.encode()
        body += f"--{boundary}\r\n{head}\r\n".encode() + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post_upload(site, cookies, token, **fields):
    body, content_type = multipart(**fields)
    return site.client.simulate_post(
        "/app/deposer",
        params={"csrf": token},
        body=body,
        headers={"Content-Type": content_type},
        cookies=cookies,
    )


def kept(page) -> dict[str, str]:
    """The hidden fields of the "Envoyer" form."""
    form = page.text[page.text.index("envoi-final") :]
    form = form[: form.index("</form>")]
    return {
        name: unescape(value)
        for name, value in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form)
    }


def test_upload_checks_then_sends_once(site, member):
    cookies = member["cookies"]
    token = csrf_of(site, cookies, "/app/deposer")
    document = {**example("invoice-seine-maritime"), "number": "DEP-0001"}
    data = json.dumps(document).encode()
    checked = post_upload(site, cookies, token, etape="verifier", fichier=("facture.json", data))
    assert checked.status_code == 200, checked.text
    text = unescape(checked.text)
    assert "Facture DEP-0001 : prête à partir" in text and "Net à payer" in text
    assert site.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"] == []
    fields = kept(checked)
    assert fields["etape"] == "envoyer" and fields["document"]
    sent = [post_upload(site, cookies, token, **fields) for _ in range(2)]  # a double click
    assert [r.status_code for r in sent] == [303, 303]
    assert sent[0].headers["location"] == sent[1].headers["location"]
    items = site.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"]
    assert [item["number"] for item in items] == ["DEP-0001"]
    assert sent[0].headers["location"] == f"/app/factures/{items[0]['id']}"


def test_an_invalid_upload_shows_its_findings_by_field_and_stores_nothing(site, member):
    cookies = member["cookies"]
    token = csrf_of(site, cookies, "/app/deposer")
    document = example("invoice-seine-maritime")
    document["buyer"] = {**document["buyer"], "siret": "22760540900018"}
    checked = post_upload(
        site, cookies, token, etape="verifier", fichier=("f.json", json.dumps(document).encode())
    )
    assert checked.status_code == 422
    text = unescape(checked.text)
    assert re.search(r"<dt>SIRET de l'acheteur</dt>\s*<dd>[^<]*22760540900018", text), text
    assert "Envoyer</button>" not in text
    unreadable = post_upload(site, cookies, token, etape="verifier", fichier=("f.json", b"{"))
    assert unreadable.status_code in (415, 422) and "Document refusé" in unescape(unreadable.text)
    missing = post_upload(site, cookies, token, etape="verifier")
    assert missing.status_code == 422 and "Choisissez le document" in unescape(missing.text)
    assert site.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"] == []


def test_a_large_document_is_chosen_again_and_must_be_the_one_checked(site, member, monkeypatch):
    monkeypatch.setattr("gateway.web.invoices.KEEP_LIMIT", 100)  # the sample is larger
    cookies = member["cookies"]
    token = csrf_of(site, cookies, "/app/deposer")
    document = {**example("invoice-seine-maritime"), "number": "DEP-GROS-1"}
    data = json.dumps(document).encode()
    checked = post_upload(site, cookies, token, etape="verifier", fichier=("f.json", data))
    assert checked.status_code == 200 and 'name="document"' not in checked.text
    assert "Choisissez à nouveau le même fichier" in unescape(checked.text)
    fields = kept(checked)
    assert "document" not in fields
    # Another file than the one checked is checked, not sent.
    other = json.dumps({**document, "number": "DEP-GROS-2"}).encode()
    swapped = post_upload(site, cookies, token, **fields, fichier=("f.json", other))
    assert swapped.status_code == 200 and "Facture DEP-GROS-2 : prête à partir" in unescape(
        swapped.text
    )
    assert site.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"] == []
    sent = post_upload(site, cookies, token, **fields, fichier=("f.json", data))
    assert sent.status_code == 303
    items = site.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"]
    assert [item["number"] for item in items] == ["DEP-GROS-1"]


def test_a_zip_of_two_invoices_is_checked_and_sent_as_two(site, member):
    cookies = member["cookies"]
    token = csrf_of(site, cookies, "/app/deposer")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for number in ("ZIP-1", "ZIP-2"):
            document = {**example("invoice-seine-maritime"), "number": number}
            bundle.writestr(f"{number}.json", json.dumps(document))
    data = archive.getvalue()
    checked = post_upload(site, cookies, token, etape="verifier", fichier=("lot.zip", data))
    text = unescape(checked.text)
    assert "Facture ZIP-1 : prête à partir" in text and "Facture ZIP-2 : prête à partir" in text
    sent = post_upload(site, cookies, token, **kept(checked))
    assert sent.status_code == 303 and sent.headers["location"] == "/app/factures"
    after = site.client.simulate_get("/app/factures", cookies=cookies)
    assert "2 factures reçues." in unescape(after.text)
    assert numbers_on(after) == ["ZIP-2", "ZIP-1"]


def test_a_forged_page_cursor_is_refused_in_french(site, member):
    answer = listing(site, member["cookies"], suite="pas-un-curseur", q="FA")
    assert answer.status_code == 422 and "Curseur de pagination invalide" in unescape(answer.text)

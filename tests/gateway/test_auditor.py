"""A tax inspector's access: an auditor key for one member, read-only, expiring, and every
request it makes journaled in the hash-chained journal, or not served at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway import archive
from gateway.errors import InvalidInput
from tests.conftest import example, sold_by
from tests.gateway.test_keys import bearer

OTHER_SIRET = "79345612000013"


def auditor_key(gateway, member: dict, headers: dict, expires_at) -> dict:
    result = gateway.client.simulate_post(
        f"/v1/members/{member['id']}/keys",
        headers=headers,
        json={"role": "auditor", "label": "DGFiP", "expires_at": expires_at.isoformat()},
    )
    assert result.status_code == 201, result.json
    return result.json


def auditor_entries(gateway, after: int = 0) -> list[dict]:
    rows = gateway.store.journal_rows(after + 1, after + 10_000)
    return [row for row in rows if row["kind"].startswith("auditor.")]


def verify(gateway) -> archive.Report:
    store = gateway.store
    return archive.verify(store, store.blobs, None, lambda *_: None)


def test_the_member_and_the_admin_create_an_auditor_key_for_one_member(timed, clock):
    member = timed.new_member()
    by_member = auditor_key(timed, member, member["headers"], clock.now + timedelta(days=30))
    by_admin = auditor_key(timed, member, timed.admin(), clock.now + timedelta(days=90))
    for key in (by_member, by_admin):
        assert key["role"] == "auditor"
        listed = timed.client.simulate_get("/v1/invoices", headers=bearer(key["api_key"]))
        assert listed.status_code == 200
    created = [r for r in timed.store.journal_rows(1, 100) if r["kind"] == "api_key.created"]
    assert {(r["data"]["key_id"], r["member_id"]) for r in created} >= {
        (by_member["id"], member["id"]),
        (by_admin["id"], member["id"]),
    }
    # Another member may not give access to this one's data.
    other = timed.new_member("Librairie du Marché", OTHER_SIRET)
    refused = timed.client.simulate_post(
        f"/v1/members/{member['id']}/keys",
        headers=other["headers"],
        json={"role": "auditor", "expires_at": (clock.now + timedelta(days=1)).isoformat()},
    )
    assert refused.status_code == 404


def test_an_auditor_key_belongs_to_one_member_and_expires_within_the_cap(timed, clock):
    member = timed.new_member()
    with pytest.raises(InvalidInput) as raised:
        timed.services.members.create_key(None, "auditor", expires_at=clock.now + timedelta(1))
    (finding,) = raised.value.findings
    assert (finding.code, finding.field) == ("key.auditor_member_required", "role")
    too_late = timed.client.simulate_post(
        f"/v1/members/{member['id']}/keys",
        headers=member["headers"],
        json={"role": "auditor", "expires_at": (clock.now + timedelta(days=91)).isoformat()},
    )
    assert too_late.status_code == 422
    (error,) = too_late.json["errors"]
    assert (error["code"], error["field"]) == ("field.invalid", "expires_at")
    assert "expires_at" in error["message"] and "90 jours" in error["message"]


def test_an_auditor_key_never_manages_keys_nor_reaches_the_admins_routes(timed, clock):
    member = timed.new_member()
    key = auditor_key(timed, member, member["headers"], clock.now + timedelta(days=30))
    headers = bearer(key["api_key"])
    keys = f"/v1/members/{member['id']}/keys"
    client = timed.client
    refused = [
        client.simulate_post(keys, headers=headers, json={"label": "moi"}),
        client.simulate_post(
            keys,
            headers=headers,
            json={"role": "auditor", "expires_at": (clock.now + timedelta(1)).isoformat()},
        ),
        client.simulate_post(f"{keys}/{key['id']}/rotate", headers=headers),
        client.simulate_delete(f"{keys}/{key['id']}", headers=headers),
        client.simulate_post("/v1/members", headers=headers, json={"name": "Pirate"}),
        client.simulate_get("/v1/members", headers=headers),
        client.simulate_get("/v1/admin/events", headers=headers),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    # The initial key and this one, neither revoked.
    assert [k["revoked_at"] for k in timed.store.list_api_keys(member["id"])] == [None, None]
    journaled = auditor_entries(timed)
    assert [(e["kind"], e["data"]["method"], e["data"]["status"]) for e in journaled] == [
        ("auditor.refused", "POST", 403),
        ("auditor.refused", "POST", 403),
        ("auditor.refused", "POST", 403),
        ("auditor.refused", "DELETE", 403),
        ("auditor.refused", "POST", 403),
        ("auditor.refused", "GET", 403),
        ("auditor.refused", "GET", 403),
    ]


def test_every_request_of_an_auditor_is_journaled_and_the_journal_verifies(timed, clock):
    member = timed.new_member()
    other = timed.new_member("Librairie du Marché", OTHER_SIRET)
    invoice_id = timed.post_invoice(member, example("invoice-seine-maritime")).json["id"]
    others_id = timed.post_invoice(
        other, sold_by(example("invoice-seine-maritime"), OTHER_SIRET)
    ).json["id"]
    assert timed.worker(clock=clock).run_once() == 2
    key = auditor_key(timed, member, member["headers"], clock.now + timedelta(days=30))
    headers = bearer(key["api_key"])
    (document, *_) = timed.get_invoice(member, invoice_id)["documents"]
    start = timed.store.journal_head()["seq"]

    requests = [
        ("GET", "/v1/invoices", "status=DEPOSEE,RECU&limit=5", 200, None),
        ("GET", f"/v1/invoices/{invoice_id}", "", 200, invoice_id),
        ("GET", document["url"], "", 200, invoice_id),
        ("GET", "/v1/events", "after=0", 200, None),
        ("GET", f"/v1/invoices/{invoice_id}/audit", "", 200, invoice_id),
        ("GET", f"/v1/invoices/{others_id}", "", 404, others_id),
        ("GET", f"/v1/invoices/{others_id}/audit", "", 404, others_id),
        ("POST", f"/v1/invoices/{invoice_id}/retry", "", 403, invoice_id),
        ("GET", "/v1/nowhere", "", 404, None),
    ]
    for method, path, query, status, _ in requests:
        result = timed.client.simulate_request(method, path, query_string=query, headers=headers)
        assert result.status_code == status, (path, result.text)

    journaled = auditor_entries(timed, start)
    assert [
        (
            e["data"]["method"],
            e["data"]["path"],
            e["data"]["query"],
            e["data"]["status"],
            e["data"]["invoice_id"],
        )
        for e in journaled
    ] == requests
    for entry in journaled:
        assert entry["kind"] == (
            "auditor.read" if entry["data"]["status"] < 400 else "auditor.refused"
        )
        assert (entry["data"]["key_id"], entry["data"]["prefix"]) == (key["id"], key["prefix"])
        assert entry["member_id"] == member["id"]
    # The entry names the invoice read, never another member's.
    assert [e["invoice_id"] for e in journaled] == [
        None,
        invoice_id,
        invoice_id,
        None,
        invoice_id,
        None,
        None,
        None,
        None,
    ]
    # The document read names its reader, as every read does.
    reads = [e for e in timed.store.invoice_journal(invoice_id) if e["kind"] == "document.read"]
    assert [(e["data"]["reader"], e["data"]["role"]) for e in reads] == [(key["id"], "auditor")]
    # The member's own reads are not journaled per request; its document reads are.
    (member_key,) = [
        k["id"] for k in timed.store.list_api_keys(member["id"]) if k["role"] == "member"
    ]
    before = timed.store.journal_head()["seq"]
    assert timed.client.simulate_get("/v1/invoices", headers=member["headers"]).status_code == 200
    assert timed.client.simulate_get(document["url"], headers=member["headers"]).status_code == 200
    after = timed.store.journal_rows(before + 1, before + 100)
    assert [(e["kind"], e["data"]["reader"], e["data"]["role"]) for e in after] == [
        ("document.read", member_key, "member")
    ]
    # The trail the auditor reads shows its own earlier reads of the invoice.
    trail = timed.client.simulate_get(f"/v1/invoices/{invoice_id}/audit", headers=headers).json
    assert [e["data"]["path"] for e in trail["entries"] if e["kind"] == "auditor.read"] == [
        f"/v1/invoices/{invoice_id}",
        document["url"],
        f"/v1/invoices/{invoice_id}/audit",
    ]
    assert trail["chain"]["intact"]
    report = verify(timed)
    assert report.clean, report.problems
    assert report.entries == timed.store.journal_head()["seq"]


def test_an_expired_auditor_key_is_refused(timed, clock):
    member = timed.new_member()
    key = auditor_key(timed, member, member["headers"], clock.now + timedelta(days=1))
    headers = bearer(key["api_key"])
    assert timed.client.simulate_get("/v1/invoices", headers=headers).status_code == 200
    clock.advance(days=1)
    refused = timed.client.simulate_get("/v1/invoices", headers=headers)
    assert refused.status_code == 401
    assert refused.json["errors"][0]["code"] == "auth.required"


def test_an_auditor_request_the_journal_cannot_record_is_not_served(timed, clock):
    member = timed.new_member()
    invoice_id = timed.post_invoice(member, example("invoice-seine-maritime")).json["id"]
    key = auditor_key(timed, member, member["headers"], clock.now + timedelta(days=30))
    headers = bearer(key["api_key"])
    (document, *_) = timed.get_invoice(member, invoice_id)["documents"]
    # The database itself refuses the auditor's entries, as a full or broken disk would.
    with timed.store.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER journal_down BEFORE INSERT ON journal "
            "WHEN NEW.kind LIKE 'auditor.%' BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    for path in (document["url"], f"/v1/invoices/{invoice_id}", "/v1/invoices"):
        result = timed.client.simulate_get(path, headers=headers)
        assert result.status_code == 503, path
        assert result.json["errors"][0]["code"] == "journal.unavailable"
        assert result.headers["content-type"].startswith("application/json")
        assert "content-disposition" not in result.headers
        assert invoice_id not in result.text
    assert auditor_entries(timed) == []
    # The member, whose reads need no entry, is served.
    assert timed.client.simulate_get("/v1/invoices", headers=member["headers"]).status_code == 200
    with timed.store.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER journal_down"))
    assert timed.client.simulate_get(document["url"], headers=headers).status_code == 200
    assert verify(timed).clean

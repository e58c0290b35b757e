"""``GET /v1/invoices/{id}/audit``: an invoice's journal entries, documents, linked invoices
and references, from the engagement and delivery notes to the payment; its chain checked."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from gateway import archive
from gateway.store.tables import journal
from tests.conftest import example, statements_on
from tests.gateway.test_corrections import credited_and_reissued


def audit(gateway, invoice_id: str, headers: dict):
    return gateway.client.simulate_get(f"/v1/invoices/{invoice_id}/audit", headers=headers)


def test_the_audit_follows_an_invoice_to_its_credit_note_and_reissue_and_back(
    tmp_path, database_url
):
    gateway, member, invoice_id, made = credited_and_reissued(tmp_path, database_url)
    key = archive.private_key(archive.generate_signing_key())
    signed = gateway.store.add_checkpoint(key)

    trail = audit(gateway, invoice_id, member["headers"])
    assert trail.status_code == 200, trail.json
    body = trail.json
    assert (body["invoice_id"], body["number"], body["status"]) == (invoice_id, "FA-5", "REJETEE")
    entries = body["entries"]
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    kinds = [e["kind"] for e in entries]
    assert kinds[0] == "invoice.received"
    assert kinds.index("document.archived") < kinds.index("invoice.status_changed")
    assert kinds[-1] == "invoice.credited"
    statuses = [e["data"]["new"] for e in entries if e["kind"] == "invoice.status_changed"]
    assert statuses[-3:] == ["DEPOSEE", "MISE_A_DISPOSITION", "REJETEE"]
    assert {e["label"] for e in entries} >= {"Avoir émis", "Document archivé"}
    assert all(
        datetime.fromisoformat(e["at_paris"]) == datetime.fromisoformat(e["at"]) for e in entries
    )
    assert body["chain"] == {"intact": True, "entries": len(entries), "problems": []}
    # The journal rows, as stored, are what the trail shows.
    stored = gateway.store.invoice_journal(invoice_id)
    assert [(e["seq"], e["hash"]) for e in entries] == [(r["seq"], r["hash"]) for r in stored]

    assert signed["seq"] >= entries[-1]["seq"]
    assert body["checkpoint"] == {
        "seq": signed["seq"],
        "hash": signed["hash"],
        "at": signed["at"].isoformat(),
        "signature": signed["signature"],
        "public_key": archive.public_key_hex(key),
    }
    assert archive.checkpoint_valid(archive.public_key_hex(key), signed)

    linked = {link["rel"]: link for link in body["invoices"]}
    assert set(linked) == {"credit_note", "reissue"}
    assert linked["credit_note"]["invoice_id"] == made["credit_note"]
    assert linked["reissue"]["number"] == "FA-6"
    assert linked["reissue"]["audit_url"] == f"/v1/invoices/{made['reissue']}/audit"
    assert all(link["status"] for link in linked.values())
    references = {(r["rel"], r["number"]) for r in body["references"]}
    assert references >= {
        ("engagement", "EJ2026000815"),
        ("purchase_order", "BC-4471"),
        ("delivery_note", "BL-2026-0931"),
    }
    assert body["payment"]["due_date"] == "2026-12-20"
    assert body["payment"]["means_code"] == "30"
    rows = gateway.store.list_documents(gateway.store.get_invoice(invoice_id)["seq"])
    assert [(d["name"], d["role"], d["sha256"]) for d in body["documents"]] == [
        (r["name"], r["role"], r["sha256"]) for r in rows
    ]
    assert "received" in {d["role"] for d in body["documents"]}
    assert all(d["retention_until"] > d["created_at"] for d in body["documents"])

    # Read from the other end: each made invoice points back to the first.
    for rel, back in (("credit_note", "credited_invoice"), ("reissue", "reissue_of")):
        other = audit(gateway, made[rel], member["headers"]).json
        (link,) = other["invoices"]
        assert (link["rel"], link["invoice_id"], link["number"]) == (back, invoice_id, "FA-5")
        assert other["chain"]["intact"]
    gateway.store.dispose()


def test_another_member_gets_404_and_the_admin_reads_any(tmp_path, sqlite_url):
    gateway, member, invoice_id, _ = credited_and_reissued(tmp_path, sqlite_url)
    other = gateway.new_member("Librairie du Marché", "79345612000013")
    refused = audit(gateway, invoice_id, other["headers"])
    assert refused.status_code == 404
    assert invoice_id not in refused.text
    assert audit(gateway, "inv_nothing", member["headers"]).status_code == 404
    admin = audit(gateway, invoice_id, gateway.admin())
    assert admin.status_code == 200
    assert admin.json["number"] == "FA-5"
    gateway.store.dispose()


def test_an_altered_entry_shows_in_the_invoices_chain(tmp_path, sqlite_url):
    gateway, member, invoice_id, _ = credited_and_reissued(tmp_path, sqlite_url)
    entries = gateway.store.invoice_journal(invoice_id)
    target = entries[1]
    with gateway.store.begin() as conn:
        conn.execute(
            sa.update(journal)
            .where(journal.c.seq == target["seq"])
            .values(data={**target["data"], "size": 1})
        )
    chain = audit(gateway, invoice_id, member["headers"]).json["chain"]
    assert chain["intact"] is False
    assert chain["problems"] == [f"entrée {target['seq']} altérée ({target['kind']})"]
    gateway.store.dispose()


def test_a_document_missing_from_the_archive_is_a_stable_error(gateway, member):
    invoice_id = gateway.post_invoice(member, example("invoice-seine-maritime")).json["id"]
    (document, *_) = gateway.get_invoice(member, invoice_id)["documents"]
    path = gateway.store.blobs.path(document["sha256"])
    path.unlink()
    result = gateway.client.simulate_get(document["url"], headers=member["headers"])
    assert result.status_code == 500
    (error,) = result.json["errors"]
    assert (error["code"], error["field"]) == ("archive.document_missing", "name")
    assert "facture-gateway archive verify" in error["message"]
    assert document["name"] in error["message"]


def test_the_audit_takes_as_many_queries_whatever_the_links(tmp_path, sqlite_url):
    gateway, member, invoice_id, made = credited_and_reissued(tmp_path, sqlite_url)

    def queries(some_id: str) -> int:
        with statements_on(gateway.store.engine) as statements:
            assert audit(gateway, some_id, member["headers"]).status_code == 200
        return len(statements)

    # Two linked invoices, then one: the same queries (none per link).
    assert queries(invoice_id) == queries(made["credit_note"])
    gateway.store.dispose()


def test_the_invoices_entries_are_read_through_the_journals_index(gateway):
    with gateway.store.read() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM journal WHERE invoice_id = ? ORDER BY seq",
            ("inv_x",),
        ).all()
    assert any("USING INDEX" in str(row) for row in plan), plan

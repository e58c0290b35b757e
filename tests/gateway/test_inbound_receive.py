"""Suppliers' invoices received through the memory outlet: pulled by the worker, stored
once, archived byte for byte, parsed when they can be, listed per member."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from gateway.codec import invoice_from_data
from gateway.outlets import InboundFlow
from tests.conftest import DATA, Clock, Gateway, example, make_config

CII = DATA / "xml" / "cii-en16931-aube.xml"
UBL = DATA / "xml" / "ubl-invoice-mediatheque.xml"
CREDIT_NOTE = DATA / "xml" / "ubl-creditnote-seine-maritime.xml"


def receiving(gateway, member: dict) -> None:
    """Give ``member`` settings for the memory outlet: it then receives through it."""
    result = gateway.client.simulate_patch(
        f"/v1/members/{member['id']}",
        json={"settings": {"memory": {"profile": "chorus"}}},
        headers=member["headers"],
    )
    assert result.status_code == 200, result.json


def flow(reference: str, path=CII, media_type="application/xml", **kwargs) -> InboundFlow:
    return InboundFlow(
        reference=reference,
        content=path.read_bytes() if hasattr(path, "read_bytes") else path,
        filename=f"{reference}.xml",
        media_type=media_type,
        **kwargs,
    )


@pytest.fixture
def outlet(gateway):
    return gateway.services.registry.outlets["memory"]


@pytest.fixture
def bookshop(gateway) -> dict:
    member = gateway.new_member()
    receiving(gateway, member)
    return member


def pull(gateway) -> int:
    """One cycle of the worker's schedule (the pull job is due at once)."""
    worker = gateway.worker()
    return worker.scheduler.run_due()


def listing(gateway, member, **params) -> dict:
    result = gateway.client.simulate_get(
        "/v1/inbound-invoices", params=params, headers=member["headers"]
    )
    assert result.status_code == 200, result.json
    return result.json


def test_a_flow_delivered_twice_is_stored_once_parsed_and_archived(gateway, outlet, bookshop):
    received_at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    outlet.deliver(bookshop["id"], flow("FLUX-1", received_at=received_at))
    outlet.deliver(bookshop["id"], flow("FLUX-1", received_at=received_at))
    pull(gateway)
    items = listing(gateway, bookshop)["items"]
    assert len(items) == 1
    item = items[0]
    assert item["reference"] == "FLUX-1"
    assert item["number"] == "FA-2026-0143"
    assert item["sender"]["siret"] == "81234567600017"
    assert item["sender"]["siren"] == "812345676"
    assert item["received_at"].startswith("2026-11-30T08:00")
    assert item["parsed"] is True and item["status"] is None
    assert item["totals"]["payable"] is not None

    view = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}", headers=bookshop["headers"]
    ).json
    assert view["format"] == "cii"
    assert invoice_from_data(view["invoice"]).number == "FA-2026-0143"
    assert view["problems"] == [] and view["statuses"] == []

    original = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}/original", headers=bookshop["headers"]
    )
    assert original.status_code == 200
    assert original.content == CII.read_bytes()
    assert original.headers["content-type"] == "application/xml"
    sha256 = hashlib.sha256(CII.read_bytes()).hexdigest()
    assert original.headers["x-content-sha256"] == sha256
    assert original.headers["etag"] == f'"{sha256}"'
    kinds = [entry["kind"] for entry in gateway.store.invoice_journal(item["id"])]
    assert kinds[0] == "inbound.archived" and "inbound.read" in kinds

    # The cursor was kept: the next pull fetches nothing again.
    assert pull(gateway) == 0
    assert len(listing(gateway, bookshop)["items"]) == 1


def test_a_lost_cursor_fetches_flows_again_without_duplicates(gateway, outlet, bookshop):
    outlet.deliver(bookshop["id"], flow("FLUX-1"))
    pull(gateway)
    from gateway.store.inbound import InboundStore

    InboundStore(gateway.store).save_cursor(bookshop["id"], "memory", state={})
    gateway.client.simulate_post(  # a notification: pulled at the next cycle
        f"/v1/inbound/notify/{bookshop['id']}/memory",
        headers={"X-Inbound-Token": notify_token(gateway, bookshop["id"])},
    )
    pull(gateway)
    assert [i["reference"] for i in listing(gateway, bookshop)["items"]] == ["FLUX-1"]


def notify_token(gateway, member_id: str) -> str:
    from gateway.inbound import notify_token

    return notify_token(gateway.config, member_id, "memory")


def test_notification_schedules_a_pull_with_the_right_token_only(gateway, outlet, bookshop):
    clock = Clock()
    worker = gateway.worker(clock=clock)
    worker.scheduler.run_due()  # the regular pull: nothing yet
    outlet.deliver(bookshop["id"], flow("FLUX-2"))
    path = f"/v1/inbound/notify/{bookshop['id']}/memory"
    refused = gateway.client.simulate_post(path, headers={"X-Inbound-Token": "0" * 64})
    assert refused.status_code == 403
    assert refused.json["errors"][0]["code"] == "inbound.notify_refused"
    from gateway.inbound import notify_token as token_of

    paper = f"/v1/inbound/notify/{bookshop['id']}/paper"  # an outlet that does not receive
    token = token_of(gateway.config, bookshop["id"], "paper")
    assert (
        gateway.client.simulate_post(paper, headers={"X-Inbound-Token": token}).status_code == 403
    )
    worker.scheduler.run_due()
    assert listing(gateway, bookshop)["items"] == []  # the regular pull is not due yet

    odd = gateway.client.simulate_post(path, headers={"X-Inbound-Token": "jeton-é"})
    assert odd.status_code == 403

    accepted = gateway.client.simulate_post(
        path, body=b"{ignored", headers={"X-Inbound-Token": notify_token(gateway, bookshop["id"])}
    )
    assert accepted.status_code == 202
    worker.scheduler.run_due()
    assert listing(gateway, bookshop)["items"] == []  # pulled a moment ago: not at once again
    clock.advance(seconds=gateway.config.inbound.notify_spacing_seconds)
    worker.scheduler.run_due()
    assert [i["reference"] for i in listing(gateway, bookshop)["items"]] == ["FLUX-2"]


def test_an_unreadable_document_is_kept_and_listed_with_its_problems(gateway, outlet, bookshop):
    garbage = b"<Invoice><broken"
    outlet.deliver(bookshop["id"], flow("FLUX-BAD", path=garbage))
    pull(gateway)
    item = listing(gateway, bookshop)["items"][0]
    assert item["parsed"] is False and item["number"] is None
    view = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}", headers=bookshop["headers"]
    ).json
    assert view["problems"] and view["problems"][0]["code"]
    assert view["invoice"] is None
    original = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}/original", headers=bookshop["headers"]
    )
    assert original.content == garbage
    pdf = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{item['id']}/pdf", headers=bookshop["headers"]
    )
    assert pdf.status_code == 409
    assert pdf.json["errors"][0]["code"] == "inbound.not_rendered"


def test_pdf_is_the_facturx_itself_or_a_rendering(gateway, outlet, bookshop):
    facturx = gateway.services.registry.renderers["facturx"].render(
        invoice_from_data(example("invoice-aube"))
    )
    outlet.deliver(bookshop["id"], flow("FX", path=facturx, media_type="application/pdf"))
    outlet.deliver(bookshop["id"], flow("UBL", path=UBL))
    pull(gateway)
    by_reference = {i["reference"]: i for i in listing(gateway, bookshop)["items"]}
    assert by_reference["FX"]["parsed"] is True
    pdf = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{by_reference['FX']['id']}/pdf", headers=bookshop["headers"]
    )
    assert pdf.status_code == 200 and pdf.content == facturx
    rendered = gateway.client.simulate_get(
        f"/v1/inbound-invoices/{by_reference['UBL']['id']}/pdf", headers=bookshop["headers"]
    )
    assert rendered.status_code == 200
    assert rendered.content.startswith(b"%PDF") and rendered.content != UBL.read_bytes()


def test_filters_and_cursor(gateway, outlet, bookshop):
    outlet.deliver(bookshop["id"], flow("A", received_at=datetime(2026, 11, 1, tzinfo=UTC)))
    outlet.deliver(
        bookshop["id"], flow("B", path=UBL, received_at=datetime(2026, 11, 15, tzinfo=UTC))
    )
    outlet.deliver(
        bookshop["id"],
        flow("C", path=CREDIT_NOTE, received_at=datetime(2026, 11, 20, tzinfo=UTC)),
    )
    pull(gateway)
    first = listing(gateway, bookshop, limit=2)
    assert [i["reference"] for i in first["items"]] == ["C", "B"]
    second = listing(gateway, bookshop, limit=2, cursor=first["next_cursor"])
    assert [i["reference"] for i in second["items"]] == ["A"]
    assert second["next_cursor"] is None

    assert [
        i["reference"] for i in listing(gateway, bookshop, number="GO-2026-00318")["items"]
    ] == ["B"]
    assert [i["reference"] for i in listing(gateway, bookshop, sender="793456120")["items"]] == [
        "B"
    ]
    after = listing(gateway, bookshop, received_after="2026-11-10T00:00:00+01:00")
    assert [i["reference"] for i in after["items"]] == ["C", "B"]
    before = listing(gateway, bookshop, received_before="2026-11-10T00:00:00Z")
    assert [i["reference"] for i in before["items"]] == ["A"]
    credit = listing(gateway, bookshop, number="AV-2026-0007")["items"][0]
    assert credit["type"] == "credit_note"

    bad = gateway.client.simulate_get(
        "/v1/inbound-invoices", params={"sender": "12"}, headers=bookshop["headers"]
    )
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "sender"
    bad = gateway.client.simulate_get(
        "/v1/inbound-invoices", params={"received_after": "hier"}, headers=bookshop["headers"]
    )
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "received_after"


def test_members_see_only_their_own(gateway, outlet, bookshop):
    other = gateway.new_member("Librairie du Port", "52345678900014")
    receiving(gateway, other)
    outlet.deliver(bookshop["id"], flow("MINE"))
    pull(gateway)
    mine = listing(gateway, bookshop)["items"][0]
    assert listing(gateway, other)["items"] == []
    for suffix in ("", "/original", "/pdf"):
        result = gateway.client.simulate_get(
            f"/v1/inbound-invoices/{mine['id']}{suffix}", headers=other["headers"]
        )
        assert result.status_code == 404, suffix
    refused = gateway.client.simulate_post(
        f"/v1/inbound-invoices/{mine['id']}/status",
        json={"status": "205"},
        headers=other["headers"],
    )
    assert refused.status_code == 404
    events = gateway.client.simulate_get("/v1/events", headers=other["headers"]).json
    assert not [e for e in events["events"] if e["type"].startswith("inbound_invoice.")]
    own = gateway.client.simulate_get("/v1/events", headers=bookshop["headers"]).json
    received = [e for e in own["events"] if e["type"] == "inbound_invoice.received"]
    assert received and received[0]["data"]["inbound_invoice_id"] == mine["id"]
    # The admin sees every member's, or one member's.
    admin = gateway.client.simulate_get(
        "/v1/inbound-invoices", params={"member_id": other["id"]}, headers=gateway.admin()
    )
    assert admin.json["items"] == []
    admin = gateway.client.simulate_get("/v1/inbound-invoices", headers=gateway.admin())
    assert [i["id"] for i in admin.json["items"]] == [mine["id"]]


def test_a_failing_platform_is_logged_and_the_pull_tried_again(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    config.plugins["memory"]["receive_fail_times"] = 1
    config.inbound.poll_minutes = 0
    gateway = Gateway(config)
    try:
        member = gateway.new_member()
        receiving(gateway, member)
        outlet = gateway.services.registry.outlets["memory"]
        outlet.deliver(member["id"], flow("LATE"))
        worker = gateway.worker()
        worker.scheduler.run_due()  # the platform fails: nothing stored, no crash
        assert listing(gateway, member)["items"] == []
        worker.scheduler.run_due()
        assert [i["reference"] for i in listing(gateway, member)["items"]] == ["LATE"]
    finally:
        gateway.store.dispose()


def test_a_time_without_zone_is_utc_and_an_oversized_document_kept_unread(tmp_path, sqlite_url):
    config = make_config(tmp_path, sqlite_url)
    config.max_body_bytes = CII.stat().st_size - 1
    gateway = Gateway(config)
    try:
        member = gateway.new_member()
        receiving(gateway, member)
        outlet = gateway.services.registry.outlets["memory"]
        outlet.deliver(member["id"], flow("BIG", received_at=datetime(2026, 11, 30, 8, 0)))
        gateway.worker().scheduler.run_due()
        item = listing(gateway, member)["items"][0]
        assert item["received_at"].startswith("2026-11-30T08:00:00+00:00")
        assert item["parsed"] is False
        view = gateway.client.simulate_get(
            f"/v1/inbound-invoices/{item['id']}", headers=member["headers"]
        ).json
        assert view["problems"][0]["code"] == "request.too_large"
    finally:
        gateway.store.dispose()


def test_archive_verify_checks_the_received_originals(gateway, outlet, bookshop):
    from gateway import archive

    outlet.deliver(bookshop["id"], flow("FLUX-V"))
    pull(gateway)
    store = gateway.store
    report = archive.verify(store, store.blobs, None, lambda *_: None)
    assert report.documents >= 1 and report.problems == []
    item = listing(gateway, bookshop)["items"][0]
    path = store.blobs.path(item["original"]["sha256"])
    path.chmod(0o600)
    path.write_bytes(b"altered")
    report = archive.verify(store, store.blobs, None, lambda *_: None)
    assert [(p.kind, p.invoice_id) for p in report.problems] == [("altéré", item["id"])]

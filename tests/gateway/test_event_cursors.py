"""The pull feed numbers each member's events in a sequence of its own: a member's cursor
moves 1, 2, 3… whatever the other members do, and shows nothing of them."""

from __future__ import annotations

from tests.conftest import example, sold_by

OTHER_SIRET = "79345612000013"


def test_member_b_feed_shows_no_trace_of_member_a(gateway):
    a = gateway.new_member()
    b = gateway.new_member("Librairie du Marché", OTHER_SIRET)
    mine = []
    for number in ("FA-1", "FA-2"):
        doc = {**example("invoice-seine-maritime"), "number": number}
        assert gateway.post_invoice(a, doc).status_code == 202
        doc_b = sold_by({**doc, "number": f"B-{number}"}, OTHER_SIRET)
        posted = gateway.post_invoice(b, doc_b)
        assert posted.status_code == 202, posted.json
        mine.append(posted.json["id"])
    gateway.worker().run_once()

    feed = gateway.client.simulate_get("/v1/events", headers=b["headers"]).json
    ids = [int(event["id"]) for event in feed["events"]]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 4  # received, then sent
    assert {event["invoice_id"] for event in feed["events"]} == set(mine)
    assert "FA-" not in str([e["data"] for e in feed["events"]]).replace("B-FA-", "")
    assert feed["next_cursor"] == str(ids[-1])
    later = gateway.client.simulate_get(
        "/v1/events", headers=b["headers"], params={"after": ids[1]}
    ).json
    assert [e["id"] for e in later["events"]] == [str(i) for i in ids[2:]]

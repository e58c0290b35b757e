"""The state machine (transitions, finals, what needs the bookseller, explanations) and the
listing of what needs doing, through the API on a real store."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from structlog.testing import capture_logs

from gateway import lifecycle
from gateway.actions import PendingAction
from tests.conftest import ROOT, Clock, Gateway, example, make_config
from tests.gateway.test_openapi import check

KNOWN = (*lifecycle.GATEWAY_STATUSES, *lifecycle.PLATFORM_STATUSES)


def test_every_status_has_its_successors_and_its_explanation():
    assert set(lifecycle.TRANSITIONS) == {None, *KNOWN}
    for status, following in lifecycle.TRANSITIONS.items():
        assert following <= set(KNOWN), status
    assert {s for s in KNOWN if not lifecycle.TRANSITIONS[s]} == lifecycle.FINAL_STATUSES
    assert set(lifecycle.EXPLANATIONS) == set(KNOWN)
    # NEEDS_BOOKSELLER is pinned by the index of its rows (test_invoice_listing.py).
    assert set(lifecycle.NEEDS_BOOKSELLER) <= set(KNOWN)


def test_the_platform_s_word_is_taken_whatever_the_code():
    assert lifecycle.may_follow(None, "RECU") and not lifecycle.may_follow(None, "DEPOSEE")
    assert lifecycle.may_follow("A_RECYCLER", "DEPOSEE")
    assert lifecycle.may_follow("SUSPENDUE", "COMPLETEE")
    assert not lifecycle.may_follow("SUSPENDUE", "DEPOSEE")
    assert not lifecycle.may_follow("MISE_EN_PAIEMENT", "A_RECYCLER")
    # Unknown codes, kept verbatim, come and go anywhere.
    assert lifecycle.may_follow("DEPOSEE", "PRISE_EN_COMPTE_DESTINATAIRE")
    assert lifecycle.may_follow("PRISE_EN_COMPTE_DESTINATAIRE", "SERVICE_FAIT")
    explained = lifecycle.explain({"status": "PRISE_EN_COMPTE_DESTINATAIRE"})
    assert "PRISE_EN_COMPTE_DESTINATAIRE" in explained and "tel quel" in explained


def row(status: str, **values) -> dict:
    """An invoice row as the store gives it, with what the actions look at."""
    return {"status": status, "type": "invoice", "reached_buyer_at": None, **values}


def test_the_actions_allowed_follow_the_status_and_none_while_one_is_pending():
    received = datetime(2026, 12, 1, tzinfo=UTC)
    assert lifecycle.next_actions(row("A_RECYCLER", reached_buyer_at=received)) == [
        "recycle",
        "credit-note",
    ]
    assert lifecycle.next_actions(row("SUSPENDUE", reached_buyer_at=received)) == [
        "complete",
        "credit-note",
    ]
    # Refused before any buyer had it: sent again as it is, or corrected.
    assert lifecycle.next_actions(row("EN_ERREUR")) == ["retry", "correct"]
    assert lifecycle.next_actions(row("EN_ERREUR", next_attempt_at=received)) == ["retry"]
    assert lifecycle.next_actions(row("DEPOSEE")) == []
    pending = row("A_RECYCLER", action="recycle", reached_buyer_at=received)
    assert lifecycle.next_actions(pending) == [] and not lifecycle.needs_bookseller(pending)
    assert "en cours de transmission" in lifecycle.explain(pending)


def test_the_lifecycle_page_names_every_status_and_action():
    page = (ROOT / "docs" / "lifecycle.md").read_text()
    for name in (*KNOWN, *(action.name for action in lifecycle.ACTIONS)):
        assert f"`{name}`" in page, name


def move(gateway: Gateway, invoice_id: str, status: str, clock: Clock) -> None:
    """Record a status as the worker would (the platform's news, a failed send)."""
    clock.advance(minutes=1)
    row = gateway.store.get_invoice(invoice_id)
    recorder = lifecycle.Recorder(gateway.store, gateway.services.registry.pm)
    with gateway.store.begin() as conn:
        recorder.change(conn, row, status, clock(), "motif du destinataire")


def test_needs_action_lists_what_waits_for_the_bookseller_longest_first(tmp_path, sqlite_url):
    clock = Clock()
    gateway = Gateway(make_config(tmp_path, sqlite_url), clock=clock)
    try:
        member = gateway.new_member()
        other = gateway.new_member("Librairie du Marché", "79345612000013")
        ids = {}
        for index, status in enumerate(
            ["SUSPENDUE", "DEPOSEE", "A_RECYCLER", "EN_ERREUR", "REJETEE", "MISE_EN_PAIEMENT"]
        ):
            document = {**example("invoice-seine-maritime"), "number": f"NA-{index}"}
            posted = gateway.post_invoice(member, document)
            assert posted.status_code == 202, posted.json
            ids[status] = posted.json["id"]
        for status in ["A_RECYCLER", "DEPOSEE", "SUSPENDUE", "MISE_EN_PAIEMENT", "REJETEE"]:
            if status not in ("A_RECYCLER", "SUSPENDUE"):
                move(gateway, ids[status], "DEPOSEE", clock)
            move(gateway, ids[status], status, clock)
        move(gateway, ids["EN_ERREUR"], "EN_ERREUR", clock)
        with gateway.store.begin() as conn:  # a recycle asked for: nothing to do meanwhile
            gateway.store.update_invoice(
                conn,
                gateway.store.get_invoice(ids["REJETEE"])["seq"],
                **PendingAction("recycle", clock(), buyer_siret="22100005200011").columns(),
            )
        client = gateway.client
        spec = client.simulate_get("/v1/openapi.json").json

        listed = client.simulate_get(
            "/v1/invoices", params={"needs_action": "true"}, headers=member["headers"]
        )
        check(spec, "/v1/invoices", "get", listed)
        assert [item["id"] for item in listed.json["items"]] == [
            ids["A_RECYCLER"],
            ids["SUSPENDUE"],
            ids["EN_ERREUR"],
        ]
        first = listed.json["items"][0]
        assert first["next_actions"] == ["recycle", "credit-note"] and first["needs_action"] is True
        assert "recycle" in first["status_explanation"]
        # Page by page, the same order.
        seen, cursor = [], None
        while True:
            params = {"needs_action": "true", "limit": "1"}
            if cursor:
                params["cursor"] = cursor
            page = client.simulate_get("/v1/invoices", params=params, headers=member["headers"])
            seen += [item["id"] for item in page.json["items"]]
            cursor = page.json["next_cursor"]
            if cursor is None:
                break
        assert seen == [item["id"] for item in listed.json["items"]]
        theirs = client.simulate_get(
            "/v1/invoices", params={"needs_action": "true"}, headers=other["headers"]
        )
        assert theirs.json["items"] == []
        for params, field in [
            ({"needs_action": "true", "status": "A_RECYCLER"}, "needs_action"),
            ({"needs_action": "oui"}, "needs_action"),
            ({"needs_action": "true", "cursor": "bm9u"}, "cursor"),
        ]:
            refused = client.simulate_get("/v1/invoices", params=params, headers=member["headers"])
            assert refused.status_code == 422, params
            assert refused.json["errors"][0]["field"] == field
        everything = client.simulate_get(
            "/v1/invoices", params={"needs_action": "false"}, headers=member["headers"]
        )
        assert len(everything.json["items"]) == 6, everything.json
        shown = gateway.get_invoice(member, ids["SUSPENDUE"])
        check(
            spec,
            "/v1/invoices/{invoice_id}",
            "get",
            client.simulate_get(f"/v1/invoices/{ids['SUSPENDUE']}", headers=member["headers"]),
        )
        assert (
            shown["next_actions"] == ["complete", "credit-note"] and shown["pending_action"] is None
        )
        events = client.simulate_get("/v1/events", headers=member["headers"]).json["events"]
        suspended = [e for e in events if e["data"].get("new") == "SUSPENDUE"]
        assert suspended[0]["data"]["next_actions"] == ["complete", "credit-note"]
    finally:
        gateway.store.dispose()


def test_the_listing_reads_the_index_not_every_row(tmp_path, sqlite_url):
    gateway = Gateway(make_config(tmp_path, sqlite_url))
    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "FROM invoices" in statement:
            statements.append((statement, parameters))

    sa.event.listen(gateway.store.engine, "before_cursor_execute", keep)
    try:
        gateway.store.list_needing_action("mem_x", limit=10)
        sa.event.remove(gateway.store.engine, "before_cursor_execute", keep)
        (statement, parameters) = statements[-1]
        with gateway.store.read() as conn:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        details = " ".join(str(row[-1]) for row in plan)
        assert "ix_invoices_needing_action" in details, details
        assert "TEMP B-TREE" not in details, details  # read in order, not sorted
    finally:
        gateway.store.dispose()


def test_an_unexpected_move_is_recorded_all_the_same_and_logged(gateway, member):
    posted = gateway.post_invoice(member, example("invoice-seine-maritime"))
    row = gateway.store.get_invoice(posted.json["id"])
    recorder = lifecycle.Recorder(gateway.store, gateway.services.registry.pm)
    with capture_logs() as logs, gateway.store.begin() as conn:
        recorder.change(conn, row, "COMPLETEE", row["created_at"], None)
    assert gateway.store.get_invoice(row["id"])["status"] == "COMPLETEE"
    assert [log["event"] for log in logs] == ["lifecycle.unexpected_transition"]

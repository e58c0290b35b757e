"""The REST contract v1, through the real app on a real (SQLite) store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway import errors
from gateway.app import STATUS_OF
from gateway.errors import (
    Conflict,
    DomainError,
    Finding,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    Unavailable,
    UnsupportedFormat,
)
from tests.conftest import example, sold_by

SEINE_TOTALS = {
    "lines": "87.56",
    "charges": "5.00",
    "tax_exclusive": "92.56",
    "vat": "5.09",
    "tax_inclusive": "97.65",
    "payable": "97.65",
}


def count_invoices(gateway, member) -> int:
    return len(gateway.client.simulate_get("/v1/invoices", headers=member["headers"]).json["items"])


def test_health_needs_no_key_and_lists_plugins(gateway):
    result = gateway.client.simulate_get("/v1/health")
    assert result.status_code == 200
    assert result.json["status"] == "ok"
    assert result.json["database"] == "ok"
    assert "json" in result.json["plugins"]["formats"]
    assert "memory" in result.json["plugins"]["outlets"]
    assert result.headers["X-Request-Id"]


def test_request_id_is_echoed(gateway):
    result = gateway.client.simulate_get("/v1/health", headers={"X-Request-Id": "abc-123"})
    assert result.headers["X-Request-Id"] == "abc-123"


def test_openapi_is_generated_from_the_schemas(gateway):
    spec = gateway.client.simulate_get("/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in (
        "/v1/invoices",
        "/v1/invoices/validate",
        "/v1/customers/{siret}",
        "/v1/events",
        "/v1/members",
    ):
        assert path in spec["paths"]
    line = spec["components"]["schemas"]["Line"]["properties"]
    assert line["quantity"] == {"type": "string", "format": "decimal"}


@pytest.mark.parametrize(
    "name", ["invoice-seine-maritime", "invoice-aube", "credit-note-seine-maritime"]
)
def test_examples_are_accepted_as_they_are(gateway, member, name):
    result = gateway.post_invoice(member, (gateway_examples := example(name)))
    assert result.status_code == 202, result.json
    assert result.json["status"] == "RECU"
    assert result.json["channel"] == "chorus"
    assert result.json["id"].startswith("inv_")
    stored = gateway.get_invoice(member, result.json["id"])
    assert stored["number"] == gateway_examples["number"]
    assert stored["documents"][0]["name"] == "original.json"


def test_totals_of_the_first_example(gateway, member):
    result = gateway.post_invoice(member, example("invoice-seine-maritime"))
    totals = result.json["totals"]
    assert {key: totals[key] for key in SEINE_TOTALS} == SEINE_TOTALS


def test_aube_totals(gateway, member):
    result = gateway.post_invoice(member, example("invoice-aube"))
    # 10 x 6.20 + 23.99 = 85.99; VAT 5.5 % = 4.73
    assert result.json["totals"]["tax_exclusive"] == "85.99"
    assert result.json["totals"]["vat"] == "4.73"
    assert result.json["totals"]["payable"] == "90.72"


def test_the_original_is_kept_byte_for_byte(gateway, member):
    body = json.dumps(example("invoice-aube"), indent=3).encode()
    created = gateway.post_invoice(member, body).json
    result = gateway.client.simulate_get(
        f"/v1/invoices/{created['id']}/documents/original.json", headers=member["headers"]
    )
    assert result.status_code == 200
    assert result.content == body


def test_given_totals_are_checked(gateway, member):
    document = example("invoice-seine-maritime")
    document["totals"] = {"payable": "97.60", "vat": "5.09"}
    result = gateway.post_invoice(member, document)
    assert result.status_code == 422
    (error,) = result.json["errors"]
    assert error["code"] == "totals.mismatch"
    assert error["field"] == "totals.payable"
    assert "97,60" in error["message"] and "97,65" in error["message"]
    assert count_invoices(gateway, member) == 0


def test_right_totals_given_are_accepted(gateway, member):
    document = example("invoice-seine-maritime")
    document["totals"] = dict(SEINE_TOTALS)
    assert gateway.post_invoice(member, document).status_code == 202


def test_line_amount_given_is_checked(gateway, member):
    document = example("invoice-seine-maritime")
    document["lines"][1]["line_amount"] = "26.15"
    result = gateway.post_invoice(member, document)
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "lines[1].line_amount"


# --- bad input ---------------------------------------------------------------------------


def test_malformed_json_is_refused_and_nothing_stored(gateway, member):
    result = gateway.post_invoice(member, b'{"number": "FA-1", ')
    assert result.status_code == 422
    assert result.json["errors"][0]["code"] == "format.unreadable"
    assert result.json["errors"][0]["line"] == 1
    assert count_invoices(gateway, member) == 0


def test_every_faulty_field_is_listed_with_its_code(gateway, member):
    document = example("invoice-seine-maritime")
    document["issue_date"] = "20/11/2026"
    document["lines"][0]["quantity"] = 5
    del document["lines"][2]["net_price"]
    document["buyer"]["siret"] = "2276054090001"
    document["colour"] = "blue"
    del document["seller"]["name"]
    result = gateway.post_invoice(member, document)
    assert result.status_code == 422
    errors = {error["field"]: error["code"] for error in result.json["errors"]}
    assert errors == {
        "issue_date": "field.invalid",
        "lines[0].quantity": "field.invalid",
        "lines[2].net_price": "field.required",
        "buyer.siret": "field.invalid",
        "colour": "field.unknown",
        "seller.name": "field.required",
    }
    assert all(error["message"] for error in result.json["errors"])
    assert count_invoices(gateway, member) == 0


def test_a_json_array_is_not_an_invoice(gateway, member):
    result = gateway.post_invoice(member, b"[1, 2]")
    assert result.status_code == 422
    assert result.json["errors"][0]["code"] == "format.unreadable"


def test_unknown_format_is_refused(gateway, member):
    result = gateway.post_invoice(member, b"\x00\x01binary", content_type="application/x-nothing")
    assert result.status_code == 415
    assert result.json["errors"][0]["code"] == "format.unsupported"
    result = gateway.post_invoice(member, example("invoice-aube"), params={"format": "nope"})
    assert result.status_code == 415


def test_twenty_megabytes_are_refused_with_413(gateway, member):
    body = b'{"number": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    result = gateway.post_invoice(member, body)
    assert result.status_code == 413
    assert result.json["errors"][0]["code"] == "request.too_large"
    assert count_invoices(gateway, member) == 0


# --- idempotency and duplicates ---------------------------------------------------------------


def test_same_idempotency_key_same_body_gives_the_same_answer(gateway, member):
    first = gateway.post_invoice(member, example("invoice-seine-maritime"), key="order-42")
    second = gateway.post_invoice(member, example("invoice-seine-maritime"), key="order-42")
    assert first.status_code == second.status_code == 202
    assert first.json == second.json
    assert count_invoices(gateway, member) == 1


def test_same_idempotency_key_other_body_is_a_conflict(gateway, member):
    gateway.post_invoice(member, example("invoice-seine-maritime"), key="order-42")
    result = gateway.post_invoice(member, example("invoice-aube"), key="order-42")
    assert result.status_code == 409
    assert result.json["errors"][0]["code"] == "idempotency.conflict"
    assert count_invoices(gateway, member) == 1


def test_idempotency_keys_belong_to_their_member(gateway, member):
    other = gateway.new_member("Librairie du Marché", "79345612000013")
    gateway.post_invoice(member, example("invoice-seine-maritime"), key="k")
    result = gateway.post_invoice(other, sold_by(example("invoice-aube"), other["siret"]), key="k")
    assert result.status_code == 202


def test_same_number_twice_is_a_duplicate(gateway, member):
    assert gateway.post_invoice(member, example("invoice-seine-maritime")).status_code == 202
    result = gateway.post_invoice(member, example("invoice-seine-maritime"))
    assert result.status_code == 422
    assert result.json["errors"] == [
        {
            "code": "invoice.duplicate",
            "field": "number",
            "severity": "error",
            "message": result.json["errors"][0]["message"],
        }
    ]
    assert "FA-2026-0142" in result.json["errors"][0]["message"]


def test_two_members_may_use_the_same_number(gateway, member):
    other = gateway.new_member("Librairie du Marché", "79345612000013")
    assert gateway.post_invoice(member, example("invoice-aube")).status_code == 202
    assert (
        gateway.post_invoice(other, sold_by(example("invoice-aube"), other["siret"])).status_code
        == 202
    )


# --- auth and tenancy -------------------------------------------------------------------------


def test_no_key_or_a_wrong_key_is_401(gateway, member):
    assert gateway.client.simulate_get("/v1/invoices").status_code == 401
    wrong = {"Authorization": "Bearer fgw_not-a-key"}
    result = gateway.client.simulate_get("/v1/invoices", headers=wrong)
    assert result.status_code == 401
    assert result.json["errors"][0]["code"] == "auth.required"
    assert result.headers["WWW-Authenticate"].startswith("Bearer")


def test_another_members_invoice_is_404(gateway, member):
    created = gateway.post_invoice(member, example("invoice-aube")).json
    other = gateway.new_member("Librairie du Marché", "79345612000013")
    for path in (
        f"/v1/invoices/{created['id']}",
        f"/v1/invoices/{created['id']}/documents/original.json",
    ):
        result = gateway.client.simulate_get(path, headers=other["headers"])
        assert result.status_code == 404
        assert result.json["errors"][0]["code"] == "not_found"
    assert gateway.client.simulate_get("/v1/invoices", headers=other["headers"]).json["items"] == []
    assert gateway.client.simulate_get("/v1/events", headers=other["headers"]).json["events"] == []


def test_another_members_customer_is_404(gateway, member):
    put = gateway.client.simulate_put(
        "/v1/customers/22100005200011",
        headers=member["headers"],
        json={"name": "DEPARTEMENT DE L'AUBE"},
    )
    assert put.status_code == 201
    other = gateway.new_member("Librairie du Marché", "79345612000013")
    assert (
        gateway.client.simulate_get(
            "/v1/customers/22100005200011", headers=other["headers"]
        ).status_code
        == 404
    )
    assert (
        gateway.client.simulate_get(
            "/v1/members/" + member["id"], headers=other["headers"]
        ).status_code
        == 404
    )


def test_members_are_created_by_the_admin_only(gateway, member):
    result = gateway.client.simulate_post(
        "/v1/members", json={"name": "X"}, headers=member["headers"]
    )
    assert result.status_code == 403
    listing = gateway.client.simulate_get("/v1/members", headers=gateway.admin())
    assert [m["id"] for m in listing.json["members"]] == [member["id"]]
    assert "api_key" not in listing.json["members"][0]


def test_admin_key_acts_for_no_member(gateway, member):
    result = gateway.client.simulate_get("/v1/invoices", headers=gateway.admin())
    assert result.status_code == 403
    assert result.json["errors"][0]["code"] == "auth.member_required"


def test_api_keys_are_stored_hashed(gateway, member):
    from gateway.store.tables import api_keys

    with gateway.store.read() as conn:
        stored = [row.key_hash for row in conn.execute(api_keys.select())]
    assert member["api_key"] not in stored
    assert len(stored) == 1 and len(stored[0]) == 64


def test_member_settings_are_encrypted_and_never_returned(gateway, member):
    settings = {
        "chorus": {"client_id": "piste-id", "client_secret": "s3cr3t-value", "login": "tech"}
    }
    result = gateway.client.simulate_patch(
        f"/v1/members/{member['id']}", json={"settings": settings}, headers=member["headers"]
    )
    assert result.status_code == 200
    assert result.json["settings"]["chorus"]["client_secret"] == "***"
    assert result.json["settings"]["chorus"]["login"] == "tech"
    from gateway.store.tables import members

    with gateway.store.read() as conn:
        sealed = conn.execute(members.select()).first().settings_encrypted
    assert "s3cr3t-value" not in sealed and "piste-id" not in sealed
    assert gateway.services.pipeline.member_settings(member["id"]) == settings


def test_auditor_key_reads_only_and_expires(gateway, member):
    gateway.post_invoice(member, example("invoice-aube"))
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    created = gateway.client.simulate_post(
        f"/v1/members/{member['id']}/keys",
        headers=member["headers"],
        json={"role": "auditor", "expires_at": expires, "label": "DGFiP"},
    )
    assert created.status_code == 201
    auditor = {"Authorization": f"Bearer {created.json['api_key']}"}
    assert len(gateway.client.simulate_get("/v1/invoices", headers=auditor).json["items"]) == 1
    refused = gateway.client.simulate_post(
        "/v1/invoices", headers=auditor, json=example("invoice-seine-maritime")
    )
    assert refused.status_code == 403
    # A key cannot be born expired (expiry itself: tests/gateway/test_keys.py, with a clock).
    expired = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    old = gateway.client.simulate_post(
        f"/v1/members/{member['id']}/keys",
        headers=member["headers"],
        json={"role": "auditor", "expires_at": expired},
    )
    assert old.status_code == 422
    assert old.json["errors"][0]["field"] == "expires_at"


def test_auditor_key_must_expire(gateway, member):
    result = gateway.client.simulate_post(
        f"/v1/members/{member['id']}/keys", headers=member["headers"], json={"role": "auditor"}
    )
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "expires_at"


# --- customers ---------------------------------------------------------------------------------


def test_customers_put_get_list(gateway, member):
    body = {
        "name": "DEPARTEMENT DE L'AUBE",
        "channel": "paper",
        "copies": [{"channel": "email", "to": "cdi@college.example"}],
    }
    created = gateway.client.simulate_put(
        "/v1/customers/22100005200011", headers=member["headers"], json=body
    )
    assert created.status_code == 201
    assert created.json["channel"] == "paper"
    replaced = gateway.client.simulate_put(
        "/v1/customers/22100005200011",
        headers=member["headers"],
        json={"name": "DEPARTEMENT DE L'AUBE", "channel": "chorus"},
    )
    assert replaced.status_code == 200
    got = gateway.client.simulate_get(
        "/v1/customers/22100005200011", headers=member["headers"]
    ).json
    assert got["channel"] == "chorus" and got["copies"] == []
    listing = gateway.client.simulate_get("/v1/customers", headers=member["headers"]).json
    assert [c["siret"] for c in listing["customers"]] == ["22100005200011"]


def test_customer_with_bad_siret_or_channel_is_refused(gateway, member):
    bad_siret = gateway.client.simulate_put(
        "/v1/customers/22100005200012", headers=member["headers"], json={"name": "X"}
    )
    assert bad_siret.status_code == 422
    assert bad_siret.json["errors"][0]["code"] == "siret.invalid"
    bad_channel = gateway.client.simulate_put(
        "/v1/customers/22100005200011",
        headers=member["headers"],
        json={"name": "X", "channel": "fax"},
    )
    assert bad_channel.status_code == 422
    assert bad_channel.json["errors"][0]["field"] == "channel"


def test_the_customers_channel_routes_the_invoice(gateway, member):
    gateway.client.simulate_put(
        "/v1/customers/22100005200011",
        headers=member["headers"],
        json={"name": "DEPARTEMENT DE L'AUBE", "channel": "paper"},
    )
    result = gateway.post_invoice(member, example("invoice-aube"))
    assert result.json["channel"] == "paper"


# --- dry run, listing, events ------------------------------------------------------------------


def test_validate_is_a_dry_run(gateway, member):
    result = gateway.client.simulate_post(
        "/v1/invoices/validate", headers=member["headers"], json=example("invoice-seine-maritime")
    )
    assert result.status_code == 200
    assert result.json["valid"] is True
    assert result.json["route"]["channel"] == "chorus"
    assert result.json["totals"]["payable"] == "97.65"
    assert count_invoices(gateway, member) == 0


def test_validate_reports_errors_without_storing(gateway, member):
    gateway.post_invoice(member, example("invoice-seine-maritime"))
    document = example("invoice-seine-maritime")
    document["totals"] = {"payable": "1.00"}
    result = gateway.client.simulate_post(
        "/v1/invoices/validate", headers=member["headers"], json=document
    )
    assert result.json["valid"] is False
    assert {e["code"] for e in result.json["errors"]} == {"invoice.duplicate", "totals.mismatch"}


def test_listing_pages_with_a_cursor_and_filters(gateway, member):
    ids = []
    for index in range(7):
        document = example("invoice-aube")
        document["number"] = f"FA-2026-{index:04d}"
        ids.append(gateway.post_invoice(member, document).json["id"])
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = gateway.client.simulate_get(
            "/v1/invoices", headers=member["headers"], params=params
        ).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    by_status = gateway.client.simulate_get(
        "/v1/invoices", headers=member["headers"], params={"status": "DEPOSEE"}
    ).json
    assert by_status["items"] == []
    by_customer = gateway.client.simulate_get(
        "/v1/invoices",
        headers=member["headers"],
        params={"customer": "22100005200011", "limit": 100},
    ).json
    assert len(by_customer["items"]) == 7
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (
        gateway.client.simulate_get(
            "/v1/invoices", headers=member["headers"], params={"since": future}
        ).json["items"]
        == []
    )
    bad = gateway.client.simulate_get(
        "/v1/invoices", headers=member["headers"], params={"cursor": "zzz"}
    )
    assert bad.status_code == 422


def test_events_feed_after_a_cursor(gateway, member):
    first = gateway.post_invoice(member, example("invoice-aube")).json
    feed = gateway.client.simulate_get("/v1/events", headers=member["headers"]).json
    assert [e["type"] for e in feed["events"]] == ["invoice.received"]
    assert feed["events"][0]["invoice_id"] == first["id"]
    gateway.worker().run_once()
    later = gateway.client.simulate_get(
        "/v1/events", headers=member["headers"], params={"after": feed["next_cursor"]}
    ).json
    assert [(e["type"], e["data"]["new"]) for e in later["events"]] == [
        ("invoice.status_changed", "DEPOSEE")
    ]


def test_submitted_invoice_reaches_deposee_through_the_memory_outlet(gateway, member):
    created = gateway.post_invoice(member, example("invoice-seine-maritime")).json
    assert gateway.worker().run_once() == 1
    invoice = gateway.get_invoice(member, created["id"])
    assert [step["status"] for step in invoice["history"]] == ["RECU", "DEPOSEE"]
    assert invoice["status"] == "DEPOSEE"
    assert invoice["outlet_reference"].startswith("MEM-")
    assert invoice["invoice"]["totals"]["payable"] == "97.65"


# --- refusals: each kind of domain error has its status -----------------------------------------


@pytest.mark.parametrize(
    "kind, status",
    [
        (InvalidInput, 422),
        (NotFound, 404),
        (Conflict, 409),
        (UnsupportedFormat, 415),
        (TooLarge, 413),
        (Forbidden, 403),
        (Unavailable, 503),
    ],
)
def test_each_kind_of_refusal_has_its_status_and_the_same_body(gateway, kind, status):
    class Refusing:
        auth_required = False

        def on_get(self, req, resp):
            raise kind(
                [
                    Finding(code="test.refused", field="f", message="Refusé."),
                    Finding(code="test.noted", severity="warning", message="Noté."),
                ]
            )

    gateway.app.add_route("/test/refusal", Refusing())
    result = gateway.client.simulate_get("/test/refusal")
    assert result.status_code == status
    assert result.json == {
        "errors": [
            {"code": "test.refused", "field": "f", "message": "Refusé.", "severity": "error"}
        ],
        "warnings": [
            {"code": "test.noted", "field": None, "message": "Noté.", "severity": "warning"}
        ],
    }


def test_every_kind_of_refusal_is_in_the_status_table():
    kinds = {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, DomainError) and value is not DomainError
    }
    assert kinds == set(STATUS_OF)

"""What the property-based run of the API (tests/fuzz) found, each kept fixed here, so that
it stays fixed whatever examples the fuzz happens to draw."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ADMIN_KEY


def documented(gateway, path: str, method: str) -> set[int]:
    spec = gateway.client.simulate_get("/v1/openapi.json").json
    return {int(status) for status in spec["paths"][path][method]["responses"]}


# --- the middleware's and helpers' answers are in the document of every operation ---------


def test_a_member_at_the_admins_route_gets_a_documented_403(gateway, member):
    result = gateway.client.simulate_get("/v1/members", headers=member["headers"])
    assert result.status_code == 403
    assert result.json["errors"][0]["code"] == "auth.forbidden"
    assert 403 in documented(gateway, "/v1/members", "get")
    assert 403 in documented(gateway, "/v1/admin/events", "get")


def test_an_unknown_id_gets_a_documented_404_on_every_path_with_parameters(gateway, member):
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    result = gateway.client.simulate_get("/v1/members/0", headers=headers)
    assert result.status_code == 404
    for path, method in [
        ("/v1/members/{member_id}", "get"),
        ("/v1/members/{member_id}", "patch"),
        ("/v1/customers/{siret}", "get"),
        ("/v1/webhooks/{webhook_id}", "get"),
        ("/v1/webhooks/{webhook_id}", "delete"),
        ("/v1/webhooks/{webhook_id}/deliveries", "get"),
        ("/v1/webhooks/{webhook_id}/redeliver", "post"),
    ]:
        assert 404 in documented(gateway, path, method), (path, method)
    result = gateway.client.simulate_get("/v1/webhooks/0", headers=member["headers"])
    assert result.status_code == 404


def test_a_body_over_the_limit_gets_a_documented_413(gateway, member):
    too_big = b'{"url": "' + b"x" * (gateway.config.max_body_bytes + 1) + b'"}'
    result = gateway.client.simulate_post(
        "/v1/webhooks",
        body=too_big,
        headers={**member["headers"], "Content-Type": "application/json"},
    )
    assert result.status_code == 413
    assert 413 in documented(gateway, "/v1/webhooks", "post")


def test_every_authenticated_operation_documents_401_403_and_429(gateway):
    spec = gateway.client.simulate_get("/v1/openapi.json").json
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            if operation.get("security"):
                assert {"401", "403", "429"} <= statuses, (path, method)
            else:
                assert "401" not in statuses, (path, method)


def test_a_siret_already_a_members_gets_a_documented_409(gateway, member):
    result = gateway.client.simulate_post(
        "/v1/members",
        json={"name": "Librairie Doublon", "siret": member["siret"]},
        headers=gateway.admin(),
    )
    assert result.status_code == 409
    assert result.json["errors"][0]["code"] == "member.siret_taken"
    assert 409 in documented(gateway, "/v1/members", "post")


def test_the_idempotency_key_is_a_documented_header_of_the_invoice_deposit(gateway, member):
    spec = gateway.client.simulate_get("/v1/openapi.json").json
    parameters = spec["paths"]["/v1/invoices"]["post"]["parameters"]
    header = next(p for p in parameters if p["in"] == "header")
    assert header["name"] == "Idempotency-Key"
    assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, 200)
    result = gateway.client.simulate_post(
        "/v1/invoices",
        json={},
        headers={**member["headers"], "Idempotency-Key": "k" * 201},
    )
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "Idempotency-Key"


def test_health_documents_its_503_when_the_database_does_not_answer(gateway):
    # Found reading the responder beside the fuzz (which never stops the database): the
    # database file replaced by a directory, the store cannot answer.
    database = Path(gateway.config.database_url.removeprefix("sqlite:///"))
    gateway.store.dispose()
    database.unlink()
    database.mkdir()
    result = gateway.client.simulate_get("/v1/health")
    assert result.status_code == 503
    assert result.json["status"] == "degraded"
    assert 503 in documented(gateway, "/v1/health", "get")

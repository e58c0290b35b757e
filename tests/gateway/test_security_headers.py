"""Security headers on every answer, refusals and crashes included; no traceback leaks."""

from __future__ import annotations

import pytest

from tests.conftest import example

CSP = "default-src 'none'; frame-ancestors 'none'"


def assert_protected(result, *, authenticated: bool) -> None:
    assert result.headers["X-Content-Type-Options"] == "nosniff"
    assert result.headers["Referrer-Policy"] == "no-referrer"
    assert result.headers["X-Frame-Options"] == "DENY"
    assert result.headers["Content-Security-Policy"] == CSP
    assert result.headers.get("Cache-Control") == ("no-store" if authenticated else None)


class Crashing:
    """A resource failing the way a bug would."""

    auth_required = False

    def on_get(self, req, resp):
        raise RuntimeError("secret internals: /srv/gateway/settings.py line 42")


def test_public_answers(gateway):
    assert_protected(gateway.client.simulate_get("/v1/health"), authenticated=False)
    assert_protected(gateway.client.simulate_get("/v1/openapi.json"), authenticated=False)
    assert_protected(gateway.client.simulate_get("/v1/nowhere"), authenticated=False)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/customers", 200),
        ("GET", "/v1/invoices/inv_unknown", 404),
        ("POST", "/v1/invoices", 422),
        ("DELETE", "/v1/customers", 405),
        ("GET", "/v1/customers?nope=1", 422),
    ],
)
def test_authenticated_answers_are_never_cached(gateway, member, method, path, status):
    path, _, query = path.partition("?")
    result = gateway.client.simulate_request(
        method, path, query_string=query, headers=member["headers"], json={}
    )
    assert result.status_code == status
    assert_protected(result, authenticated=True)


def test_a_refused_key_too(gateway):
    result = gateway.client.simulate_get(
        "/v1/customers", headers={"Authorization": "Bearer fgw_nope"}
    )
    assert result.status_code == 401
    assert_protected(result, authenticated=True)


def test_a_document_download_keeps_its_type_as_an_attachment(gateway, member):
    created = gateway.post_invoice(member, example("invoice-aube")).json
    result = gateway.client.simulate_get(
        f"/v1/invoices/{created['id']}/documents/original.json", headers=member["headers"]
    )
    assert result.status_code == 200
    assert result.headers["Content-Type"] == "application/json"
    assert result.headers["Content-Disposition"] == 'attachment; filename="original.json"'
    assert_protected(result, authenticated=True)


def test_a_crash_answers_the_french_500_without_a_traceback(gateway):
    gateway.app.add_route("/v1/crash", Crashing())
    result = gateway.client.simulate_get("/v1/crash", headers={"X-Request-Id": "req-crash-1"})
    assert result.status_code == 500
    assert result.json == {
        "errors": [
            {
                "code": "internal.error",
                "field": None,
                "message": "Erreur interne de la passerelle ; elle est journalisée sous "
                "l'identifiant de requête req-crash-1.",
            }
        ]
    }
    assert "Traceback" not in result.text
    assert "secret internals" not in result.text
    assert result.headers["X-Request-Id"] == "req-crash-1"
    assert_protected(result, authenticated=False)

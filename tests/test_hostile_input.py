"""Malformed or hostile requests get a French error with a stable code, never a 500."""

from __future__ import annotations

NESTED = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def test_deeply_nested_json_is_unreadable_not_a_crash(gateway, member):
    admin = {**gateway.admin(), "Content-Type": "application/json"}
    own = {**member["headers"], "Content-Type": "application/json"}
    for path, headers, send in (
        ("/v1/members", admin, gateway.client.simulate_post),
        (f"/v1/members/{member['id']}", own, gateway.client.simulate_patch),
        (f"/v1/members/{member['id']}/keys", own, gateway.client.simulate_post),
        ("/v1/customers/22760540900019", own, gateway.client.simulate_put),
        ("/v1/invoices", own, gateway.client.simulate_post),
        ("/v1/invoices/validate", own, gateway.client.simulate_post),
    ):
        result = send(path, body=NESTED, headers=headers)
        assert result.status_code == 422, (path, result.status_code)
        assert result.json["errors"][0]["code"] == "format.unreadable", path

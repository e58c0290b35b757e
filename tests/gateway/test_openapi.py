"""The OpenAPI document describes every operation the app serves."""

from __future__ import annotations

import pytest
from falcon import inspect

from gateway.openapi import build_spec, operation
from tests.conftest import DATA, example


def test_every_route_and_method_is_in_the_openapi_document(gateway):
    """Of the REST API: the web pages (``/app``, HTML for browsers) are not its operations."""
    spec = gateway.client.simulate_get("/v1/openapi.json").json
    routes = inspect.inspect_routes(gateway.app)
    assert {route.path.split("/")[1] for route in routes} == {"v1", "app"}
    served = {
        (route.path, method.method.lower())
        for route in routes
        for method in route.methods
        if not method.internal and route.path.startswith("/v1/")
    }
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert served - described == set()
    assert described - served == set()


def test_a_route_without_description_is_refused():
    class Described:
        @operation("Décrite", {200: None})
        def on_get(self, req, resp):
            pass

    class Undescribed(Described):
        def on_delete(self, req, resp):
            pass

    assert set(build_spec([("/v1/x", Described())])["paths"]["/v1/x"]) == {"get"}
    with pytest.raises(ValueError, match=r"/v1/x: Undescribed.on_delete has no @operation"):
        build_spec([("/v1/x", Undescribed())])


def test_the_directory_entry_is_described_with_the_contracts_fields(gateway):
    spec = gateway.client.simulate_get("/v1/openapi.json").json
    ok = spec["paths"]["/v1/directory/{siret}"]["get"]["responses"]["200"]
    name = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = set(spec["components"]["schemas"][name]["properties"])
    assert fields == {
        "siret",
        "name",
        "status",
        "service_required",
        "engagement_required",
        "service_or_engagement_required",
        "services",
        "checked_at",
    }


# --- the answers match what the document says -------------------------------------------------

TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "boolean": bool,
    "number": (int, float),
}


def mismatches(value, schema: dict, spec: dict, path: str = "$") -> list[str]:
    """Return where ``value`` departs from an OpenAPI 3.0 ``schema`` (the subset apispec writes)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return mismatches(value, spec["components"]["schemas"][name], spec, path)
    if "oneOf" in schema:
        if any(not mismatches(value, option, spec, path) for option in schema["oneOf"]):
            return []
        return [f"{path}: matches none of oneOf"]
    if value is None:
        return [] if schema.get("nullable") or not schema.get("type") else [f"{path}: null"]
    kind = schema.get("type")
    if kind and not isinstance(value, TYPES[kind]) or kind != "boolean" and value is True:
        return [f"{path}: {type(value).__name__} is not {kind}"]
    found = []
    if kind == "object":
        properties = schema.get("properties", {})
        found += [
            f"{path}.{key}: missing" for key in schema.get("required", []) if key not in value
        ]
        if schema.get("additionalProperties") is False:
            found += [f"{path}.{key}: undocumented" for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                found += mismatches(item, properties[key], spec, f"{path}.{key}")
    if kind == "array" and "items" in schema:
        for index, item in enumerate(value):
            found += mismatches(item, schema["items"], spec, f"{path}[{index}]")
    return found


def check(spec: dict, path: str, method: str, result) -> None:
    responses = spec["paths"][path][method]["responses"]
    assert str(result.status_code) in responses, (path, method, result.status_code)
    content = responses[str(result.status_code)]["content"]
    if not content:
        return
    schema = content["application/json"]["schema"]
    assert mismatches(result.json, schema, spec) == [], (path, method, result.status_code)


def test_the_answers_are_those_the_document_describes(gateway, member):
    spec = gateway.client.simulate_get("/v1/openapi.json").json
    client, own = gateway.client, member["headers"]
    check(spec, "/v1/health", "get", client.simulate_get("/v1/health"))
    created = client.simulate_post("/v1/members", json={"name": "B"}, headers=gateway.admin())
    check(spec, "/v1/members", "post", created)
    check(
        spec,
        "/v1/members",
        "post",
        client.simulate_post("/v1/members", json={}, headers=gateway.admin()),
    )
    path = f"/v1/members/{member['id']}"
    check(spec, "/v1/members/{member_id}", "get", client.simulate_get(path, headers=own))
    patched = client.simulate_patch(path, json={"email": "a@b.fr"}, headers=own)
    check(spec, "/v1/members/{member_id}", "patch", patched)
    keys = client.simulate_post(f"{path}/keys", json={"role": "member"}, headers=own)
    check(spec, "/v1/members/{member_id}/keys", "post", keys)
    keys = client.simulate_post(f"{path}/keys", json={"role": "auditor"}, headers=own)
    check(spec, "/v1/members/{member_id}/keys", "post", keys)
    customer = "/v1/customers/22760540900019"
    put = client.simulate_put(customer, json={"name": "Seine", "channel": "chorus"}, headers=own)
    check(spec, "/v1/customers/{siret}", "put", put)
    check(spec, "/v1/customers/{siret}", "get", client.simulate_get(customer, headers=own))
    check(spec, "/v1/customers", "get", client.simulate_get("/v1/customers", headers=own))
    accepted = gateway.post_invoice(member, example("invoice-seine-maritime"))
    check(spec, "/v1/invoices", "post", accepted)
    check(spec, "/v1/invoices", "post", gateway.post_invoice(member, b"{"))
    batch = gateway.post_invoice(
        member, (DATA / "xml" / "lot-factures.zip").read_bytes(), content_type="application/zip"
    )
    check(spec, "/v1/invoices", "post", batch)
    valid = client.simulate_post("/v1/invoices/validate", json=example("invoice-aube"), headers=own)
    check(spec, "/v1/invoices/validate", "post", valid)
    several = client.simulate_post(
        "/v1/invoices/validate",
        body=(DATA / "xml" / "lot-factures.zip").read_bytes(),
        headers={**own, "Content-Type": "application/zip"},
    )
    check(spec, "/v1/invoices/validate", "post", several)
    unknown = client.simulate_post(
        "/v1/invoices/validate", body=b"\x00", headers={**own, "Content-Type": "x/y"}
    )
    check(spec, "/v1/invoices/validate", "post", unknown)
    check(spec, "/v1/invoices", "get", client.simulate_get("/v1/invoices", headers=own))
    one = f"/v1/invoices/{accepted.json['id']}"
    check(spec, "/v1/invoices/{invoice_id}", "get", client.simulate_get(one, headers=own))
    missing = client.simulate_get("/v1/invoices/inv_nope", headers=own)
    check(spec, "/v1/invoices/{invoice_id}", "get", missing)
    check(spec, "/v1/events", "get", client.simulate_get("/v1/events", headers=own))
    check(spec, "/v1/events", "get", client.simulate_get("/v1/events"))
    directory = client.simulate_get("/v1/directory/22760540900019", headers=own)
    check(spec, "/v1/directory/{siret}", "get", directory)

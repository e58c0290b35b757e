"""The OpenAPI document, generated from the routes and the marshmallow schemas (apispec).

Every responder declares its operation with :func:`operation`; :func:`build_spec` walks the
route table ``create_app`` mounts, and refuses a responder that declares none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway import __version__, schemas


@dataclass(frozen=True)
class Query:
    """A query parameter an operation takes: the only ones it is served with."""

    description: str
    #: Its OpenAPI schema.
    schema: dict = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Operation:
    summary: str
    #: {status: schema (class or OpenAPI dict), or None for a body it does not describe}
    responses: dict[int, Any]
    request: Any = None
    #: The query parameters it takes; any other is refused (422).
    query: dict[str, Query] = field(default_factory=dict)
    #: The media type of the request body ``request`` describes.
    request_type: str = "application/json"
    #: The request headers it reads, beyond ``Authorization`` and ``Content-Type``.
    headers: dict[str, Query] = field(default_factory=dict)


def operation(
    summary: str,
    responses: dict[int, Any],
    request: Any = None,
    query: dict[str, Query] | None = None,
    request_type: str = "application/json",
    headers: dict[str, Query] | None = None,
):
    """Describe a responder (``on_get``…) in the OpenAPI document. What the middleware and
    the shared helpers answer is added by :func:`build_spec`, not declared here: 401, 403,
    429 and 503 on authenticated operations (from the resource's ``auth_required``), 404 on a
    path with parameters, 413 on an operation with a request body, and 422 on every
    operation (a query parameter it does not take)."""

    def describe(responder):
        responder.openapi = Operation(
            summary, responses, request, query or {}, request_type, headers or {}
        )
        return responder

    return describe


def operation_of(resource: object, method: str) -> Operation | None:
    """Return the operation ``resource`` serves for the HTTP ``method``, if it serves one."""
    return getattr(getattr(resource, f"on_{method.lower()}", None), "openapi", None)


def _operations(path: str, resource: object) -> Iterable[tuple[str, Operation]]:
    for name in sorted(dir(resource)):
        if name.startswith("on_"):
            described = getattr(getattr(resource, name), "openapi", None)
            if described is None:
                raise ValueError(f"{path}: {type(resource).__name__}.{name} has no @operation")
            yield name.removeprefix("on_"), described


def build_spec(routes: Iterable[tuple[str, object]]) -> dict:
    """Return the OpenAPI document of ``routes``, (path, resource) pairs."""
    marshmallow_plugin = MarshmallowPlugin()
    spec = APISpec(
        title="facture-gateway",
        version=__version__,
        openapi_version="3.0.3",
        info={
            "description": "Passerelle de facturation électronique des libraires vers Chorus Pro."
        },
        plugins=[marshmallow_plugin],
    )
    marshmallow_plugin.map_to_openapi_type(schemas.DecimalString, "string", "decimal")
    spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer"})
    for path, resource in routes:
        operations = {}
        for method, described in _operations(path, resource):
            responses = described.responses
            operation: dict = {"summary": described.summary, "responses": {}}
            responses = {**responses, 422: responses.get(422, schemas.ErrorsSchema)}
            if "{" in path:  # an id that does not exist, or is another member's
                responses = {404: schemas.ErrorsSchema, **responses}
            if described.request is not None:  # read_body's limit
                responses = {413: schemas.ErrorsSchema, **responses}
            if getattr(resource, "auth_required", True):
                operation["security"] = [{"apiKey": []}]
                # No key (401); a role that may not (403: an auditor writing, the admin
                # acting for no member, a member at the admin's routes); a member over its
                # rate (429, when the rate limits are on); an auditor's request the journal
                # cannot record (503 journal.unavailable).
                responses = {
                    401: schemas.ErrorsSchema,
                    403: schemas.ErrorsSchema,
                    429: schemas.ErrorsSchema,
                    503: schemas.ErrorsSchema,
                    **responses,
                }
            parameters = (
                [
                    {
                        "in": "path",
                        "name": name.strip("{}"),
                        "required": True,
                        "schema": {"type": "string"},
                    }
                    for name in path.split("/")
                    if name.startswith("{")
                ]
                + [
                    {
                        "in": "query",
                        "name": name,
                        "description": query.description,
                        "schema": query.schema,
                    }
                    for name, query in described.query.items()
                ]
                + [
                    {
                        "in": "header",
                        "name": name,
                        "description": header.description,
                        "schema": header.schema,
                    }
                    for name, header in described.headers.items()
                ]
            )
            if parameters:
                operation["parameters"] = parameters
            if described.request is not None:
                operation["requestBody"] = {
                    "content": {described.request_type: {"schema": described.request}}
                }
            for status, schema in responses.items():
                content = {"application/json": {"schema": schema}} if schema else {}
                operation["responses"][str(status)] = {
                    "description": described.summary,
                    "content": content,
                }
            operations[method] = operation
        spec.path(path=path, operations=operations)
    return spec.to_dict()

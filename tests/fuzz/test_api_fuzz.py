"""A property-based run of the REST API from its own OpenAPI document (schemathesis).

The schema is what the real app serves at ``GET /v1/openapi.json``; every operation is
called in process (WSGI, no network) on a real SQLite store seeded with a member, a
customer, an invoice the worker has sent, a second key and a webhook, so that path
parameters sometimes name real objects. Checks: never a 5xx, and every answer is one the
document describes (status code, content type, body schema).

Bounds: ``FUZZ_EXAMPLES`` examples per operation (default below, about two minutes on two
cores), derandomized so that CI replays the same run; ``FUZZ_EXAMPLES=500 pytest
tests/fuzz`` runs it longer.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import falcon
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway import archive
from gateway.app import RequestContextMiddleware, handle_unexpected
from gateway.openapi import build_spec, operation
from gateway.outlets import InboundFlow
from gateway.resources.health import OpenApiResource
from gateway.times import paris
from tests.conftest import DATA, Gateway, example, make_config

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
CUSTOMER = "22760540900019"

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def admin_only(path: str) -> bool:
    return path.startswith(("/v1/members", "/v1/admin/"))


class Seeded:
    """The gateway with what makes paths reachable, and the real ids to offer."""

    def __init__(self, tmp_path):
        self.gateway = Gateway(make_config(tmp_path, f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"))
        gateway, client = self.gateway, self.gateway.client
        gateway.config.archive.ensure_signing_key()  # the export signs a checkpoint
        member = gateway.new_member()
        self.member_headers = member["headers"]
        self.admin_headers = gateway.admin()
        put = client.simulate_put(
            f"/v1/customers/{CUSTOMER}",
            headers=self.member_headers,
            json={"name": "DEPARTEMENT DE LA SEINE MARITIME", "channel": "chorus"},
        )
        assert put.status_code in (200, 201), put.json
        posted = gateway.post_invoice(member, example("invoice-seine-maritime"))
        assert posted.status_code == 202, posted.json
        invoice_id = posted.json["id"]
        assert gateway.worker().run_once() == 1
        sent = gateway.get_invoice(member, invoice_id)
        assert sent["status"] != "RECU", sent
        # A second key, so that revoking or rotating the one offered leaves the fuzz's own.
        key = client.simulate_post(
            f"/v1/members/{member['id']}/keys", headers=self.member_headers, json={"label": "fuzz"}
        )
        assert key.status_code == 201, key.json
        hook, doomed_hook = (
            client.simulate_post(
                "/v1/webhooks", headers=self.member_headers, json={"url": "http://127.0.0.1:9/h"}
            )
            for _ in range(2)
        )
        doomed_key = client.simulate_post(
            f"/v1/members/{member['id']}/keys", headers=self.member_headers, json={"label": "x"}
        )
        assert {hook.status_code, doomed_hook.status_code, doomed_key.status_code} == {201}
        auditor = gateway.services.members.create_key(
            member["id"], "auditor", expires_at=datetime.now(UTC) + timedelta(days=30)
        )
        self.auditor_id = auditor["id"]
        # An invoice a supplier sent, received through the memory outlet.
        patched = client.simulate_patch(
            f"/v1/members/{member['id']}",
            headers=self.member_headers,
            json={"settings": {"memory": {"profile": "chorus"}}},
        )
        assert patched.status_code == 200, patched.json
        gateway.services.registry.outlets["memory"].deliver(
            member["id"],
            InboundFlow(
                "FLUX-1", (DATA / "xml" / "cii-en16931-aube.xml").read_bytes(), "f.xml", ""
            ),
        )
        gateway.worker().scheduler.run_due()
        inbound = client.simulate_get("/v1/inbound-invoices", headers=self.member_headers)
        assert len(inbound.json["items"]) == 1, inbound.json
        self.auditor_headers = {"Authorization": f"Bearer {auditor['api_key']}"}
        self.ids = {
            "invoice_id": [invoice_id],
            "member_id": [member["id"]],
            "key_id": [key.json["id"]],
            "webhook_id": [hook.json["id"]],
            "siret": [CUSTOMER, "22100005200011"],
            "name": [document["name"] for document in sent["documents"]] or ["facture.pdf"],
            "date": [paris(datetime.now(UTC)).date().isoformat()],
            "inbound_id": [inbound.json["items"][0]["id"]],
            "outlet": ["memory"],
        }
        #: What DELETE operations are offered instead: deleting the webhook and the key the
        #: other operations are offered would leave them only 404s to find.
        self.doomed = {"webhook_id": [doomed_hook.json["id"]], "key_id": [doomed_key.json["id"]]}


def offering(ids: dict[str, list[str]]):
    """Return what replaces each generated path parameter of a case, some of the time, by
    one of the real ``ids`` of that name."""

    def offer(case: Case) -> st.SearchStrategy[Case]:
        def put(path_parameters: dict) -> Case:
            case.path_parameters = path_parameters
            return case

        return st.fixed_dictionaries(
            {
                name: st.sampled_from([value, *ids.get(name, [])])
                for name, value in (case.path_parameters or {}).items()
            }
        ).map(put)

    return offer


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Seeded:
    world = Seeded(tmp_path_factory.mktemp("fuzz"))
    yield world
    world.gateway.store.dispose()


class Run:
    """What one fuzz run did: per operation, the statuses it got; the failures found."""

    def __init__(self, role: str):
        self.role = role
        self.statuses: dict[str, Counter] = {}
        self.failures: list[str] = []
        self.started = time.perf_counter()

    @property
    def calls(self) -> int:
        return sum(sum(counter.values()) for counter in self.statuses.values())

    def report(self) -> None:
        took = time.perf_counter() - self.started
        figures = f"{len(self.statuses)} operations, {self.calls} calls, {took:.0f} s"
        print(f"\nfuzz[{self.role}]: {figures}")
        for label, counter in self.statuses.items():
            print(f"  {label}: " + " ".join(f"{k}x{n}" for k, n in sorted(counter.items())))
        if self.failures:
            pytest.fail(
                f"{len(self.failures)} operation(s) failed:\n\n" + "\n\n".join(self.failures)
            )


def fuzz(
    schema,
    ids: dict,
    headers: dict,
    wanted,
    role: str,
    doomed: dict | None = None,
    examples: int = EXAMPLES,
) -> Run:
    """Call every operation ``wanted(path)`` accepts with generated cases, valid and not,
    and check each answer; every operation is tried before the failures are shown. Path
    parameters are offered ``ids``, and DELETE operations ``doomed`` ones instead."""
    run = Run(role)
    for result in schema.get_all_operations():
        operation = result.ok()
        if not wanted(operation.path):
            continue
        statuses = run.statuses[operation.label] = Counter()
        offered = {**ids, **(doomed or {})} if operation.method.upper() == "DELETE" else ids
        try:
            fuzz_operation(operation, offering(offered), headers, statuses, examples)
        except (Exception, BaseExceptionGroup) as ex:  # hypothesis has shrunk it: show it
            run.failures.append(f"{operation.label}: {ex}")
    return run


def fuzz_operation(operation, offer, headers: dict, statuses: Counter, examples: int) -> None:
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ).flatmap(offer)

    @settings(FUZZ_SETTINGS, max_examples=examples)
    @given(case=cases)
    def call(case: Case) -> None:
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    call()


@pytest.fixture(scope="module")
def api(seeded):
    return schemathesis.openapi.from_wsgi("/v1/openapi.json", seeded.gateway.app)


def test_every_operation_as_a_member(api, seeded):
    run = fuzz(api, seeded.ids, seeded.member_headers, lambda path: True, "member", seeded.doomed)
    run.report()
    assert len(run.statuses) >= 30
    # The seeded ids are reached: the invoice is found, not only refused.
    assert run.statuses["GET /v1/invoices/{invoice_id}"][200] > 0
    assert run.statuses["GET /v1/customers/{siret}"][200] > 0
    assert run.statuses["GET /v1/webhooks/{webhook_id}"][200] > 0


def test_the_inbound_operations_as_a_member_and_as_the_admin(api, seeded):
    for role, headers in (("member", seeded.member_headers), ("admin", seeded.admin_headers)):
        run = fuzz(api, seeded.ids, headers, lambda path: "/inbound" in path, role)
        run.report()
        assert run.statuses["GET /v1/inbound-invoices/{inbound_id}"][200] > 0


def test_the_admin_operations_as_the_admin(api, seeded):
    run = fuzz(api, seeded.ids, seeded.admin_headers, admin_only, "admin", seeded.doomed)
    run.report()
    assert len(run.statuses) >= 8
    assert run.statuses["GET /v1/members/{member_id}"][200] > 0


def test_the_archive_export_as_a_member_and_as_the_admin(api, seeded):
    for role, headers in (("member", seeded.member_headers), ("admin", seeded.admin_headers)):
        run = fuzz(api, seeded.ids, headers, lambda path: path == "/v1/archive/export", role)
        run.report()
        if role == "member":  # a real zip, signed, not only refusals
            assert run.statuses["GET /v1/archive/export"][200] > 0


def test_every_operation_as_an_auditor_each_call_journaled(api, seeded):
    store = seeded.gateway.store
    start = store.journal_head()["seq"]
    # The member's run checks the schema; this one, what the journal records: fewer examples.
    examples = max(1, EXAMPLES // 4)
    run = fuzz(
        api, seeded.ids, seeded.auditor_headers, lambda path: True, "auditor", None, examples
    )
    run.report()
    assert run.statuses["GET /v1/invoices/{invoice_id}/audit"][200] > 0
    assert run.statuses["POST /v1/invoices"][403] > 0
    # Every call made with the key (a negative case may drop it: 401) is in the journal,
    # but those reading the public OpenAPI document and the platform's notification (no
    # key read), and the journal still verifies.
    journaled = [
        entry
        for entry in store.journal_rows(start + 1, store.journal_head()["seq"])
        if entry["kind"].startswith("auditor.")
    ]
    assert {entry["data"]["key_id"] for entry in journaled} == {seeded.auditor_id}
    keyless = sum(counter[401] for counter in run.statuses.values())
    keyless_routes = ("GET /v1/openapi.json", "POST /v1/inbound/notify/{member_id}/{outlet}")
    public = sum(sum(run.statuses.get(label, Counter()).values()) for label in keyless_routes)
    assert len(journaled) == run.calls - keyless - public
    # The auditor's exports signed checkpoints: they verify with the gateway's public key.
    key = seeded.gateway.config.archive.private_key()
    public_key = archive.public_key_hex(key)
    assert archive.verify(store, store.blobs, public_key, lambda *_: None).clean


# --- the harness itself finds what it is for ------------------------------------------------


class Broken:
    """A responder that breaks both promises: a 500 on one id, an undocumented 418 on another."""

    auth_required = False

    @operation("Cassée exprès", {200: None, 404: None})
    def on_get(self, req, resp, thing_id: str) -> None:
        if thing_id == "boom":
            raise RuntimeError("boom")
        resp.status = falcon.HTTP_418 if thing_id == "teapot" else falcon.HTTP_200
        resp.media = {}


def test_the_fuzz_reports_a_500_and_an_undocumented_status():
    spec = OpenApiResource()
    routes = [("/v1/openapi.json", spec), ("/v1/things/{thing_id}", Broken())]
    spec.spec = build_spec(routes)
    app = falcon.App(middleware=[RequestContextMiddleware()])
    app.add_error_handler(Exception, handle_unexpected)
    for path, resource in routes:
        app.add_route(path, resource)
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", app)

    found = {}
    for thing in ("boom", "teapot"):
        run = fuzz(schema, {"thing_id": [thing]}, {}, lambda path: "{" in path, "self-test")
        found[thing] = run.failures
    assert len(found["boom"]) == 1 and "500" in found["boom"][0], found
    assert len(found["teapot"]) == 1 and "Undocumented status code" in found["teapot"][0], found

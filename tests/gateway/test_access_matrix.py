"""Who may do what: every route the app serves × every kind of caller.

The routes come from ``gateway.app.route_table`` (what ``create_app`` mounts); the rule
each cell must follow is :func:`expected`. Another member's objects are 404 (never 403,
never their data), auditors only read and stop at expiry, revoked keys stop at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.app import route_table
from gateway.outlets import InboundFlow
from gateway.times import paris
from tests.conftest import DATA, Clock, Gateway, example, make_config

CUSTOMER = "22100005200011"
ROLES = (
    "anonymous",
    "member_a",
    "member_b",
    "auditor",
    "auditor_expired",
    "revoked",
    "admin",
)
PAPER_CUSTOMER = "22760540900019"
#: Bodies of the routes that take one; a route missing here is called without a body.
BODIES = {
    ("/v1/members", "post"): {"name": "Librairie Témoin"},
    ("/v1/members/{member_id}", "patch"): {"email": "compta@quais.example"},
    ("/v1/members/{member_id}/keys", "post"): {"label": "témoin"},
    ("/v1/members/{member_id}/password", "put"): {"password": "un mot de passe témoin"},
    ("/v1/customers/{siret}", "put"): {"name": "DEPARTEMENT DE L'AUBE"},
    ("/v1/invoices", "post"): example("invoice-aube"),
    ("/v1/invoices/validate", "post"): example("invoice-aube"),
    ("/v1/webhooks", "post"): {"url": "http://127.0.0.1:9/hook"},
    ("/v1/invoices/{invoice_id}/recycle", "post"): {"buyer": {"siret": CUSTOMER}},
    ("/v1/invoices/{invoice_id}/correct", "post"): example("invoice-aube"),
    ("/v1/invoices/{invoice_id}/credit-note", "post"): {"reason": "Facture rejetée"},
    ("/v1/inbound-invoices/{inbound_id}/status", "post"): {"status": "204"},
}


def expected(role: str, path: str, method: str, resource: object) -> int | str:
    """Return the answer a caller must get: 401, 403, 404, or "ok" (past the checks)."""
    if not getattr(resource, "auth_required", True):
        return "ok"
    if role in ("anonymous", "auditor_expired", "revoked"):
        return 401
    if role == "auditor" and method != "get":
        return 403
    if path in ("/v1/members", "/v1/members/{member_id}/password") or path.startswith("/v1/admin/"):
        return "ok" if role == "admin" else 403
    if path.startswith("/v1/members/{member_id}"):
        return 404 if role == "member_b" else "ok"
    if path.startswith("/v1/directory/"):
        return "ok"  # the public directory, for any key
    if path == "/v1/archive/export":
        return "ok"  # one's own member; the admin names one (test_archive_export)
    if role == "admin" and path.startswith("/v1/inbound-invoices") and method == "get":
        return "ok"  # the admin reads every member's received invoices (docs/inbound.md)
    if role == "admin":
        # The admin acts for no member, but reads any invoice's audit trail.
        return "ok" if path == "/v1/invoices/{invoice_id}/audit" else 403
    if path == "/v1/customers/{siret}/route":
        return "ok"  # a preview for any SIRET: B's own route, not A's customer (test_routing)
    if role == "member_b" and "{" in path:
        # A's object under another member's key does not exist; a PUT makes B's own.
        return "ok" if method == "put" else 404
    return "ok"


class World:
    """Member A with a customer, an invoice and keys of every kind; member B beside it."""

    def __init__(self, gateway: Gateway, clock: Clock):
        self.gateway = gateway
        client = gateway.client
        self.a = gateway.new_member()
        self.b = gateway.new_member("Librairie du Marché", "79345612000013")
        put = client.simulate_put(
            f"/v1/customers/{CUSTOMER}",
            headers=self.a["headers"],
            json=BODIES[("/v1/customers/{siret}", "put")],
        )
        assert put.status_code == 201, put.json
        posted = gateway.post_invoice(self.a, example("invoice-aube"))
        assert posted.status_code == 202, posted.json
        self.invoice_id = posted.json["id"]
        # A paper invoice of A's, in its print batch of the day (/v1/print-batches).
        put = client.simulate_put(
            f"/v1/customers/{PAPER_CUSTOMER}",
            headers=self.a["headers"],
            json={"name": "DEPARTEMENT DE LA SEINE MARITIME", "channel": "paper"},
        )
        assert put.status_code == 201, put.json
        paper = gateway.post_invoice(self.a, example("invoice-seine-maritime"))
        assert paper.status_code == 202, paper.json
        # An invoice a supplier sent A through the memory outlet (/v1/inbound-invoices).
        settings = {"settings": {"memory": {"profile": "chorus"}}}
        patched = client.simulate_patch(
            f"/v1/members/{self.a['id']}", json=settings, headers=self.a["headers"]
        )
        assert patched.status_code == 200, patched.json
        gateway.services.registry.outlets["memory"].deliver(
            self.a["id"],
            InboundFlow(
                "FLUX-A",
                (DATA / "xml" / "cii-en16931-aube.xml").read_bytes(),
                "a.xml",
                "application/xml",
            ),
        )
        worker = gateway.worker(clock=clock)
        worker.run_once()
        worker.scheduler.run_due()
        self.inbound_id = gateway.services.inbound.inbound.list(
            self.a["id"],
            status=None,
            sender=None,
            received_after=None,
            received_before=None,
            number=None,
            after_seq=None,
            limit=1,
        )[0]["id"]
        self.print_day = paris(clock.now).date().isoformat()
        members = gateway.services.members
        auditor = members.create_key(self.a["id"], "auditor", expires_at=clock.now + timedelta(30))
        expiring = members.create_key(self.a["id"], "auditor", expires_at=clock.now + timedelta(1))
        revoked = members.create_key(self.a["id"], "member")
        members.revoke_key(self.a["id"], revoked["id"])
        clock.advance(days=2)
        self.headers = {
            "anonymous": {},
            "member_a": self.a["headers"],
            "member_b": self.b["headers"],
            "auditor": bearer(auditor["api_key"]),
            "auditor_expired": bearer(expiring["api_key"]),
            "revoked": bearer(revoked["api_key"]),
            "admin": gateway.admin(),
        }
        self.secrets = (
            self.a["id"],
            self.invoice_id,
            self.inbound_id,
            auditor["id"],
            revoked["id"],
        )

    def params(self) -> dict[str, str]:
        """A's objects; each call gets a key of its own, since a call may revoke it."""
        spare = self.gateway.services.members.create_key(self.a["id"], "member", label="cible")
        hook = self.gateway.services.webhooks.create(self.a["id"], "http://127.0.0.1:9/h", ["*"])
        return {
            "webhook_id": hook["id"],
            "member_id": self.a["id"],
            "key_id": spare["id"],
            "invoice_id": self.invoice_id,
            "name": "original.json",
            "siret": CUSTOMER,
            "date": self.print_day,
            "inbound_id": self.inbound_id,
            "outlet": "memory",
        }


#: The codes of a refusal to this caller, as opposed to one about the request itself
#: (such as ``directory.unknown``, also a 404).
DENIALS = {
    "auth.required",
    "auth.read_only",
    "auth.forbidden",
    "auth.member_required",
    "not_found",
}


def denial(result) -> int | str:
    """Return the status of a refusal to the caller, or "ok" when it got past the checks."""
    errors = result.json.get("errors", []) if result.status_code >= 400 else []
    return result.status_code if any(e["code"] in DENIALS for e in errors) else "ok"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def served(gateway: Gateway) -> list[tuple[str, str, object]]:
    """(path, method, resource) of every responder of the app's route table."""
    limit = gateway.config.max_body_bytes
    return [
        (path, name.removeprefix("on_"), resource)
        for path, resource in route_table(gateway.services, limit)
        for name in sorted(dir(resource))
        if name.startswith("on_")
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("matrix")
    clock = Clock(datetime.now(UTC))
    config = make_config(home, f"sqlite:///{home / 'gateway.sqlite3'}")
    config.channels["paper"] = "paper"
    gateway = Gateway(config, clock=clock)
    yield World(gateway, clock)
    gateway.store.dispose()


def test_the_matrix_covers_every_route(world):
    routes = served(world.gateway)
    assert {(path, method) for path, method, _ in routes} >= {
        ("/v1/members/{member_id}/keys/{key_id}", "delete"),
        ("/v1/invoices/{invoice_id}/retry", "post"),
        ("/v1/webhooks/{webhook_id}", "delete"),
        ("/v1/webhooks/{webhook_id}/deliveries", "get"),
        ("/v1/webhooks/{webhook_id}/redeliver", "post"),
        ("/v1/invoices/{invoice_id}/recycle", "post"),
        ("/v1/invoices/{invoice_id}/complete", "post"),
        ("/v1/admin/events", "get"),
        ("/v1/invoices/{invoice_id}/correct", "post"),
        ("/v1/invoices/{invoice_id}/credit-note", "post"),
    }
    writes = {(path, method) for path, method, _ in routes if method in ("post", "put", "patch")}
    assert set(BODIES) <= writes  # no body left for a route that is gone


@pytest.mark.parametrize("role", ROLES)
def test_each_caller_gets_only_what_it_is_allowed(world, role):
    client = world.gateway.client
    wrong = []
    store = world.gateway.store
    for path, method, resource in served(world.gateway):
        body = BODIES.get((path, method))
        params = world.params()
        before = store.journal_head()["seq"]
        result = client.simulate_request(
            method.upper(), path.format(**params), headers=world.headers[role], json=body
        )
        journaled = [
            entry["data"]
            for entry in store.journal_rows(before + 1, before + 100)
            if entry["kind"].startswith("auditor.")
        ]
        reads_key = getattr(resource, "auth_required", True) or hasattr(resource, "auth_optional")
        if role == "auditor" and reads_key:  # every request of an auditor key, served or not
            key = world.headers[role]["Authorization"].removeprefix("Bearer ")
            assert [(e["path"], e["status"], e["prefix"]) for e in journaled] == [
                (path.format(**params), result.status_code, key[:12])
            ], (method, path)
        else:
            assert journaled == []
        got = denial(result)
        want = expected(role, path, method, resource)
        if got != want or result.status_code >= 500:
            wrong.append((method.upper(), path, want, result.status_code, result.text[:200]))
        if role not in ("member_a", "auditor", "admin"):
            # Nothing of A's, not even an id, in what any other caller is told.
            leaked = [secret for secret in world.secrets if secret in result.text]
            if leaked:
                wrong.append((method.upper(), path, "no data of A", leaked, result.text[:200]))
        if got != "ok":
            assert set(result.json) <= {"errors", "warnings"}, (method, path, result.json)
    assert wrong == []

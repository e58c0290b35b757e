"""The control API under `/_sandbox/`: play the recipient, edit the directory, inject faults.

No OAuth here, but only loopback clients are served. Bodies and answers are JSON with the
sandbox's own (English) field names; the directory uses the gateway's `/v1/directory` shape.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import falcon
from stdnum.fr import siret as siret_number

from . import rules
from .clock import day, iso, parse_day
from .faults import plan_from_json
from .processing import FRAMEWORKS
from .store import Duplicate

if TYPE_CHECKING:
    from .app import Sandbox

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}

# What the recipient (or the platform) can set, as `traiter/recue` allows.
RECIPIENT_STATUSES = (
    "EN_COURS_ACHEMINEMENT", "MISE_A_DISPOSITION", "SERVICE_FAIT", "MANDATEE",
    "MISE_A_DISPOSITION_COMPTABLE", "COMPTABILISEE", "MISE_EN_PAIEMENT",
    "A_RECYCLER", "SUSPENDUE", "REJETEE",
)  # fmt: skip
NEED_REASON = {"A_RECYCLER", "SUSPENDUE", "REJETEE"}
FINAL = {"REJETEE", "MISE_EN_PAIEMENT"}
SUPPLIER_TURN = {"A_RECYCLER", "SUSPENDUE"}  # left by the supplier's recycler/completer
#: How an invoice uploaded through the portal's form is recorded (`modeDepot`).
PORTAL_DEPOSIT_MODE = "DEPOT_PDF_PORTAIL"
PORTAL_LOGIN = "portail"

ENDPOINTS = {
    "GET /_sandbox": "this list",
    "GET /_sandbox/credentials": "the demo PISTE application and technical accounts",
    "POST /_sandbox/process": "process every pending flux now",
    "POST /_sandbox/clock": '{"advance": seconds} moves the sandbox clock forward',
    "GET /_sandbox/flux/{numeroFluxDepot}": "a flux, its state, errors and invoices",
    "GET /_sandbox/invoices": "invoices (filters: numero, supplier, recipient, flux, status)",
    "POST /_sandbox/invoices": '{"supplier", "recipient", "numero", "service", "engagement", '
    '"total_without_vat", "total_vat", "total_with_vat"} an invoice uploaded on the portal',
    "GET /_sandbox/invoices/{id}": "one invoice with its history",
    "POST /_sandbox/invoices/{id}/status": '{"status", "reason"} the recipient moves it',
    "GET /_sandbox/structures": "the directory's structures",
    "GET /_sandbox/structures/{siret}": "a structure of the directory with its services",
    "POST /_sandbox/structures": "add a structure",
    "PATCH /_sandbox/structures/{siret}": "change a structure's status or flags",
    "POST /_sandbox/structures/{siret}/services": "add a service",
    "PATCH /_sandbox/structures/{siret}/services/{code}": "change a service",
    "GET|PUT|DELETE /_sandbox/faults": "read, set or clear the fault plan",
    "POST /_sandbox/tokens/expire": "expire every token now",
    "GET /_sandbox/counters": "deposits per supplier and invoice number, calls, faults",
    "POST /_sandbox/clients": '{"apis": [...]} add a PISTE application',
    "PATCH /_sandbox/clients/{client_id}": '{"apis": [...]} change its subscriptions',
    "POST /_sandbox/accounts": '{"siret", "password_expires"} add a technical account',
    "PATCH /_sandbox/accounts/{login}": '{"password_expires": "AAAA-MM-JJ" | null}',
    "POST /_sandbox/reset": '{"directory": true} forget flux, invoices, counters, faults',
}


def _fail(status: str, message: str) -> falcon.HTTPError:
    return falcon.HTTPError(status, description=message)


def _body(req: falcon.Request) -> dict[str, Any]:
    try:
        body = req.get_media(default_when_empty={})
    except falcon.MediaMalformedError as ex:
        raise _fail(falcon.HTTP_400, "the body is not JSON") from ex
    if not isinstance(body, dict):
        raise _fail(falcon.HTTP_400, "the body must be a JSON object")
    return body


def _flag(body: dict, key: str) -> bool:
    value = body[key]
    if not isinstance(value, bool):
        raise _fail(falcon.HTTP_400, f"{key} must be true or false")
    return value


def _status(body: dict, active: str, inactive: str) -> bool:
    value = body["status"]
    if value not in (active, inactive):
        raise _fail(falcon.HTTP_400, f"status must be {active} or {inactive}")
    return value == active


class LoopbackOnly:
    """Refuse the control API to anything but loopback clients."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.path.startswith("/_sandbox") and req.remote_addr not in LOOPBACK:
            raise _fail(falcon.HTTP_403, "the control API only answers loopback clients")


class Resource:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store


# -- views -------------------------------------------------------------------------------------


def structure_view(sandbox: Sandbox, structure: dict) -> dict[str, Any]:
    return {
        "id": structure["id"],
        "siret": structure["siret"],
        "name": structure["name"],
        "public": bool(structure["public"]),
        "status": "ACTIF" if structure["active"] else "INACTIF",
        "service_required": bool(structure["service_required"]),
        "engagement_required": bool(structure["engagement_required"]),
        "service_or_engagement_required": bool(structure["service_or_engagement"]),
        "payment_status_not_reported": bool(structure["payment_status_not_reported"]),
        "address": structure["address"],
        "postcode": structure["postcode"],
        "city": structure["city"],
        "email": structure["email"],
        "services": [
            {
                "id": s["id"],
                "code": s["code"],
                "name": s["name"],
                "status": "ACTIF" if s["active"] else "SUPPRIME",
                "engagement_required": bool(s["engagement_required"]),
            }
            for s in sandbox.store.services(structure["id"])
        ],
    }


def invoice_view(sandbox: Sandbox, invoice: dict) -> dict[str, Any]:
    store = sandbox.store
    service = (
        store.service(invoice["recipient_id"], id=invoice["service_id"])
        if invoice["service_id"]
        else None
    )
    return {
        "id": invoice["id"],
        "numero": invoice["numero"],
        "supplier": store.structure(id=invoice["supplier_id"])["siret"],
        "recipient": store.structure(id=invoice["recipient_id"])["siret"],
        "service": service["code"] if service else None,
        "engagement": invoice["engagement"],
        "kind": invoice["kind"],
        "status": invoice["status"],
        "status_at": iso(invoice["status_at"]),
        "status_comment": invoice["status_comment"],
        "flux": invoice["flux_numero"],
        "deposit_mode": invoice["deposit_mode"],
        "history": [
            {"status": h["code"], "at": iso(h["at"]), "comment": h["comment"], "actor": h["actor"]}
            for h in store.history(invoice["id"])
        ],
    }


# -- resources ---------------------------------------------------------------------------------


class Index(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"endpoints": ENDPOINTS}


class Credentials(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.sandbox.credentials(req.prefix)


class Process(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"processed": self.sandbox.processor.run_all()}


class ClockResource(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = _body(req)
        try:
            seconds = float(body.get("advance", 0))
        except (TypeError, ValueError) as ex:
            raise _fail(falcon.HTTP_400, "advance must be a number of seconds") from ex
        if seconds < 0:
            raise _fail(falcon.HTTP_400, "the clock only moves forward")
        offset = self.sandbox.clock.advance(seconds)
        resp.media = {"offset": offset, "now": iso(self.sandbox.clock.now())}


class Flux(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, numero: str) -> None:
        self.sandbox.processor.run_due()
        flux = self.store.flux(numero)
        if flux is None:
            raise _fail(falcon.HTTP_404, f"no flux {numero}")
        resp.media = {
            "numero": flux["numero"],
            "login": flux["login"],
            "syntax": flux["syntax"],
            "file_name": flux["file_name"],
            "deposited_at": iso(flux["deposited_at"]),
            "state": flux["state"],
            "state_at": iso(flux["state_at"]) if flux["state_at"] else None,
            "dp_errors": json.loads(flux["dp_errors"]),
            "technical_errors": json.loads(flux["technical_errors"]),
            "invoices": [i["id"] for i in self.store.invoices("flux_numero = ?", (numero,))],
        }


class Invoices(Resource):
    FILTERS = {"numero": "numero", "flux": "flux_numero", "status": "status"}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.sandbox.processor.run_due()
        where, params = ["1"], []
        for key, column in self.FILTERS.items():
            if req.get_param(key):
                where.append(f"{column} = ?")
                params.append(req.get_param(key))
        for key, column in (("supplier", "supplier_id"), ("recipient", "recipient_id")):
            if req.get_param(key):
                structure = self.store.structure(siret=req.get_param(key))
                where.append(f"{column} = ?")
                params.append(structure["id"] if structure else -1)
        invoices = self.store.invoices(" AND ".join(where), params)
        resp.media = {"invoices": [invoice_view(self.sandbox, i) for i in invoices]}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Play a supplier uploading one PDF invoice on the portal (no API, no flux): it is
        checked against the directory as the portal's form does, then DEPOSEE."""
        body = _body(req)
        supplier = self.store.structure(siret=str(body.get("supplier", "")))
        if supplier is None:
            raise _fail(falcon.HTTP_400, "supplier must be the SIRET of a known structure")
        numero = str(body.get("numero", ""))
        violation = rules.check_number(numero)
        if violation is not None:
            raise _fail(falcon.HTTP_400, violation.message)
        try:
            amounts = {
                key: str(Decimal(str(body[key])))
                for key in ("total_without_vat", "total_vat", "total_with_vat")
            }
            recipient, service = rules.route(
                self.store,
                supplier,
                str(body.get("recipient", "")),
                body.get("service"),
                body.get("engagement"),
            )
        except (KeyError, InvalidOperation) as ex:
            raise _fail(falcon.HTTP_400, "the three totals are decimal strings") from ex
        except rules.Refused as ex:
            raise _fail(falcon.HTTP_400, ex.violation.message) from ex
        now = self.sandbox.clock.now()
        values = {
            "numero": numero,
            "supplier_id": supplier["id"],
            "recipient_id": recipient["id"],
            "service_id": service["id"] if service else None,
            "engagement": body.get("engagement"),
            "kind": "FACTURE",
            "framework": FRAMEWORKS[0],  # A1, a supplier's invoice
            "invoice_date": day(now),
            "currency": "EUR",
            **amounts,
            "amount_due": amounts["total_with_vat"],
            "deposit_mode": PORTAL_DEPOSIT_MODE,
            "login": PORTAL_LOGIN,
            "deposited_at": now,
            "status": "DEPOSEE",
            "status_at": now,
        }
        try:
            invoice = self.store.add_invoice(values, actor="FOURNISSEUR")
        except Duplicate as ex:
            raise _fail(falcon.HTTP_409, f"the supplier already has invoice {numero}") from ex
        resp.status = falcon.HTTP_201
        resp.media = invoice_view(self.sandbox, invoice)


class Invoice(Resource):
    def _invoice(self, invoice_id: int) -> dict:
        invoice = self.store.invoice(invoice_id)
        if invoice is None:
            raise _fail(falcon.HTTP_404, f"no invoice {invoice_id}")
        return invoice

    def on_get(self, req: falcon.Request, resp: falcon.Response, invoice_id: int) -> None:
        resp.media = invoice_view(self.sandbox, self._invoice(invoice_id))

    def on_post_status(self, req: falcon.Request, resp: falcon.Response, invoice_id: int) -> None:
        """Play the recipient: move the invoice to a new status."""
        invoice = self._invoice(invoice_id)
        body = _body(req)
        status = body.get("status")
        reason = (body.get("reason") or body.get("comment") or "").strip() or None
        if status not in RECIPIENT_STATUSES:
            raise _fail(falcon.HTTP_400, f"status must be one of {', '.join(RECIPIENT_STATUSES)}")
        if status in NEED_REASON and not reason:
            raise _fail(falcon.HTTP_400, f"{status} needs a reason")
        current = invoice["status"]
        if current in FINAL:
            raise _fail(falcon.HTTP_409, f"the invoice is {current}, a final status")
        if current in SUPPLIER_TURN and status != "REJETEE":
            raise _fail(falcon.HTTP_409, f"the invoice is {current}: the supplier acts next")
        if current == status:
            raise _fail(falcon.HTTP_409, f"the invoice is already {current}")
        recipient = self.store.structure(id=invoice["recipient_id"])
        if status == "MISE_EN_PAIEMENT" and recipient["payment_status_not_reported"]:
            raise _fail(falcon.HTTP_409, "this structure does not report MISE_EN_PAIEMENT")
        moved = self.store.move_invoice(
            invoice_id, status, self.sandbox.clock.now(), reason, "DESTINATAIRE"
        )
        resp.media = invoice_view(self.sandbox, moved)


STRUCTURE_FLAGS = {
    "service_required": "service_required",
    "engagement_required": "engagement_required",
    "service_or_engagement_required": "service_or_engagement",
    "payment_status_not_reported": "payment_status_not_reported",
}
STRUCTURE_TEXTS = ("name", "address", "postcode", "city", "email")


def _structure_changes(body: dict) -> dict[str, Any]:
    unknown = set(body) - set(STRUCTURE_FLAGS) - set(STRUCTURE_TEXTS) - {"status", "public"}
    if unknown:
        raise _fail(falcon.HTTP_400, f"unknown fields: {', '.join(sorted(unknown))}")
    changes: dict[str, Any] = {
        column: _flag(body, key) for key, column in STRUCTURE_FLAGS.items() if key in body
    }
    changes.update({key: str(body[key]) for key in STRUCTURE_TEXTS if key in body})
    if "status" in body:
        changes["active"] = _status(body, "ACTIF", "INACTIF")
    if "public" in body:
        changes["public"] = _flag(body, "public")
    return changes


def _service_values(body: dict, *, partial: bool) -> dict[str, Any]:
    unknown = set(body) - {"code", "name", "status", "engagement_required"}
    if unknown or (partial and "code" in body):
        raise _fail(falcon.HTTP_400, f"unknown fields: {', '.join(sorted(unknown or {'code'}))}")
    values: dict[str, Any] = {}
    if "name" in body:
        values["name"] = str(body["name"])
    if "status" in body:
        values["active"] = _status(body, "ACTIF", "SUPPRIME")
    if "engagement_required" in body:
        values["engagement_required"] = _flag(body, "engagement_required")
    if not partial:
        if not isinstance(body.get("code"), str) or not body["code"].strip():
            raise _fail(falcon.HTTP_400, "code is required")
        values = {
            "code": body["code"].strip(),
            "name": values.get("name", body["code"].strip()),
            "active": values.get("active", True),
            "engagement_required": values.get("engagement_required", False),
        }
    return values


class Structures(Resource):
    def _structure(self, siret: str) -> dict:
        structure = self.store.structure(siret=siret)
        if structure is None:
            raise _fail(falcon.HTTP_404, f"no structure {siret}")
        return structure

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "structures": [
                {"siret": s["siret"], "name": s["name"], "public": bool(s["public"]),
                 "status": "ACTIF" if s["active"] else "INACTIF"}
                for s in self.store.structures()
            ]
        }  # fmt: skip

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = _body(req)
        siret = str(body.pop("siret", ""))
        services = body.pop("services", [])
        if not siret_number.is_valid(siret):
            raise _fail(falcon.HTTP_400, "siret must be a valid SIRET (14 digits, Luhn)")
        if self.store.structure(siret=siret):
            raise _fail(falcon.HTTP_409, f"structure {siret} exists")
        if not body.get("name"):
            raise _fail(falcon.HTTP_400, "name is required")
        values = {
            "public": True, "active": True, "service_required": False,
            "engagement_required": False, "service_or_engagement": False,
            "payment_status_not_reported": False, "address": "", "postcode": "", "city": "",
            "email": "", **_structure_changes(body), "siret": siret,
        }  # fmt: skip
        service_values = [_service_values(s, partial=False) for s in services]
        structure = self.store.add_structure(values)
        now = self.sandbox.clock.now()
        for service in service_values:
            self.store.add_service(structure["id"], service, now)
        resp.status = falcon.HTTP_201
        resp.media = structure_view(self.sandbox, structure)

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        resp.media = structure_view(self.sandbox, self._structure(siret))

    def on_patch_one(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        structure = self._structure(siret)
        self.store.update_structure(structure["id"], _structure_changes(_body(req)))
        resp.media = structure_view(self.sandbox, self._structure(siret))

    def on_post_services(self, req: falcon.Request, resp: falcon.Response, siret: str) -> None:
        structure = self._structure(siret)
        values = _service_values(_body(req), partial=False)
        if self.store.service(structure["id"], code=values["code"]):
            raise _fail(falcon.HTTP_409, f"service {values['code']} exists")
        self.store.add_service(structure["id"], values, self.sandbox.clock.now())
        resp.status = falcon.HTTP_201
        resp.media = structure_view(self.sandbox, structure)

    def on_patch_service(
        self, req: falcon.Request, resp: falcon.Response, siret: str, code: str
    ) -> None:
        structure = self._structure(siret)
        service = self.store.service(structure["id"], code=code)
        if service is None:
            raise _fail(falcon.HTTP_404, f"no service {code} in {siret}")
        values = _service_values(_body(req), partial=True)
        self.store.update_service(service["id"], values, self.sandbox.clock.now())
        resp.media = structure_view(self.sandbox, structure)


class FaultsResource(Resource):
    def _answer(self, resp: falcon.Response) -> None:
        faults = self.sandbox.faults
        resp.media = {"plan": faults.plan.as_json(), "injected": faults.injected()}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._answer(resp)

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            plan = plan_from_json(_body(req))
        except (TypeError, ValueError) as ex:
            raise _fail(falcon.HTTP_400, str(ex)) from ex
        self.sandbox.faults.configure(plan)
        self._answer(resp)

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.sandbox.faults.configure(plan_from_json({}))
        self._answer(resp)


class Tokens(Resource):
    def on_post_expire(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"expired": self.store.expire_tokens(self.sandbox.clock.now())}


class Counters(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        deposits = self.store.deposit_counts()
        supplier = req.get_param("supplier")
        if supplier:
            deposits = {supplier: deposits.get(supplier, {})}
        resp.media = {
            "deposits": deposits,
            "calls": self.store.call_counts(),
            "faults": self.sandbox.faults.injected(),
        }


def _apis(body: dict) -> list[str]:
    apis = body.get("apis")
    if not isinstance(apis, list) or not all(isinstance(a, str) for a in apis):
        raise _fail(falcon.HTTP_400, 'apis must be a list such as ["factures", "structures"]')
    return apis


class Clients(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_201
        resp.media = self.store.add_client(_apis(_body(req)))

    def on_patch_one(self, req: falcon.Request, resp: falcon.Response, client_id: str) -> None:
        apis = _apis(_body(req))
        if not self.store.set_client_apis(client_id, apis):
            raise _fail(falcon.HTTP_404, f"no client {client_id}")
        resp.media = {"client_id": client_id, "apis": apis}


def _expiry(body: dict) -> float | None:
    value = body.get("password_expires")
    if value is None:
        return None
    expires = parse_day(str(value))
    if expires is None:
        raise _fail(falcon.HTTP_400, "password_expires must be AAAA-MM-JJ or null")
    return expires


class Accounts(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = _body(req)
        try:
            account = self.store.add_account(str(body.get("siret", "")), _expiry(body))
        except KeyError as ex:
            raise _fail(falcon.HTTP_404, f"no structure {body.get('siret')}") from ex
        resp.status = falcon.HTTP_201
        resp.media = account

    def on_patch_one(self, req: falcon.Request, resp: falcon.Response, login: str) -> None:
        if not self.store.set_password_expiry(login, _expiry(_body(req))):
            raise _fail(falcon.HTTP_404, f"no account {login}")
        resp.media = {"login": login}


class Reset(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        directory = _body(req).get("directory", True) is not False
        self.store.reset(self.sandbox.clock.now(), directory=directory)
        self.sandbox.faults.configure(plan_from_json({}))
        self.sandbox.faults.reset_counts()
        resp.media = {"reset": True, "directory": directory}


def add_routes(app: falcon.App, sandbox: Sandbox) -> None:
    app.add_middleware(LoopbackOnly())
    app.add_route("/_sandbox", Index(sandbox))
    app.add_route("/_sandbox/credentials", Credentials(sandbox))
    app.add_route("/_sandbox/process", Process(sandbox))
    app.add_route("/_sandbox/clock", ClockResource(sandbox))
    app.add_route("/_sandbox/flux/{numero}", Flux(sandbox))
    app.add_route("/_sandbox/invoices", Invoices(sandbox))  # GET: list; POST: portal upload
    invoice = Invoice(sandbox)
    app.add_route("/_sandbox/invoices/{invoice_id:int}", invoice)
    app.add_route("/_sandbox/invoices/{invoice_id:int}/status", invoice, suffix="status")
    structures = Structures(sandbox)
    app.add_route("/_sandbox/structures", structures)
    app.add_route("/_sandbox/structures/{siret}", structures, suffix="one")
    app.add_route("/_sandbox/structures/{siret}/services", structures, suffix="services")
    app.add_route("/_sandbox/structures/{siret}/services/{code}", structures, suffix="service")
    app.add_route("/_sandbox/faults", FaultsResource(sandbox))
    app.add_route("/_sandbox/tokens/expire", Tokens(sandbox), suffix="expire")
    app.add_route("/_sandbox/counters", Counters(sandbox))
    clients = Clients(sandbox)
    app.add_route("/_sandbox/clients", clients)
    app.add_route("/_sandbox/clients/{client_id}", clients, suffix="one")
    accounts = Accounts(sandbox)
    app.add_route("/_sandbox/accounts", accounts)
    app.add_route("/_sandbox/accounts/{login}", accounts, suffix="one")
    app.add_route("/_sandbox/reset", Reset(sandbox))

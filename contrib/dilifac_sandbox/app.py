"""The Falcon application: the SOAP endpoint (``/dilifac``, its WSDL at ``?wsdl``) and the
plain-JSON control API (``/_sandbox/``, loopback only)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon

from . import soap
from .service import SETTABLE, Conflict, Dilifac, utc_now
from .store import Store

WSDL = Path(__file__).with_name("dilifac.wsdl")
SOAP_PATH = "/dilifac"
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
FAULT_KINDS = ("unavailable", "slow", "lost")

ENDPOINTS = {
    "GET /dilifac?wsdl": "the WSDL (SOAP 1.1, document/literal)",
    "POST /dilifac": "the SOAP operations (WS-Security UsernameToken)",
    "GET /_sandbox": "this list",
    "GET /_sandbox/credentials": "the demo subscribers' logins and passwords",
    "GET /_sandbox/deposits": "deposits with their history (filters: numero, siret)",
    "POST /_sandbox/deposits/{id}/status": '{"status"?, "reason"?}: the next or a given status',
    "GET|PUT|DELETE /_sandbox/faults": '{"kind": unavailable|slow|lost, "seconds", "operations"}',
    "POST /_sandbox/clock": '{"advance": seconds} moves the sandbox clock forward',
    "GET /_sandbox/counters": "calls per operation",
    "POST /_sandbox/reset": "forget deposits and counters (credentials stay)",
}


@dataclass(frozen=True)
class FaultPlan:
    kind: str
    seconds: float = 0.0
    operations: tuple[str, ...] = ()  # none: every operation

    def concerns(self, operation: str) -> bool:
        return not self.operations or operation in self.operations


class Sandbox:
    """What the resources share: store, service, clock offset, fault plan."""

    def __init__(self, state_path: str, pace: float | None) -> None:
        self.store = Store(state_path)
        self.offset = 0.0
        self.service = Dilifac(self.store, self.now, pace)
        self.faults: FaultPlan | None = None
        self.stopping = threading.Event()

    def now(self) -> float:
        return utc_now() + self.offset

    def credentials(self, base_url: str) -> dict[str, Any]:
        subscribers = self.store.subscribers()
        first = subscribers[0]
        return {
            "url": base_url + SOAP_PATH,
            "wsdl_url": base_url + SOAP_PATH + "?wsdl",
            "control_url": base_url + "/_sandbox",
            "login": first["login"],
            "password": first["password"],
            "siret": first["siret"],
            "accounts": [
                {k: s[k] for k in ("login", "password", "siret", "name")} for s in subscribers
            ],
        }

    def close(self) -> None:
        self.stopping.set()
        self.store.close()


class SandboxApp(falcon.App):
    sandbox: Sandbox

    def close(self) -> None:
        self.sandbox.close()


def send_json(resp: falcon.Response, payload: Any, status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(payload, ensure_ascii=False)


class SoapResource:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if "wsdl" not in {key.lower() for key in req.params}:
            raise falcon.HTTPNotFound(description="GET /dilifac?wsdl serves the WSDL")
        address = f"{req.forwarded_scheme}://{req.forwarded_host}{SOAP_PATH}"
        resp.content_type = "text/xml; charset=utf-8"
        resp.data = WSDL.read_bytes().replace(b"http://127.0.0.1:8082/dilifac", address.encode())

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = soap.MEDIA_TYPE
        try:
            request = soap.read(self._body(req))
            self.sandbox.store.count_call(request.operation)
            fault = self.sandbox.faults
            if fault is not None and fault.concerns(request.operation):
                if fault.kind == "unavailable":
                    raise soap.Fault(
                        "SERVICE_INDISPONIBLE",
                        "Dilifac est momentanément indisponible (panne simulée).",
                        client=False,
                        status=503,
                    )
                if fault.kind == "slow":  # late, then carried out
                    self.sandbox.stopping.wait(fault.seconds)
            answer = soap.envelope(self.sandbox.service.call(request))
            if fault is not None and fault.kind == "lost" and fault.concerns(request.operation):
                self.sandbox.stopping.wait(fault.seconds)  # carried out, answered too late
            resp.data = answer
        except soap.Fault as ex:
            resp.status = ex.status
            resp.data = soap.fault(ex)

    @staticmethod
    def _body(req: falcon.Request) -> bytes:
        if req.content_length is not None and req.content_length > soap.MAX_REQUEST_BYTES:
            raise soap.Fault("TROP_VOLUMINEUX", "La requête dépasse la taille maximale.")
        data = req.bounded_stream.read(soap.MAX_REQUEST_BYTES + 1)
        if len(data) > soap.MAX_REQUEST_BYTES:
            raise soap.Fault("TROP_VOLUMINEUX", "La requête dépasse la taille maximale.")
        return data


# --- the control API --------------------------------------------------------------------------


class LoopbackOnly:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.path.startswith("/_sandbox") and req.remote_addr not in LOOPBACK:
            raise falcon.HTTPForbidden(description="the control API only answers loopback")


def _body(req: falcon.Request) -> dict:
    try:
        body = req.get_media(default_when_empty={})
    except falcon.MediaMalformedError as ex:
        raise falcon.HTTPBadRequest(description="the body is not JSON") from ex
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(description="the body must be a JSON object")
    return body


class Control:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store

    def view(self, deposit: dict) -> dict:
        hidden = ("content", "seq", "login")
        return {
            **{key: value for key, value in deposit.items() if key not in hidden},
            "history": [
                {k: v for k, v in step.items() if k not in ("id", "deposit_id")}
                for step in self.store.history(deposit["id"])
            ],
        }

    def on_get(self, req, resp) -> None:
        send_json(resp, ENDPOINTS)

    def on_get_credentials(self, req, resp) -> None:
        send_json(resp, self.sandbox.credentials(f"{req.scheme}://{req.host}:{req.port}"))

    def on_get_deposits(self, req, resp) -> None:
        self.sandbox.service.run_due()
        where = {k: req.params[k] for k in ("numero", "siret") if req.params.get(k)}
        send_json(resp, {"deposits": [self.view(d) for d in self.store.deposits(**where)]})

    def on_post_status(self, req, resp, deposit_id: str) -> None:
        body = _body(req)
        deposit = self.store.deposit(id=deposit_id)
        if deposit is None:
            raise falcon.HTTPNotFound(description=f"no deposit {deposit_id}")
        status = body.get("status")
        if status is not None and status not in SETTABLE:
            raise falcon.HTTPBadRequest(description=f"status: one of {', '.join(SETTABLE)}")
        try:
            moved = self.sandbox.service.move(deposit, status, body.get("reason"))
        except Conflict as ex:
            raise falcon.HTTPConflict(description=str(ex)) from ex
        send_json(resp, self.view(moved))

    def on_get_faults(self, req, resp) -> None:
        plan = self.sandbox.faults
        send_json(resp, plan.__dict__ if plan else None)

    def on_put_faults(self, req, resp) -> None:
        body = _body(req)
        if body.get("kind") not in FAULT_KINDS:
            raise falcon.HTTPBadRequest(description=f"kind: one of {', '.join(FAULT_KINDS)}")
        try:
            seconds = max(0.0, float(body.get("seconds", 0)))
            operations = tuple(str(op) for op in body.get("operations") or ())
        except (TypeError, ValueError) as ex:
            raise falcon.HTTPBadRequest(description="seconds: a number") from ex
        self.sandbox.faults = FaultPlan(body["kind"], seconds, operations)
        send_json(resp, self.sandbox.faults.__dict__)

    def on_delete_faults(self, req, resp) -> None:
        self.sandbox.faults = None
        send_json(resp, None)

    def on_post_clock(self, req, resp) -> None:
        try:
            self.sandbox.offset += max(0.0, float(_body(req).get("advance", 0)))
        except (TypeError, ValueError) as ex:
            raise falcon.HTTPBadRequest(description="advance: seconds") from ex
        self.sandbox.service.run_due()
        send_json(resp, {"offset": self.sandbox.offset})

    def on_get_counters(self, req, resp) -> None:
        send_json(resp, {"calls": self.store.calls()})

    def on_post_reset(self, req, resp) -> None:
        self.store.reset()
        self.sandbox.faults = None
        send_json(resp, {"reset": True})


def create_app(state_path: str, *, pace: float | None = 10.0) -> SandboxApp:
    """Build the sandbox over a state file (created on first use, demo subscribers with
    random passwords); ``pace``: seconds between two steps of a deposit left alone (None:
    deposits move only through the control API)."""
    sandbox = Sandbox(state_path, pace)
    app = SandboxApp(middleware=[LoopbackOnly()])
    app.sandbox = sandbox
    app.add_route(SOAP_PATH, SoapResource(sandbox))
    control = Control(sandbox)
    app.add_route("/_sandbox", control)
    for suffix in ("credentials", "deposits", "faults", "clock", "counters", "reset"):
        app.add_route(f"/_sandbox/{suffix}", control, suffix=suffix)
    app.add_route("/_sandbox/deposits/{deposit_id}/status", control, suffix="status")
    return app

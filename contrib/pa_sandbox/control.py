"""The control API under `/control/`: move the clock, play the other parties, inject faults,
read counters. No token, but only loopback clients are served; bodies are plain JSON."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING, Any

import falcon

from contrib.chorus_sandbox.faults import FaultPlan, plan_from_json

from .checks import INVOICE_SYNTAXES, check_flow
from .lifecycle import STATUSES, give_status, lifecycle_view, status_problem
from .processing import invoice_columns
from .web import FAULT_SCOPE, api_error, bad, iso, json_body, send_json
from .webhooks import url_problem

if TYPE_CHECKING:
    from .app import Sandbox

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}

ENDPOINTS = {
    "GET /control": "this list",
    "GET /control/credentials": "every demo client (client_id, client_secret, siren, name)",
    "POST /control/step": "acknowledge every pending flow now (Ok or Error)",
    "POST /control/clock": '{"advance": seconds} moves the sandbox clock forward',
    "GET /control/flows/{flowId}": "a flow as stored (owner, parties, acknowledgement, lifecycle)",
    "POST /control/flows/{flowId}/status": '{"code": "205", "reason"?: "..."} gives a deposited '
    "invoice a lifecycle status (XP Z12-012); its issuer gets a CDAR flow",
    "POST /control/inbound": '{"to": SIREN, "syntax": "CII"|"UBL"|"Factur-X", "content_base64", '
    '"name"?} a supplier invoice for a member (flowType SupplierInvoice, direction In)',
    "GET /control/inbound/{flowId}/answers": "the statuses the member answered with CDAR flows",
    "GET /control/counters": "deposits per trackingId, calls per route, faults injected",
    "GET|POST|DELETE /control/webhooks": '{"url": loopback URL, "secret"} registers a webhook '
    "(GET: URLs and outcomes; DELETE: forget them all)",
    "GET|PUT|DELETE /control/faults": "read, set or clear the fault plan",
    "POST /control/tokens/expire": "expire every token now",
    "POST /control/reset": "forget flows, lifecycles, counters, webhooks and faults",
}


class LoopbackOnly:
    """Refuse the control API to anything but loopback clients."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.path.startswith("/control") and req.remote_addr not in LOOPBACK:
            raise api_error(403, "the control API only answers loopback clients")


class Resource:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store


class Index(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, ENDPOINTS)


class Credentials(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, {"clients": self.store.clients()})


class Step(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, {"acknowledged": self.sandbox.processor.step()})


class ClockResource(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        advance = json_body(req).get("advance")
        if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
            raise bad("advance must be a number of seconds, not negative")
        offset = self.sandbox.clock.advance(float(advance))
        acknowledged = self.sandbox.processor.run_due()
        send_json(resp, {"offset": offset, "acknowledged": acknowledged})


def stored_flow(sandbox: Sandbox, flow: dict) -> dict[str, Any]:
    """A flow as the sandbox keeps it, without its content, with its lifecycle."""
    return {key: value for key, value in flow.items() if key != "content"} | {
        "size": len(flow["content"]),
        "lifecycle": lifecycle_view(sandbox.store.lifecycle(flow["flow_id"])),
    }


def known_flow(sandbox: Sandbox, flow_id: str) -> dict:
    flow = sandbox.store.flow(flow_id)
    if flow is None:
        raise api_error(404, "unknown flow")
    return flow


class FlowControl(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, flow_id: str) -> None:
        send_json(resp, stored_flow(self.sandbox, known_flow(self.sandbox, flow_id)))


class FlowStatus(Resource):
    """Play the buyer (or the platforms): give a deposited invoice its next status."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, flow_id: str) -> None:
        invoice = known_flow(self.sandbox, flow_id)
        if invoice["direction"] != "Out" or invoice["invoice_number"] is None:
            raise api_error(409, "only a deposited invoice acknowledged Ok gets statuses")
        body = json_body(req)
        code, reason = str(body.get("code", "")), body.get("reason")
        problem = status_problem(code, reason)
        if problem:
            raise bad(problem)
        give_status(self.sandbox, invoice, code, reason, "control")
        send_json(resp, stored_flow(self.sandbox, self.store.flow(flow_id)))


class Inbound(Resource):
    """Play a supplier on another platform: an invoice arrives for a member."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = json_body(req, 2 * self.sandbox.max_file_bytes)  # base64 of a file
        member = next((c for c in self.store.clients() if c["siren"] == body.get("to")), None)
        if member is None:
            raise bad("to must be the SIREN of a member (GET /control/credentials)")
        syntax = body.get("syntax")
        if syntax not in INVOICE_SYNTAXES:
            raise bad(f"syntax must be one of {', '.join(INVOICE_SYNTAXES)}")
        try:
            content = base64.b64decode(body.get("content_base64") or "", validate=True)
        except (binascii.Error, ValueError) as ex:
            raise bad("content_base64 is not base64") from ex
        name = str(body.get("name") or f"invoice.{'pdf' if syntax == 'Factur-X' else 'xml'}")
        sha256 = hashlib.sha256(content).hexdigest()
        verdict = check_flow(
            {"content": content, "sha256": sha256, "declared_sha256": None, "syntax": syntax,
             "name": name},
            known_hashes=False,
        )  # fmt: skip
        if not verdict.ok or verdict.facts is None:
            raise api_error(422, "; ".join(d["reasonMessage"] for d in verdict.details))
        flow = self.sandbox.deliver(
            owner=member["siren"],
            flow_type="SupplierInvoice",
            syntax=syntax,
            name=name,
            content=content,
            **invoice_columns(verdict.facts) | {"recipient": member["siren"]},
        )
        give_status(self.sandbox, flow, "203", None, "platform")
        send_json(resp, stored_flow(self.sandbox, self.store.flow(flow["flow_id"])), 201)


class Answers(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, flow_id: str) -> None:
        known_flow(self.sandbox, flow_id)
        answers = [
            {
                "code": step["code"],
                "label": STATUSES[step["code"]],
                "reason": step["reason"],
                "at": iso(step["at"]),
                "cdarFlowId": step["cdar_flow_id"],
            }
            for step in self.store.lifecycle(flow_id, source="recipient")
        ]
        send_json(resp, {"flowId": flow_id, "answers": answers})


class Counters(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(
            resp,
            {
                "deposits": self.store.counters("deposits"),
                "calls": self.store.counters("calls"),
                "faults": self.sandbox.faults.injected(),
            },
        )


class FaultsResource(Resource):
    """The Chorus Pro sandbox's fault plan, scoped to this platform's routes by default."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, self.sandbox.faults.plan.as_json())

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            plan = plan_from_json({"paths": list(FAULT_SCOPE), **json_body(req)})
        except (TypeError, ValueError) as ex:
            raise bad(str(ex)) from ex
        self.sandbox.faults.configure(plan)
        send_json(resp, plan.as_json())

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        reset_faults(self.sandbox)
        resp.status = falcon.HTTP_204


def reset_faults(sandbox: Sandbox) -> None:
    sandbox.faults.configure(FaultPlan(paths=FAULT_SCOPE))
    sandbox.faults.reset_counts()


class Webhooks(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        urls = [hook["url"] for hook in self.store.webhooks()]
        send_json(resp, {"urls": urls, **self.sandbox.notifier.outcomes})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = json_body(req)
        problem = url_problem(body.get("url"))
        if problem:
            raise bad(problem)
        if not isinstance(body.get("secret"), str) or len(body["secret"]) < 16:
            raise bad("secret must be a string of 16 characters or more")
        self.store.add_webhook(body["url"], body["secret"])
        resp.status = falcon.HTTP_201

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.store.clear_webhooks()
        resp.status = falcon.HTTP_204


class ExpireTokens(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.store.expire_tokens()
        resp.status = falcon.HTTP_204


class Reset(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.store.reset()
        reset_faults(self.sandbox)
        resp.status = falcon.HTTP_204


def add_routes(app: falcon.App, sandbox: Sandbox) -> None:
    for path, resource in (
        ("/control", Index),
        ("/control/credentials", Credentials),
        ("/control/step", Step),
        ("/control/clock", ClockResource),
        ("/control/flows/{flow_id}", FlowControl),
        ("/control/flows/{flow_id}/status", FlowStatus),
        ("/control/inbound", Inbound),
        ("/control/inbound/{flow_id}/answers", Answers),
        ("/control/counters", Counters),
        ("/control/webhooks", Webhooks),
        ("/control/faults", FaultsResource),
        ("/control/tokens/expire", ExpireTokens),
        ("/control/reset", Reset),
    ):
        app.add_route(path, resource(sandbox))

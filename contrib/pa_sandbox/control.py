"""The control API under `/control/`: move the clock, play the other parties, inject faults,
read counters. No token, but only loopback clients are served; bodies are plain JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import falcon

from contrib.chorus_sandbox.faults import FaultPlan, plan_from_json

from .web import FAULT_SCOPE, api_error, bad, json_body, send_json

if TYPE_CHECKING:
    from .app import Sandbox

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}

ENDPOINTS = {
    "GET /control": "this list",
    "GET /control/credentials": "every demo client (client_id, client_secret, siren, name)",
    "POST /control/step": "acknowledge every pending flow now (Ok or Error)",
    "POST /control/clock": '{"advance": seconds} moves the sandbox clock forward',
    "GET /control/flows/{flowId}": "a flow as stored (owner, parties, acknowledgement)",
    "GET /control/counters": "deposits per trackingId, calls per route, faults injected",
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


def stored_flow(flow: dict) -> dict[str, Any]:
    """A flow as the sandbox keeps it, without its content."""
    return {key: value for key, value in flow.items() if key != "content"} | {
        "size": len(flow["content"])
    }


class FlowControl(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, flow_id: str) -> None:
        flow = self.store.flow(flow_id)
        if flow is None:
            raise api_error(404, "unknown flow")
        send_json(resp, stored_flow(flow))


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
        ("/control/counters", Counters),
        ("/control/faults", FaultsResource),
        ("/control/tokens/expire", ExpireTokens),
        ("/control/reset", Reset),
    ):
        app.add_route(path, resource(sandbox))

"""The Falcon application: the OAuth2 token endpoint, the Flow and Directory Services of
XP Z12-013 (bearer token on every call) and the control API (loopback only)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import falcon

from contrib.chorus_sandbox.clock import Clock
from contrib.chorus_sandbox.faults import FaultPlan, Faults

from . import control, directory, flows
from .flows import flow_view
from .processing import Processor
from .store import Store
from .web import (
    API_PREFIXES,
    DIRECTORY_PREFIX,
    FAULT_SCOPE,
    FLOW_PREFIX,
    TOKEN_PATH,
    api_error,
    send_json,
    serialize_error,
)
from .webhooks import Notifier

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_FORM_BYTES = 64 * 1024  # a token request is a few hundred bytes


class Sandbox:
    """Everything the resources share: state, clock, processor, faults and settings."""

    def __init__(
        self,
        state_path: str,
        clock: Callable[[], datetime] | None,
        ack_delay: float | None,
        token_ttl: int,
        max_file_bytes: int,
    ) -> None:
        self.clock = Clock(clock)
        self.store = Store(state_path)
        self.processor = Processor(self, ack_delay)
        self.notifier = Notifier(self)
        self.faults = Faults()
        self.faults.configure(FaultPlan(paths=FAULT_SCOPE))
        self.token_ttl = token_ttl
        self.max_file_bytes = max_file_bytes
        self.stopping = threading.Event()

    def now(self) -> float:
        return self.clock.now()

    def wait(self, seconds: float) -> None:
        """Sleep for a fault, but wake up at once when the server stops."""
        self.stopping.wait(seconds)

    def deliver(self, **flow: Any) -> dict:
        """Put a flow in a member's incoming flows (direction In), acknowledged at once, and
        tell the webhooks."""
        content = flow["content"]
        flow.setdefault("processing_rule", "NotApplicable" if flow["syntax"] == "CDAR" else "B2B")
        delivered = self.store.add_flow(
            self.now(),
            direction="In",
            rule_source="Computed",
            sha256=hashlib.sha256(content).hexdigest(),
            ack_status="Ok",
            **flow,
        )
        self.notifier.notify(flow_view(self, delivered))
        return delivered

    def credentials(self, base_url: str) -> dict[str, Any]:
        """What a PA client needs, for the first demo client (the demo bookseller)."""
        first = self.store.clients()[0]
        return {
            "flow_url": base_url + FLOW_PREFIX,
            "directory_url": base_url + DIRECTORY_PREFIX,
            "token_url": base_url + TOKEN_PATH,
            "client_id": first["client_id"],
            "client_secret": first["client_secret"],
            "siren": first["siren"],
            "electronic_address": first["siren"],  # scheme 0225: the SIREN alone
        }

    def close(self) -> None:
        self.stopping.set()
        self.store.close()


class SandboxApp(falcon.App):
    """A Falcon app that also exposes its sandbox (for tests and embedding)."""

    sandbox: Sandbox

    def close(self) -> None:
        self.sandbox.close()


class FaultMiddleware:
    """Count the calls to the platform and inject the configured faults."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.path.startswith(FAULT_SCOPE):
            return
        self.sandbox.store.count("calls", f"{req.method} {req.path}")
        fault = self.sandbox.faults.draw(req.path)
        req.context.fault = fault
        if fault is None:
            return
        if fault.kind == "slow" or (fault.kind == "timeout" and fault.before):
            self.sandbox.wait(fault.seconds)
        if fault.kind == "error" or (fault.kind == "timeout" and fault.before):
            status = fault.status or 504
            if status == 429:
                resp.set_header("Retry-After", "1")
            serialize_error(req, resp, api_error(status, "Panne simulée par le bac à sable."))
            resp.complete = True

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        fault = req.context.get("fault")
        if fault is not None and fault.kind == "timeout" and not fault.before:
            self.sandbox.wait(fault.seconds)  # processed, but the answer comes too late


class Gatekeeper:
    """Every call to the services carries a valid bearer token (XP Z12-013 § security)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.path.startswith(API_PREFIXES) or resp.complete:
            return
        auth = req.auth or ""
        if not auth.lower().startswith("bearer "):
            raise self._refuse("MISSING_TOKEN", "Un jeton d'accès (Bearer) est requis.")
        token = self.sandbox.store.token(auth[7:].strip())
        if token is None or token["expires_at"] <= self.sandbox.now():
            raise self._refuse("INVALID_TOKEN", "Le jeton d'accès est inconnu ou expiré.")
        req.context.client = self.sandbox.store.client(token["client_id"])
        self.sandbox.processor.run_due()

    @staticmethod
    def _refuse(code: str, message: str) -> falcon.HTTPError:
        error = api_error(401, message, code)
        error.headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return error


def _same(secret: str, given: str) -> bool:
    return hmac.compare_digest(secret.encode(), given.encode())


class TokenResource:
    """OAuth2 token endpoint, client_credentials grant (RFC 6749 § 4.4)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if (req.content_length or 0) > MAX_FORM_BYTES:
            return self._error(resp, 400, "invalid_request")
        form = req.get_media(default_when_empty={}) if req.content_type else {}
        if not isinstance(form, dict):
            form = {}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if req.auth and req.auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(req.auth[6:]).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            client_id, _, client_secret = decoded.partition(":")
        if form.get("grant_type") != "client_credentials":
            return self._error(resp, 400, "unsupported_grant_type")
        client = self.sandbox.store.client(client_id) if client_id else None
        if client is None or not _same(client["client_secret"], client_secret or ""):
            return self._error(resp, 401, "invalid_client")
        expires_at = self.sandbox.now() + self.sandbox.token_ttl
        token = self.sandbox.store.issue_token(client_id, expires_at)
        resp.set_header("Cache-Control", "no-store")
        send_json(
            resp,
            {"access_token": token, "token_type": "Bearer", "expires_in": self.sandbox.token_ttl},
        )

    @staticmethod
    def _error(resp: falcon.Response, status: int, error: str) -> None:
        resp.set_header("Cache-Control", "no-store")
        send_json(resp, {"error": error}, status)


def create_app(
    state_path: str,
    *,
    clock: Callable[[], datetime] | None = None,
    ack_delay: float | None = None,
    token_ttl: int = 3600,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> SandboxApp:
    """Build the sandbox over a state file (created and seeded on first use).

    `clock` returns an aware datetime (tests inject one); `ack_delay` is how long a deposited
    flow stays `Pending` before the next call acknowledges it (None: only the control API's
    `POST /control/step` does); `max_file_bytes` bounds a deposited file.
    """
    sandbox = Sandbox(state_path, clock, ack_delay, token_ttl, max_file_bytes)
    app = SandboxApp(
        middleware=[control.LoopbackOnly(), FaultMiddleware(sandbox), Gatekeeper(sandbox)]
    )
    app.sandbox = sandbox
    app.set_error_serializer(serialize_error)
    app.add_route(TOKEN_PATH, TokenResource(sandbox))
    flows.add_routes(app, sandbox, FLOW_PREFIX)
    directory.add_routes(app, DIRECTORY_PREFIX)
    control.add_routes(app, sandbox)
    return app

"""The Falcon application: the PISTE token endpoint, the `/cpro/` API and the control API."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import falcon

from . import control, factures, rules, structures, transverses
from .api import Caller
from .checks import Validator
from .clock import Clock
from .faults import Faults
from .processing import Processor
from .store import Store

JSON = "application/json;charset=utf-8"
OPERATIONS = factures.OPERATIONS | transverses.OPERATIONS | structures.OPERATIONS
DEFAULT_MAX_FLUX_BYTES = 10 * 1024 * 1024  # the annex's limit for deposerFluxFacture
TOKEN_PATH = "/api/oauth/token"


class Sandbox:
    """Everything the resources share: state, clock, processor, faults and settings."""

    def __init__(
        self,
        state_path: str,
        clock: Callable[[], datetime] | None,
        processing_delay: float | None,
        token_ttl: int,
        business_error_status: int,
        max_flux_bytes: int,
        validator: Validator | None,
    ) -> None:
        self.clock = Clock(clock)
        self.store = Store(state_path, now=self.clock.now())
        self._owns_validator = validator is None
        self.validator = validator or Validator()
        self.processor = Processor(self.store, self.validator, self.clock, processing_delay)
        self.faults = Faults()
        self.token_ttl = token_ttl
        self.business_error_status = business_error_status
        self.max_flux_bytes = max_flux_bytes
        self.stopping = threading.Event()

    def wait(self, seconds: float) -> None:
        """Sleep for a fault, but wake up at once when the server stops."""
        self.stopping.wait(seconds)

    def credentials(self, base_url: str) -> dict[str, Any]:
        """The demo PISTE application and technical accounts, as a client configures them."""
        demo = self.store.demo_credentials()
        first = demo["accounts"][0]
        return {
            "client_id": demo["client"]["client_id"],
            "client_secret": demo["client"]["client_secret"],
            "login": first["login"],
            "password": first["password"],
            "siret": first["siret"],
            "token_url": base_url + TOKEN_PATH,
            "api_url": base_url,
            "control_url": base_url + "/_sandbox",
            "accounts": [
                {k: a[k] for k in ("login", "password", "siret", "name")} for a in demo["accounts"]
            ],
        }

    def close(self) -> None:
        self.stopping.set()
        if self._owns_validator:
            self.validator.close()
        self.store.close()


class SandboxApp(falcon.App):
    """A Falcon app that also exposes its sandbox (for tests and embedding)."""

    sandbox: Sandbox

    def close(self) -> None:
        self.sandbox.close()


def _same(secret: str, given: str) -> bool:
    return hmac.compare_digest(secret.encode(), given.encode())


def send_json(resp: falcon.Response, payload: Any, status: str | int = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = JSON
    resp.text = json.dumps(payload, ensure_ascii=False)


class FaultMiddleware:
    """Count the calls to the platform and inject the configured faults."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.path.startswith(("/cpro/", TOKEN_PATH)):
            return
        operation = req.path.removeprefix("/cpro/") if req.path.startswith("/cpro/") else "token"
        self.sandbox.store.count_call(operation)
        fault = self.sandbox.faults.draw(req.path)
        req.context.fault = fault
        if fault is None:
            return
        if fault.kind == "slow" or (fault.kind == "timeout" and fault.before):
            self.sandbox.wait(fault.seconds)
        if fault.kind == "error" or (fault.kind == "timeout" and fault.before):
            resp.status = fault.status or falcon.HTTP_504
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = "Panne simulée par le bac à sable Chorus Pro."
            if fault.status == 429:
                resp.set_header("Retry-After", "1")
            resp.complete = True

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        fault = req.context.get("fault")
        if fault is not None and fault.kind == "timeout" and not fault.before:
            self.sandbox.wait(fault.seconds)  # processed, but the answer comes too late


class TokenResource:
    """PISTE's OAuth2 token endpoint (client_credentials grant)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = req.get_media(default_when_empty={}) if req.content_type else {}
        if not isinstance(form, dict):
            form = {}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if req.auth and req.auth.lower().startswith("basic "):
            try:
                client_id, _, client_secret = (
                    base64.b64decode(req.auth[6:]).decode("utf-8").partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                client_id = client_secret = None
        if form.get("grant_type") != "client_credentials":
            return self._error(resp, "unsupported_grant_type", "The grant type is not supported.")
        client = self.sandbox.store.client(client_id) if client_id else None
        if client is None or not _same(client["client_secret"], client_secret or ""):
            return self._error(resp, "invalid_client", "Client authentication failed.")
        scope = form.get("scope") or "openid"
        if "openid" not in scope.split():
            return self._error(resp, "invalid_scope", "The requested scope is invalid.")
        now = self.sandbox.clock.now()
        token = self.sandbox.store.issue_token(client_id, now + self.sandbox.token_ttl)
        resp.set_header("Cache-Control", "no-store")
        send_json(
            resp,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.sandbox.token_ttl,
                "scope": "openid",
            },
        )

    @staticmethod
    def _error(resp: falcon.Response, error: str, description: str) -> None:
        send_json(resp, {"error": error, "error_description": description}, falcon.HTTP_400)


class ChorusApi:
    """The `/cpro/` sink: PISTE's gatekeeping, then the Chorus Pro operation."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def __call__(self, req: falcon.Request, resp: falcon.Response, path: str) -> None:
        operation = OPERATIONS.get(path)
        if operation is None:
            # PISTE answers an unknown route as one the application did not subscribe to
            return self._refuse(resp, falcon.HTTP_403, 'Bearer realm="DefaultRealm"')
        if req.method not in operation.methods:
            raise falcon.HTTPMethodNotAllowed(operation.methods)
        store = self.sandbox.store
        now = self.sandbox.clock.now()
        bearer = req.auth[7:].strip() if (req.auth or "").lower().startswith("bearer ") else ""
        token = store.token(bearer) if bearer else None
        if token is None or token["expires_at"] <= now:
            return self._refuse(
                resp, falcon.HTTP_401, 'Bearer realm="PISTE", error="invalid_token"'
            )
        if operation.api not in store.client(token["client_id"])["apis"]:
            return self._refuse(resp, falcon.HTTP_403, 'Bearer realm="PISTE"')
        caller = self._caller(req, token["client_id"], now)
        if caller is None:
            return send_json(resp, {"ErrorCode": "401", "Description": "[invalid field]"}, 401)
        if operation.processes_first:
            self.sandbox.processor.run_due()
        try:
            body = self._body(req)
            answer = operation.handler(self.sandbox, caller, body)
        except rules.BusinessError as ex:
            payload = {"codeRetour": ex.code, "libelle": ex.libelle, **ex.extra}
            return send_json(resp, payload, self.sandbox.business_error_status)
        if operation.libelle is not None:
            answer = {"codeRetour": 0, "libelle": operation.libelle, **answer}
        send_json(resp, answer)

    @staticmethod
    def _refuse(resp: falcon.Response, status: str, challenge: str) -> None:
        resp.status = status
        resp.set_header("WWW-Authenticate", challenge)
        resp.text = ""

    def _caller(self, req: falcon.Request, client_id: str, now: float) -> Caller | None:
        """Check the `cpro-account` header: base64 of the technical account's login:password."""
        try:
            decoded = base64.b64decode(req.get_header("cpro-account") or "", validate=True)
            login, _, password = decoded.decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        account = self.sandbox.store.account(login) if login else None
        if account is None or not _same(account["password"], password):
            return None
        if account["password_expires"] is not None and account["password_expires"] <= now:
            return None
        structure = self.sandbox.store.structure(id=account["structure_id"])
        return Caller(client_id=client_id, login=login, structure=structure)

    def _body(self, req: falcon.Request) -> dict:
        if req.content_length and req.content_length > self.sandbox.max_flux_bytes * 2:
            raise rules.file_too_large()
        raw = req.bounded_stream.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as ex:
            raise rules.invalid("le corps de la requête n'est pas du JSON.") from ex
        if not isinstance(body, dict):
            raise rules.invalid("le corps de la requête doit être un objet JSON.")
        return body


def create_app(
    state_path: str,
    *,
    clock: Callable[[], datetime] | None = None,
    processing_delay: float | None = 0.0,
    token_ttl: int = 3600,
    business_error_status: int = 200,
    max_flux_bytes: int = DEFAULT_MAX_FLUX_BYTES,
    warm_up: bool = False,
    validator: Validator | None = None,
) -> SandboxApp:
    """Build the sandbox over a state file (created and seeded on first use).

    `clock` returns an aware datetime (tests inject one); `processing_delay` is how long a flux
    waits before the next call processes it (None: only `POST /_sandbox/process` does);
    `business_error_status` is the HTTP status of answers with `codeRetour` ≠ 0 (200 like most
    observed calls, or 400 as some clients expect); `warm_up` compiles the schematron stylesheets
    in the background at once; a `validator` can be shared by several apps (its stylesheets are
    compiled once), the app then leaves it open when it closes.
    """
    sandbox = Sandbox(
        state_path,
        clock,
        processing_delay,
        token_ttl,
        business_error_status,
        max_flux_bytes,
        validator,
    )
    if warm_up:
        sandbox.validator.warm_up()
    app = SandboxApp(middleware=[FaultMiddleware(sandbox)])
    app.sandbox = sandbox
    app.add_route(TOKEN_PATH, TokenResource(sandbox))
    app.add_sink(ChorusApi(sandbox), r"^/cpro/(?P<path>.+)$")
    control.add_routes(app, sandbox)
    return app

"""Webhooks: on each new incoming flow and each acknowledgement, the sandbox POSTs the annex's
`WebhookCallbackContent` ({"flowInfo": Flow}) to the URLs registered through the control API
(XP Z12-013 defines the callback's content, not how one registers).

Best effort, one try, in the background. Each delivery is signed:
`X-PA-Sandbox-Signature: sha256=<hex HMAC-SHA256 of the body with the URL's secret>`.
Only loopback URLs are accepted: the sandbox never calls out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from .app import Sandbox

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-PA-Sandbox-Signature"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
TIMEOUT = 5.0


def url_problem(url: object) -> str | None:
    """Why a webhook URL is refused, or None."""
    if not isinstance(url, str):
        return "url must be a string"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        return "url must be an http(s) URL on loopback (127.0.0.1, localhost, ::1)"
    return None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Notifier:
    """Send callbacks in the background and count how they went."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._lock = threading.Lock()
        self.outcomes = {"sent": 0, "failed": 0}

    def notify(self, flow_view: dict) -> None:
        body = json.dumps({"flowInfo": flow_view}, ensure_ascii=False).encode()
        for hook in self.sandbox.store.webhooks():
            threading.Thread(target=self._send, args=(hook, body), daemon=True).start()

    def _send(self, hook: dict, body: bytes) -> None:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(hook["secret"], body)}
        try:
            response = httpx.post(hook["url"], content=body, headers=headers, timeout=TIMEOUT)
            ok = response.is_success
        except httpx.HTTPError as ex:
            log.info("webhook to %s failed: %s", hook["url"], ex)
            ok = False
        with self._lock:
            self.outcomes["sent" if ok else "failed"] += 1

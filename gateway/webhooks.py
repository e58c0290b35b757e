"""Delivering events to members' webhooks, from the worker.

Each event the store writes is queued for every webhook of its member that takes its type
(``webhook_deliveries``, in the event's transaction: nothing is lost). The worker leases
due deliveries like outbox rows and POSTs each event, exactly as the feed shows it, signed:

    X-Gateway-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>
    X-Gateway-Event-Id:  <the event's id in the member's feed> (for de-duplication)

A failure (no answer, not 2xx, a host the administrator does not allow) is retried with
backoff for ``[webhooks] retry_for`` (24 h from its first failure), then the delivery is
parked, visible through ``GET /v1/webhooks/{id}/deliveries?state=parked`` until
redelivered. A later event of an invoice waits until the earlier one is delivered or
parked (see ``Store.claim_deliveries``). Delivered rows are purged after
``[webhooks] keep_delivered`` (the ``webhooks.purge`` job).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from gateway.config import CopyConfig, WebhookConfig
from gateway.logs import get_logger
from gateway.outbound import OutboundRefused, outbound_client
from gateway.secretbox import SecretBox, SecretBoxError
from gateway.store import DELIVERY_DELIVERED, DELIVERY_PARKED, Store
from gateway.views import event_view

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Gateway-Signature"
EVENT_ID_HEADER = "X-Gateway-Event-Id"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``X-Gateway-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def failed_try(
    attempts: int,
    retry_from: datetime | None,
    now: datetime,
    error: str,
    settings: WebhookConfig | CopyConfig,
    backoff: Callable[[int, float, float, random.Random], float],
    rng: random.Random,
) -> tuple[bool, dict]:
    """After a failed try of a delivery (a webhook's, an e-mail copy's): whether it is parked
    (failing for ``retry_for`` since its first failure), and the columns to record."""
    retry_from = retry_from or now
    deadline = retry_from + timedelta(seconds=settings.retry_for)
    if now >= deadline:
        return True, {"attempts": attempts, "next_attempt_at": None, "last_error": error}
    delay = backoff(attempts, settings.backoff_base, settings.backoff_max, rng)
    return False, {
        "attempts": attempts,
        "retry_from": retry_from,
        # The last try falls on the deadline, so that parking follows a real attempt.
        "next_attempt_at": min(now + timedelta(seconds=delay), deadline),
        "last_error": error,
    }


class WebhookDeliverer:
    def __init__(
        self,
        *,
        store: Store,
        secretbox: SecretBox,
        settings: WebhookConfig,
        clock: Callable[[], datetime],
        owner: str,
        rng: random.Random,
        backoff: Callable[[int, float, float, random.Random], float],
        client: httpx.Client | None = None,
    ):
        self.store = store
        self.secretbox = secretbox
        self.settings = settings
        self.clock = clock
        self.owner = owner
        self.rng = rng
        self.backoff = backoff
        self.client = client or outbound_client(settings.timeout)

    def deliver_due(self, stop: threading.Event | None = None) -> int:
        """Deliver every due event once (or until ``stop`` is set); return how many tries."""
        tried = 0
        while stop is None or not stop.is_set():
            lease = timedelta(seconds=self.settings.timeout * 2 + 30)
            due = self.store.claim_deliveries(
                self.owner, self.clock(), lease, self.settings.batch_size
            )
            if not due:
                break
            for delivery in due:
                self.deliver(delivery)
                tried += 1
        return tried

    def deliver(self, delivery: dict) -> None:
        """POST one leased delivery and record the outcome."""
        body = json.dumps(event_view(delivery), ensure_ascii=False).encode()
        event_id = str(delivery["member_seq"])
        bound = log.bind(webhook_id=delivery["webhook_id"], event_id=event_id)
        error = None
        status = None
        started = self.clock()
        try:
            secret = self.secretbox.open(delivery["secret_encrypted"])["secret"]
            answer = self.client.post(
                delivery["url"],
                content=body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(secret, int(self.clock().timestamp()), body),
                    EVENT_ID_HEADER: event_id,
                },
            )
            status = answer.status_code
            if not answer.is_success:
                error = f"le destinataire a répondu {answer.status_code}"
        except OutboundRefused as ex:  # a host the administrator does not allow (any more)
            error = ex.message
        except SecretBoxError:
            error = "le secret du webhook ne peut pas être déchiffré avec la clé configurée"
        except httpx.HTTPError as ex:
            error = f"le destinataire ne répond pas ({ex.__class__.__name__})"
        now = self.clock()
        attempts = delivery["attempts"] + 1
        bound = bound.bind(
            attempts=attempts, status=status, duration_s=(now - started).total_seconds()
        )
        if error is None:
            bound.info("webhook.delivered")
            self.store.finish_delivery(
                delivery["id"],
                self.owner,
                state=DELIVERY_DELIVERED,
                attempts=attempts,
                delivered_at=now,
                next_attempt_at=None,
                last_error=None,
            )
            return
        parked, values = failed_try(
            attempts, delivery["retry_from"], now, error, self.settings, self.backoff, self.rng
        )
        if parked:
            bound.warning("webhook.parked", error=error)
            self.store.finish_delivery(delivery["id"], self.owner, state=DELIVERY_PARKED, **values)
            return
        bound.info("webhook.failed", error=error)
        self.store.finish_delivery(delivery["id"], self.owner, **values)


def purge_delivered(store: Store, settings: WebhookConfig, clock: Callable[[], datetime]):
    """Return the ``webhooks.purge`` job: delivered rows older than ``keep_delivered`` go
    (parked and pending ones stay, whatever their age)."""

    def run(stop: threading.Event | None) -> int:
        return store.purge_deliveries(clock() - timedelta(seconds=settings.keep_delivered))

    return run

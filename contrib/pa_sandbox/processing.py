"""Asynchronous acknowledgement: a deposited flow is `Pending` until the platform has checked
it, then `Ok` or `Error` (XP Z12-013, FlowAckStatus).

It happens on the control API's `POST /control/step`, or, with an acknowledgement delay, at
the first call once the delay is over: tests never wait for the wall clock.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from .checks import check_flow, siren_of

if TYPE_CHECKING:
    from .app import Sandbox


class Processor:
    def __init__(self, sandbox: Sandbox, ack_delay: float | None) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.ack_delay = ack_delay
        self._lock = threading.Lock()

    def run_due(self) -> list[str]:
        """Acknowledge the flows whose delay is over (none without a delay)."""
        if self.ack_delay is None:
            return []
        return self._acknowledge(self.sandbox.now() - self.ack_delay)

    def step(self) -> list[str]:
        """Acknowledge every pending flow now; return their ids."""
        return self._acknowledge(None)

    def _acknowledge(self, before: float | None) -> list[str]:
        with self._lock:
            done = []
            for flow in self.store.pending(before):
                self.acknowledge(flow)
                done.append(flow["flow_id"])
            return done

    def acknowledge(self, flow: dict) -> None:
        same_file = [
            other
            for other in self.store.find_flows(owner=flow["owner"], sha256=flow["sha256"])
            if other["seq"] < flow["seq"] and other["direction"] == "Out"
        ]
        verdict = check_flow(flow, known_hashes=bool(same_file))
        changes: dict = {
            "ack_status": "Ok" if verdict.ok else "Error",
            "ack_details": json.dumps(verdict.details) if verdict.details else None,
        }
        if verdict.facts is not None:
            facts = verdict.facts
            changes.update(
                sender=siren_of(facts.seller_legal, facts.seller_global),
                recipient=siren_of(facts.buyer_legal, facts.buyer_global),
                invoice_number=facts.number,
            )
        self.store.update_flow(flow["flow_id"], self.sandbox.now(), **changes)

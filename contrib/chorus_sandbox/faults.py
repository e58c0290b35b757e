"""Fault injection: server errors (or 429), time-outs and slow answers on a share of the calls.

A time-out "after" processes the call and then holds the answer past the client's patience, the
worst case for a client (did the deposit happen?); "before" holds it and then answers 504 without
processing anything. A seed makes the sequence of faults reproducible.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

DEFAULT_SCOPE = ("/cpro/", "/api/oauth/token")


@dataclass(frozen=True)
class FaultPlan:
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    timeout_mode: str = "after"
    slow_rate: float = 0.0
    slow_seconds: float = 1.0
    fail_next: int = 0  # the next N calls in scope answer a server error, whatever the rates
    paths: tuple[str, ...] = DEFAULT_SCOPE
    seed: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fault:
    kind: str  # "error", "timeout" or "slow"
    status: int = 0
    seconds: float = 0.0
    before: bool = False


_RATES = ("error_rate", "timeout_rate", "slow_rate")
_NUMBERS = ("timeout_seconds", "slow_seconds")


def plan_from_json(body: dict[str, Any]) -> FaultPlan:
    """Build a plan from the control API's JSON, or raise ValueError with the reason."""
    unknown = set(body) - set(FaultPlan.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key in _RATES:
        if key in body:
            rate = float(body[key])
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{key} must be between 0 and 1")
            values[key] = rate
    for key in _NUMBERS:
        if key in body:
            values[key] = max(0.0, float(body[key]))
    if "timeout_mode" in body:
        if body["timeout_mode"] not in ("after", "before"):
            raise ValueError("timeout_mode must be 'after' or 'before'")
        values["timeout_mode"] = body["timeout_mode"]
    if "error_statuses" in body:
        statuses = tuple(int(s) for s in body["error_statuses"])
        if not statuses or any(s != 429 and not 500 <= s <= 599 for s in statuses):
            raise ValueError("error_statuses must be a non-empty list of 5xx codes or 429")
        values["error_statuses"] = statuses
    if "fail_next" in body:
        values["fail_next"] = max(0, int(body["fail_next"]))
    if "paths" in body:
        values["paths"] = tuple(str(p) for p in body["paths"])
    if "seed" in body:
        values["seed"] = None if body["seed"] is None else int(body["seed"])
    plan = FaultPlan(**values)
    if plan.error_rate + plan.timeout_rate + plan.slow_rate > 1.0:
        raise ValueError("the rates add up to more than 1")
    return plan


class Faults:
    """The current plan, the random draws, and how many faults were injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure(FaultPlan())
        self.reset_counts()

    def configure(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            self._random = random.Random(plan.seed)

    def reset_counts(self) -> None:
        with self._lock:
            self._injected = {"error": 0, "timeout": 0, "slow": 0}

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def injected(self) -> dict[str, int]:
        with self._lock:
            return dict(self._injected)

    def draw(self, path: str) -> Fault | None:
        """Decide the fate of one call."""
        with self._lock:
            plan = self._plan
            if not any(path.startswith(prefix) for prefix in plan.paths):
                return None
            if plan.fail_next:
                self._plan = replace(plan, fail_next=plan.fail_next - 1)
                return self._count(Fault("error", status=plan.error_statuses[0]))
            roll = self._random.random()
            if roll < plan.error_rate:
                return self._count(Fault("error", status=self._random.choice(plan.error_statuses)))
            roll -= plan.error_rate
            if roll < plan.timeout_rate:
                before = plan.timeout_mode == "before"
                return self._count(Fault("timeout", seconds=plan.timeout_seconds, before=before))
            roll -= plan.timeout_rate
            if roll < plan.slow_rate:
                return self._count(Fault("slow", seconds=plan.slow_seconds))
            return None

    def _count(self, fault: Fault) -> Fault:
        self._injected[fault.kind] += 1
        return fault

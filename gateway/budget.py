"""What one document may cost the gateway: lines, time, and a heavy-document slot.

The pipeline opens a :class:`Budget` around each document it reads and judges. Formats count
an invoice's lines as soon as they can (right after the bytes are parsed, before mapping)
and call :func:`check_lines`; the pipeline's stages, the mapping and rendering loops and the
hook guards call :func:`checkpoint`. Both do nothing outside a budget (a plugin's own tests,
the conformance kit), so plugins may call them anywhere.

- More than ``max_lines`` lines in one invoice: :class:`TooManyLines` (413
  ``request.too_large``), before the expensive work.
- Past the deadline: :class:`OverTime` (413 ``request.over_time``) at the next checkpoint;
  nothing is stored (the pipeline persists only after the last checkpoint).
- A document of more than ``heavy_lines`` lines takes one of ``heavy_slots`` slots shared
  by every process on the machine (lock files): none free, :class:`Busy` (503
  ``server.busy``, ``Retry-After``), so that heavy documents never occupy every web worker.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("budget", default=None)


class BudgetExceeded(Exception):
    """A document refused for what it would cost. Not a :class:`FormatError`: formats and
    hook guards let it through, whatever they catch."""


class TooManyLines(BudgetExceeded):
    def __init__(self, number: str | None, count: int, limit: int, field: str = "lines"):
        super().__init__(f"{count} lines, {limit} at most")
        self.number, self.count, self.limit, self.field = number, count, limit, field


class OverTime(BudgetExceeded):
    def __init__(self, seconds: float):
        super().__init__(f"over {seconds} s")
        self.seconds = seconds


class Busy(BudgetExceeded):
    def __init__(self, lines: int, retry_after: int):
        super().__init__(f"no slot for {lines} lines")
        self.lines, self.retry_after = lines, retry_after


class HeavySlots:
    """``count`` slots shared by the processes that use the same ``directory``: each slot a
    lock file, held with ``flock`` (released by the kernel if the process dies)."""

    def __init__(self, directory: Path, count: int):
        self.directory = directory
        self.count = count

    def take(self) -> int | None:
        """Return the descriptor of a free slot, locked, or None when all are taken."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            fd = os.open(self.directory / f"heavy-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
        return None

    @staticmethod
    def give_back(fd: int) -> None:
        os.close(fd)  # closing releases the lock


class Budget:
    """The limits of one document, and what it has used of them."""

    def __init__(
        self,
        *,
        max_lines: int,
        seconds: float | None = None,
        heavy_lines: int = 0,
        slots: HeavySlots | None = None,
        retry_after: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_lines = max_lines
        self.seconds = seconds
        self.heavy_lines = heavy_lines
        self.slots = slots
        self.retry_after = retry_after
        self.clock = clock
        self.deadline = clock() + seconds if seconds else None
        self.lines = 0
        self.counted: set[str | None] = set()
        self.slot: int | None = None

    def check_lines(self, count: int, number: str | None, field: str) -> None:
        if count > self.max_lines:
            raise TooManyLines(number, count, self.max_lines, field)
        if number in self.counted:  # a format counted it, the core checks again
            return
        self.counted.add(number)
        self.lines += count
        if self.slots and self.slot is None and self.lines > self.heavy_lines:
            self.slot = self.slots.take()
            if self.slot is None:
                raise Busy(self.lines, self.retry_after)
        self.checkpoint()

    def checkpoint(self) -> None:
        if self.deadline is not None and self.clock() > self.deadline:
            raise OverTime(self.seconds)

    def close(self) -> None:
        if self.slot is not None:
            HeavySlots.give_back(self.slot)
            self.slot = None


@contextlib.contextmanager
def within(budget: Budget) -> Iterator[Budget]:
    """Run the block under ``budget``; its slot, if it took one, is given back at the end."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)
        budget.close()


def check_lines(count: int, number: str | None = None, field: str = "lines") -> None:
    """Refuse an invoice of more lines than the gateway takes, as soon as they are counted.

    ``number`` (the invoice number, when known) and ``field`` name it in the refusal.
    """
    budget = _current.get()
    if budget is not None:
        budget.check_lines(count, number, field)


def checkpoint() -> None:
    """Stop the document's work here if its time is up (call it once a line in loops)."""
    budget = _current.get()
    if budget is not None:
        budget.checkpoint()

"""Keeping the processes of ``facture-gateway run`` alive: the Chorus Pro sandbox, the
worker and the API, each a child process.

A child that dies is started again after a pause that doubles with each recent death,
and the restart is said in French on standard error. One that dies more than
``restart_limit`` times within ``restart_window`` seconds cannot be kept up: everything
stops, with a message naming it and a non-zero exit. A stop request (Ctrl-C, SIGTERM)
stops every child; that is a clean end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.config import RunConfig

#: Seconds between two looks at the children.
LOOK_EVERY = 0.2
#: Seconds a child has to stop after SIGTERM before it is killed.
STOP_GRACE = 30


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT.

    The handler only writes to a pipe, and a thread sets the event: set in the handler, it
    would wait for the event's lock, which the main thread may hold at that instant (inside
    ``stop.wait``), and never return.
    """
    read_end, write_end = os.pipe()

    def relay() -> None:
        os.read(read_end, 1)
        stop.set()

    threading.Thread(target=relay, name="stop-on-signals", daemon=True).start()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: os.write(write_end, b"."))


class PartFailed(Exception):
    """A part could not be started (its message says why, in French)."""


@dataclass
class Part:
    """One child process: ``label`` names it in messages (« Le processus d'envoi »)."""

    label: str
    start: Callable[[], subprocess.Popen]
    #: For the agreement of « arrêté(e) ».
    feminine: bool = False
    process: subprocess.Popen | None = None
    deaths: deque = field(default_factory=deque)
    restart_at: float | None = None

    @property
    def stopped(self) -> str:
        return "arrêtée" if self.feminine else "arrêté"

    @property
    def it(self) -> str:
        return "la" if self.feminine else "le"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Supervisor:
    def __init__(
        self,
        parts: list[Part],
        settings: RunConfig,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.parts = parts
        self.settings = settings
        self.stop = stop
        self.clock = clock

    def launch(self, part: Part) -> None:
        """Start ``part`` now; raise :class:`PartFailed` when it cannot be."""
        part.process = part.start()
        say(f"{part.label} a démarré (pid {part.process.pid}).")

    def run(self) -> int:
        """Watch the children until a stop request (0) or one that cannot be kept up (1)."""
        try:
            while not self.stop.is_set():
                for part in self.parts:
                    failed = self.look_after(part)
                    if failed:
                        say(failed)
                        return 1
                self.stop.wait(LOOK_EVERY)
            return 0
        finally:
            self.stop_all()

    def look_after(self, part: Part) -> str | None:
        """Restart ``part`` if it died (after its pause); return why everything must stop."""
        now = self.clock()
        if part.restart_at is not None:
            if now < part.restart_at:
                return None
            part.restart_at = None
            try:
                self.launch(part)
                return None
            except PartFailed as ex:
                say(str(ex))
                return self.died(part, f"impossible de {part.it} démarrer", now)
        if part.process is None or part.process.poll() is None:
            return None
        return self.died(part, f"code {part.process.returncode}", now)

    def died(self, part: Part, why: str, now: float) -> str | None:
        window = self.settings.restart_window
        part.deaths.append(now)
        while part.deaths and part.deaths[0] < now - window:
            part.deaths.popleft()
        if len(part.deaths) > self.settings.restart_limit:
            return (
                f"{part.label} s'est {part.stopped} {len(part.deaths)} fois en moins de "
                f"{window:g} s ({why}) : impossible de {part.it} garder en marche, tout s'arrête. "
                "Voyez ses messages ci-dessus."
            )
        pause = min(
            self.settings.restart_delay * 2 ** (len(part.deaths) - 1),
            self.settings.restart_delay_max,
        )
        say(f"{part.label} s'est {part.stopped} ({why}) ; redémarrage dans {pause:g} s.")
        part.restart_at = now + pause
        return None

    def stop_all(self) -> None:
        """Stop the children, the API and the worker before the sandbox they talk to."""
        running = [p.process for p in reversed(self.parts) if p.process is not None]
        for process in running:
            if process.poll() is None:
                process.terminate()
        for process in running:
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

"""SIGTERM stops `facture-gateway run` and `worker` every time: a handler that set the stop
event itself could wait forever for the event's lock, held by the main thread in
``stop.wait`` (half of the SIGTERMs hung that way before gateway.supervisor.stop_on_signals)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

# The main thread spends nearly all its time inside ``stop.wait``, where the race was.
WAITER = """
import threading
from gateway.supervisor import stop_on_signals
stop = threading.Event()
stop_on_signals(stop)
print("prêt", flush=True)
while not stop.wait(0):
    pass
print("arrêté", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_each_stop_signal_ends_a_process_waiting_on_its_stop_event(signum):
    for _ in range(10):
        process = subprocess.Popen(
            [sys.executable, "-c", WAITER], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout.readline().strip() == "prêt"
        process.send_signal(signum)
        try:
            out, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("the stop signal was received but the process hung")
        assert process.returncode == 0 and out.strip() == "arrêté"

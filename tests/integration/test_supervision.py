"""`facture-gateway run` (what `make run` starts) keeps its children up: real processes on
free loopback ports, a child killed with SIGKILL, a part that cannot start."""

from __future__ import annotations

import os
import re
import signal
import socket

import httpx
import pytest

from tests.integration.test_server import (
    Stack,
    post_sample,
    wait_for,
    wait_until_deposited,
)

RUN = """
[run]
restart_limit = {limit}
restart_window = 60
restart_delay = 1
restart_delay_max = 5
"""
WORKER_STARTED = re.compile(r"Le processus d'envoi a démarré \(pid (\d+)\)\.")


def supervised(tmp_path, limit: int) -> Stack:
    stack = Stack(tmp_path / "home")
    stack.config.write_text(stack.config.read_text() + RUN.format(limit=limit))
    return stack


def output(stack: Stack) -> str:
    return "".join(path.read_text() for path in sorted(stack.home.glob("run-*.log")))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_worker_is_restarted_and_said_so_while_the_api_answers(tmp_path):
    stack = supervised(tmp_path, limit=3)
    try:
        run = stack.spawn("run", "run")
        stack.wait_healthy(run)
        first = int(wait_for(lambda: WORKER_STARTED.search(output(stack)), 30, "the worker")[1])

        os.kill(first, signal.SIGKILL)

        said = "Le processus d'envoi s'est arrêté (code -9) ; redémarrage dans 1 s."
        wait_for(lambda: said in output(stack), 30, "the restart message")
        pids = wait_for(
            lambda: [int(pid) for pid in WORKER_STARTED.findall(output(stack))][1:],
            30,
            "a new worker",
        )
        assert pids[0] != first and alive(pids[0]) and not alive(first)
        assert run.poll() is None
        demo = {"Authorization": f"Bearer {stack.key('demo')}"}
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            assert client.get("/v1/health").status_code == 200
            accepted = post_sample(client, demo)
            assert accepted.status_code == 202, accepted.text
            wait_until_deposited(client, demo, accepted.json()["id"])  # by the new worker

        os.kill(run.pid, signal.SIGTERM)
        run.wait(timeout=40)
        assert run.returncode == 0
        assert not alive(pids[0])
        with pytest.raises(ProcessLookupError):
            os.killpg(run.pid, 0)  # no child outlived it
    finally:
        stack.close()


def test_a_part_that_cannot_start_ends_the_run_with_an_error_naming_it(tmp_path):
    stack = supervised(tmp_path, limit=1)
    with socket.socket() as taken:  # the API's port is someone else's
        taken.bind(("127.0.0.1", stack.port))
        taken.listen()
        try:
            run = stack.spawn("run", "run")
            run.wait(timeout=120)
        finally:
            stack.close()
    assert run.returncode not in (0, None)
    said = output(stack)
    assert "L'API s'est arrêtée (code" in said and "redémarrage dans 1 s." in said
    assert "L'API s'est arrêtée 2 fois en moins de 60 s" in said
    assert "tout s'arrête" in said
    with pytest.raises(ProcessLookupError):
        os.killpg(run.pid, 0)

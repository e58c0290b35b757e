"""The service layer, as the CLI and the worker use it: without the HTTP layer."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from gateway.errors import InvalidInput
from tests.conftest import ROOT, Gateway, example, make_config


def test_services_run_without_falcon(tmp_path):
    script = """
import sys
from gateway import cli, worker
from gateway.config import load_config
from gateway.services import build_services

config = load_config(env={"GATEWAY_HOME": sys.argv[1]})
config.ensure_secret_key()
services = build_services(config)
services.store.migrate()
member, _ = services.members.create("Librairie des Quais", siret="81234567600017")
accepted = services.invoices.submit(member["id"], cli.SAMPLE.read_bytes())
assert services.invoices.get(member["id"], accepted.body["id"])["status"] == "RECU"
assert "falcon" not in sys.modules, "falcon imported"
"""
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr


class OvertakingClock:
    """A clock that, once armed, lets a competing submission through the first time it is
    read: the pipeline reads it right before writing, after its duplicate checks, so the
    competitor commits in between, as a concurrent request would."""

    def __init__(self):
        self.compete = None

    def __call__(self) -> datetime:
        compete, self.compete = self.compete, None
        if compete is not None:
            compete()
        return datetime.now(UTC)


@pytest.mark.parametrize("key", ["order-42", None])
def test_a_submission_overtaken_at_the_last_moment(tmp_path, database_url, key):
    clock = OvertakingClock()
    gateway = Gateway(make_config(tmp_path, database_url), clock=clock)
    invoices = gateway.services.invoices
    member_id = gateway.new_member()["id"]
    body = json.dumps(example("invoice-seine-maritime")).encode()
    won = []
    clock.compete = lambda: won.append(invoices.submit(member_id, body, idempotency_key=key))
    if key:  # the same key and body: the winner's answer, nothing stored twice
        assert invoices.submit(member_id, body, idempotency_key=key) == won[0]
    else:  # the same number: a duplicate
        with pytest.raises(InvalidInput) as refused:
            invoices.submit(member_id, body)
        assert [f.code for f in refused.value.findings] == ["invoice.duplicate"]
    assert [item["id"] for item in invoices.list(member_id)["items"]] == [won[0].body["id"]]
    gateway.store.dispose()

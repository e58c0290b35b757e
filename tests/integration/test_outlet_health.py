"""The admin's health report checks each outlet with each member's own credentials, against
the Chorus Pro sandbox over HTTP: a member whose technical account works shows ok with its
token, one whose password is wrong shows the platform's refusal, and the outlet is not ok
while one member's credentials fail."""

from __future__ import annotations

import time

from tests.conftest import ADMIN_KEY


def report(gateway) -> dict:
    answer = gateway.client.simulate_get(
        "/v1/health", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert answer.status_code == 200, answer.json
    return answer.json


def settle(gateway) -> dict:
    """The report once every probe has answered (a probe may outlast one request)."""
    deadline = time.monotonic() + 20
    while True:
        chorus = report(gateway)["outlets"]["chorus"]
        if all(item["checked_at"] for item in chorus["members"]):
            return chorus
        assert time.monotonic() < deadline, "the probes did not answer"


def test_each_members_chorus_credentials_are_checked(guarded, sandbox):
    good = guarded.new_member()
    bad = guarded.new_member(name="Librairie du Port", siret="44306184100047")
    for member, settings in (
        (good, sandbox.settings()),
        (bad, sandbox.settings(password="pas-le-bon")),
    ):
        patched = guarded.client.simulate_patch(
            f"/v1/members/{member['id']}",
            json={"settings": {"chorus": settings}},
            headers=guarded.admin(),
        )
        assert patched.status_code == 200, patched.json

    chorus = settle(guarded)

    by_member = {item["member_id"]: item for item in chorus["members"]}
    assert set(by_member) == {good["id"], bad["id"]}
    assert by_member[good["id"]]["ok"] is True
    assert by_member[good["id"]]["details"]["token"] == "ok"
    assert by_member[good["id"]]["member"] == "Librairie des Quais"
    assert by_member[bad["id"]]["ok"] is False
    assert by_member[bad["id"]]["details"]["error"]
    assert "pas-le-bon" not in str(chorus)  # no secret in the report
    assert chorus["ok"] is False
    assert chorus["details"] == {}  # the gateway's own settings are not what members use
    memory = report(guarded)["outlets"]["memory"]
    assert memory["ok"] is True and memory["members"] == []

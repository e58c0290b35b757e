"""Member settings through the API: secrets never shown, and never lost by a round trip."""

from __future__ import annotations


def test_settings_sent_back_as_shown_keep_their_secrets(gateway, member):
    path = f"/v1/members/{member['id']}"
    settings = {"chorus": {"login": "TECH_1", "password": "s3cr3t", "client_secret": "c0nf"}}
    gateway.client.simulate_patch(path, json={"settings": settings}, headers=member["headers"])
    shown = gateway.client.simulate_get(path, headers=member["headers"]).json["settings"]
    assert shown["chorus"]["password"] == "***"
    shown["chorus"]["syntax"] = "cii"
    result = gateway.client.simulate_patch(
        path, json={"settings": shown}, headers=member["headers"]
    )
    assert result.status_code == 200
    stored = gateway.services.pipeline.member_settings(member["id"])
    assert stored == {"chorus": {**settings["chorus"], "syntax": "cii"}}

"""What the log processors keep and hide."""

from __future__ import annotations

from gateway.logs import _drop_secrets


def test_secrets_are_hidden_at_any_depth_and_ids_are_kept():
    event = _drop_secrets(
        None,
        "info",
        {
            "event": "outlet.configured",
            "key_id": "key_3f9a",
            "api_key": "fgw_secret",
            "settings": {"chorus": {"login": "TECH_1", "password": "hunter2"}},
            "items": [{"client_secret": "s3cr3t"}],
        },
    )
    assert event["key_id"] == "key_3f9a"
    assert event["api_key"] == "***"
    assert event["settings"] == {"chorus": {"login": "TECH_1", "password": "***"}}
    assert event["items"] == [{"client_secret": "***"}]
    assert event["event"] == "outlet.configured"

"""What the Dilifac outlet decides without the network: whose credentials go where, and a
history folded so that the core's count of applied steps stays right between polls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gateway.outlets import PermanentOutletError
from plugins.dilifac.outlet import DilifacOutlet, collapse, merged_settings

OWN = {"url": "https://dilifac.asso.example/ws", "login": "ASSO", "password": "secret"}


def test_a_member_naming_another_server_inherits_no_credentials():
    assert merged_settings({}, OWN) == OWN
    assert merged_settings({"login": "MOI", "password": "p"}, OWN)["url"] == OWN["url"]
    elsewhere = merged_settings({"url": "https://ailleurs.example/ws"}, OWN)
    assert "login" not in elsewhere and "password" not in elsewhere


def test_missing_settings_are_named_when_sending_and_in_health():
    outlet = DilifacOutlet({})
    health = outlet.health({"url": "https://dilifac.example/ws"})
    assert health["ok"] is False and "login" in health["error"] and "password" in health["error"]
    try:
        outlet.transport({"login": "x", "password": "y"})
    except PermanentOutletError as ex:
        assert [finding.field for finding in ex.findings] == ["settings.dilifac.url"]
    else:
        raise AssertionError("a missing url must be refused")
    outlet.http.close()


START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
STATUSES = st.sampled_from(["DEPOSEE", "EN_COURS_ACHEMINEMENT", "MISE_A_DISPOSITION", "MANDATEE"])


@given(st.lists(STATUSES, min_size=1, max_size=12), st.integers(min_value=0, max_value=12))
def test_a_folded_history_starts_with_the_folded_shorter_one(statuses, cut):
    steps = [(s, START + timedelta(minutes=i), None) for i, s in enumerate(statuses)]
    shorter, longer = collapse(steps[: max(cut, 1)]), collapse(steps)
    assert longer[: len(shorter)] == shorter
    assert all(a[0] != b[0] for a, b in zip(longer, longer[1:], strict=False))
    assert longer[-1][0] == statuses[-1]

"""Digest preferences are checked when a member saves them; the digests leave at the
configured hour, Paris time, summer or winter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.config import DigestConfig
from gateway.digests import next_daily, next_weekly


@pytest.mark.parametrize(
    ("digests", "field"),
    [
        ("oui", "settings.digests"),
        ({"daily": "oui"}, "settings.digests.daily"),
        ({"recipients": "compta@quais.example"}, "settings.digests.recipients"),
        (
            {"recipients": ["compta@quais.example\r\nBcc: tous@exemple.fr"]},
            "settings.digests.recipients",
        ),
        ({"monthly": True}, "settings.digests.monthly"),
    ],
)
def test_malformed_preferences_are_refused_on_their_field(gateway, member, digests, field):
    result = gateway.client.simulate_patch(
        f"/v1/members/{member['id']}",
        headers=member["headers"],
        json={"settings": {"digests": digests}},
    )
    assert result.status_code == 422
    assert [e["field"] for e in result.json["errors"]] == [field]


def test_preferences_are_kept_and_shown(gateway, member):
    digests = {"daily": True, "weekly": False, "recipients": ["compta@quais.example"]}
    result = gateway.client.simulate_patch(
        f"/v1/members/{member['id']}",
        headers=member["headers"],
        json={"settings": {"digests": digests}},
    )
    assert result.status_code == 200, result.json
    assert result.json["settings"]["digests"] == digests


def test_digests_leave_at_the_hour_of_paris_in_winter_and_summer():
    settings = DigestConfig(hour=7, weekly_day=0)
    winter = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Paris
    assert next_daily(winter, settings) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    assert next_weekly(winter, settings) == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)  # 6:00 in Paris: today's is still due
    assert next_daily(summer, settings) == datetime(2026, 7, 1, 5, 0, tzinfo=UTC)

"""Per-member rate limits: a token bucket on the gateway's clock, 429 with Retry-After."""

from __future__ import annotations

import pytest

from gateway.config import load_config
from tests.conftest import Clock, Gateway, make_config


@pytest.fixture
def limited(tmp_path, sqlite_url):
    clock = Clock()
    config = make_config(tmp_path, sqlite_url, rate_limit_per_minute=60, rate_limit_burst=3)
    instance = Gateway(config, clock=clock)
    instance.clock = clock
    yield instance
    instance.store.dispose()


def get_customers(gateway, member):
    return gateway.client.simulate_get("/v1/customers", headers=member["headers"])


def test_a_burst_beyond_the_limit_is_refused_until_the_clock_moves(limited):
    member = limited.new_member()
    assert [get_customers(limited, member).status_code for _ in range(3)] == [200] * 3
    refused = get_customers(limited, member)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    (error,) = refused.json["errors"]
    assert error["code"] == "rate.limited"
    assert "réessayez" in error["message"]
    limited.clock.advance(seconds=1)
    assert get_customers(limited, member).status_code == 200
    assert get_customers(limited, member).status_code == 429


def test_retry_after_counts_whole_seconds_up(limited):
    member = limited.new_member()
    for _ in range(3):
        get_customers(limited, member)
    limited.clock.advance(seconds=0.25)
    assert get_customers(limited, member).headers["Retry-After"] == "1"


def test_another_member_is_not_affected(limited):
    hostile = limited.new_member("Librairie Hostile", "81234567600017")
    other = limited.new_member("Librairie du Port", "73282932000074")
    for _ in range(10):
        get_customers(limited, hostile)
    assert get_customers(limited, hostile).status_code == 429
    assert get_customers(limited, other).status_code == 200


def test_a_members_keys_share_one_bucket(limited):
    member = limited.new_member()
    created = limited.client.simulate_post(
        f"/v1/members/{member['id']}/keys", json={"role": "member"}, headers=member["headers"]
    )
    assert created.status_code == 201, created.json
    second = {"headers": {"Authorization": f"Bearer {created.json['api_key']}"}}
    for _ in range(2):
        get_customers(limited, member)
    assert get_customers(limited, second).status_code == 429


def test_the_admin_and_health_are_not_counted(limited):
    for _ in range(10):
        assert (
            limited.client.simulate_get("/v1/members", headers=limited.admin()).status_code == 200
        )
        assert limited.client.simulate_get("/v1/health").status_code == 200


def test_zero_means_no_limit(tmp_path, sqlite_url):
    instance = Gateway(make_config(tmp_path, sqlite_url, rate_limit_per_minute=0), clock=Clock())
    member = instance.new_member()
    assert {get_customers(instance, member).status_code for _ in range(200)} == {200}
    instance.store.dispose()


def test_the_limits_are_read_from_security(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text("[security]\nrate_limit_per_minute = 30\nrate_limit_burst = 5\n")
    config = load_config(path, env={"GATEWAY_HOME": str(tmp_path)})
    assert (config.rate_limit_per_minute, config.rate_limit_burst) == (30, 5)


def test_a_file_without_them_limits(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text("[security]\n")
    config = load_config(path, env={"GATEWAY_HOME": str(tmp_path)})
    assert (config.rate_limit_per_minute, config.rate_limit_burst) == (600, 120)

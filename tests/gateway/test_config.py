"""Secret references in the configuration: ``$env``, ``$file`` and ``$json``."""

from __future__ import annotations

import json
import re

import pytest

from gateway.config import ConfigError, load_config, resolve_secrets


def test_a_json_reference_reads_one_key_of_a_file_relative_to_the_home(tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "credentials.json").write_text(
        json.dumps({"client_id": "abc", "client_secret": "s3cret", "port": 8081})
    )
    (tmp_path / "gateway.toml").write_text(
        '[plugins.chorus]\nclient_id = {"$json" = ["var/credentials.json", "client_id"]}\n'
        'client_secret = {"$json" = ["var/credentials.json", "client_secret"]}\n'
        'port = {"$json" = ["var/credentials.json", "port"]}\n'
    )
    config = load_config(tmp_path / "gateway.toml", env={"GATEWAY_HOME": str(tmp_path)})
    assert config.plugin_config("chorus") == {
        "client_id": "abc",
        "client_secret": "s3cret",
        "port": 8081,
    }
    assert config.plugins["chorus"]["client_secret"] == {
        "$json": ["var/credentials.json", "client_secret"]
    }  # resolved only when asked for, never kept in the parsed file


@pytest.mark.parametrize(
    ("content", "reference", "words"),
    [
        (None, ["missing.json", "a"], "cannot read"),
        ("not json", ["c.json", "a"], "not JSON"),
        ('{"b": 1}', ["c.json", "a"], "no key 'a'"),
        ("[1, 2]", ["c.json", "a"], "no key 'a'"),
        ('{"a": 1}', "c.json", '"$json" reference'),
        ('{"a": 1}', ["c.json"], '"$json" reference'),
    ],
)
def test_a_broken_json_reference_is_a_configuration_error(tmp_path, content, reference, words):
    if content is not None:
        (tmp_path / "c.json").write_text(content)
    with pytest.raises(ConfigError, match=re.escape(words)):
        resolve_secrets({"secret": {"$json": reference}}, tmp_path, env={})


def test_env_and_file_references_still_resolve(tmp_path):
    (tmp_path / "password").write_text("pw\n")
    resolved = resolve_secrets(
        {"a": {"$env": "A"}, "b": [{"$file": "password"}], "c": "plain"}, tmp_path, env={"A": "1"}
    )
    assert resolved == {"a": "1", "b": ["pw"], "c": "plain"}

"""The deployment examples (contrib/deploy/) name only what the gateway has: its commands,
the environment variables it reads, and limits in step with its configuration."""

from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path

import pytest

from gateway.cli import parse_args
from gateway.config import DEFAULT_CONFIG, ROOT, load_config

DEPLOY = ROOT / "contrib" / "deploy"
SYSTEMD = DEPLOY / "systemd"
UNITS = sorted(SYSTEMD.glob("facture-gateway*.service")) + [SYSTEMD / "facture-gateway.target"]
DROP_IN = SYSTEMD / "facture-gateway-.service.d" / "common.conf"
ENV_EXAMPLE = SYSTEMD / "facture-gateway.env.example"
NGINX = DEPLOY / "nginx" / "facture-gateway.conf"
GUIDE = ROOT / "docs" / "deployment.md"
#: Where the gateway reads its environment: the package and gunicorn's settings.
READERS = [*sorted((ROOT / "gateway").rglob("*.py")), ROOT / "conf" / "gunicorn.conf.py"]
#: nginx sizes: a number and an optional unit.
NGINX_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def directives(path: Path) -> list[tuple[str, str]]:
    """``(key, value)`` of a unit file, in order (a key may repeat, which configparser
    refuses)."""
    lines = path.read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return [(key.strip(), value.strip()) for key, value in pairs]


def values(path: Path, key: str) -> list[str]:
    return [value for name, value in directives(path) if name == key]


def environment() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if re.match(r"[A-Z_]+=", line))
    return dict(pairs)


def nginx_directive(name: str) -> str:
    """The first value of a directive in the nginx example: the server's, which its
    locations may override after it."""
    found = re.findall(rf"^\s*{name}\s+([^;]+);", NGINX.read_text(), re.MULTILINE)
    assert found, f"{name} missing from {NGINX.name}"
    return found[0]


def nginx_size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", text.lower()).groups()
    return int(number) * NGINX_UNITS[unit]


def nginx_seconds(text: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(s|m)?", text).groups()
    return int(number) * (60 if unit == "m" else 1)


@pytest.mark.parametrize(
    "command",
    [command for unit in UNITS for command in values(unit, "ExecStart")],
)
def test_every_command_a_unit_starts_is_one_of_the_cli(command):
    program, *arguments = shlex.split(command)
    assert Path(program).name == "facture-gateway"
    assert parse_args(arguments).func is not None  # argparse exits on an unknown command


def test_every_command_the_guide_names_is_one_of_the_cli():
    named = re.findall(r"`facture-gateway\s+([^`]+)`", GUIDE.read_text())
    assert named
    for command in named:
        words = [word for word in command.split() if re.fullmatch(r"[a-z][a-z-]*", word)]
        assert parse_args(words).func is not None, command


def test_every_environment_variable_of_the_example_is_read_by_the_gateway():
    sources = "\n".join(path.read_text() for path in READERS)
    for name in environment():
        if name.startswith("PG"):  # libpq's own (password file, TLS)
            continue
        assert re.search(rf"""["']{name}["']""", sources), f"{name} is read nowhere"


def test_the_example_home_is_where_the_units_may_write():
    (state,) = values(DROP_IN, "StateDirectory")
    assert environment()["GATEWAY_HOME"] == f"/var/lib/{state}"
    (env_file,) = values(DROP_IN, "EnvironmentFile")
    assert environment()["GATEWAY_CONFIG"].startswith(str(Path(env_file).parent))


def test_units_name_only_units_that_exist():
    names = {unit.name for unit in UNITS} | {"facture-gateway-worker@.service"}
    for unit in UNITS:
        for key in ("After", "Before", "Wants", "Requires", "PartOf", "WantedBy"):
            for value in values(unit, key):
                for named in value.split():
                    if named.startswith("facture-gateway"):
                        template = re.sub(r"@[^.]+\.", "@.", named)
                        assert template in names, f"{unit.name}: {key}={named}"


def test_nginx_takes_the_bodies_the_gateway_takes():
    size = nginx_size(nginx_directive("client_max_body_size"))
    assert size == load_config(DEFAULT_CONFIG, env={}).max_body_bytes


def test_nginx_waits_for_gunicorn_to_answer_or_give_up():
    gunicorn_timeout = runpy.run_path(str(ROOT / "conf" / "gunicorn.conf.py"))["timeout"]
    assert nginx_seconds(nginx_directive("proxy_read_timeout")) > gunicorn_timeout
    config = load_config(DEFAULT_CONFIG, env={})
    assert config.max_document_seconds < gunicorn_timeout

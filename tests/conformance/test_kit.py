"""``python -m gateway.testing``, run as a vendor runs it: over the example vendor plugin,
the memory outlet's declared harness, broken plugins, and the example of docs/plugins.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT

DOC = ROOT / "docs" / "plugins.md"


def kit(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway.testing", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_vendor_example_passes():
    run = kit("liseron", "--samples", DATA / "vendor")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "format liseron (2 samples)" in run.stdout
    assert "6 passed, 0 failed, 0 skipped" in run.stdout


def test_an_outlet_is_checked_with_the_harness_its_plugin_declares():
    run = kit("memory")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "outlet memory (harness MemoryHarness)" in run.stdout
    assert re.search(r"passed +lost_answer", run.stdout)


BROKEN_FORMAT = """
from gateway import FormatError, FormatHandler, hookimpl


class Broken(FormatHandler):
    name = "broken"
    media_types = ("text/x-broken",)
    extensions = ("brk",)

    def sniff(self, data):
        return data[0] == ord("B")

    def parse(self, data):
        number, amount = data.decode().split(";")
        raise FormatError(f"montant {float(amount)} pour {number}")


@hookimpl
def gateway_register_formats():
    return [Broken()]
"""


@pytest.mark.parametrize(
    "source,reasons",
    [
        (
            BROKEN_FORMAT,
            [
                r"FAILED +declaration\n +extensions are written with their dot",
                r"broken.sniff raised IndexError",
                r"FAILED +malformed",
            ],
        ),
        ("raise RuntimeError('pas de base de données')", [r"RuntimeError: pas de base"]),
        (
            "from gateway import hookimpl\n\n\n@hookimpl\ndef gateway_register_format():\n"
            "    return []\n",
            [r"FAILED +load\n +PluginValidationError"],
        ),
    ],
    ids=["rules-broken", "import-fails", "unknown-hook"],
)
def test_a_broken_plugin_fails_with_a_readable_reason(tmp_path, source, reasons):
    (tmp_path / "broken.py").write_text(source)
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "one.brk").write_text("B-1;12.50")
    run = kit(tmp_path / "broken.py", "--samples", tmp_path / "samples")
    assert run.returncode == 1, run.stdout + run.stderr
    for reason in reasons:
        assert re.search(reason, run.stdout), run.stdout
    assert "Traceback" not in run.stdout


def test_the_example_of_the_docs_passes_the_suite(tmp_path):
    section = DOC.read_text().split("## Writing a plugin in five minutes", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    sample = re.search(r"```text\n(.*?)```", section, re.DOTALL).group(1)
    (tmp_path / "myformat.py").write_text(code)
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "facture.myf").write_text(sample)
    run = kit("myformat", "--samples", "samples", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "format myformat (1 samples)" in run.stdout

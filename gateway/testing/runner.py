"""``python -m gateway.testing PLUGIN``: the conformance suites over one plugin, as its
vendor runs them, with a readable report; exit 0 when every check passes, 1 otherwise.

PLUGIN is the name of an entry point of the ``facture_gateway`` group (an installed
plugin), a module path (``my_package.plugin``, ``my_package.plugin:MyPlugin``) or a
Python file. Its formats are checked over samples (``--samples DIR``, or the folders its
distribution declares), its outlets with the harnesses given by ``--harness
MODULE:CLASS`` or declared (see :data:`gateway.testing.TESTING_GROUP`).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

from gateway.config import Config
from gateway.hookspecs import PROJECT_NAME
from gateway.logs import configure_logging
from gateway.plugins import build_plugin_manager, call_each
from gateway.testing import TESTING_GROUP
from gateway.testing import formats as format_suite
from gateway.testing.outlets import (
    NotApplicable,
    OutletHarness,
    check_declaration,
    check_outlet,
    installed_registry,
    outlet_checks,
)

PASSED, FAILED, SKIPPED = "passed", "FAILED", "skipped"
#: Format checks that say nothing without samples (the ``samples`` check fails then).
ON_SAMPLES = frozenset({"parse", "malformed"})


@dataclass
class Result:
    subject: str
    check: str
    status: str
    reason: str = ""


def _describe(ex: BaseException) -> str:
    return f"{type(ex).__name__}: {ex}"


def _outcome(subject: str, check: str, run: Callable[[], object]) -> Result:
    try:
        run()
    except NotApplicable as ex:
        return Result(subject, check, SKIPPED, str(ex))
    except AssertionError as ex:
        return Result(subject, check, FAILED, str(ex))
    except Exception as ex:  # noqa: BLE001 - a crash of the plugin is a failed check
        return Result(subject, check, FAILED, _describe(ex))
    return Result(subject, check, PASSED)


def load_plugin(spec: str) -> object:
    """Return the plugin ``spec`` names (an instance when it names a class)."""
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot import {path}")
        plugin: object = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = plugin  # type: ignore[assignment]
        module_spec.loader.exec_module(plugin)  # type: ignore[arg-type]
    else:
        installed = list(entry_points(group=PROJECT_NAME, name=spec))
        entry_point = installed[0] if installed else EntryPoint(spec, spec, PROJECT_NAME)
        plugin = entry_point.load()
    return plugin() if isinstance(plugin, type) else plugin


def declaration(spec: str) -> ModuleType | None:
    """The module a plugin's distribution declares for the kit (``SAMPLES``, ``HARNESSES``)."""
    for entry_point in entry_points(group=TESTING_GROUP, name=spec):
        return entry_point.load()
    return None


def declared_harnesses() -> list[type[OutletHarness]]:
    """Every outlet harness the installed distributions declare."""
    return [
        harness
        for entry_point in entry_points(group=TESTING_GROUP)
        for harness in getattr(entry_point.load(), "HARNESSES", [])
    ]


def sample_files(folder: Path) -> list[Path]:
    """The samples in ``folder``: its files, but the ``*.expected.json`` beside them."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and not path.name.endswith(".expected.json")
    )


def samples_of(name: str, only: bool, samples: Path | None, declared: dict) -> list[Path]:
    """A format's samples: ``samples/<name>/``, or ``samples`` itself for a plugin's only
    format; without ``--samples``, the folder its distribution declares."""
    if samples is not None:
        folder = samples / name if (samples / name).is_dir() else samples if only else None
    else:
        folder = Path(declared[name]) if name in declared else None
    return sample_files(folder) if folder is not None and folder.is_dir() else []


def run(spec: str, samples: Path | None = None, harnesses: list[str] | None = None) -> list[Result]:
    """Run every check that applies to plugin ``spec``; return the results in order."""
    subject = f"plugin {spec}"
    try:
        plugin = load_plugin(spec)
        pm, _ = build_plugin_manager(load_entrypoints=False, extra_plugins=[plugin])
        declared = declaration(spec)
        given = [EntryPoint(path, path, TESTING_GROUP).load() for path in harnesses or []]
    except Exception as ex:  # noqa: BLE001 - what the gateway would skip, the kit reports
        return [Result(subject, "load", FAILED, _describe(ex))]
    results = []
    registered: dict[str, list] = {}
    for hook, kwargs in (
        ("gateway_configure", {"config": Config()}),
        ("gateway_register_formats", {"formats": installed_registry().formats}),
        ("gateway_register_outlets", {}),
    ):
        for _, result in call_each(pm, hook, **kwargs):
            if isinstance(result, Exception):
                results.append(Result(subject, hook, FAILED, _describe(result)))
            else:
                registered.setdefault(hook, []).extend(result or [])
    handlers = registered.get("gateway_register_formats", [])
    outlets = registered.get("gateway_register_outlets", [])
    if not handlers and not outlets and not results:
        reason = "it registers no format and no outlet: nothing to check"
        return [Result(subject, "registration", FAILED, reason)]
    declared_samples = getattr(declared, "SAMPLES", {})
    for handler in handlers:
        files = samples_of(handler.name, len(handlers) == 1, samples, declared_samples)
        results.extend(run_format(handler, files))
    available = [*given, *getattr(declared, "HARNESSES", [])]
    for outlet in outlets:
        harness = next((h for h in available if h.outlet.name == outlet.name), None)
        results.extend(run_outlet(outlet, harness))
    return results


def run_format(handler, files: list[Path]) -> list[Result]:
    about = f"format {handler.name} ({len(files)} samples)"
    results = []
    for check, function in format_suite.CHECKS.items():
        if check in ON_SAMPLES and not files:
            results.append(Result(about, check, SKIPPED, "no sample to read"))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            run_check = functools.partial(function, handler, files, Path(tmp))
            results.append(_outcome(about, check, run_check))
    return results


def run_outlet(outlet, harness: type[OutletHarness] | None) -> list[Result]:
    if harness is None:
        about = f"outlet {outlet.name} (no harness)"
        return [
            _outcome(about, "declaration", lambda: check_declaration(outlet)),
            Result(
                about,
                "other checks",
                SKIPPED,
                f"declare a harness under {TESTING_GROUP} or give --harness MODULE:CLASS",
            ),
        ]
    about = f"outlet {outlet.name} (harness {harness.__name__})"
    with tempfile.TemporaryDirectory() as workdir:
        try:
            started = harness(Path(workdir))
        except Exception as ex:  # noqa: BLE001
            return [Result(about, "harness", FAILED, f"could not start: {_describe(ex)}")]
        try:
            return [
                _outcome(about, check, functools.partial(check_outlet, started, check))
                for check in outlet_checks(harness)
            ]
        finally:
            started.close()


def report(spec: str, results: list[Result]) -> str:
    lines = [f"Conformance of {spec}"]
    subject = None
    for result in results:
        if result.subject != subject:
            subject = result.subject
            lines.append(subject)
        lines.append(f"  {result.status:8} {result.check}")
        lines += [f"           {line}" for line in result.reason.splitlines()]
    counts = {status: sum(r.status == status for r in results) for status in (PASSED, FAILED)}
    skipped = len(results) - sum(counts.values())
    lines.append(f"{counts[PASSED]} passed, {counts[FAILED]} failed, {skipped} skipped")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.testing",
        description="Run the gateway's conformance suites over one format or outlet plugin.",
    )
    parser.add_argument(
        "plugin", help="entry point name, module path (package.module[:Class]) or .py file"
    )
    parser.add_argument(
        "--samples",
        type=Path,
        help="folder of valid sample files (one sub-folder per format when it has several)",
    )
    parser.add_argument(
        "--harness",
        action="append",
        default=[],
        metavar="MODULE:CLASS",
        help="an OutletHarness subclass for one of its outlets (repeatable)",
    )
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")  # the report is on stdout; plugin errors on stderr
    results = run(args.plugin, args.samples, args.harness)
    print(report(args.plugin, results))
    return 1 if any(result.status == FAILED for result in results) else 0

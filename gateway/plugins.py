"""The plugin manager: built-in and third-party plugins, loaded the same way.

Plugins are found through the ``facture_gateway`` entry-point group. A plugin that fails
to import, or whose registration hook raises, is logged and skipped: the gateway starts
without it. :class:`Registry` holds what the plugins registered, by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy

from gateway import hookspecs
from gateway.config import Config
from gateway.formats import FormatHandler
from gateway.logs import get_logger
from gateway.outlets import Outlet
from gateway.renderers import Renderer

log = get_logger(__name__)


def build_plugin_manager(
    load_entrypoints: bool = True, extra_plugins: Iterable[Any] = ()
) -> tuple[pluggy.PluginManager, list[dict]]:
    """Return the plugin manager and the list of plugins that failed to load."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    failures: list[dict] = []
    if load_entrypoints:
        for entry_point in entry_points(group=hookspecs.PROJECT_NAME):
            if pm.get_plugin(entry_point.name) is not None:
                continue
            try:
                plugin = entry_point.load()
                # A class is a plugin with state: each gateway gets its own instance.
                pm.register(plugin() if isinstance(plugin, type) else plugin, name=entry_point.name)
            except Exception as ex:  # a broken plugin must not stop the gateway
                log.error("plugin.load_failed", plugin=entry_point.name, error=repr(ex))
                failures.append({"plugin": entry_point.name, "error": repr(ex)})
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm, failures


def call_each(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call every implementation of a hook separately, so one failure spares the others.

    Returns ``(plugin name, result)`` pairs; a raising implementation gives the exception
    as its result, and is logged.
    """
    results = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        args = {name: kwargs[name] for name in impl.argnames if name in kwargs}
        try:
            results.append((impl.plugin_name, impl.function(**args)))
        except Exception as ex:
            log.error("plugin.hook_failed", plugin=impl.plugin_name, hook=hook_name, error=repr(ex))
            results.append((impl.plugin_name, ex))
    return results


class Formats(dict[str, FormatHandler]):
    """The registered formats by name: the :class:`~gateway.formats.FormatCatalog` plugins get."""

    def names(self) -> list[str]:
        return sorted(self)

    def for_media_type(self, media_type: str) -> FormatHandler | None:
        media_type = media_type.split(";")[0].strip().lower()
        return next(
            (h for h in self.values() if media_type in (t.lower() for t in h.media_types)),
            None,
        )

    def sniff(self, data: bytes) -> FormatHandler | None:
        for handler in self.values():
            try:
                if handler.sniff(data):
                    return handler
            except Exception as ex:
                log.error("plugin.sniff_failed", format=handler.name, error=repr(ex))
        return None


class Registry:
    """What the plugins registered: formats, outlets (configured) and renderers, by name."""

    def __init__(
        self, pm: pluggy.PluginManager, config: Config, failures: list[dict] | None = None
    ):
        self.pm = pm
        self.failures = list(failures or [])
        self.formats = Formats()
        self.renderers: dict[str, Renderer] = {}
        self.outlets: dict[str, Outlet] = {}
        for plugin, result in call_each(self.pm, "gateway_configure", config=config):
            if isinstance(result, Exception):
                self._fail(plugin, repr(result))
        for plugin, handler in self._registered("gateway_register_formats", formats=self.formats):
            self._add(self.formats, handler, plugin, "format")
        for plugin, renderer in self._registered("gateway_register_renderers"):
            self._add(self.renderers, renderer, plugin, "renderer")
        for plugin, outlet_class in self._registered("gateway_register_outlets"):
            try:
                outlet = outlet_class(self._outlet_settings(outlet_class, config))
            except Exception as ex:
                self._fail(plugin, f"outlet {getattr(outlet_class, 'name', '?')}: {ex!r}")
                continue
            self._add(self.outlets, outlet, plugin, "outlet")

    @staticmethod
    def _outlet_settings(outlet_class: type[Outlet], config: Config) -> dict:
        settings = config.plugin_config(outlet_class.name)
        for key, spec in outlet_class.config_fields.items():
            if spec.path and settings.get(key) and not Path(settings[key]).is_absolute():
                settings[key] = str(config.base_dir / settings[key])
        return settings

    def _registered(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        items = []
        for plugin, result in call_each(self.pm, hook_name, **kwargs):
            if isinstance(result, Exception):
                self._fail(plugin, repr(result))
            else:
                items.extend((plugin, item) for item in result or [])
        return items

    def _add(self, table: dict, item: Any, plugin: str, kind: str) -> None:
        name = getattr(item, "name", None)
        if not name or name in table:
            self._fail(plugin, f"{kind} {name!r} has no name or is already registered")
            return
        table[name] = item

    def _fail(self, plugin: str, error: str) -> None:
        log.error("plugin.registration_failed", plugin=plugin, error=error)
        self.failures.append({"plugin": plugin, "error": error})

    def format_named(self, name: str) -> FormatHandler | None:
        return self.formats.get(name)

    def format_for_media_type(self, media_type: str) -> FormatHandler | None:
        return self.formats.for_media_type(media_type)

    def sniff(self, data: bytes) -> FormatHandler | None:
        return self.formats.sniff(data)

    def describe(self) -> dict:
        return {
            "plugins": sorted(name for name, _ in self.pm.list_name_plugin()),
            "formats": sorted(self.formats),
            "outlets": sorted(self.outlets),
            "renderers": sorted(self.renderers),
            "failed": self.failures,
        }

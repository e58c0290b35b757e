"""The plugin manager: built-in and third-party plugins, loaded the same way.

Plugins are found through the ``facture_gateway`` entry-point group. A plugin that fails
to import, or whose registration hook raises, is logged and skipped: the gateway starts
without it. Hooks are called through pluggy, in its order; one plugin's exception in a
hook that merges every plugin's result is contained (:class:`PluginManager`).
:class:`Registry` holds what the plugins registered, by name.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, NamedTuple

import pluggy

from gateway import hookspecs, outbound
from gateway.budget import BudgetExceeded, checkpoint
from gateway.config import Config
from gateway.formats import FormatHandler
from gateway.logs import get_logger
from gateway.outlets import Outlet
from gateway.renderers import Renderer

log = get_logger(__name__)


class PluginFailure(NamedTuple):
    """The entry of an implementation that raised, in a hook's results."""

    plugin: str
    error: Exception


class PluginManager(pluggy.PluginManager):
    """pluggy's plugin manager, with every ordinary implementation of a hook that is not
    ``firstresult`` guarded as it is registered.

    A guarded implementation gives ``(plugin name, result)``, or a :class:`PluginFailure`
    when it raises, so pluggy still calls the others and each result names its plugin.
    Wrappers are left as they are (they see these pairs); so are ``firstresult`` hooks,
    whose exceptions mean something to the caller (a directory that cannot be reached).
    """

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        # Specs first: whether a hook is firstresult is known when a plugin registers.
        self.add_hookspecs(hookspecs)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        name = super().register(plugin, name)
        for caller in self.get_hookcallers(plugin) or []:
            if caller.spec is None or caller.spec.opts["firstresult"]:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    # pluggy has read the argument names already: the guard only wraps the call.
                    impl.function = _guarded(impl.function, impl.plugin_name, caller.name)
        return name


def _guarded(function: Callable[..., Any], plugin: str, hook: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> tuple[str, Any]:
        checkpoint()  # a document's time budget is checked between plugins
        try:
            return plugin, function(*args, **kwargs)
        except BudgetExceeded:
            raise
        except Exception as ex:  # one plugin's bug must spare the others
            log.error("plugin.hook_failed", plugin=plugin, hook=hook, error=repr(ex))
            return PluginFailure(plugin, ex)

    return guarded


def build_plugin_manager(
    load_entrypoints: bool = True, extra_plugins: Iterable[Any] = ()
) -> tuple[PluginManager, list[dict]]:
    """Return the plugin manager and the list of plugins that failed to load.

    Entry points are registered in the order of their names, then ``extra_plugins``:
    pluggy calls the last registered first, so the order is the same on every machine.
    """
    pm = PluginManager()
    failures: list[dict] = []
    if load_entrypoints:
        found = sorted(entry_points(group=hookspecs.PROJECT_NAME), key=operator.attrgetter("name"))
        for entry_point in found:
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


def call_each(pm: PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a hook that is not ``firstresult`` through pluggy; one failure spares the others.

    Returns ``(plugin name, result)`` pairs in pluggy's call order; a raising implementation
    gives its exception as its result (logged by its guard). Pluggy cannot tell which
    wrapper raised, if one does: every wrapper of the hook is then reported with it.
    """
    hook = getattr(pm.hook, hook_name)
    try:
        return list(hook(**kwargs))
    except BudgetExceeded:
        raise
    except Exception as ex:
        wrappers = [i.plugin_name for i in hook.get_hookimpls() if i.wrapper or i.hookwrapper]
        if not wrappers:
            raise  # the implementations are guarded: the call itself is wrong
        log.error("plugin.hook_failed", plugin=", ".join(wrappers), hook=hook_name, error=repr(ex))
        return [(plugin, ex) for plugin in wrappers]


class Formats(dict[str, FormatHandler]):
    """The registered formats by name: the :class:`~gateway.formats.FormatCatalog` plugins get.

    Kept in sniffing order: the order in which pluggy calls ``gateway_register_formats``
    (``tryfirst`` implementations, then the last registered first, ``trylast`` ones at the
    end), each plugin's handlers in the order it returns them.
    """

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
        # Before any plugin may call out: where it may (members' URLs included).
        outbound.configure(config.outbound_hosts)
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

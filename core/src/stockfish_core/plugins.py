"""Plugin discovery and loading.

Plugins are found through the ``stockfish`` entry-point group and loaded by name: only
the names a configuration enables are ever imported, because loading runs the plugin's
code. The core's own built-in venue (``sim``) is an entry point of stockfish-core and
goes through exactly the same path.

Set ``STOCKFISH_TRACE_HOOKS=1`` to log every hook call at DEBUG on the
``stockfish.hooks`` logger.
"""

from __future__ import annotations

import inspect
import logging
import os
import traceback
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from . import hookspecs
from .__about__ import API_VERSION
from .discovery import CORE_DISTRIBUTION, ENTRY_POINT_GROUP, PluginInfo, discover
from .errors import (
    PluginApiMismatch,
    PluginConflict,
    PluginError,
    PluginLoadError,
    PluginNotInstalled,
)

if TYPE_CHECKING:  # imported when a plugin is registered: listing plugins needs none of it
    from .connector import PluginSpec

__all__ = [
    "CORE_DISTRIBUTION",
    "ENTRY_POINT_GROUP",
    "PROJECT",
    "LoadedPlugin",
    "PluginFailure",
    "PluginHooks",
    "PluginInfo",
    "PluginRegistry",
    "api_compatible",
    "hookimpl",
    "maybe_await",
]

PROJECT = "stockfish"

hookimpl = pluggy.HookimplMarker(PROJECT)

log = logging.getLogger("stockfish.plugins")


async def maybe_await(value: Any) -> Any:
    """Await ``value`` if it is awaitable (hooks may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


def api_compatible(required: str, offered: str = API_VERSION) -> bool:
    """Whether a plugin needing API ``required`` runs on a core offering ``offered``."""
    try:
        req_major, req_minor = (int(x) for x in required.split(".", 1))
        off_major, off_minor = (int(x) for x in offered.split(".", 1))
    except ValueError:
        return False
    return req_major == off_major and req_minor <= off_minor


@attrs.frozen
class PluginFailure:
    """A plugin that was asked for and could not be used."""

    name: str
    reason: str
    distribution: str | None = None

    def __str__(self) -> str:
        dist = f" ({self.distribution})" if self.distribution else ""
        return f"{self.name}{dist}: {self.reason}"


@attrs.define
class LoadedPlugin:
    info: PluginInfo
    plugin: object
    spec: PluginSpec | None
    hooks: PluginHooks

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def hook_names(self) -> list[str]:
        return self.hooks.implemented()


class PluginHooks:
    """Calls hooks on one plugin only (plus any non-venue plugins, such as wrappers)."""

    def __init__(self, registry: PluginRegistry, name: str, plugin: object) -> None:
        self._registry = registry
        self.name = name
        self.plugin = plugin
        self._cache: dict[str, tuple[int, Callable[..., Any]]] = {}

    def implemented(self) -> list[str]:
        pm = self._registry.pm
        return sorted(c.name for c in pm.get_hookcallers(self.plugin) or ())

    def caller(self, hook: str) -> Callable[..., Any]:
        cached = self._cache.get(hook)
        generation = self._registry.generation
        if cached is not None and cached[0] == generation:
            return cached[1]
        others = self._registry.venue_plugins_except(self.plugin)
        caller = self._registry.pm.subset_hook_caller(hook, others)
        self._cache[hook] = (generation, caller)
        return caller

    @property
    def generation(self) -> int:
        """The registry's generation (it changes when plugins are (un)registered)."""
        return self._registry.generation

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call ``hook`` on this plugin; the result may be awaitable."""
        return self.caller(hook)(**kwargs)

    async def acall(self, hook: str, **kwargs: Any) -> Any:
        """Call ``hook`` on this plugin and await its result if it is awaitable."""
        return await maybe_await(self.caller(hook)(**kwargs))

    def has(self, hook: str) -> bool:
        return hook in self.implemented()

    def normalizer(self) -> Callable[[Any, list[Any]], Any] | None:
        """The plugin's normalize implementation, resolved once for the hot path (see
        :meth:`direct`)."""
        return self.direct("stockfish_normalize", ("connector", "messages"))

    def direct(self, hook: str, argnames: tuple[str, ...]) -> Callable[..., Any] | None:
        """The plugin's implementation of ``hook``, resolved once for a hot path, called
        with ``argnames`` positionally; None if the plugin does not implement it.

        When no other plugin (a wrapper, say) takes part in the hook, this is the plugin's
        own function (no pluggy call per call); otherwise it is the hook caller, so the
        others still see every call. Only for
        ``firstresult`` hooks, whose caller returns the implementation's result as it is.
        The answer holds until a plugin is registered or unregistered (see
        :attr:`PluginRegistry.generation`).
        """
        hook_caller = getattr(self._registry.pm.hook, hook)
        impls = [i for i in hook_caller.get_hookimpls() if i.plugin is self.plugin]
        if not impls:
            return None
        others = self._registry.venue_plugins_except(self.plugin)
        # Another plugin that is not a venue (a wrapper, a tracer) takes part in the call.
        shared = any(i.plugin is not self.plugin and i.plugin not in others
                     for i in hook_caller.get_hookimpls())
        if shared or self._registry.tracing or len(impls) > 1:
            caller = self.caller(hook)
            return lambda *args: caller(**dict(zip(argnames, args, strict=True)))
        impl = impls[0]
        fn = impl.function
        names = tuple(impl.argnames)
        if names == argnames:
            return fn  # type: ignore[no-any-return]
        return lambda *args: fn(**{k: v for k, v in zip(argnames, args, strict=True)
                                   if k in names})


class PluginRegistry:
    """The pluggy manager, the installed plugins and the loaded ones.

    ``entry_points`` replaces discovery (tests pass their own so that plugins which
    happen to be installed are never picked up).
    """

    def __init__(
        self,
        entry_points: Iterable[metadata.EntryPoint] | None = None,
        *,
        trace: bool | None = None,
    ) -> None:
        self._pm: pluggy.PluginManager | None = None
        self._entry_points = None if entry_points is None else list(entry_points)
        self._installed: dict[str, list[PluginInfo]] | None = None
        self.loaded: dict[str, LoadedPlugin] = {}
        self.failures: dict[str, PluginFailure] = {}
        self.generation = 0
        if trace is None:
            trace = os.environ.get("STOCKFISH_TRACE_HOOKS", "") not in ("", "0")
        self.tracing = trace

    @property
    def pm(self) -> pluggy.PluginManager:
        """The pluggy manager, made on first use (listing installed plugins needs none)."""
        pm = self._pm
        if pm is None:
            pm = self._pm = pluggy.PluginManager(PROJECT)
            pm.add_hookspecs(hookspecs)
            if self.tracing:
                hook_log = logging.getLogger("stockfish.hooks")
                pm.trace.root.setwriter(lambda msg: hook_log.debug(msg.rstrip()))
                pm.enable_tracing()
        return pm

    # -- discovery -------------------------------------------------------------------
    def _discover(self) -> dict[str, list[PluginInfo]]:
        if self._installed is None:
            self._installed = discover(self._entry_points)
        return self._installed

    def installed(self) -> dict[str, PluginInfo]:
        """Installed plugins by name (the first of conflicting ones); nothing is imported."""
        return {name: infos[0] for name, infos in sorted(self._discover().items())}

    def conflicts(self) -> dict[str, list[PluginInfo]]:
        return {n: i for n, i in sorted(self._discover().items()) if len(i) > 1}

    def info(self, name: str) -> PluginInfo:
        infos = self._discover().get(name)
        if not infos:
            raise PluginNotInstalled(name)
        if len(infos) > 1:
            dists = ", ".join(f"{i.distribution or '?'} ({i.value})" for i in infos)
            raise PluginConflict(
                f"plugin name {name!r} is claimed by more than one installed distribution: "
                f"{dists}; uninstall all but one"
            )
        return infos[0]

    # -- loading ---------------------------------------------------------------------
    def load(self, names: Iterable[str], *, strict: bool = False) -> list[PluginFailure]:
        """Load the named plugins. Returns the failures; with ``strict`` the first raises.

        A plugin that is not installed or claimed twice always raises: the configuration
        asked for something that cannot exist.
        """
        failures: list[PluginFailure] = []
        for name in dict.fromkeys(names):
            if name in self.loaded:
                continue
            info = self.info(name)
            try:
                self._load_one(info)
            except PluginLoadError as exc:
                failure = PluginFailure(name, exc.reason, info.distribution)
                self.failures[name] = failure
                log.error("plugin %s isolated: %s", failure, exc.reason)
                if strict:
                    raise
                failures.append(failure)
        return failures

    def _load_one(self, info: PluginInfo) -> LoadedPlugin:
        assert info.entry_point is not None
        try:
            plugin = info.entry_point.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            log.debug("import of plugin %s failed:\n%s", info.name, traceback.format_exc())
            raise PluginLoadError(info.name, f"import failed: {type(exc).__name__}: {exc}") from exc
        return self.register(plugin, info)

    def register(self, plugin: object, info: PluginInfo | str) -> LoadedPlugin:
        """Register a plugin object under a name, validate it and return it loaded.

        This is the one path for entry-point plugins, built-ins and test plugins.
        """
        if isinstance(info, str):
            info = PluginInfo(info, getattr(plugin, "__name__", repr(plugin)))
        name = info.name
        if name in self.loaded or self.pm.has_plugin(name):
            raise PluginConflict(f"a plugin named {name!r} is already registered")
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(name, f"invalid hook implementation: {exc}") from exc
        except ValueError as exc:
            raise PluginConflict(f"plugin {name!r}: {exc}") from exc
        try:
            self.pm.check_pending()
            hooks = PluginHooks(self, name, plugin)
            has_spec = hooks.has("stockfish_plugin_spec")
            spec = hooks.call("stockfish_plugin_spec") if has_spec else None
            self._validate_spec(name, spec)
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(plugin)
            raise PluginLoadError(name, f"unknown hook: {exc}") from exc
        except PluginLoadError:
            self.pm.unregister(plugin)
            raise
        except KeyboardInterrupt:
            self.pm.unregister(plugin)
            raise
        except BaseException as exc:
            self.pm.unregister(plugin)
            raise PluginLoadError(name, f"stockfish_plugin_spec failed: {exc!r}") from exc
        loaded = LoadedPlugin(info, plugin, spec, hooks)
        self.loaded[name] = loaded
        self.generation += 1
        log.debug("plugin %s loaded from %s (%s)", name, info.value, info.distribution)
        return loaded

    def unregister(self, name: str) -> None:
        loaded = self.loaded.pop(name, None)
        if loaded is not None:
            self.pm.unregister(loaded.plugin)
            self.generation += 1

    @staticmethod
    def _validate_spec(name: str, spec: object) -> None:
        if spec is None:
            return
        from .connector import PluginSpec

        if not isinstance(spec, PluginSpec):
            raise PluginLoadError(
                name, f"stockfish_plugin_spec returned {type(spec).__name__}, not PluginSpec"
            )
        if not api_compatible(spec.api_version):
            raise PluginApiMismatch(
                name,
                f"written for plugin API {spec.api_version}, but this stockfish-core "
                f"offers API {API_VERSION}; install a version of the plugin made for it",
            )

    # -- queries ---------------------------------------------------------------------
    def get(self, name: str) -> LoadedPlugin:
        try:
            return self.loaded[name]
        except KeyError:
            failure = self.failures.get(name)
            if failure is not None:
                raise PluginLoadError(name, failure.reason) from None
            raise PluginError(f"plugin {name!r} is not loaded") from None

    def venue_plugins_except(self, plugin: object) -> Sequence[object]:
        return [
            p.plugin for p in self.loaded.values() if p.plugin is not plugin and p.spec is not None
        ]


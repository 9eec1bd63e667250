"""The YAML configuration.

::

    connectors:
      ibkr:                      # connector name; the plugin defaults to the same name
        enabled: true
        primary: true
        host: 127.0.0.1          # everything not listed in CORE_KEYS is the plugin's own
        port: 7497
      zmq_us:
        plugin: zmq
        data_only: true
        endpoints: [tcp://127.0.0.1:5555]
    manager:
      failover_strategy: best_available
      health_check_interval: 1.0
    subscriptions:
      - {symbols: [SPY, QQQ], type: price_tick, connectors: [zmq_us]}

``${VAR}`` (or ``${VAR:-default}``) anywhere in a value is replaced from the environment.
Fields typed :class:`Secret` never show their value in a repr, a log line or an error.
Every problem in a file is reported at once, as ``file: path.to.key: what was expected``.
"""

from __future__ import annotations

import enum
import math
import os
import re
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs
import cattrs
import yaml

from .connector import Subscription
from .errors import ConfigError, ConfigProblem, PluginError, PluginNotInstalled
from .models import DataType
from .plugins import PluginRegistry
from .secret import Secret

__all__ = [
    "CORE_KEYS",
    "Config",
    "ConnectorConfig",
    "FailoverStrategy",
    "ManagerConfig",
    "MetricsConfig",
    "PluginsConfig",
    "RiskConfig",
    "Secret",
    "SubscriptionConfig",
    "load_config",
    "parse_config",
    "structure_plugin_config",
]


class FailoverStrategy(str, enum.Enum):
    """How the manager picks the connector for a new order."""

    ROUND_ROBIN = "round_robin"
    PRIMARY_BACKUP = "primary_backup"
    BEST_AVAILABLE = "best_available"


@attrs.frozen
class RiskConfig:
    """Pre-trade checks; a None limit is not checked."""

    max_order_quantity: Decimal | None = None
    max_order_notional: Decimal | None = None
    #: Reject a priced order further than this percentage from the last traded/mid price.
    price_collar_pct: float | None = None
    #: Orders per second per connector (token bucket).
    max_orders_per_second: float | None = None
    kill_switch: bool = False


def _retention_count(_: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def _retention_seconds(_: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{attribute.name} must be a number of seconds >= 0, got {value!r}")


@attrs.frozen
class ManagerConfig:
    failover_strategy: FailoverStrategy = FailoverStrategy.PRIMARY_BACKUP
    #: Seconds between health checks; a silent connection is noticed within one interval.
    health_check_interval: float = 1.0
    #: Seconds without data after which a subscription is reported stale.
    staleness: float = 5.0
    reconnect_initial_delay: float = 0.5
    reconnect_max_delay: float = 30.0
    #: Seconds to wait for a connect or an order acknowledgement.
    connect_timeout: float = 10.0
    #: Order journal (SQLite). None: the per-user default; ":memory:" keeps nothing.
    journal: str | None = None
    bar_cache_size: int = 500
    risk: RiskConfig = RiskConfig()
    #: Final orders kept in memory: at most this many (the latest), each for at most
    #: ``keep_final_seconds`` after it became final. Older ones leave memory and are
    #: answered from the journal (get_order, get_order_status, late reports).
    keep_final_orders: int = attrs.field(default=1_000, validator=_retention_count)
    keep_final_seconds: float = attrs.field(default=60.0, validator=_retention_seconds)


@attrs.frozen
class MetricsConfig:
    """An optional Prometheus endpoint exporting the manager's stats and health."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464


@attrs.frozen
class PluginsConfig:
    #: A plugin that fails to import or validate is fatal instead of isolated.
    strict: bool = False


_TYPE_ALIASES = {
    "price": DataType.PRICE_TICK,
    "ticker": DataType.PRICE_TICK,
    "orderbook": DataType.ORDERBOOK_SNAPSHOT,
    "depth": DataType.ORDERBOOK_SNAPSHOT,
    "bar": DataType.OHLCV_BAR,
    "bars": DataType.OHLCV_BAR,
    "trades": DataType.TRADE,
}


@attrs.frozen
class SubscriptionConfig:
    symbols: list[str]
    type: DataType = DataType.PRICE_TICK
    depth: int | None = None
    interval: str | None = None
    connectors: list[str] | None = None

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(s, self.type, self.depth, self.interval) for s in self.symbols]


@attrs.frozen
class ConnectorConfig:
    """One ``connectors:`` entry: the core's keys plus the plugin's validated config."""

    name: str
    plugin: str
    enabled: bool = True
    primary: bool = False
    data_only: bool = False
    priority: int = 0
    #: The plugin's own settings as written (after ``${VAR}`` interpolation).
    settings: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    #: The plugin's config object (an instance of its ``config_class``), once validated.
    config: Any = None


CORE_KEYS = ("plugin", "enabled", "primary", "data_only", "priority")


@attrs.frozen
class Config:
    connectors: dict[str, ConnectorConfig] = attrs.Factory(dict)
    manager: ManagerConfig = ManagerConfig()
    plugins: PluginsConfig = PluginsConfig()
    subscriptions: list[SubscriptionConfig] = attrs.Factory(list)
    source: str | None = None
    metrics: MetricsConfig = MetricsConfig()

    @property
    def enabled(self) -> dict[str, ConnectorConfig]:
        return {n: c for n, c in self.connectors.items() if c.enabled}

    def enabled_plugins(self) -> list[str]:
        return list(dict.fromkeys(c.plugin for c in self.enabled.values()))

    @classmethod
    def default(cls, registry: PluginRegistry | None = None) -> Config:
        """The zero-configuration setup: one built-in simulated venue."""
        return parse_config({"connectors": {"sim": {"primary": True}}}, registry=registry)


# -- structuring --------------------------------------------------------------------
def _describe_type(tp: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             Decimal: "a number"}
    if tp in names:
        return names[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in tp)
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "a list"
    if origin in (dict, Mapping):
        return "a mapping"
    if isinstance(tp, type) and attrs.has(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


class _Expected(ValueError):
    """A value of the wrong type; the message never repeats a secret."""


def _scalar(tp: type, accept: tuple[type, ...], convert: Any = None) -> Any:
    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and tp is not bool:
            raise _Expected(f"expected {_describe_type(tp)}, got {value!r}")
        if not isinstance(value, accept):
            raise _Expected(f"expected {_describe_type(tp)}, got {_show(value)}")
        return convert(value) if convert else value

    return hook


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _float(value: Any) -> float:
    result = float(value)
    if not math.isfinite(result):
        raise _Expected(f"expected a finite number, got {value!r}")
    return result


def _decimal(value: Any, _: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _Expected(f"expected a number, got {_show(value)}")
    try:
        result = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        raise _Expected(f"expected a number, got {value!r}") from None
    if not result.is_finite():
        raise _Expected(f"expected a finite number, got {value!r}")
    return result


def _enum_hook(value: Any, tp: type[enum.Enum]) -> Any:
    candidates = [value, value.lower(), value.upper()] if isinstance(value, str) else [value]
    if isinstance(value, str) and tp is DataType and value.lower() in _TYPE_ALIASES:
        return _TYPE_ALIASES[value.lower()]
    for candidate in candidates:
        try:
            return tp(candidate)
        except ValueError:
            continue
    raise _Expected(f"expected {_describe_type(tp)}, got {_show(value)}")


def _secret(value: Any, _: Any) -> Secret:
    if isinstance(value, (dict, list)) or value is None:
        raise _Expected("expected a string (value not shown)")
    return Secret(str(value))


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, tuple)


def _list_factory(tp: Any) -> Any:
    (item,) = typing.get_args(tp)[:1] or (Any,)
    origin = typing.get_origin(tp)

    def hook(value: Any, _: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _Expected(f"expected a list, got {_show(value)}")
        problems: list[Exception] = []
        out = []
        for i, v in enumerate(value):
            try:
                out.append(config_converter.structure(v, item))
            except Exception as exc:  # noqa: BLE001 - collected into one group
                exc.__notes__ = [*getattr(exc, "__notes__", []), _Index(i)]  # type: ignore[attr-defined]
                problems.append(exc)
        if problems:
            raise cattrs.IterableValidationError("While structuring a list", problems, list)
        return out if origin is list else tuple(out)

    return hook


class _Index:
    def __init__(self, index: int) -> None:
        self.index = index


def _mapping_check(value: Any, tp: Any) -> Any:
    if not isinstance(value, Mapping):
        raise _Expected(f"expected a mapping, got {_show(value)}")
    return None


def _or_enum(hook: Any) -> Any:
    # Hooks dispatch on the class hierarchy, and a str- or int-valued enum is a str or an
    # int too: send every enum to the enum hook whatever base it matched through.
    def dispatch(value: Any, tp: Any) -> Any:
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_hook(value, tp)
        return hook(value, tp)

    return dispatch


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    for tp, hook in (
        (int, _scalar(int, (int,))),
        (float, _scalar(float, (int, float), _float)),
        (str, _scalar(str, (str,))),
        (bool, _scalar(bool, (bool,))),
        (Decimal, _decimal),
        (Secret, _secret),
        (enum.Enum, _enum_hook),
    ):
        conv.register_structure_hook(tp, _or_enum(hook))
    conv.register_structure_hook_factory(_is_list, _list_factory)
    def attrs_factory(tp: Any) -> Any:
        inner = conv.gen_structure_attrs_fromdict(tp)

        def hook(value: Any, _: Any) -> Any:
            _mapping_check(value, tp)
            return inner(value, tp)

        return hook

    conv.register_structure_hook_factory(attrs.has, attrs_factory)
    return conv


config_converter = _make_converter()


def _flatten(exc: BaseException, path: str) -> list[ConfigProblem]:
    """cattrs' exception groups to one problem per leaf, with dotted paths."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        fields = sorted(a.name for a in attrs.fields(exc.cl)) if attrs.has(exc.cl) else []
        hint = f" (known keys: {', '.join(fields)})" if fields else ""
        keys = sorted(exc.extra_fields)
        return [ConfigProblem(_join(path, key), f"unknown key{hint}") for key in keys]
    if isinstance(exc, cattrs.BaseValidationError):
        out: list[ConfigProblem] = []
        for sub in exc.exceptions:
            out.extend(_flatten(sub, _join(path, _note_key(sub))))
        return out
    if isinstance(exc, KeyError):
        return [ConfigProblem(path, "required setting is missing")]
    if isinstance(exc, _Expected):
        return [ConfigProblem(path, str(exc))]
    if isinstance(exc, (TypeError, ValueError)):
        return [ConfigProblem(path, f"invalid value: {exc}")]
    return [ConfigProblem(path, f"{type(exc).__name__}: {exc}")]


def _note_key(exc: BaseException) -> str:
    for note in reversed(getattr(exc, "__notes__", [])):
        name = getattr(note, "name", None)
        if name is not None:
            return str(name)
        index = getattr(note, "index", None)
        if index is not None:
            return str(index)
    return ""


def _join(path: str, key: str) -> str:
    if not key:
        return path
    if key.isdigit():
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def structure_plugin_config(cls: type, settings: Mapping[str, Any], path: str) -> Any:
    """Structure a plugin's settings into its config class, raising ConfigError."""
    try:
        return config_converter.structure(dict(settings), cls)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a ConfigProblem
        raise ConfigError(_flatten(exc, path)) from None


# -- environment interpolation --------------------------------------------------------
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def _interpolate(node: Any, path: str, problems: list[ConfigProblem]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, _join(path, str(k)), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, _join(path, str(i)), problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None:
            if default is not None:
                return default
            problems.append(ConfigProblem(path, f"environment variable {name} is not set"))
            return ""
        return value

    whole = _ENV.fullmatch(node)
    result = _ENV.sub(sub, node)
    if whole is not None and result != node:
        # A value that is exactly ${VAR} takes the YAML type of what it expands to
        # (so ${PORT} can be an integer), except that it never becomes a mapping or list.
        try:
            typed = yaml.safe_load(result)
        except yaml.YAMLError:
            return result
        return typed if isinstance(typed, (int, float, bool, str)) else result
    return result


# -- loading ---------------------------------------------------------------------------
_TOP_LEVEL = {"connectors", "manager", "metrics", "plugins", "subscriptions"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


def load_config(
    path: str | os.PathLike[str],
    registry: PluginRegistry | None = None,
    *,
    validate_plugins: bool = True,
) -> Config:
    """Read and validate a YAML file; raise :class:`ConfigError` listing every problem."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem("", f"cannot read file: {exc.strerror}", file)]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [ConfigProblem("", f"malformed YAML: {where}{problem}", file)]
        ) from None
    return parse_config(data, registry=registry, source=file, validate_plugins=validate_plugins)


def parse_config(
    data: Any,
    registry: PluginRegistry | None = None,
    *,
    source: str | None = None,
    validate_plugins: bool = True,
) -> Config:
    """Validate an already-parsed mapping (see :func:`load_config`).

    With ``validate_plugins`` the enabled plugins are loaded into ``registry`` (a new one
    if None) and each connector's settings are structured by its plugin's config class.
    """
    problems: list[ConfigProblem] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem("", f"expected a mapping at the top, got {_show(data)}",
                                         source)])
    data = _interpolate(data, "", problems)
    for key in sorted(set(data) - _TOP_LEVEL):
        problems.append(ConfigProblem(
            str(key), f"unknown top-level key (known: {', '.join(sorted(_TOP_LEVEL))})"))

    manager = _section(data, "manager", ManagerConfig, ManagerConfig(), problems)
    plugins = _section(data, "plugins", PluginsConfig, PluginsConfig(), problems)
    metrics = _section(data, "metrics", MetricsConfig, MetricsConfig(), problems)
    subscriptions = _section(
        data, "subscriptions", list[SubscriptionConfig], [], problems
    )

    connectors: dict[str, ConnectorConfig] = {}
    raw_connectors = data.get("connectors") or {}
    if not isinstance(raw_connectors, dict):
        problems.append(ConfigProblem("connectors", f"expected a mapping of connector names, "
                                                    f"got {_show(raw_connectors)}"))
        raw_connectors = {}
    for name, section in raw_connectors.items():
        if not isinstance(name, str):
            problems.append(ConfigProblem(
                f"connectors.{name}", f"a connector name must be a string, got {name!r} "
                "(YAML reads unquoted yes/no/on/off/true/false as booleans: quote the name)"))
            continue
        conn = _connector(name, section, problems)
        if conn is not None:
            connectors[conn.name] = conn

    for i, sub in enumerate(subscriptions):
        for cname in sub.connectors or ():
            if cname not in connectors:
                problems.append(ConfigProblem(f"subscriptions[{i}].connectors",
                                              f"no connector named {cname!r}"))

    if validate_plugins and not any(p.path.startswith("connectors") for p in problems):
        registry = registry if registry is not None else PluginRegistry()
        connectors = _validate_plugins(connectors, registry, plugins.strict, problems)

    if problems:
        raise ConfigError([attrs.evolve(p, file=source) for p in problems])
    return Config(connectors, manager, plugins, subscriptions, source, metrics)


def _section(data: Mapping[str, Any], key: str, tp: Any, default: Any,
             problems: list[ConfigProblem]) -> Any:
    if data.get(key) is None:
        return default
    try:
        return config_converter.structure(data[key], tp)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a ConfigProblem
        problems.extend(_flatten(exc, key))
        return default


def _connector(name: str, section: Any, problems: list[ConfigProblem]) -> ConnectorConfig | None:
    path = f"connectors.{name}"
    if not _NAME.match(name):
        problems.append(ConfigProblem(path, "a connector name starts with a letter and has only "
                                            "letters, digits, '_' and '-'"))
        return None
    if section is None:
        section = {}
    if not isinstance(section, dict):
        problems.append(ConfigProblem(path, f"expected a mapping, got {_show(section)}"))
        return None
    core = {k: section[k] for k in CORE_KEYS if k in section}
    settings = {k: v for k, v in section.items() if k not in CORE_KEYS}
    core.setdefault("plugin", name)
    try:
        fields = config_converter.structure(core, _CoreKeys)
    except Exception as exc:  # noqa: BLE001
        problems.extend(_flatten(exc, path))
        return None
    return ConnectorConfig(name, fields.plugin, fields.enabled, fields.primary, fields.data_only,
                           fields.priority, settings)


@attrs.frozen
class _CoreKeys:
    plugin: str
    enabled: bool = True
    primary: bool = False
    data_only: bool = False
    priority: int = 0


def _validate_plugins(
    connectors: dict[str, ConnectorConfig],
    registry: PluginRegistry,
    strict: bool,
    problems: list[ConfigProblem],
) -> dict[str, ConnectorConfig]:
    out: dict[str, ConnectorConfig] = {}
    for name, conn in connectors.items():
        if not conn.enabled:
            out[name] = conn
            continue
        path = f"connectors.{name}"
        try:
            registry.load([conn.plugin], strict=strict)
            loaded = registry.get(conn.plugin)
        except PluginNotInstalled as exc:
            problems.append(ConfigProblem(f"{path}.plugin", str(exc)))
            continue
        except PluginError as exc:
            problems.append(ConfigProblem(f"{path}.plugin", str(exc)))
            continue
        spec = loaded.spec
        if spec is None:
            problems.append(ConfigProblem(f"{path}.plugin",
                                          f"plugin {conn.plugin!r} does not provide connectors"))
            continue
        if spec.config_class is None:
            if conn.settings:
                keys = ", ".join(sorted(conn.settings))
                problems.append(ConfigProblem(path, f"plugin {conn.plugin!r} takes no settings; "
                                                    f"unknown keys: {keys}"))
                continue
            out[name] = conn
            continue
        try:
            cfg = structure_plugin_config(spec.config_class, conn.settings, path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        out[name] = attrs.evolve(conn, config=cfg)
    return out


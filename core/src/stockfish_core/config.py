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

``${VAR}`` (or ``${VAR:-default}``) anywhere in a value is replaced from the environment,
as a string, exactly as set (``0123`` stays ``0123``); the config class then reads it like
any string written for a setting of its type (``"7497"`` for an integer port, ``"a,b"`` for
a list). Fields typed :class:`Secret` never show their value in a repr, a log line or an
error. Every problem in a file is reported at once, as ``file: path.to.key: what was
expected``.

A plugin's config class may declare :class:`ConfigCompat`: earlier names of its keys
(accepted with a note) and environment variables that fill a key the YAML leaves out.
"""

from __future__ import annotations

import enum
import math
import os
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs
import cattrs
import yaml

from .connector import Subscription
from .data.settings import RecordingConfig
from .errors import ConfigError, ConfigProblem, PluginError, PluginNotInstalled
from .models import DataType
from .plugins import PluginRegistry
from .secret import Secret

__all__ = [
    "CORE_KEYS",
    "MAX_DEPTH",
    "MAX_VALUES",
    "Config",
    "ConfigCompat",
    "ConnectorConfig",
    "EnvValue",
    "FailoverStrategy",
    "KeyAlias",
    "ManagerConfig",
    "MetricsConfig",
    "PluginsConfig",
    "RiskConfig",
    "Secret",
    "SettingError",
    "SubscriptionConfig",
    "in_range",
    "load_config",
    "non_negative",
    "parse_config",
    "port_number",
    "positive",
    "read_yaml",
    "redact_settings",
    "structure_plugin_config",
]


class FailoverStrategy(str, enum.Enum):
    """How the manager picks the connector for a new order."""

    ROUND_ROBIN = "round_robin"
    PRIMARY_BACKUP = "primary_backup"
    BEST_AVAILABLE = "best_available"


class OffTickPrices(str, enum.Enum):
    """What the manager does with an order price that is not on its instrument's tick."""

    ALLOW = "allow"
    ROUND = "round"
    REJECT = "reject"


def _off_tick(value: Any) -> OffTickPrices:
    try:
        return OffTickPrices(value)
    except ValueError:
        allowed = ", ".join(m.value for m in OffTickPrices)
        raise SettingError("off_tick_prices", f"must be one of {allowed}, got {value!r}"
                           ) from None


class SettingError(ValueError):
    """A setting out of range, raised by a config class's validator; reported at ``key``.

    Config classes (the core's and the plugins') raise it, or use the validators below,
    so that ``stockfish config check`` names the exact key.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator: None or a number above zero."""
    if value is not None and not value > 0:
        raise SettingError(attribute.name, f"must be positive, got {value!r}")


def non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator: None or a number of zero or more."""
    if value is not None and not value >= 0:
        raise SettingError(attribute.name, f"must not be negative, got {value!r}")


def in_range(low: float, high: float) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """attrs validator: None or a number in ``low..high`` (both included)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not low <= value <= high:
            raise SettingError(attribute.name, f"must be between {low} and {high}, got {value!r}")

    return check


#: attrs validator of a TCP port (1..65535).
port_number = in_range(1, 65535)


def _journal_path(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    # The journal makes its missing directories; refuse what it could not make or open.
    if value is None or value == ":memory:":
        return
    if not value.strip() or "\0" in value:
        raise SettingError(attribute.name, "must be a file path, \":memory:\" or left out")
    try:
        _check_journal_path(attribute.name, Path(value).expanduser())
    except OSError as exc:
        raise SettingError(attribute.name, f"cannot use {value!r}: {exc.strerror}") from None
    except RuntimeError as exc:  # "~user" with no such user or home
        raise SettingError(attribute.name, f"cannot use {value!r}: {exc}") from None


def _check_journal_path(key: str, path: Path) -> None:
    if path.is_dir():
        raise SettingError(key, f"{str(path)!r} is a directory, not a journal file")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SettingError(key, f"cannot make the directory {str(path.parent)!r}: "
                                f"{str(ancestor)!r} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK) and not path.exists():
        raise SettingError(key, f"cannot make {str(path)!r}: the directory "
                                f"{str(ancestor)!r} is not writable")


@attrs.frozen
class RiskConfig:
    """Pre-trade checks; a None limit is not checked."""

    #: Largest quantity of one order.
    max_order_quantity: Decimal | None = attrs.field(default=None, validator=positive)
    #: Largest price x quantity of one order (at the market price for an order without one).
    max_order_notional: Decimal | None = attrs.field(default=None, validator=positive)
    #: Reject a priced order further than this percentage from the last traded/mid price.
    price_collar_pct: float | None = attrs.field(default=None, validator=positive)
    #: Orders per second per connector (token bucket).
    max_orders_per_second: float | None = attrs.field(default=None, validator=positive)
    #: Start with the kill switch engaged: every new order is refused until
    #: ``manager.release_kill_switch()``.
    kill_switch: bool = False


@attrs.frozen
class InstrumentSettings:
    """An instrument as the configuration describes it (``manager: instruments:``), for
    connectors whose venue does not describe it."""

    #: Smallest price increment (orders are checked against it: ``off_tick_prices``).
    tick_size: Decimal | None = attrs.field(default=None, validator=positive)
    #: Smallest quantity increment.
    lot_size: Decimal | None = attrs.field(default=None, validator=positive)
    #: Contract multiplier (1 for a share).
    multiplier: Decimal = attrs.field(default=Decimal(1), validator=positive)
    #: Currency prices are in.
    currency: str = ""
    #: The exchange it trades on.
    exchange: str = ""


@attrs.frozen
class ManagerConfig:
    """The ``manager:`` section: routing, supervision, the order journal and risk."""

    #: How a new order picks its connector: ``primary_backup`` (the primary, else the
    #: highest priority), ``round_robin``, or ``best_available`` (best health score).
    failover_strategy: FailoverStrategy = FailoverStrategy.PRIMARY_BACKUP
    #: Seconds between health checks; a silent connection is noticed within one interval.
    health_check_interval: float = attrs.field(default=1.0, validator=positive)
    #: Seconds without data after which a subscription is reported stale.
    staleness: float = attrs.field(default=5.0, validator=positive)
    #: Seconds before the first reconnect attempt after a connector is lost.
    reconnect_initial_delay: float = attrs.field(default=0.5, validator=positive)
    #: Longest wait between reconnect attempts, in seconds (the delay doubles up to it).
    reconnect_max_delay: float = attrs.field(default=30.0, validator=positive)
    #: Seconds to wait for a connect or an order acknowledgement.
    connect_timeout: float = attrs.field(default=10.0, validator=positive)
    #: Order journal (SQLite). None: the per-user default; ":memory:" keeps nothing.
    journal: str | None = attrs.field(default=None, validator=_journal_path)
    #: Bars kept per symbol and interval for ``manager.bars()``.
    bar_cache_size: int = attrs.field(default=500, validator=in_range(1, 10_000_000))
    #: Pre-trade risk checks, run before an order is journaled.
    risk: RiskConfig = RiskConfig()
    #: A bar subscription is stale after one bar interval plus this many seconds
    #: (None: ``staleness``). News and macro subscriptions are never stale by silence.
    bar_staleness_grace: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(positive))
    #: Liveness: a stale subscription is re-subscribed on its connector at once; still
    #: stale ``stale_resubscribe_wait`` seconds later it is served from another feed that
    #: has it; still stale ``stale_alert_wait`` seconds after that it is reported
    #: (a log line, ``stale_alerts`` in get_stats(), subscribers' ``on_stale``).
    stale_resubscribe_wait: float = attrs.field(default=3.0, validator=positive)
    #: Seconds a subscription stays stale after its failover before it is reported.
    stale_alert_wait: float = attrs.field(default=3.0, validator=non_negative)
    #: Sequence accounting of updates (per connector, stream and symbol): messages held
    #: back to restore their order, and for how long at most; a sequence number that
    #: falls back after this many seconds of silence starts a new stream (a restart).
    reorder_buffer: int = attrs.field(default=64, validator=non_negative)
    #: Seconds a message is held back waiting for a missing one before the gap is declared.
    reorder_wait: float = attrs.field(default=0.05, validator=non_negative)
    #: Seconds of silence after which a sequence number that falls back is a restart.
    sequence_restart_silence: float = attrs.field(default=0.5, validator=non_negative)
    #: Record every delivered update to Parquet (see stockfish_core.data).
    recording: RecordingConfig | None = None
    #: Folder of the history cache (``manager.history``); None: the per-user default.
    history_cache: str | None = None
    #: Final orders kept in memory: at most this many (the latest), each for at most
    #: ``keep_final_seconds`` after it became final. Older ones leave memory and are
    #: answered from the journal (get_order, get_order_status, late reports).
    keep_final_orders: int = attrs.field(default=1_000, validator=non_negative)
    #: Seconds a final order stays in memory after it became final (see keep_final_orders).
    keep_final_seconds: float = attrs.field(default=60.0, validator=non_negative)
    #: Seconds between checks of every connector's positions at its venue against those
    #: this manager's fills imply (also done on every connect); 0 checks on connect only.
    #: A difference is reported (log, ``position_differences``, ``on_reconciliation``).
    position_check_interval: float = attrs.field(default=60.0, validator=non_negative)
    #: A limit or stop price off its instrument's tick (``manager.instrument``): ``allow``
    #: it, ``round`` it (a buy limit and a sell stop down, a sell limit and a buy stop
    #: up: never a worse price) or ``reject`` the order, before it is journaled. Checked
    #: where the connector's instrument is known (asked before, or fetched after the
    #: first order of the symbol).
    off_tick_prices: OffTickPrices = attrs.field(default=OffTickPrices.ALLOW,
                                                 converter=_off_tick)
    #: Instruments by symbol (``tick_size``, ``lot_size``, ``multiplier``, ``currency``,
    #: ``exchange``), for ``manager.instrument`` and the tick check where the connector's
    #: venue does not describe the symbol; a venue that does is used instead.
    instruments: dict[str, InstrumentSettings] = attrs.field(factory=dict, hash=False)

    def __attrs_post_init__(self) -> None:
        if self.reconnect_max_delay < self.reconnect_initial_delay:
            raise SettingError("reconnect_max_delay", "must not be less than "
                               f"reconnect_initial_delay ({self.reconnect_initial_delay!r}), "
                               f"got {self.reconnect_max_delay!r}")


@attrs.frozen
class MetricsConfig:
    """An optional Prometheus endpoint exporting the manager's stats and health."""

    #: Serve ``/metrics`` for Prometheus.
    enabled: bool = False
    #: Address the metrics endpoint listens on.
    host: str = "127.0.0.1"
    #: TCP port of the metrics endpoint.
    port: int = attrs.field(default=9464, validator=port_number)


@attrs.frozen
class PluginsConfig:
    """The ``plugins:`` section."""

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
    """One entry of ``subscriptions:``: symbols and what to receive for them."""

    #: Symbols to subscribe, as the connectors name them.
    symbols: list[str]
    #: What to receive: price_tick (or price, ticker), orderbook_snapshot (orderbook,
    #: depth), ohlcv_bar (bar, bars), trade (trades), news, macro or custom.
    type: DataType = DataType.PRICE_TICK
    #: Order-book levels per side (order books only; None: the connector's default).
    depth: int | None = attrs.field(default=None, validator=positive)
    #: Bar interval such as ``1m`` or ``5s`` (bars only).
    interval: str | None = None
    #: Connectors to subscribe on; None: every connector that serves the data type.
    connectors: list[str] | None = None

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(s, self.type, self.depth, self.interval) for s in self.symbols]


@attrs.frozen
class ConnectorConfig:
    """One ``connectors:`` entry: the core's keys plus the plugin's validated config."""

    #: The connector's name: its key under ``connectors:``.
    name: str
    #: The plugin (entry-point name) that runs this connector; default: the connector name.
    plugin: str
    #: A disabled connector is neither loaded nor started.
    enabled: bool = True
    #: The connector that ``primary_backup`` sends orders to while it is healthy.
    primary: bool = False
    #: Market data only: never chosen for an order.
    data_only: bool = False
    #: Higher goes first: the order of backups, and of feeds for the same symbol.
    priority: int = 0
    #: The plugin's own settings as written (after ``${VAR}`` interpolation); once the
    #: plugin's config class has read them, every secret among them is a Secret.
    settings: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    #: The plugin's config object (an instance of its ``config_class``), once validated.
    config: Any = None


CORE_KEYS = ("plugin", "enabled", "primary", "data_only", "priority")


@attrs.frozen
class Config:
    """A whole configuration file, validated."""

    #: The venue connections, by connector name.
    connectors: dict[str, ConnectorConfig] = attrs.Factory(dict)
    #: Routing, supervision, the order journal and risk checks.
    manager: ManagerConfig = ManagerConfig()
    #: How plugins are loaded.
    plugins: PluginsConfig = PluginsConfig()
    #: Market data subscribed when the manager starts.
    subscriptions: list[SubscriptionConfig] = attrs.Factory(list)
    #: The file the configuration was read from (not a key of the file).
    source: str | None = None
    #: The Prometheus endpoint.
    metrics: MetricsConfig = MetricsConfig()
    #: What the file may keep but should change (earlier key names, values taken from
    #: the environment): shown by ``stockfish config check``, never a failure.
    notes: list[ConfigProblem] = attrs.Factory(list)

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


class EnvValue(str):
    """A string that came from the environment (``${VAR}``, or a plugin's environment
    fallback). It is never parsed as YAML; the config class reads it like a string
    written for a setting of its type: ``"7497"`` for an integer, ``"true"`` or ``"no"``
    for a boolean, ``"a, b"`` for a list."""

    variable: str

    def __new__(cls, value: str, variable: str = "") -> EnvValue:
        self = super().__new__(cls, value)
        self.variable = variable
        return self


_INT = re.compile(r"[+-]?[0-9]+")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _from_env(tp: type, value: EnvValue) -> Any:
    text = value.strip()
    if tp is int and _INT.fullmatch(text):
        return int(text)
    if tp is float:
        try:
            return float(text)
        except ValueError:
            pass
    if tp is bool and text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    raise _Expected(f"expected {_describe_type(tp)}, got {_show(str(value))}")


def _scalar(tp: type, accept: tuple[type, ...], convert: Any = None) -> Any:
    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, EnvValue):
            return str(value) if tp is str else (
                convert(_from_env(tp, value)) if convert else _from_env(tp, value))
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
    if isinstance(value, Secret):
        return value
    if isinstance(value, (dict, list)) or value is None:
        raise _Expected("expected a string (value not shown)")
    return Secret(str(value))


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, tuple)


def _list_factory(tp: Any) -> Any:
    (item,) = typing.get_args(tp)[:1] or (Any,)
    origin = typing.get_origin(tp)

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, EnvValue):  # VAR=a,b,c
            value = [EnvValue(part.strip(), value.variable)
                     for part in value.split(",") if part.strip()]
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
            try:
                return inner(value, tp)
            except (SettingError, cattrs.ClassValidationError) as exc:
                # attrs stops at the first failing validator: report every setting.
                found = [exc] if isinstance(exc, SettingError) else list(exc.exceptions)
                if not all(isinstance(e, SettingError) for e in found):
                    raise
                errors = _setting_errors(conv, value, tp)
                keys = {e.key for e in errors}
                errors.extend(e for e in found if isinstance(e, SettingError)
                              and e.key not in keys)
                if len(errors) <= len(found):
                    raise
                raise cattrs.ClassValidationError("invalid settings", errors, tp) from None

        return hook

    conv.register_structure_hook_factory(attrs.has, attrs_factory)
    return conv


def _setting_errors(conv: cattrs.Converter, value: Mapping[str, Any],
                    tp: type) -> list[SettingError]:
    errors: list[SettingError] = []
    for attribute in attrs.fields(tp):
        if attribute.validator is None or attribute.name not in value:
            continue
        try:
            attribute.validator(None, attribute, conv.structure(value[attribute.name],
                                                                attribute.type))
        except SettingError as exc:
            errors.append(exc)
        except Exception:  # noqa: BLE001 - only SettingErrors are collected here
            pass
    return errors


config_converter = _make_converter()


def _flatten(exc: BaseException, path: str) -> list[ConfigProblem]:
    """cattrs' exception groups to one problem per leaf, with dotted paths."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        fields = sorted(a.name for a in attrs.fields(exc.cl)) if attrs.has(exc.cl) else []
        hint = f" (known keys: {', '.join(fields)})" if fields else ""
        keys = sorted(exc.extra_fields, key=str)
        return [ConfigProblem(_join(path, _key_text(key)), f"unknown key{hint}")
                for key in keys]
    if isinstance(exc, cattrs.BaseValidationError):
        out: list[ConfigProblem] = []
        for sub in exc.exceptions:
            out.extend(_flatten(sub, _join(path, _note_key(sub))))
        return out
    if isinstance(exc, KeyError):
        return [ConfigProblem(path, "required setting is missing")]
    if isinstance(exc, SettingError):
        return [ConfigProblem(_join(path, exc.key), exc.message)]
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


def _key_text(key: Any) -> str:
    # A key YAML read as something else than a string (true:, 1:, null:), as Python
    # shows it.
    return key if isinstance(key, str) else _show(key)


def _join(path: str, key: str) -> str:
    if not key:
        return path
    if key.isdigit():
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@attrs.frozen
class KeyAlias:
    """An earlier name of a key: ``version: FIX44`` read as ``begin_string: FIX.4.4``.

    ``values`` translates the earlier spelling of values (others are passed on as
    written, for the config class to check).
    """

    #: The key's current name.
    key: str
    #: Earlier spellings of values and what they are now (``FIX44`` -> ``FIX.4.4``).
    values: Mapping[Any, Any] = attrs.field(factory=dict)


@attrs.frozen
class ConfigCompat:
    """What a plugin's config class accepts beyond its own fields, declared on the class
    as ``__stockfish_compat__ = ConfigCompat(...)``:

    - ``aliases``: earlier key names -> :class:`KeyAlias`; accepted with a note telling
      what to write instead (``stockfish config check`` shows it), never a failure.
    - ``env``: key -> environment variables (first set wins) that fill the key when the
      YAML leaves it out. A value written in the YAML always wins.
    """

    #: Earlier key names and the keys they are now.
    aliases: Mapping[str, KeyAlias] = attrs.field(factory=dict)
    #: Keys filled from environment variables when the YAML leaves them out.
    env: Mapping[str, Sequence[str]] = attrs.field(factory=dict)


def _compat(cls: type, settings: Mapping[str, Any], path: str,
            notes: list[ConfigProblem]) -> dict[str, Any]:
    compat = getattr(cls, "__stockfish_compat__", None)
    out = dict(settings)
    if not isinstance(compat, ConfigCompat):
        return out
    problems: list[ConfigProblem] = []
    for old, alias in compat.aliases.items():
        if old not in out:
            continue
        if alias.key in out:
            problems.append(ConfigProblem(_join(path, old), f"give {alias.key} or its earlier "
                                                            f"name {old}, not both"))
            continue
        value = out.pop(old)
        try:
            value = alias.values.get(value, value)
        except TypeError:  # an unhashable value: passed on for the class to refuse
            pass
        out[alias.key] = value
        shown = value if isinstance(value, (str, int, float, bool)) and not isinstance(
            value, Secret) else "..."
        notes.append(ConfigProblem(_join(path, old), f"deprecated name of {alias.key}; write "
                                                     f"{alias.key}: {shown}"))
    if problems:
        raise ConfigError(problems)
    for key, variables in compat.env.items():
        if key in out:
            continue
        for variable in variables:
            value = os.environ.get(variable)
            if value is not None and value.strip():  # set but empty: as if unset
                out[key] = EnvValue(value, variable)
                notes.append(ConfigProblem(_join(path, key),
                                           f"from the environment variable {variable}"))
                break
    return out


def structure_plugin_config(cls: type, settings: Mapping[str, Any], path: str,
                            notes: list[ConfigProblem] | None = None) -> Any:
    """Structure a plugin's settings into its config class, raising ConfigError.

    The class's :class:`ConfigCompat` applies first; its notes go to ``notes``.
    """
    settings = _compat(cls, settings, path, notes if notes is not None else [])
    try:
        return config_converter.structure(settings, cls)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a ConfigProblem
        problems = _flatten(exc, path)
        raise ConfigError([_name_variable(p, settings, path) for p in problems]) from None


def _name_variable(problem: ConfigProblem, settings: Mapping[str, Any],
                   path: str) -> ConfigProblem:
    key = problem.path[len(path) + 1:] if problem.path.startswith(path + ".") else ""
    value = settings.get(key)
    if isinstance(value, EnvValue) and value.variable and "(from the environment" not in \
            problem.message:
        return attrs.evolve(problem, message=f"{problem.message} (from the environment "
                                             f"variable {value.variable})")
    return problem


def redact_settings(settings: Mapping[str, Any], config: Any) -> dict[str, Any]:
    """``settings`` with every value that ``config`` holds as a :class:`Secret` (or a
    mapping or list of them, or inside a nested config) replaced by that Secret."""
    out = dict(settings)
    if config is None or not attrs.has(type(config)):
        return out
    for key, value in settings.items():
        held = getattr(config, key, None) if isinstance(key, str) else None
        if held is None:
            continue
        if isinstance(held, Secret) or _holds_secret(held):
            out[key] = held
        elif attrs.has(type(held)) and isinstance(value, Mapping):
            out[key] = redact_settings(value, held)
    return out


def _holds_secret(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(isinstance(v, Secret) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, Secret) or (attrs.has(type(v)) and _attrs_secret(v))
                   for v in value)
    return False


def _attrs_secret(value: Any) -> bool:
    return any(isinstance(getattr(value, a.name, None), Secret)
               for a in attrs.fields(type(value)))


# -- environment interpolation --------------------------------------------------------
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def _interpolate(node: Any, path: str, problems: list[ConfigProblem]) -> Any:
    # The YAML loader bounded the size and depth of ``node``, aliases expanded.
    if isinstance(node, dict):
        return {k: _interpolate(v, _join(path, _key_text(k)), problems)
                for k, v in node.items()}
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

    result = _ENV.sub(sub, node)
    if result == node:
        return node
    # Substituted as a string, exactly; never parsed again as YAML (0123 stays 0123).
    whole = _ENV.fullmatch(node)
    return EnvValue(result, whole.group(1) if whole is not None else "")


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
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigProblem("", f"cannot read file: {exc.strerror}", file)]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError([ConfigProblem(
            "", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} (offset "
                f"{exc.start}); save the file as UTF-8", file)]) from None
    try:
        data = read_yaml(text)
    except ConfigError as exc:
        raise ConfigError([attrs.evolve(p, file=file) for p in exc.problems]) from None
    return parse_config(data, registry=registry, source=file, validate_plugins=validate_plugins)


#: Deepest nesting of mappings and lists accepted, aliases expanded.
MAX_DEPTH = 64
#: Most values (scalars, mappings, lists) a file may hold, aliases expanded.
MAX_VALUES = 100_000


def read_yaml(text: str) -> Any:
    """Parse YAML text safely; raise :class:`ConfigError` for anything malformed.

    Beyond ``yaml.safe_load``: nesting deeper than :data:`MAX_DEPTH`, aliases that refer
    to themselves, and aliases that would expand to more than :data:`MAX_VALUES` values
    (an "alias bomb") are refused before anything is built or expanded.
    """
    try:
        _check_nesting(text)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expansion(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem("", f"malformed YAML: {where}{problem}")]) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a date 2024-13-45
        raise ConfigError([ConfigProblem("", f"malformed YAML: {exc}")]) from None


class _YamlLimit(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


def _flow_depth(text: str) -> tuple[int, int]:
    """The deepest nesting of [ and { outside quotes and comments, and where it passes
    MAX_DEPTH (a cheap pre-check: PyYAML's scanner takes quadratic time over deep flow
    collections before it emits a first event)."""
    depth = 0
    quote = ""
    comment = False
    previous = "\n"
    for index, char in enumerate(text):
        if comment:
            comment = char != "\n"
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and previous in " \t\n[{,:":
            quote = char
        elif char == "#" and previous in " \t\n":
            comment = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return depth, index
        elif char in "]}":
            depth = max(0, depth - 1)
        previous = char
    return depth, -1


def _check_nesting(text: str) -> None:
    # The event parser is not recursive: a deep document is refused before the composer
    # (which is) sees it.
    _, where = _flow_depth(text)
    if where >= 0:
        line = text.count("\n", 0, where)
        column = where - (text.rfind("\n", 0, where) + 1)
        raise _YamlLimit(f"mappings and lists nested more than {MAX_DEPTH} deep",
                         yaml.Mark("", where, line, column, "", 0))
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _YamlLimit(f"mappings and lists nested more than {MAX_DEPTH} deep",
                                 event.start_mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Size and depth of the node graph with every alias expanded, computed without
    expanding it (each shared node is measured once); cycles are refused."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            entered.discard(key)
            if size[key] > MAX_VALUES:
                raise _YamlLimit(f"aliases expand to more than {MAX_VALUES} values",
                                 node.start_mark)
            if depth[key] > MAX_DEPTH + 1:
                raise _YamlLimit(f"mappings and lists nested more than {MAX_DEPTH} deep "
                                 "once aliases are expanded", node.start_mark)
            continue
        if key in size:
            continue
        if key in entered:
            raise _YamlLimit("a recursive alias (an anchor used inside itself)",
                             node.start_mark)
        entered.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in entered:
                raise _YamlLimit("a recursive alias (an anchor used inside itself)",
                                 child.start_mark)
            if id(child) not in size:
                stack.append((child, False))


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
    for key in sorted(set(data) - _TOP_LEVEL, key=str):
        problems.append(ConfigProblem(
            _key_text(key), f"unknown top-level key (known: {', '.join(sorted(_TOP_LEVEL))})"))

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
                f"connectors.{_key_text(name)}", f"a connector name must be a string, got "
                f"{name!r} "
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

    notes: list[ConfigProblem] = []
    if validate_plugins and not any(p.path.startswith("connectors") for p in problems):
        registry = registry if registry is not None else PluginRegistry()
        connectors = _validate_plugins(connectors, registry, plugins.strict, problems, notes)

    if problems:
        raise ConfigError([attrs.evolve(p, file=source) for p in problems])
    return Config(connectors, manager, plugins, subscriptions, source, metrics,
                  [attrs.evolve(n, file=source) for n in notes])


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
    notes: list[ConfigProblem],
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
            cfg = structure_plugin_config(spec.config_class, conn.settings, path, notes)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        # Secrets stay only in Secret objects once the config class has read them.
        out[name] = attrs.evolve(conn, config=cfg,
                                 settings=redact_settings(conn.settings, cfg))
    return out


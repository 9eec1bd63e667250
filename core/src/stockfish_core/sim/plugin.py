"""The built-in ``sim`` plugin: a simulated venue with a random-walk market and a matching
engine, registered through the same hooks (and the same entry-point group) as any plugin.

It is what tests, the demo and the zero-configuration default run on::

    connectors:
      sim:
        primary: true
        seed: 7
        tick_interval: 0.01
        start_prices: {SPY: 450.0, QQQ: 380.0}
        max_fill_qty: 100

Any symbol can be subscribed or traded; symbols without a start price start at
``default_price``. Each connector has its own :class:`~.venue.SimVenue` in
``connector.state`` (its switches for tests are documented there), so a primary and a
backup ``sim`` connector are independent venues.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from ..__about__ import API_VERSION
from ..accounts import AccountValues, Instrument, VenuePosition
from ..connector import Capabilities, Connector, PluginSpec, Subscription
from ..data.settings import HistoryRequest
from ..models import DataType, MarketUpdate, OHLCVBar, OrderBookSnapshot, PriceTick, Trade, now_ns
from ..orders import Fill, OrderRequest, OrderType, TimeInForce
from ..plugins import hookimpl
from .history import sim_bars, sim_trades
from .venue import SUPPORTED_DATA, SimVenue

__all__ = ["CAPABILITIES", "SimConfig", "venue_of"]


def _positive(_: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _not_negative(_: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _prices(_: Any, attribute: attrs.Attribute, value: dict[str, float]) -> None:  # type: ignore[type-arg]
    for symbol, price in value.items():
        if price <= 0:
            raise ValueError(f"{attribute.name}.{symbol} must be positive, got {price}")


@attrs.frozen
class SimConfig:
    """Settings of a ``sim`` connector (all optional)."""

    #: Seed of the market's random walk: the same seed gives the same prices.
    seed: int = 0
    #: Seconds between market steps (quote updates).
    tick_interval: float = attrs.field(default=0.01, validator=_positive)
    #: First mid price per symbol; other symbols start at ``default_price``.
    start_prices: dict[str, float] = attrs.field(factory=dict, validator=_prices)
    #: First mid price of a symbol not in ``start_prices``.
    default_price: float = attrs.field(default=100.0, validator=_positive)
    #: Price increment of every symbol.
    tick_size: Decimal = attrs.field(default=Decimal("0.01"), validator=_positive)
    #: Standard deviation of one step's price move, in ticks.
    volatility: float = attrs.field(default=1.0, validator=_not_negative)
    #: Chance that a step prints a trade.
    trade_probability: float = attrs.field(
        default=0.3, validator=attrs.validators.and_(_not_negative, attrs.validators.le(1.0))
    )
    #: Order book levels per side when a subscription gives no depth.
    depth: int = attrs.field(default=10, validator=_positive)
    #: Commission charged per unit filled.
    commission_per_unit: Decimal = attrs.field(default=Decimal(0), validator=_not_negative)
    #: Price moved against a marketable order's fill, in basis points.
    slippage_bps: Decimal = attrs.field(
        default=Decimal(0),
        validator=attrs.validators.and_(_not_negative, attrs.validators.lt(Decimal(10_000))),
    )
    #: Largest single fill; larger orders fill in parts over successive quotes.
    max_fill_qty: Decimal | None = attrs.field(default=None, validator=_positive)
    #: Simulated delay, in seconds, before order reports arrive.
    latency: float = attrs.field(default=0.0, validator=_not_negative)
    #: Prefix of venue order ids and execution ids; default: the connector name plus a
    #: token of the start time, so ids never repeat across connectors or runs.
    id_prefix: str | None = None
    #: Cash balance of the simulated account at start.
    cash: Decimal = attrs.field(default=Decimal(1_000_000), validator=_not_negative)
    #: Positions the simulated account holds at start, by symbol (negative: short),
    #: bought at the symbol's start price.
    positions: dict[str, Decimal] = attrs.field(factory=dict)
    #: Initial margin as a fraction of a position's market value.
    margin_rate: Decimal = attrs.field(
        default=Decimal("0.25"),
        validator=attrs.validators.and_(_not_negative, attrs.validators.le(Decimal(1))),
    )


# mypy's attrs plugin types a ``converter=frozenset`` argument as an unsolved
# ``Iterable[_T_co]``, which no concrete set matches; the value is right at runtime.
CAPABILITIES = Capabilities(
    data_types=SUPPORTED_DATA,  # type: ignore[arg-type]
    order_types=frozenset(OrderType),
    time_in_force=frozenset(TimeInForce),
    replace=True,
)

_DATA_TYPES: dict[type, DataType] = {
    PriceTick: DataType.PRICE_TICK,
    OrderBookSnapshot: DataType.ORDERBOOK_SNAPSHOT,
    Trade: DataType.TRADE,
    OHLCVBar: DataType.OHLCV_BAR,
}


def venue_of(connector: Connector) -> SimVenue:
    """The connector's :class:`SimVenue`, created on first use (it survives reconnects)."""
    venue = connector.state
    if not isinstance(venue, SimVenue):
        config = connector.config if isinstance(connector.config, SimConfig) else SimConfig()
        venue = connector.state = SimVenue(connector, config)
    return venue


@hookimpl
def stockfish_plugin_spec() -> PluginSpec:
    return PluginSpec(
        api_version=API_VERSION,
        config_class=SimConfig,
        capabilities=CAPABILITIES,
        description="Built-in simulated venue: random-walk market data and a matching engine.",
    )


@hookimpl
async def stockfish_connect(connector: Connector) -> None:
    await venue_of(connector).connect()


@hookimpl
async def stockfish_disconnect(connector: Connector) -> None:
    venue = connector.state
    if isinstance(venue, SimVenue):
        await venue.disconnect()


@hookimpl
def stockfish_subscribe(connector: Connector, subscription: Subscription) -> None:
    venue_of(connector).subscribe(subscription)


@hookimpl
def stockfish_unsubscribe(connector: Connector, subscription: Subscription) -> None:
    venue_of(connector).unsubscribe(subscription)


@hookimpl
def stockfish_normalize(connector: Connector, messages: list[Any]) -> list[MarketUpdate]:
    """The sim feeds the market-data models themselves; wrap and number them per symbol."""
    venue = venue_of(connector)
    source = connector.name
    recv = now_ns()
    types = _DATA_TYPES
    seqs = venue.sequences
    out: list[MarketUpdate] = []
    for message in messages:
        data_type = types.get(type(message))
        if data_type is None:
            connector.report_error(
                f"sim: cannot normalize a {type(message).__name__}", data=True
            )
            continue
        symbol = message.symbol
        seq = seqs.get(symbol, 0) + 1
        seqs[symbol] = seq
        out.append(MarketUpdate(data_type, message, source, seq, message.timestamp_ns, recv))
    return out


@hookimpl
def stockfish_execute(connector: Connector, request: OrderRequest) -> None:
    venue_of(connector).execute(request)


@hookimpl
def stockfish_account(connector: Connector) -> AccountValues:
    """The simulated account: cash, margin and equity at the current quotes."""
    return venue_of(connector).account()


@hookimpl
def stockfish_positions(connector: Connector) -> list[VenuePosition]:
    """The simulated account's positions (reports not yet delivered are delivered first)."""
    return venue_of(connector).venue_positions()


@hookimpl
def stockfish_executions(connector: Connector, since_ns: int) -> list[Fill]:
    """Every execution of the simulated account since ``since_ns``."""
    return venue_of(connector).executions(since_ns)


@hookimpl
def stockfish_instrument(connector: Connector, symbol: str) -> Instrument:
    """Every symbol trades on the sim's one price grid (``tick_size``), in whole units."""
    config = connector.config if isinstance(connector.config, SimConfig) else SimConfig()
    return Instrument(symbol, config.tick_size, Decimal(1), Decimal(1), "USD", "SIM")


@hookimpl
def stockfish_history(connector: Connector, request: HistoryRequest) -> list[Any]:
    """Seeded synthetic bars (or one trade a second for ``what="ticks"``)."""
    config = connector.config if isinstance(connector.config, SimConfig) else SimConfig()
    start = config.start_prices.get(request.symbol, config.default_price)
    if request.what == "ticks":
        return list(sim_trades(config.seed, request.symbol, request.start_ns, request.end_ns,
                               start, config.tick_size))
    return list(sim_bars(config.seed, request.symbol, request.start_ns, request.end_ns,
                         request.interval, start, config.tick_size))

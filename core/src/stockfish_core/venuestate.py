"""Venue truth inside the manager: account values, positions as the venue holds them,
reconciliation with the positions this manager's fills imply, and executions missed
while a venue was away.

Who owns what: a plugin reports facts (``stockfish_account``, ``stockfish_positions``,
``stockfish_executions``); this module compares and reports, and never changes the
journal to make a difference go away.

*Expected* quantity of a (connector, symbol): at start, the sum of the journal's fills of
that connector plus the differences already reported and accepted (kept in the journal's
meta table, so a restart does not report them again); every fill applied since adds to
it. On every connect and every ``position_check_interval`` seconds the venue's positions
are compared with it. A difference is reported once, with both values: a WARNING log line
(rate-limited), ``position_differences`` in ``get_stats()`` (and the metric of that
name), the subscribers' ``on_reconciliation(report)``; from then on the venue's quantity
is expected (the difference is accepted, not reported again every interval).

The manager's positions view of a connector whose venue reports positions is the venue's
last answer plus the fills applied since; of one that does not, the positions its fills
in the journal imply.

After every connect the venue's executions since the last check (a margin of
``EXECUTION_MARGIN_NS`` before it, for clocks that differ) are fetched before positions
are compared: those of this manager's orders are applied like any fill report, once by
execution id (the core's de-duplication); those of orders placed elsewhere are counted
(``external_executions``) and show in the positions check.
"""

from __future__ import annotations

import collections
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

import attrs

from .accounts import AccountValues, Instrument, ReconciliationReport, VenuePosition
from .errors import VenueUnavailable
from .models import now_ns
from .orders import Fill, Order, OrderStatus, OrderUpdate, Position
from .stats import RateLimitedLog

if TYPE_CHECKING:
    from .config import InstrumentSettings
    from .journal import Journal
    from .oms import OrderStore
    from .venues import VenueState

__all__ = ["EXECUTION_MARGIN_NS", "VenueBook"]

log = logging.getLogger("stockfish.venue")

#: Executions are asked for from this long before the last check (clock differences
#: between venue and host); those already applied are recognised by execution id.
EXECUTION_MARGIN_NS = 300 * 1_000_000_000

_OFFSETS = "venue_offsets:"
_CHECKED = "executions_checked:"


class VenueBook:
    """Venue state of every connector of one manager (see the module docs)."""

    def __init__(self, journal: Journal | None, orders: OrderStore) -> None:
        self.journal = journal
        self.orders = orders
        #: connector -> symbol -> the quantity this manager expects the venue to hold.
        self._expected: dict[str, dict[str, Decimal]] = {}
        #: connector -> symbol -> the positions the journal's fills imply.
        self._implied: dict[str, dict[str, Position]] = {}
        #: connector -> the venue's last positions plus the fills applied since.
        self._views: dict[str, dict[str, Position]] = {}
        #: connector -> symbol -> accepted difference (venue minus the journal's fills).
        self._offsets: dict[str, dict[str, Decimal]] = {}
        #: connector -> fills applied (to tell whether one arrived during a request).
        self._fills: collections.Counter[str] = collections.Counter()
        #: connector -> the latest account values it reported.
        self.accounts: dict[str, AccountValues] = {}
        #: The latest reconciliation reports, newest last.
        self.reports: collections.deque[ReconciliationReport] = collections.deque(maxlen=100)
        self.handlers: list[Callable[[ReconciliationReport], Any]] = []
        self._log = RateLimitedLog(log, interval=1.0, burst=10)
        #: (connector, symbol) -> what the venue said about the instrument.
        self.instruments: dict[tuple[str, str], Instrument] = {}
        #: Instruments from the configuration (ManagerConfig ``instruments``), by symbol:
        #: used where no venue describes the symbol.
        self.configured: Mapping[str, InstrumentSettings] = {}
        self._loaded = False

    # -- start -----------------------------------------------------------------------
    def load(self, connectors: Iterable[str]) -> None:
        """Expected positions from the journal's fills and accepted differences (once)."""
        if self._loaded:
            return
        self._loaded = True
        names = list(connectors)
        fills = self.journal.fills() if self.journal is not None and names else []
        for name in names:
            self._load(name, [f for f in fills if f.connector == name])

    def _load(self, name: str, fills: list[Fill]) -> None:
        expected: dict[str, Decimal] = {}
        implied: dict[str, Position] = {}
        offsets: dict[str, Decimal] = {}
        self._expected[name], self._implied[name], self._offsets[name] = \
            expected, implied, offsets
        for fill in fills:
            self._add(implied, expected, fill)
        raw = self.journal.get_meta(_OFFSETS + name) if self.journal is not None else None
        if raw:
            offsets.update({s: Decimal(q) for s, q in json.loads(raw).items()})
        for symbol, qty in offsets.items():
            expected[symbol] = expected.get(symbol, Decimal(0)) + qty

    def _ensure(self, connector: str) -> None:
        """A connector added after start: its journal fills and offsets, once."""
        if connector not in self._expected:
            fills = [] if self.journal is None or not self._loaded else \
                [f for f in self.journal.fills() if f.connector == connector]
            self._load(connector, fills)

    @staticmethod
    def _add(positions: dict[str, Position], expected: dict[str, Decimal], fill: Fill) -> None:
        position = positions.get(fill.symbol)
        if position is None:
            position = positions[fill.symbol] = Position(fill.symbol)
        position.apply(fill)
        expected[fill.symbol] = expected.get(fill.symbol, Decimal(0)) + \
            fill.quantity * fill.side.sign

    # -- fills -----------------------------------------------------------------------
    def on_fill(self, connector: str, fill: Fill) -> None:
        """A fill the manager applied (called for every one, on the manager loop)."""
        self._ensure(connector)
        self._fills[connector] += 1
        self._add(self._implied[connector], self._expected[connector], fill)
        view = self._views.get(connector)
        if view is not None:
            position = view.get(fill.symbol)
            if position is None:
                position = view[fill.symbol] = Position(fill.symbol)
            position.apply(fill)

    # -- views -----------------------------------------------------------------------
    def reports_positions(self, connector: str) -> bool:
        """Whether the venue has answered a positions request."""
        return connector in self._views

    def positions(self, connector: str) -> dict[str, Position]:
        """The connector's positions: the venue's view where it reports one, else the
        journal's (copies)."""
        self._ensure(connector)
        source = self._views.get(connector, self._implied[connector])
        return {s: _copy(p) for s, p in source.items()}

    # -- requests --------------------------------------------------------------------
    async def account(self, venue: VenueState) -> AccountValues:
        name = venue.name
        if not venue.connector.is_connected:
            raise VenueUnavailable(f"connector {name} is not connected")
        values = await venue.hooks.account()
        if values is None:
            raise NotImplementedError(f"connector {name} ({venue.connector.plugin}) does not "
                                      "report account values")
        if not isinstance(values, AccountValues):
            raise TypeError(f"{venue.connector.plugin}: stockfish_account returned "
                            f"{type(values).__name__}, not AccountValues")
        self.accounts[name] = values
        return values

    async def instrument(self, venues: list[VenueState], symbol: str) -> Instrument:
        """The instrument from the first of ``venues`` that describes it (cached)."""
        for venue in venues:
            cached = self.instruments.get((venue.name, symbol))
            if cached is not None:
                return cached
        unknown: list[str] = []
        for venue in venues:
            try:
                found = await venue.hooks.instrument(symbol)
            except ValueError as exc:
                unknown.append(f"{venue.name}: {exc}")
                continue
            if found is None:
                continue
            if not isinstance(found, Instrument):
                raise TypeError(f"{venue.connector.plugin}: stockfish_instrument returned "
                                f"{type(found).__name__}, not Instrument")
            found = self._completed(found)
            self.instruments[(venue.name, symbol)] = found
            return found
        settings = self.configured.get(symbol)
        if settings is not None and venues:
            found = Instrument(symbol, tick_size=settings.tick_size,
                               lot_size=settings.lot_size, multiplier=settings.multiplier,
                               currency=settings.currency, exchange=settings.exchange)
            for venue in venues:
                self.instruments[(venue.name, symbol)] = found
            return found
        names = ", ".join(v.name for v in venues) or "none"
        raise LookupError(f"no connector describes {symbol!r} (asked: {names})"
                          + (f"; {'; '.join(unknown)}" if unknown else ""))

    def _completed(self, found: Instrument) -> Instrument:
        """The venue's instrument with what it left out (tick size, lot size, currency,
        exchange) taken from the configuration's, where that says it."""
        settings = self.configured.get(found.symbol)
        if settings is None:
            return found
        missing = {name: getattr(settings, name)
                   for name in ("tick_size", "lot_size", "currency", "exchange")
                   if not getattr(found, name) and getattr(settings, name)}
        return attrs.evolve(found, **missing) if missing else found

    def tick_check(self, order: Order, connector: str, policy: str,
                   warm: Callable[[], object]) -> str | None:
        """Apply ``policy`` (``round`` or ``reject``) to the order's prices against the
        connector's known instrument: rounds them in place, or returns why the order is
        refused. An unknown instrument is fetched (``warm``) for the next order."""
        if policy == "allow":
            return None
        instrument = self.instruments.get((connector, order.symbol))
        if instrument is None:
            warm()
            return None
        tick = instrument.tick_size
        if tick is None:
            return None
        buy = order.side.sign > 0
        for name, up in (("price", not buy), ("stop_price", buy)):
            value = getattr(order, name)
            if value is None or value % tick == 0:
                continue
            if policy == "reject":
                return (f"{name} {value} is not a multiple of {order.symbol}'s tick "
                        f"{tick} on {connector}")
            steps = (value / tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR)
            rounded = steps * tick
            if rounded <= 0:
                return f"{name} {value} rounds to {rounded} on the tick {tick}"
            log.info("order %s: %s %s rounded to %s (tick %s on %s)",
                     order.client_order_id, name, value, rounded, tick, connector)
            setattr(order, name, rounded)
        return None

    async def warm(self, venue: VenueState, symbol: str) -> None:
        """Fetch an instrument for later checks (failures only logged)."""
        if (venue.name, symbol) in self.instruments:
            return
        try:
            await self.instrument([venue], symbol)
        except Exception as exc:  # noqa: BLE001 - the order went unchecked; logged
            log.debug("%s: instrument %s not fetched: %s", venue.name, symbol, exc)

    async def catch_up(self, venue: VenueState,
                       apply: Callable[[OrderUpdate], None]) -> int | None:
        """Fetch the venue's executions since the last check and apply those of our
        orders (``apply`` is the manager's report path). Returns how many were new
        fills, None if the venue offers no executions."""
        name = venue.name
        since = 0
        if self.journal is not None:
            raw = self.journal.get_meta(_CHECKED + name)
            since = max(0, int(raw) - EXECUTION_MARGIN_NS) if raw else 0
        asked = now_ns()
        executions = await venue.hooks.executions(since)
        if executions is None:
            return None
        before = self._fills[name]
        external = 0
        for fill in executions:
            cid = fill.client_order_id
            order = self.orders.lookup(cid) if cid else None
            if order is None or order.connector not in (None, name):
                external += 1
                continue
            if self.orders.has_fill(name, fill.execution_id):
                continue  # known already (the reconciliation's STATUS answer carried it)
            if fill.connector is None:
                fill = _with(fill, name)
            apply(OrderUpdate(cid, OrderStatus.PARTIALLY_FILLED, fill.venue_order_id,
                              fill=fill, possible_duplicate=True, connector=name))
        if external:
            venue.stats.external_executions += external
            self._log.log(logging.WARNING, f"external {name}",
                          "%s: %d execution(s) of orders not placed through this manager "
                          "(they show in the positions check)", name, external)
        if self.journal is not None:
            self.journal.set_meta(_CHECKED + name, str(asked))
        return self._fills[name] - before

    async def check(self, venue: VenueState) -> list[ReconciliationReport] | None:
        """Compare the venue's positions with the expected ones; report and accept every
        difference. None if the venue does not report positions, or fills arrived while
        it answered three times running (a fill the answer may or may not hold; the next
        check compares again)."""
        name = venue.name
        self._ensure(name)
        for _attempt in range(3):
            before = self._fills[name]
            rows = await venue.hooks.positions()
            if rows is None:
                return None
            if self._fills[name] == before:
                break
        else:
            log.info("%s: fills kept arriving while the venue reported positions; compared "
                     "at the next check", name)
            return None
        venue_qty: dict[str, Decimal] = {}
        view: dict[str, Position] = {}
        for row in rows:
            if not isinstance(row, VenuePosition):
                raise TypeError(f"{venue.connector.plugin}: stockfish_positions returned a "
                                f"{type(row).__name__}, not VenuePosition")
            venue_qty[row.symbol] = venue_qty.get(row.symbol, Decimal(0)) + row.quantity
            if row.quantity:
                held = view.get(row.symbol)
                if held is None:
                    view[row.symbol] = Position(row.symbol, row.quantity, row.avg_cost or
                                                Decimal(0))
                else:
                    held.quantity += row.quantity
        venue.stats.position_checks += 1
        expected = self._expected[name]
        reports = []
        for symbol in sorted(set(expected) | set(venue_qty)):
            want = expected.get(symbol, Decimal(0))
            have = venue_qty.get(symbol, Decimal(0))
            if want == have:
                continue
            report = ReconciliationReport(name, symbol, want, have)
            reports.append(report)
            expected[symbol] = have
            offsets = self._offsets[name]
            offsets[symbol] = offsets.get(symbol, Decimal(0)) + (have - want)
        self._views[name] = view
        if reports:
            if self.journal is not None:
                self.journal.set_meta(_OFFSETS + name, json.dumps(
                    {s: str(q) for s, q in self._offsets[name].items() if q}))
            for report in reports:
                venue.stats.position_differences += 1
                self.reports.append(report)
                self._log.log(logging.WARNING, f"difference {name}",
                              "position difference: %s; the venue's quantity is followed "
                              "from now on", report)
        return reports


def _copy(position: Position) -> Position:
    return Position(position.symbol, position.quantity, position.avg_price,
                    position.realized_pnl, position.commission)


def _with(fill: Fill, connector: str) -> Fill:
    import attrs

    return attrs.evolve(fill, connector=connector)


def merge(positions: Iterable[dict[str, Position]]) -> dict[str, Position]:
    """Positions of several connectors, summed by symbol (average price weighted over
    the holdings on the side of the total)."""
    out: dict[str, Position] = {}
    parts: dict[str, list[Position]] = {}
    for source in positions:
        for symbol, position in source.items():
            parts.setdefault(symbol, []).append(position)
    for symbol, held in parts.items():
        if len(held) == 1:
            out[symbol] = held[0]
            continue
        total = sum((p.quantity for p in held), Decimal(0))
        same = [p for p in held if p.quantity and (p.quantity > 0) == (total > 0)]
        size = sum((abs(p.quantity) for p in same), Decimal(0))
        avg = (sum((abs(p.quantity) * p.avg_price for p in same), Decimal(0)) / size
               if size else Decimal(0))
        out[symbol] = Position(symbol, total, avg,
                               sum((p.realized_pnl for p in held), Decimal(0)),
                               sum((p.commission for p in held), Decimal(0)))
    return out

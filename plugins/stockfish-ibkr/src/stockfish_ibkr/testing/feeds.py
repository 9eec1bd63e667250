"""Market-data requests of a simulated gateway session: quotes, depth and bars.

A mixin of :class:`~stockfish_ibkr.testing.session.Session`: quotes and depth follow the
broker's market steps, historical bars come from :mod:`.history` within IB's historical
pacing rules, real-time bars are cut every ``realtime_bar_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs

from stockfish_core.sim.market import MarketSimulator, MarketStep

from . import outgoing as out
from .history import (
    HistoricalPacing,
    HistoryError,
    RunningBar,
    bar_seconds,
    format_bar_time,
    make_bars,
)
from .instruments import Instrument
from .wire import FieldReader, WireContract, encode

if TYPE_CHECKING:
    from .broker import SimBroker
    from .gateway import GatewaySimulator

__all__ = [
    "BURST_END_SIZE",
    "STREAM_REQUEST",
    "BarSub",
    "DepthSub",
    "MarketDataRequests",
    "MktSub",
    "TickStream",
    "stream_request",
]

#: The last size of the trade that ends a burst or a stream (see
#: ``GatewaySimulator.burst`` and ``GatewaySimulator.stream``).
BURST_END_SIZE = 999_999.0

#: The message id of the benchmarks' stream request (no TWS message has it).
STREAM_REQUEST = 9000
#: Distinct quotes a stream cycles through per subscription (bid, ask, last of 200 mids).
_STREAM_CYCLE = 200


def stream_request(credit: int, ticks: int = 0) -> bytes:
    """The framed stream request a client writes to a gateway with ``stream`` on:
    ``ticks`` > 0 starts a stream of that many ticks over the client's market-data
    subscriptions, ``credit`` lets that many more ticks go out (each tick the client has
    handled gives one back). Clients write it raw (``ib.client.conn.sendMsg``)."""
    return encode([STREAM_REQUEST, credit, ticks])

NOT_FOUND = "No security definition has been found for the request"
NOT_SUBSCRIBED = ("Requested market data is not subscribed. Check API status by selecting the "
                  "Account menu then under Management choose Market Data Subscription Manager "
                  "and/or Manage Market Data.")
DELAYED = "Requested market data is not subscribed. Displaying delayed market data."
# Tick types: live and delayed (bid, ask, last, bid size, ask size, last size, volume,
# last timestamp).
_LIVE = (1, 2, 4, 0, 3, 5, 8, 45)
_DELAYED = (66, 67, 68, 69, 70, 71, 74, 88)


@attrs.define(slots=True, eq=False)
class MktSub:
    req_id: int
    inst: Instrument
    delayed: bool
    rt_volume: bool
    last_quote: tuple[float | None, ...] = ()
    #: Stream mode: the encoded ticks this subscription cycles through, then its end.
    stream_ticks: list[bytes] = attrs.Factory(list)
    stream_end: bytes = b""


@attrs.define(slots=True, eq=False)
class TickStream:
    """One client's stream: ``total`` ticks, round robin over its subscriptions, each
    written on its own once the client has given credit for it."""

    subs: list[MktSub]
    total: int
    sent: int = 0
    credit: int = 0


@attrs.define(slots=True, eq=False)
class DepthSub:
    req_id: int
    inst: Instrument
    rows: int
    smart: bool
    bids: list[tuple[float, float]] = attrs.Factory(list)
    asks: list[tuple[float, float]] = attrs.Factory(list)


@attrs.define(slots=True, eq=False)
class BarSub:
    req_id: int
    inst: Instrument
    bar: RunningBar
    format_date: int = 2
    realtime: bool = False


class MarketDataRequests:
    """The market-data half of a session (needs ``gateway``, ``broker`` and ``error``)."""

    gateway: GatewaySimulator
    broker: SimBroker
    transport: asyncio.Transport
    market_data_type: int
    mkt: dict[int, MktSub]
    depth: dict[int, DepthSub]
    bars: dict[int, BarSub]
    hist_pacing: HistoricalPacing
    tick_stream: TickStream | None

    def error(self, req_id: int, code: int, message: str) -> None:
        raise NotImplementedError

    def send(self, fields: list[Any]) -> None:
        raise NotImplementedError

    def send_all(self, messages: list[list[Any]]) -> None:
        raise NotImplementedError

    def _resolve(self, req_id: int, contract: WireContract) -> Instrument | None:
        raise NotImplementedError

    def _req_market_data_type(self, r: FieldReader) -> None:
        r.skip()
        data_type = r.integer()
        if data_type not in (1, 2, 3, 4):
            self.error(-1, 321, f"Error validating request: market data type {data_type}")
            return
        self.market_data_type = data_type

    def _entitlement(self, req_id: int, inst: Instrument) -> bool | None:
        """False: live data; True: delayed data; None: refused (354 sent)."""
        if not self.gateway.market_farm_ok:
            self.error(req_id, 2103, "Market data farm connection is broken:usfarm")
        if inst.entitled:
            return False
        if self.market_data_type in (1, 2):
            self.error(req_id, 354, NOT_SUBSCRIBED)
            return None
        self.error(req_id, 10167, DELAYED)
        return True

    def _req_mkt_data(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.integer()
        contract = r.contract()
        if contract.sec_type == "BAG":
            r.skip(4 * r.integer())
        if r.flag():
            r.skip(3)
        generic = r.text()
        snapshot = r.flag()
        inst = self._resolve(req_id, contract)
        if inst is None:
            return
        delayed = self._entitlement(req_id, inst)
        if delayed is None:
            return
        frozen = self.market_data_type in (2, 4)
        sub = MktSub(req_id, inst, delayed, "233" in generic.split(","))
        self.send_all([out.market_data_type(req_id, (3 if delayed else 1) + (1 if frozen else 0)),
                       out.tick_req_params(req_id, inst.min_tick, "9c0001", 3)])
        market = self.broker.market(inst)
        first = self._ticks(sub, market.quote(inst.key), None, first=True)
        if self.gateway.burst and not snapshot:
            self.gateway.hold_burst(self, first + self._burst(sub, self.gateway.burst))
        else:
            self.send_all(first)
        if snapshot:
            self.send(out.tick_snapshot_end(req_id))
            return
        if self.gateway.stream:
            self._prepare_stream(sub, market.quote(inst.key).bid or inst.price)
        self.mkt[req_id] = sub
        self.broker.watch(inst)

    def _cancel_mkt_data(self, r: FieldReader) -> None:
        r.skip()
        sub = self.mkt.pop(r.integer(), None)
        if sub is not None:
            self.broker.unwatch(sub.inst)

    def _ticks(self, sub: MktSub, tick: Any, trade: Any, first: bool = False) -> list[list[Any]]:
        bid_t, ask_t, last_t, _bs, _as, _ls, vol_t, ts_t = _DELAYED if sub.delayed else _LIVE
        rid = sub.req_id
        msgs: list[list[Any]] = []
        quote = (tick.bid, tick.bid_size, tick.ask, tick.ask_size)
        if quote != sub.last_quote:
            prev = sub.last_quote or (None, None, None, None)
            if (tick.bid, tick.bid_size) != prev[:2]:
                msgs.append(out.tick_price(rid, bid_t, tick.bid, tick.bid_size))
            if (tick.ask, tick.ask_size) != prev[2:]:
                msgs.append(out.tick_price(rid, ask_t, tick.ask, tick.ask_size))
            sub.last_quote = quote
        if trade is not None or (first and tick.last is not None):
            price = trade.price if trade is not None else tick.last
            size = trade.size if trade is not None else tick.last_size
            ts_ns = trade.timestamp_ns if trade is not None else tick.timestamp_ns
            msgs.append(out.tick_price(rid, last_t, price, size))
            msgs.append(out.tick_size(rid, vol_t, tick.volume))
            msgs.append(out.tick_string(rid, ts_t, str(ts_ns // 1_000_000_000)))
            if sub.rt_volume:
                msgs.append(out.tick_string(
                    rid, 48, f"{price};{size:g};{ts_ns // 1_000_000};{tick.volume:g};{price};true"))
        return msgs

    def _burst(self, sub: MktSub, steps: int) -> list[list[Any]]:
        """``steps`` market steps, then a last trade of BURST_END_SIZE."""
        inst = sub.inst
        market = MarketSimulator(self.broker.seed, tick_size=Decimal(repr(inst.min_tick)),
                                 start_prices={inst.key: inst.price}, trade_probability=0.5)
        msgs: list[list[Any]] = []
        step = None
        for _ in range(steps):
            step = market.step(inst.key)
            msgs.extend(self._ticks(sub, step.tick, step.trade))
        price = (step.tick.bid if step is not None else None) or inst.price
        msgs.append(out.tick_price(sub.req_id, _DELAYED[2] if sub.delayed else _LIVE[2], price,
                                   BURST_END_SIZE))
        return msgs

    # -- stream (benchmarks) ---------------------------------------------------------
    def _prepare_stream(self, sub: MktSub, price: float) -> None:
        """Encode, before any stream starts, the ticks ``sub`` cycles through: a bid, an
        ask and a last trade about each of ``_STREAM_CYCLE`` mid prices, every tick a
        change the client reports (one tickPrice message each)."""
        bid_t, ask_t, last_t = (_DELAYED if sub.delayed else _LIVE)[:3]
        step = sub.inst.min_tick
        rid = sub.req_id
        ticks = []
        for i in range(_STREAM_CYCLE):
            mid = round(price + i * step, 8)
            ticks.append(encode(out.tick_price(rid, bid_t, round(mid - step, 8), 100.0)))
            ticks.append(encode(out.tick_price(rid, ask_t, round(mid + step, 8), 100.0)))
            ticks.append(encode(out.tick_price(rid, last_t, mid, 100.0)))
        sub.stream_ticks = ticks
        sub.stream_end = encode(out.tick_price(rid, last_t, price, BURST_END_SIZE))

    def _stream_request(self, r: FieldReader) -> None:
        """[STREAM_REQUEST, credit, ticks]: start a stream of ``ticks`` (> 0) over this
        client's subscriptions and/or give ``credit`` for that many more ticks."""
        credit = r.integer()
        total = r.integer()
        if total > 0:
            subs = [s for s in self.mkt.values() if s.stream_ticks]
            if not subs:
                self.error(-1, 321, "Error validating request: a stream needs a market-data "
                                    "subscription")
                return
            self.tick_stream = TickStream(subs, total)
        run = self.tick_stream
        if run is None:
            return
        run.credit += credit
        if run.credit <= 0 or run.sent >= run.total:
            return
        transport = self.transport
        if transport.is_closing():
            return
        subs = run.subs
        count = len(subs)
        last = run.total - 1
        while run.credit > 0 and run.sent < run.total:
            i = run.sent
            sub = subs[i % count]
            if i == last:
                transport.write(sub.stream_end)
            else:
                ticks = sub.stream_ticks
                transport.write(ticks[(i // count) % len(ticks)])
            run.sent = i + 1
            run.credit -= 1

    def on_market(self, inst: Instrument, step: MarketStep) -> None:
        con_id = inst.con_id
        messages: list[list[Any]] = []
        for sub in self.mkt.values():
            if sub.inst.con_id == con_id:
                messages.extend(self._ticks(sub, step.tick, step.trade))
        for dsub in self.depth.values():
            if dsub.inst.con_id == con_id:
                messages.extend(self._depth_updates(dsub))
        if self.bars:
            price = step.trade.price if step.trade is not None else step.tick.mid_price
            volume = step.trade.size if step.trade is not None else 0.0
            epoch = step.tick.timestamp_ns / 1e9
            for bsub in self.bars.values():
                if bsub.inst.con_id == con_id and not bsub.realtime and price is not None:
                    bsub.bar.update(epoch, price, volume)
                    messages.append(self._bar_update(bsub))
                elif bsub.inst.con_id == con_id and price is not None:
                    bar = bsub.bar
                    if bar.start < 0:
                        bar.reset(0, price)
                    bar.high, bar.low = max(bar.high, price), min(bar.low, price)
                    bar.close, bar.volume = price, bar.volume + volume
                    bar.count += 1 if volume else 0
        if messages:
            self.send_all(messages)

    # -- depth -----------------------------------------------------------------------
    def _req_mkt_depth(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.integer()
        contract = r.contract()
        rows = max(1, min(r.integer(5), 10))
        smart = r.flag()
        inst = self._resolve(req_id, contract)
        if inst is None or self._entitlement(req_id, inst) is None:
            return
        sub = DepthSub(req_id, inst, rows, smart)
        self.depth[req_id] = sub
        self.broker.watch(inst)
        self.send_all(self._depth_updates(sub))

    def _cancel_mkt_depth(self, r: FieldReader) -> None:
        r.skip()
        sub = self.depth.pop(r.integer(), None)
        if sub is not None:
            self.broker.unwatch(sub.inst)

    def _depth_updates(self, sub: DepthSub) -> list[list[Any]]:
        book = self.broker.market(sub.inst).book(sub.inst.key, sub.rows)
        msgs: list[list[Any]] = []
        for side, old, levels in ((1, sub.bids, book.bids), (0, sub.asks, book.asks)):
            new = [(lv.price, lv.size) for lv in levels]
            for pos, level in enumerate(new):
                if pos >= len(old):
                    msgs.append(self._depth_msg(sub, pos, 0, side, level))
                elif old[pos] != level:
                    msgs.append(self._depth_msg(sub, pos, 1, side, level))
            for pos in range(len(old) - 1, len(new) - 1, -1):
                msgs.append(self._depth_msg(sub, pos, 2, side, old[pos]))
            old[:] = new
        return msgs

    @staticmethod
    def _depth_msg(sub: DepthSub, pos: int, op: int, side: int,
                   level: tuple[float, float]) -> list[Any]:
        if sub.smart:
            maker = sub.inst.primary_exchange or sub.inst.exchange
            return out.market_depth_l2(sub.req_id, pos, maker, op, side, level[0], level[1], True)
        return out.market_depth(sub.req_id, pos, op, side, level[0], level[1])

    # -- bars ------------------------------------------------------------------------
    def _req_historical_data(self, r: FieldReader) -> None:
        req_id = r.integer()
        contract = r.contract()
        r.skip()  # includeExpired
        end_text = r.text()
        bar_size = r.text()
        duration = r.text()
        r.skip()  # useRTH
        what = r.text()
        format_date = r.integer(1)
        if contract.sec_type == "BAG":
            r.skip(4 * r.integer())
        keep_up = r.flag()
        inst = self._resolve(req_id, contract)
        if inst is None:
            return
        if not self.gateway.hmds_farm_ok:
            self.error(req_id, 162, "Historical Market Data Service error message:HMDS "
                                    "server disconnect")
            return
        key = (inst.con_id, end_text, bar_size, duration, what)
        problem = self.hist_pacing.check(key, (inst.con_id, contract.exchange, what.upper()))
        if problem is not None:
            self.error(req_id, 162, f"Historical Market Data Service error message:{problem}")
            return
        try:
            if keep_up and end_text:
                raise HistoryError(321, "Error validating request.-'bX' : cause - End date "
                                        "not supported with keep up to date parameter")
            end = parse_end(end_text) if end_text else int(time.time())
            rows = make_bars(inst, bar_size, duration, end, self.broker.seed, what, format_date,
                             end_given=bool(end_text))
        except HistoryError as exc:
            self.error(req_id, exc.code, exc.message)
            return
        self.gateway.historical_requests += 1
        stamp = datetime.fromtimestamp(end, tz=timezone.utc).strftime("%Y%m%d %H:%M:%S UTC")
        start = rows[0][0] if rows else stamp
        self.send(out.historical_data(req_id, start, stamp, rows))
        if keep_up:
            bar = RunningBar(bar_seconds(bar_size))
            if rows:
                last = rows[-1]
                bar.reset(end - end % bar.seconds, last[4])
            self.bars[req_id] = BarSub(req_id, inst, bar, format_date)
            self.broker.watch(inst)

    def _bar_update(self, sub: BarSub) -> list[Any]:
        bar = sub.bar
        return out.historical_data_update(
            sub.req_id, bar.count, format_bar_time(bar.start, bar.seconds, sub.format_date),
            bar.open, bar.close, bar.high, bar.low, bar.wap, bar.volume)

    def _req_real_time_bars(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.integer()
        contract = r.contract()
        size = r.integer(5)
        inst = self._resolve(req_id, contract)
        if inst is None:
            return
        if size != 5:
            self.error(req_id, 321, f"Error validating request: bar size {size} (only 5 "
                                    "seconds is supported)")
            return
        if self._entitlement(req_id, inst) is None:
            return
        self.bars[req_id] = BarSub(req_id, inst, RunningBar(5), realtime=True)
        self.broker.watch(inst)

    def emit_realtime_bars(self, epoch: int) -> None:
        msgs = []
        for sub in self.bars.values():
            bar = sub.bar
            if not sub.realtime or bar.start < 0:
                continue
            msgs.append(out.real_time_bar(sub.req_id, epoch, bar.open, bar.high, bar.low,
                                          bar.close, bar.volume, bar.wap, bar.count))
            bar.reset(epoch, bar.close)
        if msgs:
            self.send_all(msgs)

    def _cancel_bars(self, r: FieldReader) -> None:
        r.skip()
        sub = self.bars.pop(r.integer(), None)
        if sub is not None:
            self.broker.unwatch(sub.inst)

def parse_end(text: str) -> int:
    """An IB date-time (``YYYYMMDD HH:MM:SS [TZ]``, ``YYYYMMDD-HH:MM:SS``) to epoch."""
    text = text.strip()
    tz: Any = timezone.utc
    parts = text.replace("-", " ").split()
    if len(parts) >= 3:
        tz = ZoneInfo(parts[2])
    if len(parts) == 1:
        moment = datetime.strptime(parts[0], "%Y%m%d").replace(hour=23, minute=59, second=59)
    else:
        moment = datetime.strptime(parts[0] + parts[1], "%Y%m%d%H:%M:%S")
    return int(moment.replace(tzinfo=tz).timestamp())

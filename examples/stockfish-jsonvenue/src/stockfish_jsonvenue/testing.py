"""The JSON venue itself: a tiny exchange on 127.0.0.1 speaking JSON lines over TCP.

It is the real counterpart the plugin's tests run against (and what ``stockfish demo``
starts): it quotes its symbols, takes orders, fills marketable ones (in two executions
when the quantity allows), rests the others, and answers status queries. Test controls:
``reject_next``, :meth:`hold` (take orders, answer nothing), :meth:`stop` (every
connection dropped, the book kept), :meth:`fill` (fill a resting order, even while
stopped) and :meth:`resend_fills` (report an order's fills again).

Run it alone: ``python -m stockfish_jsonvenue.testing --port 7001``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

__all__ = ["JsonVenue"]

SPREAD = Decimal("0.05")


class _Order:
    def __init__(self, message: dict[str, Any], venue_id: str) -> None:
        self.id: str = message["id"]
        self.venue_id = venue_id
        self.symbol: str = message["symbol"]
        self.side: str = message["side"]
        self.quantity = Decimal(message["qty"])
        self.price = None if message.get("price") is None else Decimal(message["price"])
        self.state = "SUBMITTED"
        self.fills: list[dict[str, str]] = []

    @property
    def filled(self) -> Decimal:
        return sum((Decimal(f["qty"]) for f in self.fills), Decimal(0))


class JsonVenue:
    """The venue; ``await start()`` returns the connector settings that reach it."""

    def __init__(self, symbols: tuple[str, ...] = ("SPY", "QQQ"), *,
                 price: Decimal = Decimal(100), tick_interval: float = 0.02) -> None:
        self.symbols = symbols
        self.mid = {s: price for s in symbols}
        self.tick_interval = tick_interval
        self.port = 0
        #: Reject this many new orders ("rejected on demand").
        self.reject_next = 0
        self.held = False
        self.orders: dict[str, _Order] = {}
        self.received: list[str] = []
        #: Called with the client order id of every new order received.
        self.on_received: Callable[[str], None] | None = None
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, set[str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ids = itertools.count(1)
        self._sessions = itertools.count(1)

    async def start(self) -> dict[str, Any]:
        self.held = False
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return {"host": "127.0.0.1", "port": self.port}

    async def stop(self) -> None:
        """Drop every connection and stop listening; the book stays."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._clients):
            writer.transport.abort()
        self._clients.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def received_order_ids(self) -> list[str]:
        return list(self.received)

    def hold(self) -> None:
        """Take and match orders from now on but send nothing about them."""
        self.held = True

    def fill(self, order_id: str) -> None:
        """Fill what is left of a resting order at its price (connected or not)."""
        order = self.orders[order_id]
        self._execute(order, order.quantity - order.filled, order.price or self.mid[order.symbol])

    def resend_fills(self, order_id: str, possible_duplicate: bool) -> None:
        for fill in self.orders[order_id].fills:
            self._send_all({"ev": "fill", "id": order_id, **fill, "dup": possible_duplicate})

    # -- the session -----------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._clients[writer] = set()
        quotes = asyncio.create_task(self._quote(writer))
        try:
            self._send(writer, {"ev": "hello", "session": f"S{next(self._sessions)}"})
            while line := await reader.readline():
                self._on_message(writer, json.loads(line))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            quotes.cancel()
            self._clients.pop(writer, None)
            writer.transport.abort()
            self._tasks.discard(task)

    async def _quote(self, writer: asyncio.StreamWriter) -> None:
        seq = dict.fromkeys(self.symbols, 0)
        while True:
            await asyncio.sleep(self.tick_interval)
            for symbol in self._clients.get(writer, ()):
                seq[symbol] += 1
                mid = self.mid[symbol]
                self._send(writer, {"ev": "quote", "symbol": symbol, "seq": seq[symbol],
                                    "bid": str(mid - SPREAD), "ask": str(mid + SPREAD)})

    def _send(self, writer: asyncio.StreamWriter, event: dict[str, Any]) -> None:
        if not writer.is_closing():
            writer.write(json.dumps(event).encode() + b"\n")

    def _send_all(self, event: dict[str, Any]) -> None:
        if not self.held:
            for writer in list(self._clients):
                self._send(writer, event)

    def _on_message(self, writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        op, order_id = message["op"], message.get("id", "")
        order = self.orders.get(order_id)
        if op == "sub":
            self._clients[writer].add(message["symbol"])
        elif op == "unsub":
            self._clients[writer].discard(message["symbol"])
        elif op == "new":
            self._new(message)
        elif op == "status":
            answer: dict[str, Any] = {"ev": "status", "id": order_id, "state": None}
            if order is not None:
                answer.update(state=order.state, vid=order.venue_id, fills=order.fills)
            self._send_all(answer)
        elif order is None or order.state not in ("SUBMITTED", "PARTIALLY_FILLED"):
            state = "unknown order" if order is None else f"order is {order.state}"
            self._send_all({"ev": "refused", "id": order_id, "action": op, "reason": state,
                            "state": order.state if order else "REJECTED"})
        elif op == "cancel":
            order.state = "CANCELLED"
            self._send_all({"ev": "done", "id": order_id, "state": "CANCELLED"})
        elif op == "replace":
            order.quantity = Decimal(message.get("qty") or order.quantity)
            order.price = Decimal(message["price"]) if message.get("price") else order.price
            self._send_all({"ev": "replaced", "id": order_id, "state": order.state,
                            "qty": str(order.quantity), "price": str(order.price)})

    def _new(self, message: dict[str, Any]) -> None:
        order_id = message["id"]
        self.received.append(order_id)
        if self.on_received is not None:
            self.on_received(order_id)
        if order_id in self.orders:
            return  # a resent order is the same order
        if self.reject_next or message["symbol"] not in self.mid:
            reason = "unknown symbol" if self.reject_next == 0 else "rejected on demand"
            self.reject_next = max(0, self.reject_next - 1)
            self._send_all({"ev": "done", "id": order_id, "state": "REJECTED", "reason": reason})
            return
        order = self.orders[order_id] = _Order(message, f"P{next(self._ids)}")
        self._send_all({"ev": "ack", "id": order_id, "vid": order.venue_id})
        mid = self.mid[order.symbol]
        touch = mid + SPREAD if order.side == "BUY" else mid - SPREAD
        if order.price is None or (touch <= order.price if order.side == "BUY"
                                   else touch >= order.price):
            first = (order.quantity // 2) or order.quantity
            for quantity in (first, order.quantity - first):
                if quantity > 0:
                    self._execute(order, quantity, touch)

    def _execute(self, order: _Order, quantity: Decimal, price: Decimal) -> None:
        fill = {"exec": f"E{next(self._ids)}", "qty": str(quantity), "px": str(price)}
        order.fills.append(fill)
        order.state = "FILLED" if order.filled >= order.quantity else "PARTIALLY_FILLED"
        self._send_all({"ev": "fill", "id": order.id, **fill})


def main() -> None:  # pragma: no cover - run in a process of its own by the fault tests
    parser = argparse.ArgumentParser(description="the JSON venue on 127.0.0.1")
    parser.add_argument("--port", type=int, default=7001, help="0: any free port")
    parser.add_argument("--hold", action="store_true",
                        help="take orders but answer nothing about them")
    args = parser.parse_args()
    venue = JsonVenue()
    venue.port = args.port
    venue.on_received = lambda order_id: print(f"received {order_id}", flush=True)

    async def run() -> None:
        settings = await venue.start()
        if args.hold:
            venue.hold()
        print(f"listening on 127.0.0.1:{settings['port']}", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":  # pragma: no cover
    main()

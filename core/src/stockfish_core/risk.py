"""Pre-trade risk checks: run on every new order before it is journaled or sent.

Each check that fails raises :class:`~stockfish_core.errors.OrderRejected` with a
reason that names the limit and the value that broke it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal

from .config import RiskConfig
from .errors import OrderRejected
from .orders import Order

__all__ = ["RiskChecker", "TokenBucket"]

log = logging.getLogger("stockfish.risk")


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``rate`` (at least one)."""

    __slots__ = ("rate", "capacity", "tokens", "stamp", "clock")

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RiskChecker:
    """Limits from :class:`~stockfish_core.config.RiskConfig`, and the kill switch."""

    def __init__(self, config: RiskConfig | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or RiskConfig()
        self.kill_switch = self.config.kill_switch
        self.kill_reason = "kill switch set in configuration" if self.kill_switch else ""
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def engage_kill_switch(self, reason: str = "engaged by operator") -> None:
        self.kill_switch = True
        self.kill_reason = reason
        log.critical("KILL SWITCH ENGAGED: %s; every new order is rejected", reason)

    def release_kill_switch(self) -> None:
        if self.kill_switch:
            log.warning("kill switch released; new orders are accepted again")
        self.kill_switch = False
        self.kill_reason = ""

    def check(self, order: Order, reference_price: Decimal | None) -> None:
        """Raise OrderRejected if ``order`` breaks a limit. ``reference_price`` is the last
        traded (or mid) price of the symbol, if known."""
        if self.kill_switch:
            raise OrderRejected(f"kill switch is engaged ({self.kill_reason})")
        self._limits(order, reference_price)

    def _limits(self, order: Order, reference_price: Decimal | None) -> None:
        cfg = self.config
        if cfg.max_order_quantity is not None and order.quantity > cfg.max_order_quantity:
            raise OrderRejected(
                f"quantity {order.quantity} exceeds max_order_quantity {cfg.max_order_quantity}"
            )
        price = order.price or order.stop_price or reference_price
        if cfg.max_order_notional is not None:
            if price is None:
                raise OrderRejected(
                    f"cannot check max_order_notional for {order.symbol}: no price on the "
                    "order and no market price yet"
                )
            notional = price * order.quantity
            if notional > cfg.max_order_notional:
                raise OrderRejected(
                    f"notional {notional} exceeds max_order_notional {cfg.max_order_notional}"
                )
        if cfg.price_collar_pct is not None and order.price is not None:
            if reference_price is None:
                raise OrderRejected(
                    f"cannot check the price collar for {order.symbol}: no market price yet"
                )
            collar = Decimal(str(cfg.price_collar_pct)) / 100
            low, high = reference_price * (1 - collar), reference_price * (1 + collar)
            if not low <= order.price <= high:
                raise OrderRejected(
                    f"price {order.price} is outside the {cfg.price_collar_pct}% collar "
                    f"[{low:.6g}, {high:.6g}] around the market price {reference_price}"
                )

    def check_replace(self, order: Order, replaced: Order,
                      reference_price: Decimal | None) -> None:
        """Raise OrderRejected if ``order`` with its new terms (``replaced``) breaks a limit.
        The kill switch refuses a replace that adds quantity; one that reduces it, or
        only moves a price, still goes (it lowers the risk, as a cancel does)."""
        if self.kill_switch and replaced.quantity > order.quantity:
            raise OrderRejected(f"kill switch is engaged ({self.kill_reason}); a replace may "
                                "not add quantity")
        self._limits(replaced, reference_price)

    def check_rate(self, connector: str) -> None:
        """Take one order from ``connector``'s rate budget, or raise."""
        rate = self.config.max_orders_per_second
        if rate is None:
            return
        bucket = self._buckets.get(connector)
        if bucket is None:
            bucket = self._buckets[connector] = TokenBucket(rate, self._clock)
        if not bucket.take():
            raise OrderRejected(
                f"order rate limit: more than {rate:g} orders per second to {connector}"
            )

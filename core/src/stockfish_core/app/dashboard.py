"""The live terminal dashboard of ``stockfish run`` (rich): connectors and their health,
quotes and book tops per symbol, recent orders and fills, and the totals."""

from __future__ import annotations

import time
from typing import Any

from ..config import Config
from ..errors import StockfishError
from .runner import RunState

__all__ = ["Dashboard"]


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


class Dashboard:
    def __init__(self, state: RunState, config: Config) -> None:
        try:
            from rich.console import Console
            from rich.live import Live
        except ImportError:  # pragma: no cover - depends on the install
            raise StockfishError("the dashboard needs rich: pip install "
                                 "'stockfish-core[dashboard]'; or run with --headless") from None
        self.state = state
        self.config = config
        self.console = Console()
        self.live = Live(console=self.console, refresh_per_second=4, screen=False,
                         transient=False)

    def started(self, config: Config) -> None:
        self.live.start()

    def refresh(self) -> None:
        self.live.update(self.render())

    def render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        manager = self.state.manager
        health = manager.get_health_status()
        stats = manager.get_stats()

        connectors = Table(title="Connectors", expand=True)
        for column in ("connector", "status", "role", "score", "updates", "last data",
                       "stale", "reconnects", "orders"):
            connectors.add_column(column)
        for name, h in health.items():
            s = stats["connectors"][name]
            role = "primary" if h["primary"] else ("data only" if h["data_only"] else "backup")
            style = "green" if h["connected"] else "red"
            age = h["last_data_age_s"]
            connectors.add_row(
                name, f"[{style}]{h['status']}[/]", role, f"{h['score']:.0f}",
                f"{s['updates_received']:,}", "-" if age is None else f"{age:.1f}s ago",
                ", ".join(h["stale_symbols"]) or "-", str(s["reconnect_attempts"]),
                f"{s['orders_submitted']}/{s['orders_filled']}",
            )

        quotes = Table(title="Quotes", expand=True)
        for column in ("symbol", "bid", "ask", "last", "spread bps", "book bid", "book ask",
                       "from"):
            quotes.add_column(column)
        for symbol in sorted(self.state.quote_sources):
            tick = manager.latest(symbol)
            book = manager.book(symbol)
            if tick is None:
                continue
            bb = book.best_bid if book else None
            ba = book.best_ask if book else None
            quotes.add_row(
                symbol, _num(tick.bid), _num(tick.ask), _num(tick.last), _num(tick.spread_bps, 1),
                f"{_num(bb.price)} x {bb.size:g}" if bb else "-",
                f"{_num(ba.price)} x {ba.size:g}" if ba else "-",
                self.state.quote_sources.get(symbol, "-"),
            )

        orders = Table(title="Orders", expand=True)
        for column in ("order", "side", "qty", "symbol", "type", "status", "filled", "avg",
                       "venue"):
            orders.add_column(column)
        for order in reversed(self.state.orders.values()):
            orders.add_row(
                order.client_order_id or "-", order.side.value, str(order.quantity),
                order.symbol, order.order_type.value, order.status.value,
                str(order.filled_quantity), "-" if order.avg_fill_price is None
                else f"{order.avg_fill_price:.4f}", order.connector or "-",
            )

        total = stats["total"]
        uptime = time.monotonic() - self.state.started
        summary = (
            f"up {uptime:,.0f}s | updates {total.get('updates_received', 0):,} | "
            f"gaps {total.get('gaps', 0)} | data errors {total.get('data_errors', 0)} | "
            f"orders {total.get('orders_submitted', 0)} | fills {total.get('fills', 0)} | "
            f"rejected {total.get('orders_rejected', 0)}"
            + (" | [bold red]KILL SWITCH[/]" if stats["kill_switch"] else "")
        )
        events = "\n".join(f"{t:7.1f}s  {text}" for t, text in self.state.events) or "-"
        source = self.config.source or "built-in simulated venue (no configuration given)"
        return Group(
            Panel(summary, title=f"stockfish run: {source}", subtitle="Ctrl-C to stop"),
            connectors, quotes, orders, Panel(events, title="Connector events"),
        )

    def stopping(self) -> None:
        self.refresh()

    def close(self) -> None:
        self.live.stop()

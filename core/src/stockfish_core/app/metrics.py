"""A Prometheus endpoint exporting the manager's stats and health (prometheus-client).

Every scrape reads ``get_stats()`` and ``get_health_status()`` afresh; nothing is
counted twice. Enable it in the YAML::

    metrics: {enabled: true, host: 127.0.0.1, port: 9464}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import StockfishError

if TYPE_CHECKING:
    from ..manager import ExchangeManager

__all__ = ["start_metrics_server"]

_COUNTERS = {
    "updates_received": "Market-data updates received",
    "updates_delivered": "Market-data updates delivered to subscribers",
    "standby": "Updates of symbols another (preferred) feed delivers",
    "gaps": "Holes in a sequence (messages lost)",
    "lost": "Sequence numbers lost in gaps",
    "duplicates": "Duplicate messages dropped",
    "out_of_order": "Messages that arrived ahead of a missing one (held back)",
    "reordered": "Held-back messages delivered in order",
    "restarts": "New streams recognised (restarted publishers)",
    "resubscribes": "Stale subscriptions re-subscribed",
    "stale_failovers": "Stale subscriptions moved to another feed",
    "stale_alerts": "Stale subscriptions reported after recovery failed",
    "data_errors": "Messages that could not be normalized",
    "venue_errors": "Errors reported by the venue",
    "orders_submitted": "Orders sent",
    "orders_filled": "Orders filled",
    "orders_cancelled": "Orders cancelled",
    "orders_rejected": "Orders rejected",
    "fills": "Executions received",
    "duplicate_fills": "Executions reported twice and ignored",
    "position_differences": "Positions the venue holds differently from the fills counted",
    "external_executions": "Executions at the venue of orders not placed through stockfish",
    "reconnect_attempts": "Reconnection attempts",
    "reconnects": "Successful reconnections",
}


class _ManagerCollector:
    def __init__(self, manager: ExchangeManager) -> None:
        self.manager = manager

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self.manager.get_stats()
        health = self.manager.get_health_status()
        up = GaugeMetricFamily("stockfish_connector_up", "1 if the connector is connected",
                               labels=["connector"])
        score = GaugeMetricFamily("stockfish_connector_health_score",
                                  "Health score, 0 (unusable) to 100", labels=["connector"])
        stale = GaugeMetricFamily("stockfish_connector_stale_symbols",
                                  "Subscribed symbols without recent data", labels=["connector"])
        age = GaugeMetricFamily("stockfish_connector_last_data_age_seconds",
                                "Seconds since the last update", labels=["connector"])
        for name, h in health.items():
            up.add_metric([name], 1.0 if h["connected"] else 0.0)
            score.add_metric([name], float(h["score"]))
            stale.add_metric([name], float(len(h["stale_symbols"])))
            if h["last_data_age_s"] is not None:
                age.add_metric([name], float(h["last_data_age_s"]))
        yield from (up, score, stale, age)

        for key, doc in _COUNTERS.items():
            family = CounterMetricFamily(f"stockfish_{key}", doc, labels=["connector"])
            for name, data in stats["connectors"].items():
                family.add_metric([name], float(data[key]))
            yield family
        by_type = CounterMetricFamily("stockfish_updates_by_type",
                                      "Updates received by data type",
                                      labels=["connector", "type"])
        latency = GaugeMetricFamily("stockfish_latency_microseconds",
                                    "Latency percentiles of recent samples",
                                    labels=["connector", "kind", "quantile"])
        for name, data in stats["connectors"].items():
            for data_type, count in data["by_type"].items():
                by_type.add_metric([name, data_type], float(count))
            for kind in ("data_latency", "ack_latency", "fill_latency"):
                for q in ("p50", "p99"):
                    value = data[kind][f"{q}_us"]
                    if value is not None:
                        latency.add_metric([name, kind, q], float(value))
        yield by_type
        yield latency
        orders = GaugeMetricFamily("stockfish_orders", "Orders known, by status",
                                   labels=["status"])
        for status, count in stats["orders"].items():
            orders.add_metric([status], float(count))
        yield orders
        yield GaugeMetricFamily("stockfish_kill_switch", "1 while the kill switch is engaged",
                                value=1.0 if stats["kill_switch"] else 0.0)


def start_metrics_server(manager: ExchangeManager, host: str, port: int) -> Any:
    """Serve /metrics on host:port in a background thread; returns the server."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:  # pragma: no cover - depends on the install
        raise StockfishError(
            "metrics are enabled but prometheus-client is not installed; "
            "install it with: pip install 'stockfish-core[metrics]'"
        ) from None
    registry = CollectorRegistry()
    registry.register(_ManagerCollector(manager))  # type: ignore[arg-type]
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server

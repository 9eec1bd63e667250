"""Plugins report facts about their connection; the core decides the status."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from stockfish_core import API_VERSION, Capabilities, PluginRegistry, PluginSpec, hookimpl
from stockfish_core.config import ManagerConfig
from stockfish_core.connector import Connector, ConnectorReport, status_after
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import ConnectorStatus, DataType
from stockfish_core.testing import wait_until
from stockfish_core.testing.harness import RecordingListener

S = ConnectorStatus
R = ConnectorReport


@pytest.mark.parametrize(("current", "report", "expected"), [
    (S.CONNECTING, R.CONNECTED, S.CONNECTED),
    (S.RECONNECTING, R.CONNECTED, S.CONNECTED),
    (S.CONNECTED, R.LOST, S.DISCONNECTED),
    (S.CONNECTING, R.LOST, S.DISCONNECTED),
    (S.RECONNECTING, R.LOST, S.DISCONNECTED),
    (S.DISCONNECTED, R.LOST, None),  # already down: a repeat changes nothing
    (S.ERROR, R.LOST, None),
    (S.CONNECTED, R.RECONNECTING, S.RECONNECTING),
    (S.CONNECTING, R.FAILED, S.ERROR),
    (S.CONNECTED, R.CLOSED, S.DISCONNECTED),
    (S.ERROR, R.CLOSED, S.DISCONNECTED),
    (S.DISCONNECTED, R.CONNECTING, S.CONNECTING),
    (S.RECONNECTING, R.CONNECTING, S.RECONNECTING),  # a step of the library's reconnect
])
def test_the_core_decides_the_transition(current: S, report: R, expected: S | None) -> None:
    assert status_after(current, report) is expected


def test_reports_reach_the_listener_once_with_their_reason() -> None:
    listener = RecordingListener()
    connector = Connector("c", "p", listener=listener)
    connector.report_connecting("dialing")
    connector.report_connected("up")
    connector.report_connected("up")  # a repeat is not reported
    connector.report_lost("peer went away")
    connector.report_lost("and again")  # already down
    connector.report_reconnecting("library retries")
    connector.report_failed("bad credentials")
    connector.report_closed()
    assert listener.statuses == [
        (S.CONNECTING, "dialing"), (S.CONNECTED, "up"), (S.DISCONNECTED, "peer went away"),
        (S.RECONNECTING, "library retries"), (S.ERROR, "bad credentials"),
        (S.DISCONNECTED, "closed")]


def test_set_status_still_works_deprecated_and_mapped_onto_the_reports() -> None:
    listener = RecordingListener()
    connector = Connector("c", "p", listener=listener)
    with pytest.warns(DeprecationWarning, match="report_connected"):
        connector.set_status(S.CONNECTED, "legacy")
    with pytest.warns(DeprecationWarning, match="set_status is deprecated"):
        connector.set_status(S.DISCONNECTED, "gone")
    with pytest.warns(DeprecationWarning, match="set_status is deprecated"):
        connector.set_status(S.DISCONNECTED, "gone again")  # a loss while down: nothing
    with pytest.warns(DeprecationWarning, match="set_status is deprecated"):
        connector.set_status(S.ERROR, "broken")
    assert listener.statuses == [(S.CONNECTED, "legacy"), (S.DISCONNECTED, "gone"),
                                 (S.ERROR, "broken")]


class Reporting:
    """A plugin whose connection the test drives through the reports."""

    def __init__(self) -> None:
        self.connects = 0
        self.connector: Connector | None = None

    @hookimpl
    def stockfish_plugin_spec(self) -> PluginSpec:
        return PluginSpec(API_VERSION, None,
                          Capabilities(data_types={DataType.PRICE_TICK},
                                       reconnect_schedule=(0.01, 0.05)))

    @hookimpl
    def stockfish_connect(self, connector: Connector) -> None:
        self.connects += 1
        self.connector = connector
        connector.report_connected(f"session {self.connects}")

    @hookimpl
    def stockfish_disconnect(self, connector: Connector) -> None:
        connector.report_closed()

    @hookimpl
    def stockfish_subscribe(self, connector: Connector, subscription: Any) -> None:
        pass


class StatusEvents:
    """A subscriber whose event is set at every status change."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.seen: list[tuple[str, ConnectorStatus, str]] = []

    def on_connector_status(self, name: str, status: ConnectorStatus, reason: str) -> None:
        self.seen.append((name, status, reason))
        self.changed.set()


def reporting_manager() -> tuple[ExchangeManager, Reporting, StatusEvents]:
    plugin = Reporting()
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "rep")
    config = ManagerConfig(health_check_interval=0.05, connect_timeout=2.0)
    manager = ExchangeManager(config=config, registry=registry, journal=":memory:")
    manager.add_connector("rep")
    events = StatusEvents()
    manager.add_subscriber(events)
    return manager, plugin, events


async def test_a_reported_loss_is_reconnected_by_the_core(
        caplog: pytest.LogCaptureFixture) -> None:
    manager, plugin, events = reporting_manager()
    async with manager:
        assert plugin.connects == 1 and plugin.connector is not None
        with caplog.at_level(logging.WARNING, "stockfish.manager"):
            plugin.connector.report_lost("peer went away")
            # The count follows the CONNECTED that the connect hook reports.
            await wait_until(
                lambda: manager.get_stats()["connectors"]["rep"]["reconnects"] == 1,
                events.changed, 5, "the core's reconnect", recheck=0.05)
        assert plugin.connects == 2 and plugin.connector.is_connected
        stats = manager.get_stats()["connectors"]["rep"]
        assert stats["disconnects"] == 1 and stats["reconnects"] == 1
        assert any("connection lost: disconnected (peer went away)" in r.message
                   for r in caplog.records)
    manager.journal.close()


async def test_a_library_that_reconnects_by_itself_is_left_alone() -> None:
    manager, plugin, events = reporting_manager()
    async with manager:
        connector = plugin.connector
        assert connector is not None
        connector.report_reconnecting("the library retries")
        await wait_until(lambda: manager.list_connectors()[0][1] is S.RECONNECTING,
                         events.changed, 5, "RECONNECTING")
        connector.report_connected("back by itself")
        await wait_until(lambda: connector.is_connected, events.changed, 5, "CONNECTED")
        assert [s for _, s, _ in events.seen][-2:] == [S.RECONNECTING, S.CONNECTED]
        assert plugin.connects == 1  # the core never called connect again
        assert manager.get_stats()["connectors"]["rep"]["disconnects"] == 1
    manager.journal.close()

"""The venue's account is the truth (issue 22 items 1 and 2), through a manager, against a
scripted counterparty: a fill the core refuses hides no later fill and is reconciled; a
ResendRequest left unanswered is reported as a lost session, not left CONNECTED."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

import stockfish_fix.plugin as fix_plugin
from stockfish_core import (
    ConnectorStatus,
    ExchangeManager,
    Order,
    OrderStatus,
    PluginRegistry,
)
from stockfish_core.config import ManagerConfig
from stockfish_core.testing import ConnectorHarness, wait_until
from stockfish_fix.testing import RawFixPeer


@pytest.fixture
async def manager_on(raw_peer: RawFixPeer) -> AsyncIterator[Callable[..., Any]]:
    """``await manager_on(**settings)``: a manager with one fix connector logged on to the
    raw peer (which accepted the Logon), stopped after the test."""
    made: list[ExchangeManager] = []

    async def make(**settings: Any) -> ExchangeManager:
        registry = PluginRegistry(entry_points=())
        registry.register(fix_plugin, "fix")
        manager = ExchangeManager(registry=registry, journal=":memory:",
                                  config=ManagerConfig(connect_timeout=5,
                                                       reconnect_initial_delay=0.2))
        manager.add_connector("fix", "fix", host="127.0.0.1", port=raw_peer.port,
                              sender_comp_id="CLIENT", target_comp_id="EXCH", store="memory",
                              **settings)
        made.append(manager)
        start = asyncio.get_running_loop().create_task(manager.start())
        await raw_peer.logon()
        assert await start
        return manager

    yield make
    for manager in made:
        await manager.stop()
        manager.journal.close()


def execution_report(cid: str, exec_id: str, exec_type: str, ord_status: str, *,
                     last: str | None = None, cum: str, leaves: str,
                     avg: str = "10") -> list[tuple[int, str]]:
    body = [(37, "V1"), (11, cid), (17, exec_id), (150, exec_type), (39, ord_status),
            (55, "SPY"), (54, "1"), (38, "10"), (14, cum), (151, leaves), (6, avg)]
    if last is not None:
        body += [(32, last), (31, "10")]
    return body


#: A report without a ClOrdID: the connector counts it as a report of an unknown order.
UNKNOWN = [(37, "V9"), (17, "E9"), (150, "0"), (39, "0"), (55, "SPY"), (54, "1"), (151, "1"),
           (14, "0"), (6, "0")]


async def test_a_refused_fill_is_reconciled_and_hides_no_later_fill(
    raw_peer: RawFixPeer, manager_on: Callable[..., Any]
) -> None:
    manager: ExchangeManager = await manager_on()
    cid = await manager.send_order_async(Order("SPY", "BUY", 10, "LIMIT", price=10))
    order = await raw_peer.read_until("D")
    assert order["11"] == cid
    raw_peer.send("8", execution_report(cid, "E0", "0", "0", cum="0", leaves="10"))
    raw_peer.send("8", execution_report(cid, "E1", "F", "1", last="5", cum="5", leaves="5"))
    # A bogus fill: 10 more (CumQty 15 of 10). The core refuses it as an overfill.
    raw_peer.send("8", execution_report(cid, "E2", "F", "2", last="10", cum="15", leaves="0"))
    # The genuine fill that completes the order.
    raw_peer.send("8", execution_report(cid, "E3", "F", "2", last="5", cum="10", leaves="0"))
    done = await manager.wait_for_order_async(cid, timeout=5)
    assert (done.status, done.filled_quantity) == (OrderStatus.FILLED, Decimal(10))
    assert manager.positions()["SPY"].quantity == Decimal(10)
    # The disagreement was counted, logged and answered with an OrderStatusRequest.
    question = await raw_peer.read_until("H")
    assert question["11"] == cid
    stats = manager.get_stats()["connectors"]["fix"]
    assert (stats["fill_disagreements"], stats["fills"]) == (1, 2)
    assert manager.get_stats()["illegal_transitions"] == 1  # the refused overfill
    # The answer agrees with the manager's count: nothing more is applied. (A report of
    # an unknown order after it marks the point where the answer was handled.)
    raw_peer.send("8", execution_report(cid, "S1", "I", "2", cum="10", leaves="0"))
    raw_peer.send("8", UNKNOWN)
    await wait_until(lambda: manager.get_stats()["connectors"]["fix"]["venue_errors"],
                     asyncio.Event(), 5, "the marker", recheck=0.02)
    stats = manager.get_stats()["connectors"]["fix"]
    assert (stats["fill_disagreements"], stats["reconciled_fills"], stats["fills"]) == (1, 0, 2)
    assert manager.get_order(cid).filled_quantity == Decimal(10)


async def test_a_resend_left_unanswered_is_reported_as_a_loss(
    raw_peer: RawFixPeer, open_connector: Callable[..., Any]
) -> None:
    h: ConnectorHarness = await open_connector(raw_peer.port, "FIX.4.4", connect=False,
                                               store="memory", resend_timeout=1)
    task = h.connector.loop.create_task(h.connect())  # type: ignore[union-attr]
    await raw_peer.logon()
    await task
    raw_peer.seq += 3  # three messages the connector never gets
    raw_peer.send("0", [])
    resend = await raw_peer.read_until("2")
    assert resend["7"] == "2"
    # The peer never answers it. What it sends from now on waits behind the gap,
    # the answer to the connector's probe included.
    probe = await raw_peer.read_until("1")
    assert probe["112"].startswith("resend-check-")
    raw_peer.send("0", [(112, probe["112"])])
    raw_peer.send("8", UNKNOWN)
    await h.wait_status(ConnectorStatus.DISCONNECTED, 5)
    assert "left our ResendRequest unanswered for 1s" in h.connector.status_reason
    assert [e.code for e in h.listener.errors] == ["resend-unanswered"]
    assert h.connector.state.stuck_resends == 1


async def test_an_answered_resend_releases_what_waited(
    raw_peer: RawFixPeer, open_connector: Callable[..., Any]
) -> None:
    h: ConnectorHarness = await open_connector(raw_peer.port, "FIX.4.4", connect=False,
                                               store="memory", resend_timeout=1)
    task = h.connector.loop.create_task(h.connect())  # type: ignore[union-attr]
    await raw_peer.logon()
    await task
    raw_peer.seq += 2  # MsgSeqNum 2 and 3 go missing
    raw_peer.send("0", [])  # 4
    resend = await raw_peer.read_until("2")
    probe = await raw_peer.read_until("1")
    raw_peer.send("0", [(112, probe["112"])])  # 5
    raw_peer.send("8", UNKNOWN)
    # The gap is filled: a SequenceReset-GapFill in place of 2 and 3.
    next_seq = raw_peer.seq
    raw_peer.seq = int(resend["7"]) - 1
    raw_peer.send("4", [(43, "Y"), (122, "20260101-00:00:00.000"), (123, "Y"), (36, "4")])
    raw_peer.seq = next_seq
    session = h.connector.state
    await h.listener.wait_for(lambda: h.listener.errors, 5, "the report that waited")
    assert h.listener.errors[0].code == "8:unknown-order"
    await wait_until(lambda: session._resend is None, asyncio.Event(), 5,
                     "the probe's answer", recheck=0.05)
    assert session._resend_timer is None and session.stuck_resends == 0
    assert h.connector.status is ConnectorStatus.CONNECTED


async def test_the_manager_reconnects_a_session_stuck_on_a_resend(
    raw_peer: RawFixPeer, manager_on: Callable[..., Any]
) -> None:
    """What issue 22 saw: fills held back by an unanswered ResendRequest while the
    connector showed CONNECTED at health 100. Now the loss is reported once, counted, and
    the manager reconnects (a new Logon) and asks about its open orders."""
    manager: ExchangeManager = await manager_on(resend_timeout=1)
    statuses: list[tuple[ConnectorStatus, str]] = []

    class Statuses:
        def on_connector_status(self, name: str, status: ConnectorStatus, reason: str) -> None:
            statuses.append((status, reason))

    manager.add_subscriber(Statuses())
    cid = await manager.send_order_async(Order("SPY", "BUY", 10, "LIMIT", price=10))
    await raw_peer.read_until("D")
    raw_peer.seq += 3
    raw_peer.send("8", execution_report(cid, "E1", "F", "2", last="10", cum="10", leaves="0"))
    await raw_peer.read_until("2")  # never answered
    connections = raw_peer.connections
    await wait_until(lambda: raw_peer.connections > connections, asyncio.Event(), 10,
                     "the manager to reconnect", recheck=0.05)
    lost = [reason for status, reason in statuses if "ResendRequest" in reason]
    assert statuses[0][0] is ConnectorStatus.DISCONNECTED and len(lost) == 1
    assert "left our ResendRequest unanswered for 1s" in lost[0]
    assert manager.get_health_status()["fix"]["score"] == 0
    stats = manager.get_stats()["connectors"]["fix"]
    assert (stats["disconnects"], stats["venue_errors"]) == (1, 1)
    # The new session: the peer starts afresh (a venue that lost its store), and the
    # manager asks about its open order, whose fill the answer brings.
    raw_peer.seq = 0
    await raw_peer.logon()
    question = await raw_peer.read_until("H")
    assert question["11"] == cid
    raw_peer.send("8", execution_report(cid, "S1", "I", "2", cum="10", leaves="0"))
    done = await manager.wait_for_order_async(cid, timeout=5)
    assert (done.status, done.filled_quantity) == (OrderStatus.FILLED, Decimal(10))

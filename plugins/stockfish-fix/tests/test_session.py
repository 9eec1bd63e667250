"""Session health: logon and logout, rejected logons, TestRequest, failover addresses,
and a peer that sends garbage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import quickfix

from stockfish_core import ConnectorStatus, Order, OrderAction, OrderRequest
from stockfish_core.testing import ConnectorHarness
from stockfish_fix.dictionaries import DictionaryNotFound
from stockfish_fix.session import LogonRejected, LogonTimeout
from stockfish_fix.testing import FixExchange, RawFixPeer, fix_message, free_port


async def test_logon_and_logout_drive_the_status(exchange: FixExchange, version: str,
                                                 open_connector: Callable[..., Any]) -> None:
    h: ConnectorHarness = await open_connector(exchange, version)
    assert [s for s, _ in h.listener.statuses] == [ConnectorStatus.CONNECTING,
                                                  ConnectorStatus.CONNECTED]
    assert h.connector.status_reason == (
        f"logged on to EXCH at 127.0.0.1:{exchange.port} as CLIENT ({version})")
    # A round trip: the exchange has taken the Logon in by the time it answers.
    await h.execute(OrderRequest(OrderAction.STATUS, Order("SPY", "BUY", 1,
                                                           client_order_id="probe")))
    await h.next_order_update(5)
    assert exchange.logged_on(version)
    await h.disconnect()
    assert h.connector.status is ConnectorStatus.DISCONNECTED
    assert h.connector.status_reason == "disconnected on request"
    await h.disconnect()  # again: nothing to close, no error
    assert h.connector.state._initiator is None


async def test_rejected_logon_is_a_clear_error_and_not_retried(
    make_exchange: Callable[..., FixExchange], version: str,
    open_connector: Callable[..., Any],
) -> None:
    exchange = make_exchange(begin_strings=(version,), username="trader", password="right")
    h: ConnectorHarness = await open_connector(exchange, version, connect=False,
                                               username="trader", password="wrong")
    with pytest.raises(LogonRejected) as info:
        await h.call("stockfish_connect")
    message = str(info.value)
    assert message == (f"logon rejected by EXCH at 127.0.0.1:{exchange.port}: "
                       "Rejected Logon Attempt: invalid username or password")
    assert h.connector.status is ConnectorStatus.ERROR
    assert h.connector.status_reason == message
    # Nothing left that could try again by itself.
    assert h.connector.state._initiator is None
    assert len(exchange.logon_refusals) == 1
    # The right credentials log on (FIX 4.2 carries 553/554 as the venue's own fields).
    good: ConnectorHarness = await open_connector(exchange, version, name="good",
                                                  username="trader", password="right")
    assert good.connector.status is ConnectorStatus.CONNECTED
    assert len(exchange.logon_refusals) == 1


async def test_logon_carries_credentials_and_custom_fields(
    raw_peer: RawFixPeer, open_connector: Callable[..., Any]
) -> None:
    h: ConnectorHarness = await open_connector(
        raw_peer.port, "FIX.4.4", connect=False, username="u1", password="p1",
        logon_fields={96: "token-xyz", 1408: "1.0"}, heartbeat_interval=12,
        reset_on_logon=True, store="memory",
    )
    task = h.connector.loop.create_task(h.connect())  # type: ignore[union-attr]
    logon = await raw_peer.read_until("A")
    assert (logon["553"], logon["554"], logon["96"], logon["1408"]) == (
        "u1", "p1", "token-xyz", "1.0")
    assert (logon["108"], logon["141"], logon["49"], logon["56"]) == ("12", "Y", "CLIENT", "EXCH")
    raw_peer.send("A", [(98, "0"), (108, "12"), (141, "Y")])
    await task
    assert h.connector.status is ConnectorStatus.CONNECTED


async def test_garbage_instead_of_a_logon_reply(raw_peer: RawFixPeer,
                                                open_connector: Callable[..., Any]) -> None:
    h: ConnectorHarness = await open_connector(raw_peer.port, "FIX.4.4", connect=False,
                                               logon_timeout=1.5, store="memory")
    task = h.connector.loop.create_task(h.call("stockfish_connect"))  # type: ignore[union-attr]
    await raw_peer.read_until("A")
    raw_peer.send_raw(b"\x00\xff\xfe HTTP/1.1 400 Bad Request\r\n\r\n" + bytes(range(256)))
    with pytest.raises(LogonTimeout) as info:
        await task
    assert "no Logon reply from EXCH" in str(info.value)
    assert h.connector.status is ConnectorStatus.DISCONNECTED
    assert "no Logon reply" in h.connector.status_reason
    assert h.connector.state._initiator is None


async def test_garbage_in_a_live_session_is_skipped(raw_peer: RawFixPeer,
                                                    open_connector: Callable[..., Any]) -> None:
    h: ConnectorHarness = await open_connector(raw_peer.port, "FIX.4.4", connect=False,
                                               store="memory")
    task = h.connector.loop.create_task(h.connect())  # type: ignore[union-attr]
    await raw_peer.logon()
    await task
    bad_checksum = fix_message("FIX.4.4", "0", 2, [])[:-4] + b"999\x01"
    raw_peer.send_raw(b"\x07\x00garbage\xff" * 50 + bad_checksum + b"no-soh-at-all")
    raw_peer.seq = 1  # the bad message did not count: the next good one is 2
    raw_peer.send("8", [(37, "V9"), (17, "E9"), (150, "0"), (39, "0"), (55, "SPY"),
                        (54, "1"), (151, "1"), (14, "0"), (6, "0")])
    error = await h.listener.wait_for(lambda: h.listener.errors, 5, "the report")
    assert error[0].code == "8:unknown-order"
    assert h.connector.status is ConnectorStatus.CONNECTED


async def test_a_silent_peer_gets_a_test_request_then_is_dropped(
    raw_peer: RawFixPeer, open_connector: Callable[..., Any]
) -> None:
    h: ConnectorHarness = await open_connector(raw_peer.port, "FIX.4.4", connect=False,
                                               heartbeat_interval=1, store="memory")
    task = h.connector.loop.create_task(h.connect())  # type: ignore[union-attr]
    await raw_peer.logon()
    await task
    probe = await raw_peer.read_until("1", timeout=5)
    await h.listener.wait_for(lambda: "TestRequest sent" in h.connector.status_reason, 5,
                              "the probe status")
    assert h.connector.status is ConnectorStatus.CONNECTED
    assert "silent for over 1s" in h.connector.status_reason
    raw_peer.send("0", [(112, probe["112"])])
    await h.listener.wait_for(lambda: h.connector.status_reason.startswith("logged on"), 5,
                              "the answer to the probe")
    # Silent for good now: QuickFIX gives up on the session.
    await h.wait_status(ConnectorStatus.DISCONNECTED, 10)
    assert h.connector.status_reason.startswith(f"session with EXCH at 127.0.0.1:{raw_peer.port}"
                                                " lost")


async def test_alternate_host_is_tried_when_the_first_is_down(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any]
) -> None:
    h: ConnectorHarness = await open_connector(
        free_port(), version, alternate_hosts=[{"host": "127.0.0.1", "port": exchange.port}],
    )
    assert h.connector.status is ConnectorStatus.CONNECTED
    assert h.connector.state.peer.endswith(f"127.0.0.1:{h.connector.config.port}")


async def test_two_connectors_cannot_share_one_session(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any]
) -> None:
    await open_connector(exchange, version)
    other: ConnectorHarness = await open_connector(exchange, version, connect=False,
                                                   name="other")
    with pytest.raises(Exception, match="two connectors cannot share") as info:
        await other.call("stockfish_connect")
    assert "CLIENT->EXCH" in str(info.value)


async def test_settings_quickfix_cannot_use_are_a_clear_error(
    open_connector: Callable[..., Any], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "FIX44.xml"
    h: ConnectorHarness = await open_connector(free_port(), "FIX.4.4", connect=False,
                                               data_dictionary=str(missing))
    with pytest.raises(DictionaryNotFound):
        await h.call("stockfish_connect")
    assert h.connector.status is ConnectorStatus.ERROR
    assert h.connector.status_reason == (
        f"cannot start the FIX session: FIX data dictionary {missing} does not exist")
    bad: ConnectorHarness = await open_connector(free_port(), "FIX.4.2", connect=False,
                                                 name="bad",
                                                 extra_settings={"ReconnectInterval": "soon"})
    with pytest.raises(quickfix.ConfigError):
        await bad.call("stockfish_connect")
    assert bad.connector.status is ConnectorStatus.ERROR
    assert "RECONNECTINTERVAL" in bad.connector.status_reason.upper()


async def test_orders_asked_about_are_bounded_between_logons(
    make_exchange: Callable[..., FixExchange], open_connector: Callable[..., Any],
) -> None:
    """The ClOrdIDs asked about (OrderStatusRequest) were a set that grew until the next
    logon: one per status request of a whole trading day. It keeps at most the limit."""
    exchange = make_exchange(begin_strings=("FIX.4.4",))
    h: ConnectorHarness = await open_connector(exchange, "FIX.4.4")
    session = h.connector.state
    session.asked_limit = 40
    asks = 130
    for i in range(asks):
        await h.execute(OrderRequest(OrderAction.STATUS, Order(
            "SPY", "BUY", 1, client_order_id=f"ask-{i}")))
        assert len(session._asked) <= 40
    assert f"ask-{asks - 1}" in session._asked  # the latest is always remembered
    # Every request still went out: the bound forgets, it does not refuse.
    for _ in range(asks):
        await h.next_order_update(5)

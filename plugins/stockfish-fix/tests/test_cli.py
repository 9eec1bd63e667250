"""The exchange simulator as a command (``python -m stockfish_fix.testing``), in a process
of its own, with the connector trading against it."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stockfish_core import (
    ConnectorStatus,
    DataType,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    Subscription,
)
from stockfish_core.testing import ConnectorHarness


async def test_command_serves_a_connector_until_terminated(
    tmp_path: Path, open_connector: Callable[..., Any]
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stockfish_fix.testing", "--port", "0", "--begin-strings",
        "FIX.4.4", "--tick-interval", "0.05", "--store", str(tmp_path / "exchange"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode().split()
        assert line[:2] == ["READY", "127.0.0.1"], line
        port = int(line[2])
        h: ConnectorHarness = await open_connector(port, "FIX.4.4")
        await h.subscribe(Subscription("SPY", DataType.PRICE_TICK))
        tick = await h.next_update(10, lambda u: u.symbol == "SPY")
        assert tick.payload.bid is not None and tick.payload.ask is not None
        await h.execute(OrderRequest(OrderAction.SUBMIT, Order("SPY", "BUY", 1,
                                                               client_order_id="CLI1")))
        done = await h.next_order_update(
            10, lambda u: u.client_order_id == "CLI1" and u.status.is_final)
        assert done.status is OrderStatus.FILLED
        await h.disconnect()
        assert h.connector.status is ConnectorStatus.DISCONNECTED
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    assert code == 0
    assert (tmp_path / "exchange" / "FIX.4.4-EXCH-CLIENT.seqnums").is_file()

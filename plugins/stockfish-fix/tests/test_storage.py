"""QuickFIX's store and log directories: the Logon, password included, is written there,
so they are kept to the connector's user."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stockfish_core.testing import ConnectorHarness
from stockfish_fix.session import FixSessionError
from stockfish_fix.testing import FixExchange

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

PASSWORD = "pw-7f3c-never-shared"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.fixture
def guarded(make_exchange: Callable[..., FixExchange]) -> FixExchange:
    return make_exchange(begin_strings=("FIX.4.4",), username="trader", password=PASSWORD)


async def test_new_store_and_log_directories_are_private(
    guarded: FixExchange, open_connector: Callable[..., Any], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, logs = tmp_path / "state" / "store", tmp_path / "state" / "logs"
    h: ConnectorHarness = await open_connector(
        guarded, "FIX.4.4", username="trader", password=PASSWORD,
        file_store_path=str(store), log_path=str(logs))
    await h.disconnect()
    assert mode(store) == mode(logs) == 0o700
    # QuickFIX keeps the Logon as sent, in its store and its message log: both private.
    holding = files_holding(tmp_path / "state", PASSWORD)
    assert {p.parent for p in holding} == {store, logs}
    for path in [*store.iterdir(), *logs.iterdir()]:
        if path.name.startswith("FIX.4.4-CLIENT-EXCH"):
            assert mode(path) & 0o077 == 0, path
    assert "other users may read" not in caplog.text


async def test_an_open_directory_is_warned_about_and_its_session_files_closed(
    guarded: FixExchange, open_connector: Callable[..., Any], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = tmp_path / "shared"
    store.mkdir()
    store.chmod(0o755)
    other = store / "notes.txt"  # not QuickFIX's: left as it is
    other.write_text("x")
    other.chmod(0o644)
    caplog.set_level(logging.WARNING, logger="stockfish.fix")
    h: ConnectorHarness = await open_connector(
        guarded, "FIX.4.4", username="trader", password=PASSWORD, file_store_path=str(store))
    await h.disconnect()
    assert mode(store) == 0o755  # a directory the user made is the user's to change
    assert f"run: chmod 700 {store}" in caplog.text
    assert "(mode 0755)" in caplog.text
    body = store / "FIX.4.4-CLIENT-EXCH.body"
    assert PASSWORD.encode() in body.read_bytes()
    assert mode(body) == 0o600
    assert mode(other) == 0o644


async def test_no_warning_without_credentials(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = tmp_path / "open"
    store.mkdir()
    store.chmod(0o755)
    caplog.set_level(logging.WARNING, logger="stockfish.fix")
    h: ConnectorHarness = await open_connector(exchange, version, file_store_path=str(store))
    await h.disconnect()
    assert "chmod" not in caplog.text
    # Its files are still closed to other users: they hold the order flow.
    assert all(mode(p) & 0o077 == 0 for p in store.iterdir())


async def test_a_store_directory_that_cannot_be_made_is_a_clear_error(
    exchange: FixExchange, version: str, open_connector: Callable[..., Any], tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    h: ConnectorHarness = await open_connector(
        exchange, version, connect=False, file_store_path=str(blocker / "store"))
    with pytest.raises(FixSessionError) as info:
        await h.call("stockfish_connect")
    assert str(info.value) == (f"fix: cannot create the QuickFIX FileStorePath directory "
                               f"{blocker / 'store'}: Not a directory")

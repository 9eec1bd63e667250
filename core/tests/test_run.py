"""`stockfish run`: the dashboard in a real terminal, JSON lines with --headless, clean
shutdown on SIGTERM, and the Prometheus endpoint."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "STOCKFISH_JOURNAL": str(tmp_path / "journal.sqlite"),
            "COLUMNS": "140", "LINES": "60", "TERM": "xterm-256color"}


def stockfish(*args: str) -> list[str]:
    return [sys.executable, "-m", "stockfish_core.cli", *args]


def read_until(fd: int, done: callable, timeout: float) -> str:  # type: ignore[valid-type]
    """Read a pty until done(text) or the timeout; bounded in time and size."""
    text = ""
    deadline = time.monotonic() + timeout
    while not done(text) and time.monotonic() < deadline and len(text) < 2_000_000:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            text += chunk.decode(errors="replace")
    return text


def test_dashboard_in_a_terminal_and_sigterm(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(stockfish("run"), stdin=slave, stdout=slave, stderr=slave,
                            env=env(tmp_path), close_fds=True)
    os.close(slave)
    try:
        screen = read_until(master, lambda t: all(w in t for w in (
            "Connectors", "Quotes", "SPY", "QQQ", "connected", "primary")) and "ago" in t, 30)
        assert "Connectors" in screen
        assert "sim" in screen and "connected" in screen
        assert "SPY" in screen and "BTCUSD" in screen
        assert "stockfish run: built-in simulated venue" in screen
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        rest = read_until(master, lambda t: False, 1.0)
        assert "Traceback" not in screen + rest
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert (tmp_path / "journal.sqlite").exists()


def test_headless_writes_json_lines(tmp_path: Path) -> None:
    result = subprocess.run(stockfish("run", "--headless", "--duration", "2.5"),
                            capture_output=True, text=True, env=env(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON
    events = [r.get("event") for r in records]
    assert events[0] in ("status", "started", None)
    assert "started" in events and events[-1] == "stopped"
    stats = [r for r in records if r.get("event") == "stats"]
    assert stats, "a stats record every second"
    assert stats[-1]["health"]["sim"]["connected"]
    assert {"SPY", "QQQ"} <= set(stats[-1]["quotes"])
    assert any(r.get("logger") == "stockfish.manager" for r in records)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_prometheus_endpoint(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "run.yaml"
    config.write_text(f"""
connectors:
  sim: {{primary: true, tick_interval: 0.01, positions: {{SPY: 3}}}}
subscriptions:
  - {{symbols: [SPY]}}
metrics: {{enabled: true, host: 127.0.0.1, port: {port}}}
""")
    proc = subprocess.Popen(stockfish("run", str(config), "--headless"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(tmp_path))
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the process's life; it waits for us
            if json.loads(line).get("event") == "stats":
                break
        body = ""
        for _ in range(50):  # bounded: the first scrape may precede the first update
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                body = r.read().decode()
            if 'stockfish_updates_received_total{connector="sim"}' in body and \
                    'stockfish_updates_received_total{connector="sim"} 0.0' not in body:
                break
        assert 'stockfish_connector_up{connector="sim"} 1.0' in body
        assert 'stockfish_connector_health_score{connector="sim"}' in body
        assert 'stockfish_updates_by_type_total{connector="sim",type="price_tick"}' in body
        assert "stockfish_kill_switch 0.0" in body
        # The sim account held SPY 3 that no fill in the journal explains: reported.
        assert 'stockfish_position_differences_total{connector="sim"} 1.0' in body
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_bad_config_is_reported_not_raised(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("connectors:\n  sim: {tick_interval: fast}\n")
    result = subprocess.run(stockfish("run", str(config), "--headless"), capture_output=True,
                            text=True, env=env(tmp_path), timeout=60)
    assert result.returncode == 1
    assert "connectors.sim.tick_interval: expected a number, got 'fast'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_readme_strategy_trades(tmp_path: Path) -> None:
    strategy = Path(__file__).resolve().parents[2] / "examples" / "strategy" / \
        "mean_reversion.py"
    result = subprocess.run(
        stockfish("run", "--headless", "--duration", "4",
                  "--strategy", f"{strategy}:MeanReversion"),
        capture_output=True, text=True, env=env(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    orders = [r["order"] for r in records if r.get("event") == "order"]
    fills = [r["fill"] for r in records if r.get("event") == "fill"]
    assert orders, "the strategy sent orders"
    assert fills, "and they filled"
    assert {o["symbol"] for o in orders} == {"SPY"}
    final = {o["client_order_id"]: o["status"] for o in orders}
    assert set(final.values()) <= {"SUBMITTED", "PARTIALLY_FILLED", "FILLED"}

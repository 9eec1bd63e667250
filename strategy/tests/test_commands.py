"""``stockfish backtest``: the command stockfish-strategy adds to the core's CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from stockfish_core import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategy"


def test_the_backtest_command_is_there_with_this_distribution() -> None:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    assert "backtest" in action.choices  # type: ignore[operator]


def test_backtest_writes_the_summary_files_and_report(
    bars: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    code = cli.main(["backtest", f"{EXAMPLES / 'seed_sma.py'}:SimpleMovingAverage",
                     "--data", str(bars), "--capital", "50000",
                     "--commission", "per_share:0.005,min=1,max=0.01", "--slippage", "bps:1",
                     "--out", str(tmp_path / "out"), "--json"], out)
    assert code == 0
    summary = json.loads(out.getvalue())
    for key in ("account_value", "positions", "total_fills", "total_errors", "total_return",
                "annualized_return", "annualized_volatility", "sharpe", "sortino",
                "max_drawdown", "win_rate", "turnover", "commissions"):
        assert key in summary
    assert summary["total_fills"] > 0
    assert float(summary["commissions"]) >= summary["total_fills"]  # at least 1.00 an order
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == {"fills.csv", "orders.csv", "trades.csv", "equity.csv", "summary.json",
                     "report.html"}
    err = capsys.readouterr().err
    assert "100%" in err  # the progress bar reached the end


@pytest.mark.parametrize(("args", "message"), [
    (["nope.py:X"], "no such file nope.py"),
    (["{examples}/seed_sma.py:Missing"], "has no 'Missing'"),
    (["{examples}/seed_sma.py:SimpleMovingAverage", "--commission", "flat:1"],
     "unknown model 'flat'"),
])
def test_backtest_errors_are_one_clear_line(bars: Path, tmp_path: Path, args: list[str],
                                           message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    args = [a.format(examples=EXAMPLES) for a in args]
    code = cli.main(["backtest", *args, "--data", str(bars), "--out", str(tmp_path / "o"),
                     "--no-progress"], io.StringIO())
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("stockfish backtest: ")
    assert message in err
    assert not (tmp_path / "o").exists()  # nothing half-done


def test_backtest_on_history_bars_of_the_simulated_venue(tmp_path: Path) -> None:
    out = io.StringIO()
    args = ["backtest", f"{EXAMPLES / 'seed_sma.py'}:SimpleMovingAverage", "--history",
            "--symbols", "AAPL", "--from", "2024-01-01", "--to", "2024-07-01",
            "--interval", "1d", "--cache", str(tmp_path / "cache"), "--no-progress",
            "--json"]
    assert cli.main([*args, "--out", str(tmp_path / "a")], out) == 0
    summary = json.loads(out.getvalue())
    assert summary["total_fills"] > 0
    # The bars came through the cache and were recorded where the results are; a second
    # run from the cache gives the same result, byte for byte.
    assert (tmp_path / "a" / "data").is_dir()
    assert cli.main([*args, "--out", str(tmp_path / "b")], io.StringIO()) == 0
    for name in ("fills.csv", "summary.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_history_needs_symbols_and_a_range(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"{EXAMPLES / 'seed_sma.py'}:SimpleMovingAverage"
    assert cli.main(["backtest", spec, "--history", "--out", str(tmp_path)],
                    io.StringIO()) == 1
    assert "--history needs --symbols" in capsys.readouterr().err
    assert cli.main(["backtest", spec, "--history", "--symbols", "AAPL", "--out",
                     str(tmp_path)], io.StringIO()) == 1
    assert "--history needs --from and --to" in capsys.readouterr().err

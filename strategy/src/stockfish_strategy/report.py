"""The HTML report of a run: the summary, the equity curve and the drawdown plotted with
matplotlib (inline SVG: one self-contained file, readable offline), the trades and the
strategy's errors. The same inputs give the same bytes (no dates, fixed SVG ids)."""

from __future__ import annotations

import html
import io
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import Results

__all__ = ["html_report", "plot_svg", "save_plot"]

_PERCENT = {"total_return", "annualized_return", "annualized_volatility", "max_drawdown",
            "win_rate"}


def plot_svg(results: Results) -> str:
    """Equity and drawdown, one above the other, as an SVG document."""
    buffer = io.StringIO()
    save_plot(results, buffer, "svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


def save_plot(results: Results, out: Any, fmt: str = "png") -> None:
    """Equity and drawdown into ``out`` (a path or a file object) as ``fmt``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    equity = results.equity
    with matplotlib.rc_context({"svg.hashsalt": "stockfish", "svg.fonttype": "none"}):
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True,
                                          gridspec_kw={"height_ratios": [3, 1]})
        try:
            if len(equity):
                times = equity.index.tz_convert(None).to_pydatetime()
                top.plot(times, equity["equity"].map(float), color="#1f5fa8", linewidth=1.2)
                bottom.fill_between(times, equity["drawdown"] * 100, 0, color="#c0392b",
                                    alpha=0.5, step="post")
            top.set_ylabel("equity")
            top.set_title(f"{results.strategy} ({results.mode})")
            top.grid(True, alpha=0.3)
            bottom.set_ylabel("drawdown %")
            bottom.grid(True, alpha=0.3)
            fig.autofmt_xdate()
            fig.tight_layout()
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            fig.savefig(out, format=fmt, metadata=metadata)
        finally:
            plt.close(fig)


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.2%}" if key in _PERCENT else f"{value:.3f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value)


def _table(frame: Any, limit: int = 200) -> str:
    if frame is None or len(frame) == 0:
        return "<p>none</p>"
    shown = frame.head(limit)
    text: str = shown.to_html(index=False, border=0, classes="data", na_rep="-")
    more = f"<p>{len(frame) - limit} more in the CSV files</p>" if len(frame) > limit else ""
    return text + more


def html_report(results: Results) -> str:
    rows = "".join(f"<tr><th>{html.escape(k.replace('_', ' '))}</th>"
                   f"<td>{html.escape(_fmt(k, v))}</td></tr>"
                   for k, v in results.summary.items())
    errors = "".join(f"<li><code>{html.escape(e['time'])}</code> {html.escape(e['callback'])}: "
                     f"{html.escape(e['error'])}</li>" for e in results.errors) or "<li>none</li>"
    title = html.escape(f"{results.strategy}: {results.mode} report")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ padding: 0.2em 0.8em; text-align: left; border-bottom: 1px solid #ddd; }}
table.data td {{ font-family: ui-monospace, monospace; }}
</style></head>
<body>
<h1>{title}</h1>
<h2>Summary</h2>
<table>{rows}</table>
<h2>Equity and drawdown</h2>
{plot_svg(results)}
<h2>Trades</h2>
{_table(results.trades)}
<h2>Strategy errors</h2>
<ul>{errors}</ul>
</body></html>
"""

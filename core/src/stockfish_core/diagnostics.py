"""Messages that tell a plugin author what was missing, not only that something was.

Shared by the manager, the test harness and the conformance suite, so that a connect
hook that never reports CONNECTED, or a venue whose sequence numbers are not keyed the
way the core keys them, is named as such wherever it shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connector import Connector

__all__ = ["SEQUENCE_KEYS_HINT", "connect_hook_hung", "connect_hook_silent"]

#: Said with a sequencer's first gaps: most early gaps are a venue numbering its
#: messages another way than the core keys them.
SEQUENCE_KEYS_HINT = (
    "sequence numbers are tracked per (source, stream, symbol): a venue that numbers its "
    "messages once per session across symbols checks them itself on the raw messages "
    "(stockfish_core.plugin_api.sequencer_for) or leaves MarketUpdate.sequence_number unset")


def connect_hook_silent(connector: Connector, timeout: float) -> str:
    """Why a connect attempt failed when the hook returned without CONNECTED."""
    return (f"the connect hook of plugin {connector.plugin!r} returned but did not report "
            f"CONNECTED within {timeout}s (status {connector.status.value}"
            f"{': ' + connector.status_reason if connector.status_reason else ''}); a "
            "plugin calls connector.report_connected() once its session "
            "is usable")


def connect_hook_hung(connector: Connector, timeout: float) -> str:
    """Why a connect attempt failed when the hook itself did not return in time."""
    return (f"the connect hook of plugin {connector.plugin!r} did not return within "
            f"{timeout}s (status {connector.status.value}); a connect hook returns once the "
            "session is open and leaves reading to a task (connector.spawn)")

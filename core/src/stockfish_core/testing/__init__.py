"""Test support for plugin authors: a harness that drives one connector through its
hooks, and the conformance suite every connector passes through the ExchangeManager
(:class:`ConnectorConformance`, which needs pytest)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..plugins import PluginRegistry
from .harness import ConnectorHarness, RecordingListener, ReportedError, wait_until

if TYPE_CHECKING:
    from .conformance import ConnectorConformance, VenueUnderTest, conformance_manager

__all__ = [
    "ConnectorConformance",
    "ConnectorHarness",
    "PluginRegistry",
    "RecordingListener",
    "ReportedError",
    "VenueUnderTest",
    "conformance_manager",
    "wait_until",
]


def __getattr__(name: str) -> Any:
    if name in ("ConnectorConformance", "VenueUnderTest", "conformance_manager"):
        from . import conformance

        return getattr(conformance, name)
    raise AttributeError(name)

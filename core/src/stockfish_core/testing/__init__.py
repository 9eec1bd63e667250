"""Test support for plugin authors: a harness that drives one connector through its
hooks, and (with the manager) the conformance suite every connector passes."""

from .harness import ConnectorHarness, RecordingListener, ReportedError

__all__ = ["ConnectorHarness", "RecordingListener", "ReportedError"]

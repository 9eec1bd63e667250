"""The fuzz suite: hypothesis over every place that reads input from outside the process.

Two profiles: ``quick`` (the default, every CI run) and ``long`` (at least 10,000 cases
per test; ``python3 dev.py fuzz``, or ``HYPOTHESIS_PROFILE=long``). A fuzz test asserts
that no exception escapes, that every bad input is counted with a reason, and that good
input beside it is not lost.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "quick", max_examples=200, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long", max_examples=10_000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

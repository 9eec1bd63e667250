"""Exceptions raised by the core and by plugins.

Every error a user can cause derives from :class:`StockfishError` and carries a message
that says what was wrong and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "IllegalTransition",
    "InvalidOrderError",
    "OrderRejected",
    "PluginApiMismatch",
    "PluginConflict",
    "PluginError",
    "PluginLoadError",
    "PluginNotInstalled",
    "StockfishError",
    "VenueUnavailable",
]


class StockfishError(Exception):
    """Base class of the project's errors."""


class InvalidOrderError(StockfishError, ValueError):
    """An order that cannot exist: raised when it is built, before anything is sent."""


class IllegalTransition(StockfishError):
    """An order status change that the state machine does not allow."""


class OrderRejected(StockfishError):
    """An order refused before it reached a venue (risk check, no route) or by the venue.

    Raised by a plugin's execute hook, it means nothing went out: the order is final.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VenueUnavailable(StockfishError):
    """Raised by a plugin's execute hook when the request did not leave this process.

    The manager may route a new order elsewhere; contrast with any other exception from
    a submit, after which the order's outcome is unknown and it waits for reconciliation.
    """


@attrs.frozen
class ConfigProblem:
    """One thing wrong with a configuration file."""

    #: Where in the file, as dotted keys (``connectors.fix.port``; empty: the whole file).
    path: str
    #: What is wrong, or for a note, what to write instead.
    message: str
    #: The file the problem is in, when it came from one.
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        at = self.path or "(top level)"
        return f"{where}{at}: {self.message}"


class ConfigError(StockfishError):
    """A configuration that cannot be used; ``problems`` lists every issue found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.problems)
        head = "configuration is invalid" if n == 1 else f"configuration has {n} problems"
        files = {p.file for p in self.problems}
        if len(files) == 1 and None not in files:
            # One file: name it once, then each problem as path: message.
            lines = [str(attrs.evolve(p, file=None)) for p in self.problems]
            return f"{files.pop()}: {head}:\n" + "\n".join(f"  - {line}" for line in lines)
        return head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)


class PluginError(StockfishError):
    """A plugin could not be found, loaded or validated."""


class PluginNotInstalled(PluginError):
    """An enabled plugin has no installed distribution."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.distribution = f"stockfish-{name}"
        super().__init__(
            f"plugin {name!r} is enabled but not installed; "
            f"install it with: pip install {self.distribution}"
        )


class PluginConflict(PluginError):
    """Two installed plugins claim one name."""


class PluginLoadError(PluginError):
    """A plugin failed to import, register or validate."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"plugin {name!r} failed to load: {reason}")


class PluginApiMismatch(PluginLoadError):
    """A plugin was written for a plugin API this core does not offer."""

"""Secrets in configuration: values that never show themselves."""

from __future__ import annotations

import attrs

__all__ = ["Secret"]


@attrs.frozen(repr=False)
class Secret:
    """A string that never shows itself: ``repr`` and ``str`` give ``'***'``."""

    _value: str = attrs.field(alias="value")

    def get_secret_value(self) -> str:
        """The real value, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

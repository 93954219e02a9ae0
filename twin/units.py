"""Parsing of the quantities users type: durations such as ``2h``, ``90min``, ``1h30m``, ``45s``."""

from __future__ import annotations

import math
import re

from twin.errors import TwinError

__all__ = ["parse_duration", "read_seconds"]

_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(hours?|hr|h|minutes?|min|m|seconds?|sec|s)(?=[\d\s]|$)", re.IGNORECASE
)
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def read_seconds(text: str | float | int) -> float:
    """Seconds in a duration as written, without judging the value (NaN if it cannot be read):
    a number of seconds, or parts like ``2h``, ``1h30m``, ``90min``."""
    if isinstance(text, bool):
        return math.nan
    if isinstance(text, int | float):
        return float(text)
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        parts = _PART.findall(stripped)
        if not parts or _PART.sub("", stripped).strip():
            return math.nan
        return sum(float(value) * _SECONDS[unit[0].lower()] for value, unit in parts)


def parse_duration(text: str | float | int, *, what: str = "duration") -> float:
    """Seconds in a duration: a number of seconds, or parts like ``2h``, ``1h30m``, ``90min``.

    Raises
    ------
    TwinError
        The text is not a positive, finite duration; the message shows accepted forms.
    """
    seconds = read_seconds(text)
    if math.isnan(seconds):
        raise TwinError(
            f"Cannot read {what} '{text}': write seconds (5400) or hours, minutes and "
            "seconds such as 2h, 90min, 1h30m, 45s."
        )
    if not (seconds > 0 and math.isfinite(seconds)):
        raise TwinError(f"The {what} must be positive and finite, got '{text}'.")
    return seconds

"""Parsing of the quantities users type: durations such as ``2h``, ``90min``, ``1h30m``, ``45s``."""

from __future__ import annotations

import re

from twin.errors import TwinError

__all__ = ["parse_duration"]

_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(hours?|hr|h|minutes?|min|m|seconds?|sec|s)(?=[\d\s]|$)", re.IGNORECASE
)
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str | float | int, *, what: str = "duration") -> float:
    """Seconds in a duration: a number of seconds, or parts like ``2h``, ``1h30m``, ``90min``.

    Raises
    ------
    TwinError
        The text is not a positive duration; the message shows accepted forms.
    """
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        stripped = text.strip()
        try:
            seconds = float(stripped)
        except ValueError:
            parts = _PART.findall(stripped)
            if not parts or _PART.sub("", stripped).strip():
                raise TwinError(
                    f"Cannot read {what} '{text}': write seconds (5400) or hours, minutes and "
                    "seconds such as 2h, 90min, 1h30m, 45s."
                ) from None
            seconds = sum(float(value) * _SECONDS[unit[0].lower()] for value, unit in parts)
    if not seconds > 0:
        raise TwinError(f"The {what} must be positive, got '{text}'.")
    return seconds

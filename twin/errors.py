"""Errors of the twin's core, and the tuple of all errors that are the user's to fix.

Every message names the problem and the fix; the CLI prints such errors as one line, no traceback.
"""

from __future__ import annotations

from cities.errors import CityError

__all__ = ["USER_ERRORS", "NoDrivableRoadsError", "TwinError"]


class TwinError(Exception):
    """Base class for the twin's own errors about user input."""


class NoDrivableRoadsError(TwinError):
    """An OSM file whose roads include no drivable network."""


USER_ERRORS: tuple[type[Exception], ...] = (TwinError, CityError)
"""Errors caused by input the user can correct; shown as one clear line."""

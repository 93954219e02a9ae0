"""The errors a user can correct, as the top layer raises and reports them.

Every message names the problem and the fix; the CLI prints such errors as one line, no
traceback, and the dashboard shows them beside the run.
"""

from __future__ import annotations

from cities.errors import CityError, NoDrivableRoadsError, TwinError

__all__ = ["USER_ERRORS", "CityError", "NoDrivableRoadsError", "TwinError"]

USER_ERRORS: tuple[type[Exception], ...] = (TwinError,)
"""Errors caused by input the user can correct; shown as one clear line."""

"""Errors about input the user can correct: the base of every such error, and the city's own.

Each message names the problem and what to do about it; the CLI, the API and the dashboard show
it as one line, never a traceback. Every layer above raises subclasses of :class:`TwinError`.
"""

from __future__ import annotations

import stat
from pathlib import Path

__all__ = [
    "CityError",
    "CityNotFoundError",
    "NetworkUnavailableError",
    "NoDrivableRoadsError",
    "OSMFileError",
    "TwinError",
    "file_problem",
]


class TwinError(Exception):
    """Base class for every error about input the user can correct."""


class CityError(TwinError):
    """Base class for every error about a city's source data."""


class CityNotFoundError(CityError):
    """A city name that is not registered, or a path that does not exist."""


class OSMFileError(CityError):
    """An OSM file that cannot be read: wrong extension, corrupt, truncated."""


class NetworkUnavailableError(CityError):
    """An online download that cannot reach its service."""


class NoDrivableRoadsError(TwinError):
    """An OSM file whose roads include no drivable network."""


def file_problem(path: Path, noun: str) -> str | None:
    """Why ``path`` cannot be read as a ``noun`` (e.g. ``"OD table"``), or None for a file.

    A folder and a device are not "missing": saying so would send the user looking for a
    file that is there. A device or a pipe is refused unread (it reads forever, or waits).
    """
    article = "an" if noun[:1].lower() in "aeiou" else "a"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"No such {noun}: {path}"
    except OSError as err:
        return f"{path} cannot be read as {article} {noun} ({err.strerror or err})"
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not {article} {noun}"
    if not stat.S_ISREG(mode):
        return f"{path} is a device or a pipe, not {article} {noun}"
    return None

"""Errors raised while finding or reading a city's OSM data.

Each message names the problem and what to do about it; the CLI prints it as one line.
"""

from __future__ import annotations

__all__ = [
    "CityError",
    "CityNotFoundError",
    "NetworkUnavailableError",
    "OSMFileError",
]


class CityError(Exception):
    """Base class for every error about a city's source data."""


class CityNotFoundError(CityError):
    """A city name that is not registered, or a path that does not exist."""


class OSMFileError(CityError):
    """An OSM file that cannot be read: wrong extension, corrupt, truncated."""


class NetworkUnavailableError(CityError):
    """An online download that cannot reach its service."""

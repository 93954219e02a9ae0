"""Errors about input the user can correct: the base of every such error, and the city's own.

Each message names the problem and what to do about it; the CLI, the API and the dashboard show
it as one line, never a traceback. Every layer above raises subclasses of :class:`TwinError`.
"""

from __future__ import annotations

__all__ = [
    "CityError",
    "CityNotFoundError",
    "NetworkUnavailableError",
    "NoDrivableRoadsError",
    "OSMFileError",
    "TwinError",
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

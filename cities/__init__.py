"""Cities: the city model, the lowest layer of CitiVerse Twin.

The registry of bundled and local OSM extracts and reading them (``registry``, ``osm``, the
online download behind ``_online``); the road network built from them (``roads``, ``build``,
``network``, ``synthetic``, ``areas``), routing (``routing``), where people live and work
(``context``, ``peak_demand``), edits of the network (``interventions``), the on-disk cache
(``cache``) and :class:`~cities.city.City`, which ties them together. Names load lazily, so that
importing the error classes does not import the GIS stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "City": "cities.city",
    "load_city": "cities.city",
    "RoadNetwork": "cities.network",
    "Router": "cities.routing",
    "CityContext": "cities.context",
    "TwinError": "cities.errors",
    "CityError": "cities.errors",
    "CityNotFoundError": "cities.errors",
    "NetworkUnavailableError": "cities.errors",
    "OSMFileError": "cities.errors",
    "OSMExtract": "cities.osm",
    "read_osm": "cities.osm",
    "CitySource": "cities.registry",
    "RegisteredCity": "cities.registry",
    "default_city_name": "cities.registry",
    "registered_cities": "cities.registry",
    "resolve": "cities.registry",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'cities' has no attribute {name!r}")

"""Cities: the registry of bundled and local OSM extracts, and reading them.

This is the lowest layer of CitiVerse Twin: it knows OSM files, not road models.
"""

from cities.errors import CityError, CityNotFoundError, NetworkUnavailableError, OSMFileError
from cities.osm import OSMExtract, read_osm
from cities.registry import (
    CitySource,
    RegisteredCity,
    default_city_name,
    registered_cities,
    resolve,
)

__all__ = [
    "CityError",
    "CityNotFoundError",
    "CitySource",
    "NetworkUnavailableError",
    "OSMExtract",
    "OSMFileError",
    "RegisteredCity",
    "default_city_name",
    "read_osm",
    "registered_cities",
    "resolve",
]

"""CitiVerse Twin: a local digital twin of a city's traffic and waste collection.

The public API is importable from here (``from twin import load_city``); names load lazily so
that ``import twin.errors`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.2.0"

_PUBLIC = {
    "City": "twin.city",
    "load_city": "twin.city",
    "RoadNetwork": "twin.network",
    "Router": "twin.routing",
    "Routes": "twin.routing",
    "CityContext": "twin.context",
    "TwinError": "twin.errors",
    "Scenario": "twin.scenario",
    "load_scenario": "twin.scenario",
    "Twin": "twin.api",
    "compare": "twin.api",
    "run_scenario": "twin.api",
    "run_traffic": "twin.api",
    "run_waste": "twin.api",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'twin' has no attribute {name!r}")

"""A loaded city: its road network and context, built from OSM once and then served from cache."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import cities
from cities import cache
from cities.context import CityContext, build_context
from cities.network import RoadNetwork
from cities.routing import Router

__all__ = ["LOAD_STEPS", "City", "load_city"]

LOAD_STEPS = ("hash", "cache", "read", "graph", "simplify", "project", "context", "store")
"""Labels passed to ``on_step``, in order; a load served from cache stops after ``cache``."""


@dataclass(eq=False)
class City:
    """A city ready for simulation.

    Attributes
    ----------
    name
        The registered name, or the file name without its OSM suffix.
    source
        The OSM file and its content hash.
    network
        The drivable road network.
    context
        Home and work weights per node, and the OSM features behind them.
    load_seconds
        Wall time of the load that produced this object.
    from_cache
        Whether the network came from the on-disk cache.
    """

    name: str
    source: cities.CitySource
    network: RoadNetwork
    context: CityContext
    load_seconds: float
    from_cache: bool

    @cached_property
    def router(self) -> Router:
        """Shortest paths by free-flow travel time."""
        return Router(self.network)

    def summary(self) -> dict[str, Any]:
        """Everything ``twin city info`` reports, as JSON-ready values."""
        return {
            "city": self.name,
            "source": str(self.source.path),
            "sha256": self.source.sha256,
            **self.network.summary(),
            "context": self.context.summary(),
            "load_seconds": round(self.load_seconds, 3),
            "from_cache": self.from_cache,
        }


def load_city(
    city: str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> City:
    """Load a city by registered name or OSM file path.

    Parameters
    ----------
    city
        A name from ``twin cities``, a path to an ``.osm``/``.osm.bz2``/``.osm.gz``/``.osm.pbf``
        file, or ``None`` for the bundled default city.
    use_cache
        Read and write the on-disk cache. A city is cached under the hash of its file's content,
        so an edited file is rebuilt and a renamed one is not.
    cache_dir
        Cache folder; see :func:`cities.cache.default_cache_dir`.
    on_step
        Called with each step's label (:data:`LOAD_STEPS`) as it starts, for progress display.

    Returns
    -------
    City

    Raises
    ------
    cities.CityError, twin.errors.TwinError
        Unknown name, missing or unreadable file, no drivable roads; the message says what to do.
    """
    step = on_step or (lambda _label: None)
    started = time.perf_counter()
    step("hash")
    source = cities.resolve(city)
    entry = cache.entry_dir(
        Path(cache_dir) if cache_dir else cache.default_cache_dir(), source.sha256
    )
    if use_cache:
        step("cache")
        cached = cache.read(entry, sha256=source.sha256)
        if cached is not None:
            network, context, _meta = cached
            return City(source.name, source, network, context, time.perf_counter() - started, True)
    from cities.build import build_network  # a cold build only: osmnx and networkx load slowly

    step("read")
    extract = cities.read_osm(source.path)
    network = build_network(extract, on_step=step)
    step("context")
    context = build_context(extract, network)
    if use_cache:
        step("store")
        meta = {"city": source.name, "source": str(source.path), "sha256": source.sha256}
        cache.write(entry, network, context, meta)
    return City(source.name, source, network, context, time.perf_counter() - started, False)

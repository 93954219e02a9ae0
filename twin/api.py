"""The public Python API: the composition root that wires cities, the core and the twins.

The CLI and the dashboard call these functions and nothing deeper.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from agents.traffic.demand import generate_trips, read_od_table
from agents.traffic.model import TrafficConfig, TrafficModel, TrafficResult
from twin import __version__
from twin.city import City, load_city
from twin.errors import TwinError
from twin.interventions import ScaleDemand, apply_to_network
from twin.results_io import edge_summary, write_traffic_result
from twin.units import parse_duration

__all__ = ["TrafficRun", "run_traffic"]


@dataclass
class TrafficRun:
    """A finished traffic run with everything needed to reproduce and export it."""

    city: City
    result: TrafficResult
    config: TrafficConfig
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def kpis(self) -> dict[str, Any]:
        return self.result.kpis

    def edges(self) -> gpd.GeoDataFrame:
        """The road network's edges with per-edge traffic summaries, for maps."""
        _, edges = self.city.network.to_geodataframes()
        return edges.join(edge_summary(self.city.network, self.result.edge_series))

    def run_info(self) -> dict[str, Any]:
        """Version, city hash, seed and settings: what reproduces the run."""
        return {
            "package_version": __version__,
            "city": self.city.name,
            "city_sha256": self.city.source.sha256,
            "seed": self.seed,
            "config": asdict(self.config),
            **self.settings,
        }

    def write(self, out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write KPIs and tables (Parquet/GeoParquet) into ``out``, atomically."""
        return write_traffic_result(
            Path(out),
            network=self.city.network,
            kpis=self.kpis,
            trips=self.result.trips,
            edge_series=self.result.edge_series,
            model_data=self.result.model_data,
            run_info=self.run_info(),
            overwrite=overwrite,
        )


def run_traffic(
    city: str | os.PathLike[str] | City | None = None,
    *,
    trips: int | None = None,
    od_table: str | os.PathLike[str] | None = None,
    duration: str | float = "2h",
    window: str | float | None = None,
    seed: int = 0,
    dt_s: float = 2.0,
    reroute_share: float = 0.2,
    profile: str = "flat",
    interventions: Sequence[object] = (),
    on_invalid: str = "skip",
    on_progress: Callable[[float], None] | None = None,
) -> TrafficRun:
    """Simulate a city's traffic.

    Parameters
    ----------
    city
        A name, a path, or an already loaded :class:`~twin.city.City`.
    trips
        Number of generated home → work trips (ignored when ``od_table`` is given).
    od_table
        CSV/Parquet with ``origin, destination, departure`` (OSM node ids, seconds or HH:MM:SS).
    duration
        Simulated time, e.g. ``"2h"``.
    window
        Departures are spread over ``[0, window)``; default half the duration.
    seed
        Seed of demand and every random choice; same seed, same KPIs.
    dt_s, reroute_share
        See :class:`~agents.traffic.model.TrafficConfig`.
    profile
        Departure profile name (see :data:`agents.traffic.demand.DEPARTURE_PROFILES`).
    interventions
        :mod:`twin.interventions` objects: closed or changed edges, demand scaling.
    on_invalid
        OD rows naming unknown nodes and unreachable trips: ``"skip"`` (counted) or ``"error"``.
    on_progress
        Called with the completed fraction, 0–1.
    """
    duration_s = parse_duration(duration)
    window_s = duration_s / 2 if window is None else parse_duration(window, what="departure window")
    loaded = city if isinstance(city, City) else load_city(city)
    network, closed = apply_to_network(loaded.network, list(interventions))
    factors = [i.factor for i in interventions if isinstance(i, ScaleDemand)]
    if any(not factor >= 0 for factor in factors):
        raise TwinError(f"Demand scale must not be negative, got {factors}.")
    scale = float(np.prod(factors))
    rng = np.random.default_rng(seed)
    settings: dict[str, Any] = {"window_s": window_s, "profile": profile, "demand_scale": scale}
    if od_table is not None:
        demand, report = read_od_table(od_table, network, on_invalid=on_invalid)
        if scale != 1.0:
            demand = demand.subset(np.flatnonzero(rng.random(len(demand)) < scale))
        settings["od_table"] = {"path": str(od_table), **report}
    else:
        if trips is None:
            raise TwinError("Give a number of trips (--trips N) or an OD table (--od FILE).")
        if trips < 0:
            raise TwinError(f"The number of trips must be zero or more, got {trips}.")
        n_trips = round(trips * scale)
        demand = generate_trips(
            loaded.context, n_trips=n_trips, window_s=window_s, rng=rng, profile=profile
        )
        settings["trips_requested"] = trips
    config = TrafficConfig(
        duration_s=duration_s,
        dt_s=dt_s,
        reroute_share=reroute_share,
        on_unreachable=on_invalid,
    )
    model = TrafficModel(network, demand, config=config, closed=closed, seed=seed)
    result = model.run(on_progress=on_progress)
    settings["interventions"] = [f"{type(i).__name__}({asdict(i)})" for i in interventions]
    return TrafficRun(loaded, result, config, seed, settings)

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
from agents.waste.bins import place_bins
from agents.waste.model import LinkTimes, WasteConfig, WasteModel, WasteResult
from agents.waste.planning import Planner
from agents.waste.sites import locate_sites
from twin import __version__
from twin.city import City, load_city
from twin.errors import TwinError
from twin.interventions import ScaleDemand, apply_to_network
from twin.results_io import edge_summary, write_traffic_result, write_waste_result
from twin.units import parse_duration

__all__ = ["TrafficRun", "WasteRun", "run_traffic", "run_waste"]


def _reproduction_info(city: City, seed: int, config: Any) -> dict[str, Any]:
    """Package version, city content hash, seed and settings of a run."""
    return {
        "package_version": __version__,
        "city": city.name,
        "city_sha256": city.source.sha256,
        "seed": seed,
        "config": asdict(config),
    }


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
        return {**_reproduction_info(self.city, self.seed, self.config), **self.settings}

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


@dataclass
class WasteRun:
    """A finished waste run with everything needed to reproduce and export it."""

    city: City
    result: WasteResult
    config: WasteConfig
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    traffic: dict[str, Any] | None = None

    @property
    def kpis(self) -> dict[str, Any]:
        return self.result.kpis

    def run_info(self) -> dict[str, Any]:
        """Version, city hash, seed and settings: what reproduces the run."""
        return {
            **_reproduction_info(self.city, self.seed, self.config),
            **self.result.info,
            **self.settings,
            "traffic": self.traffic,
        }

    def write(
        self,
        out: str | os.PathLike[str],
        *,
        formats: tuple[str, ...] = ("geojson",),
        overwrite: bool = False,
    ) -> Path:
        """Write KPIs, daily table, routes and bins (Parquet/GeoParquet, GeoJSON and/or
        GeoPackage) into ``out``, atomically."""
        return write_waste_result(
            Path(out),
            network=self.city.network,
            kpis=self.kpis,
            daily=self.result.daily,
            routes=self.result.routes,
            bins=self.result.bins,
            run_info=self.run_info(),
            formats=formats,
            overwrite=overwrite,
        )


def _link_times_from_traffic(result: TrafficResult, network, interval_s: float, start_s: float):
    """Travel time of every edge in every interval of a traffic run (free flow where nothing
    was measured; a jammed edge at 1 % of its free speed)."""
    series = result.edge_series
    n_intervals = int(series["interval_start_s"].nunique())
    speed = series["speed_kph"].to_numpy().reshape(n_intervals, network.n_edges)
    speed = np.maximum(speed, 0.01 * network.edge_speed_kph)
    seconds = np.maximum(network.edge_length_m / (speed / 3.6), network.edge_free_flow_s)
    return LinkTimes(seconds=seconds, interval_s=interval_s, start_s=start_s)


def run_waste(
    city: str | os.PathLike[str] | City | None = None,
    *,
    days: int = 28,
    policy: str = "pyvrp",
    trucks: int = 3,
    seed: int = 0,
    population: float | None = None,
    truck_capacity_kg: float = 10_000.0,
    shift: str | float = "8h",
    solver_runtime_s: float = 2.0,
    depot_lonlat: tuple[float, float] | None = None,
    disposal_lonlat: tuple[float, float] | None = None,
    traffic_trips: int | None = None,
    interventions: Sequence[object] = (),
    planner: Planner | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> WasteRun:
    """Simulate a city's waste collection over ``days`` days under one policy.

    Parameters
    ----------
    city
        A name, a path, or an already loaded :class:`~twin.city.City`.
    days, policy, trucks
        Length of the run, policy (``schedule``, ``threshold``, ``greedy``, ``pyvrp``), fleet.
    seed
        Seed of bin placement, waste and planning; same seed, same KPIs (PyVRP under a time
        limit may differ between machines of different speed).
    population
        Residents served; estimated from the OSM file when not given.
    truck_capacity_kg, shift, solver_runtime_s
        See :class:`~agents.waste.model.WasteConfig`; ``shift`` like ``"8h"``.
    depot_lonlat, disposal_lonlat
        Configured sites (longitude, latitude); found in the OSM file otherwise.
    traffic_trips
        Couple with the traffic twin: simulate this many background trips over the shift, time
        every truck leg with the link travel times of its hour, then simulate the traffic again
        with the busiest day's truck legs added, and report both traffic KPIs.
    interventions
        :mod:`twin.interventions` closures and changes of edges.
    planner
        A planner overriding the policy's (e.g. the learned planner).
    on_progress
        Called with the completed fraction, 0–1.
    """
    loaded = city if isinstance(city, City) else load_city(city)
    network, closed = apply_to_network(loaded.network, list(interventions))
    config = WasteConfig(
        days=days,
        policy=policy,
        n_trucks=trucks,
        truck_capacity_kg=truck_capacity_kg,
        shift_s=parse_duration(shift, what="shift"),
        solver_runtime_s=solver_runtime_s,
    )
    config.validate()
    rng = np.random.default_rng(seed)
    bins = place_bins(network, loaded.context, rng=rng, population=population)
    sites = locate_sites(
        network,
        loaded.context,
        depot_xy=depot_lonlat,
        disposal_xy=disposal_lonlat,
        city=loaded.name,
    )
    base_times = np.where(closed, np.inf, network.edge_free_flow_s)
    link_times = LinkTimes(base_times[None, :], 86_400.0)
    traffic: dict[str, Any] | None = None
    traffic_model_args: dict[str, Any] = {}
    if traffic_trips is not None:
        if traffic_trips < 0:
            raise TwinError(f"traffic_trips must be zero or more, got {traffic_trips}.")
        traffic_config = TrafficConfig(duration_s=config.shift_s, dt_s=5.0)
        demand = generate_trips(
            loaded.context, n_trips=traffic_trips, window_s=config.shift_s, rng=rng
        )
        traffic_model_args = {
            "trips": demand, "config": traffic_config, "closed": closed, "seed": seed,
        }  # fmt: skip
        baseline = TrafficModel(network, **traffic_model_args).run()
        link_times = _link_times_from_traffic(
            baseline, network, traffic_config.record_interval_s, config.shift_start_s
        )
        link_times = LinkTimes(
            np.where(closed, np.inf, link_times.seconds), link_times.interval_s, link_times.start_s
        )
        traffic = {"trips": traffic_trips, "baseline": baseline.kpis}
    model = WasteModel(
        network, bins, sites, config=config, link_times=link_times, planner=planner, seed=seed
    )
    result = model.run(on_progress=on_progress)
    if traffic is not None:
        traffic["with_trucks"] = _traffic_with_trucks(model, network, traffic_model_args)
    settings = {
        "population": population,
        "interventions": [f"{type(i).__name__}({asdict(i)})" for i in interventions],
    }
    return WasteRun(loaded, result, config, seed, settings, traffic)


def _traffic_with_trucks(model: WasteModel, network, traffic_model_args: dict) -> dict[str, Any]:
    """Traffic KPIs of the shift with the trucks of the run's busiest day (most truck-km)
    driving in it, every leg between two different nodes as one more vehicle."""
    truck_days = model.truck_days
    km_by_day: dict[int, float] = {}
    for t in truck_days:
        km_by_day[t.day] = km_by_day.get(t.day, 0.0) + t.distance_m
    busiest = max(km_by_day, key=lambda day: (km_by_day[day], -day), default=None)
    nodes = model.location_nodes
    legs = [
        leg
        for t in truck_days
        if t.day == busiest
        for leg in t.legs
        if nodes[leg.origin] != nodes[leg.destination]
    ]
    traffic_model = TrafficModel(network, **traffic_model_args)
    if legs:
        traffic_model.inject_vehicles(
            nodes[[leg.origin for leg in legs]],
            nodes[[leg.destination for leg in legs]],
            np.array([leg.depart_s for leg in legs]),
        )
    kpis = traffic_model.run().kpis
    kpis["truck_day"] = busiest
    kpis["truck_legs"] = len(legs)
    return kpis

"""The public Python API: the composition root that wires cities, the core and the twins.

The CLI and the dashboard call these functions and nothing deeper.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pydantic import ValidationError

from agents.kpis import traffic_warnings
from agents.traffic.demand import Trips, generate_trips, read_od_table, scaled_trips
from agents.traffic.model import TrafficConfig, TrafficModel, TrafficResult
from agents.traffic.retiming import iterated_webster, measured_flows_vph, simulate
from agents.traffic.signals import default_plans
from agents.traffic.timing import DEFAULT_LIMITS, check_plans
from agents.waste.bins import Bins, place_bins
from agents.waste.costs import CostFactors
from agents.waste.model import (
    GIVEN_ROUTES,
    LinkTimes,
    WasteConfig,
    WasteModel,
    WasteResult,
    bin_streets,
    reachable_bins,
    service_times,
    sized_fleet,
)
from agents.waste.names import BASELINES
from agents.waste.planning import Planner, PyVRPPlanner
from agents.waste.rounds import MatchedRounds, match_rounds
from agents.waste.sites import Sites, check_site, locate_sites
from cities.city import City, load_city
from cities.interventions import (
    ChangeEdge,
    ScaleDemand,
    apply_to_network,
    resolve_edges,
)
from cities.network import RoadNetwork
from cities.peak_demand import peak_hour_demand
from cities.registry import resolve
from twin import __version__
from twin._shift_traffic import shift_traffic_memo
from twin.errors import USER_ERRORS, TwinError
from twin.limits import Budget, check, traffic_estimate, waste_estimate
from twin.ngsi import REFERENCE_START, traffic_flow_observed, waste_containers, write_ngsi_ld
from twin.plots import plot_traffic, plot_waste
from twin.results_io import (
    atomic_output_dir,
    bin_points,
    route_lines,
    traffic_edges,
    traffic_files,
    waste_files,
    write_traffic_result,
    write_waste_result,
)
from twin.rounds import RoundsTable, read_rounds
from twin.scenario import load_scenario, scenario_location
from twin.signal_files import as_written, read_plan_file
from twin.specs import (
    MAX_TRUCKS,
    SIGNAL_PLAN_NAMES,
    Scenario,
    ScenarioError,
    TrafficSpec,
    WasteSpec,
    check_seed,
    short_repr,
    spec_error,
    traffic_spec,
    waste_spec,
)

__all__ = [
    "ScenarioRun",
    "TrafficRun",
    "Twin",
    "WasteLayout",
    "WasteRun",
    "against_baseline",
    "check_scenario",
    "check_scenario_in_city",
    "check_signal_timings",
    "checked_scenario",
    "compare",
    "learned_checkpoint",
    "learned_planner",
    "least_greens",
    "model_card_markdown",
    "planner_card_version",
    "propose_plans",
    "retimed_signals",
    "run_scenario",
    "run_traffic",
    "run_waste",
    "signal_plans",
    "waste_layout",
]


def _reproduction_info(city: City, seed: int, config: Any) -> dict[str, Any]:
    """Package version, city content hash, the CRS of the network's metres (tables' ``x``/``y``),
    seed and settings of a run."""
    return {
        "package_version": __version__,
        "city": city.name,
        "city_sha256": city.source.sha256,
        "network_crs": str(city.network.crs),
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
    spec: TrafficSpec | None = None
    network: RoadNetwork | None = None
    """The network the run drove on (the city's with the scenario's street changes);
    ``None``: the city's own."""
    closed: np.ndarray | None = None
    """Which edges the run closed (a mask, one per edge)."""

    @property
    def kpis(self) -> dict[str, Any]:
        return self.result.kpis

    @property
    def run_network(self) -> RoadNetwork:
        """The network the run drove on."""
        return self.network if self.network is not None else self.city.network

    def edges(self) -> gpd.GeoDataFrame:
        """The edges as the run had them (changed lanes, capacity and speed limits; ``closed``
        true for those it closed) with per-edge traffic summaries, for maps."""
        return traffic_edges(self.run_network, self.result.edge_series, self.closed)

    def run_info(self) -> dict[str, Any]:
        """Version, city hash, seed, the spec and settings: what reproduces the run."""
        return {
            **_reproduction_info(self.city, self.seed, self.config),
            "spec": None if self.spec is None else self.spec.model_dump(mode="json"),
            **self.settings,
        }

    def files(self) -> dict[str, Any]:
        """What :func:`twin.results_io.traffic_files` writes."""
        return {
            "network": self.run_network,
            "closed": self.closed,
            "kpis": self.kpis,
            "trips": self.result.trips,
            "edge_series": self.result.edge_series,
            "model_data": self.result.model_data,
            "run_info": self.run_info(),
        }

    def write(self, out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write KPIs and tables (Parquet/GeoParquet) into ``out``, atomically."""
        return write_traffic_result(Path(out), overwrite=overwrite, **self.files())

    def to_ngsi_ld(self) -> list[dict[str, Any]]:
        """Every road segment as an NGSI-LD ``TrafficFlowObserved`` entity (see
        :mod:`twin.ngsi`), observed over the simulated period from
        :data:`~twin.ngsi.REFERENCE_START` (the run's clock zero)."""
        return traffic_flow_observed(
            self.edges(),
            city=self.city.name,
            date_observed_from=REFERENCE_START,
            date_observed_to=REFERENCE_START + timedelta(seconds=self.config.duration_s),
            edge_series=self.result.edge_series,
            interval_s=self.config.record_interval_s,
        )


def signal_plans(network) -> dict[int, Any]:
    """The default fixed-time plan of every signalized junction, by OSM node id.

    Parameters
    ----------
    network : RoadNetwork
        A city's road network (``City.network``).

    Returns
    -------
    dict
        OSM node id to :class:`agents.traffic.signals.SignalPlan` (phases with their
        approaches and greens, lost time, offset); the plans a traffic run uses unless retimed.
    """
    return {int(network.node_osmid[node]): plan for node, plan in default_plans(network).items()}


def least_greens(network) -> dict[int, list[float]]:
    """The shortest green each phase of every signalized junction may be given, by OSM node id.

    What a retiming, a plan file or a proposal is held to
    (:class:`~agents.traffic.timing.TimingLimits`): a vehicle phase's least green, or longer
    where the pedestrians walking beside it need longer to cross; a pedestrian phase's fixed
    green.

    Parameters
    ----------
    network : RoadNetwork
        A city's road network (``City.network``).

    Returns
    -------
    dict
        OSM node id to one least green per phase of its plan (:func:`signal_plans`), seconds.
    """
    return {
        int(network.node_osmid[node]): DEFAULT_LIMITS.minimum_greens(plan, network.edge_lanes)
        .round(2)
        .tolist()
        for node, plan in default_plans(network).items()
    }


def retimed_signals(
    network, signals: Sequence[tuple[int, Sequence[float], float]], base: dict | None = None
):
    """Signal plans with some junctions retimed, as a scenario's ``traffic.signals`` has them.

    A retimed junction is held to the limits a plan file or a proposal is held to
    (:func:`agents.traffic.timing.check_plans`): each phase's least green
    (:func:`least_greens`), the longest cycle, an offset within the cycle.

    Parameters
    ----------
    network : RoadNetwork
        A city's road network (``City.network``).
    signals : sequence of (int, sequence of float, float)
        OSM node id, one green per phase of its plan (seconds), and the cycle's offset.
    base : dict, optional
        Plans by node position to retime; default: the twin's default plans.

    Returns
    -------
    dict or None
        Plans by node position; ``None`` when there is neither a base nor a retiming.

    Raises
    ------
    TwinError
        A node that is no signalized junction, a count of greens other than its phases'.
    SignalPlanError
        A retiming that breaks a limit, naming the junction, the phase and the limit.
    """
    if not signals:
        return base
    plans = dict(base) if base is not None else default_plans(network)
    retimed = []
    for osm_node, greens, offset in signals:
        try:
            position = int(network.node_index([osm_node])[0])
        except KeyError:
            position = -1
        if position not in plans:
            raise TwinError(
                f"node {osm_node} is not a signalized junction of this network: name an OSM "
                "node tagged highway=traffic_signals (twin.signal_plans(city.network) lists "
                "them, as the plans.csv `twin propose-signals --out` writes does)."
            )
        try:
            plans[position] = plans[position].with_splits(list(greens), offset_s=offset)
        except ValueError as err:
            raise TwinError(str(err).replace(f"node {position}", f"node {osm_node}")) from None
        retimed.append(position)
    check_plans({position: plans[position] for position in retimed}, network)
    return plans


def run_traffic(
    city: str | os.PathLike[str] | City | None = None,
    spec: TrafficSpec | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    on_progress: Callable[[float], None] | None = None,
    **fields: Any,
) -> TrafficRun:
    """Simulate a city's traffic.

    Parameters
    ----------
    city
        A name, a path, or an already loaded :class:`~cities.city.City`.
    spec
        The run's parameters (:class:`~twin.specs.TrafficSpec`, or a mapping of its fields);
        ``fields`` given as keywords go on top (``run_traffic("helsinki", trips=500)``).
        Demand: ``trips`` generated home → work trips, or an ``od`` table (CSV/Parquet with
        ``origin, destination, departure``), or neither: the city's peak-hour rate over the
        departure window (:func:`cities.peak_demand.peak_hour_demand`; the rule is in
        ``settings["default_demand"]``). Closures, edge changes, demand scaling and signal
        timings are the spec's ``close``, ``change``, ``demand_scale`` and ``signals``.
    seed
        Seed of demand and every random choice; same seed, same KPIs.
    budget
        The most memory and time the run may take (default :meth:`twin.limits.Budget.default`);
        a run estimated to need more is refused before it starts.
    on_progress
        Called with the completed fraction, 0–1.

    Raises
    ------
    twin.specs.ScenarioError
        A bad field, before the city is loaded: ``traffic.<field>: problem (got value)``.
    twin.limits.ResourceLimitError
        The run would exceed the budget.
    """
    spec = traffic_spec(spec, **fields)
    seed = check_seed(seed)
    loaded = city if isinstance(city, City) else load_city(city)
    setup = traffic_setup(loaded, spec, seed=seed, budget=budget)
    model = TrafficModel(
        setup.network, setup.demand, config=setup.config, closed=setup.closed,
        signal_plans=setup.plans, seed=seed,
    )  # fmt: skip
    result = model.run(on_progress=on_progress)
    return TrafficRun(
        loaded, result, setup.config, seed, setup.settings, spec, setup.network, setup.closed
    )


@dataclass
class TrafficSetup:
    """What a traffic run simulates: the edited network, its closed links, the trips, the
    engine's settings, the signal plans (``None``: the defaults) and what was decided on the
    way (``settings``)."""

    network: Any
    closed: np.ndarray
    demand: Trips
    config: TrafficConfig
    plans: dict[int, Any] | None
    settings: dict[str, Any]


def traffic_setup(
    loaded: City, spec: TrafficSpec, *, seed: int, budget: Budget | None = None
) -> TrafficSetup:
    """The network, trips, settings and signal plans of a run of ``spec`` (see
    :func:`run_traffic`), checked against the budget, without simulating."""
    interventions = _interventions(spec)
    network, closed = apply_to_network(loaded.network, interventions)
    duration_s, window_s = spec.duration_s, spec.window_s
    rng = np.random.default_rng(seed)
    runs = 1 + _signal_plan_runs(spec)
    settings: dict[str, Any] = {
        "window_s": window_s,
        "profile": spec.profile,
        "demand_scale": spec.demand_scale,
    }
    config = TrafficConfig(
        duration_s=duration_s,
        dt_s=spec.dt_s,
        reroute_share=spec.reroute_share,
        route_cost=spec.route_cost,
        on_unreachable=spec.on_invalid,
    )
    if spec.od is not None:
        demand, report = read_od_table(spec.od, network, on_invalid=spec.on_invalid)
        late = int(np.sum(demand.depart_s >= duration_s))
        if late and spec.on_invalid == "error":
            raise TwinError(
                f"{Path(spec.od).name}: {late} of {len(demand)} trips depart after the run ends "
                f"at {spec.duration}: lengthen the duration, or skip them (on_invalid: skip)."
            )
        report["departs_after_end"] = late
        # weighed before the copies are made: a factor of 100 on a large table is refused
        scaled = math.ceil(len(demand) * spec.demand_scale)
        _check_budget(scaled, config, network, budget, runs=runs)
        if spec.demand_scale != 1.0:
            # a share of the table's trips kept, or each of them and copies of a share, each
            # copy leaving within minutes of its trip (more of the same demand, not a new one)
            demand = scaled_trips(demand, spec.demand_scale, rng=rng)
        settings["od_table"] = {"path": str(spec.od), **report}
        if spec.window is not None:
            settings["window_unused"] = spec.window
    else:
        trips = spec.trips
        if trips is None:
            # a plausible peak hour from the people who live there (cities.peak_demand)
            peak = peak_hour_demand(loaded.context, network)
            trips = peak.trips(window_s)
            settings["default_demand"] = peak.describe()
        n_trips = round(trips * spec.demand_scale)
        _check_budget(n_trips, config, network, budget, runs=runs)
        demand = generate_trips(
            loaded.context, n_trips=n_trips, window_s=window_s, rng=rng, profile=spec.profile
        )
        settings["trips_requested"] = trips
    signals = _signal_timings(spec)
    base = _base_plans(spec, network, demand, config, closed, seed)
    plans = retimed_signals(network, signals, base)
    if spec.signal_plan != "default":
        settings["signal_plan"] = spec.signal_plan
        settings["plan_provenance"] = _signal_provenance(loaded, spec, seed)
    settings["interventions"] = [f"{type(i).__name__}({asdict(i)})" for i in interventions]
    settings["signals"] = [(node, list(greens), offset) for node, greens, offset in signals]
    settings["warnings"] = _demand_warnings(settings)
    return TrafficSetup(network, closed, demand, config, plans, settings)


WEBSTER_ROUNDS = 3
"""Rounds of Webster's method a scenario's ``signal_plan: webster`` runs
(:func:`agents.traffic.retiming.iterated_webster`)."""


def _signal_provenance(loaded: City, spec: TrafficSpec, seed: int) -> dict[str, Any]:
    """Provenance of a scenario's signal plans: those of its plan file where the file carries
    one (an approved proposal's), else made here by Webster's method or the learned planner."""
    from twin.proposals import traffic_inputs
    from twin.provenance import ProvenanceError, read_csv_provenance

    edited = False
    if spec.signal_plan not in ("webster", "learned"):
        try:
            carried = read_csv_provenance(spec.signal_plan)
        except ProvenanceError:  # edited by hand since it was proposed: a plan of its own
            carried, edited = None, True
        if carried is not None:
            return carried.to_dict()
    checkpoint = None
    if spec.signal_plan == "learned":
        from generative.signal_propose import SIGNAL_CHECKPOINT

        checkpoint = SIGNAL_CHECKPOINT
    made_here = spec.signal_plan in ("webster", "learned")
    given = "plan file (edited after it was proposed)" if edited else "plan file (no provenance)"
    planner = spec.signal_plan if made_here else given
    traffic = {"traffic": traffic_inputs(spec)}
    return _run_provenance("signal-plans", planner, loaded, traffic, seed, checkpoint)


def _run_provenance(
    kind: str,
    planner: str,
    loaded: City,
    specs: dict[str, Any],
    seed: int,
    checkpoint: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Provenance of the plans a run makes as it goes (a run's instance: the city's content and
    the scenario's sections)."""
    from twin.provenance import Provenance, content_sha256

    return Provenance.make(
        kind=kind,
        planner=planner,
        instance_sha256=content_sha256({"city_sha256": loaded.source.sha256, **specs}),
        seed=seed,
        checkpoint=checkpoint,
        model_card_version=None if checkpoint is None else planner_card_version(checkpoint),
    ).to_dict()


def _signal_plan_runs(spec: TrafficSpec) -> int:
    """Simulations the section's ``signal_plan`` takes before its run (Webster's rounds, the
    learned planner's measured flows)."""
    return {"webster": WEBSTER_ROUNDS + 1, "learned": 1}.get(spec.signal_plan, 0)


def _base_plans(spec: TrafficSpec, network, demand, config, closed, seed: int) -> dict | None:
    """The scenario's signal plans before its ``signals`` retimings (``None``: the defaults).
    Plans the twin times itself (Webster's, the learned planner's) are the plans a proposal of
    that method checks and writes: to the hundredth of a second (:func:`as_written`)."""
    if spec.signal_plan == "default":
        return None
    current = default_plans(network)
    if spec.signal_plan == "webster":
        if not current:
            return None
        plans, _ = iterated_webster(
            network, demand, current, config=config, closed=closed, seed=seed,
            rounds=WEBSTER_ROUNDS,
        )  # fmt: skip
        return as_written(plans)
    if spec.signal_plan == "learned":
        from generative.signal_propose import LearnedSignalPlanner

        baseline = simulate(network, demand, current, config=config, closed=closed, seed=seed)
        planner = LearnedSignalPlanner()
        return as_written(planner.propose(network, current, measured_flows_vph(baseline)))
    return read_plan_file(spec.signal_plan, network, current)


def _check_budget(
    n_trips: int,
    config: TrafficConfig,
    network,
    budget: Budget | None,
    *,
    runs: int = 1,
    what: str = "",
) -> None:
    """Refuse a run (of ``runs`` simulations, ``what`` they are) that would pass the
    budget."""
    estimate = traffic_estimate(
        trips=n_trips,
        duration_s=config.duration_s,
        dt_s=config.dt_s,
        n_edges=network.n_edges,
        n_nodes=network.n_nodes,
        reroute_share=config.reroute_share,
        reroute_interval_s=config.reroute_interval_s,
        record_interval_s=config.record_interval_s,
    )
    if runs > 1:
        estimate = replace(
            estimate, what=what or f"{runs} simulations (Webster's plans, then the run)",
            time_s=estimate.time_s * runs,
        )  # fmt: skip
    check(estimate, budget)


def _fleet(spec: WasteSpec, bins: Bins) -> int:
    """The run's trucks: the scenario's, or sized to the city's waste (:func:`sized_fleet`).

    Raises
    ------
    ScenarioError
        A truck that cannot take one full collection point (a payload given in tonnes, say),
        or a fleet sized beyond what a scenario may set.
    """
    fullest = float(bins.capacity_kg.max()) if len(bins) else 0.0
    if spec.truck_capacity_kg < fullest:
        raise ScenarioError(
            f"waste.truck_capacity_kg: a truck of {spec.truck_capacity_kg:g} kg cannot take one "
            f"full collection point (this city's hold up to {fullest:,.0f} kg): give the "
            "payload in kilograms (a 10-tonne truck: 10000)"
        )
    if spec.trucks is not None:
        return spec.trucks
    trucks = sized_fleet(bins, truck_capacity_kg=spec.truck_capacity_kg, shift_s=spec.shift_s)
    if trucks > MAX_TRUCKS:
        shift = spec.shift if isinstance(spec.shift, str) else f"{spec.shift:g} s"
        raise ScenarioError(
            f"waste.trucks: this city's waste would need {trucks:,} trucks of "
            f"{spec.truck_capacity_kg:g} kg in a shift of {shift}, more than the "
            f"{MAX_TRUCKS:,} a run may have: check waste.truck_capacity_kg and waste.shift, or set "
            "waste.trucks"
        )
    return trucks


def _demand_warnings(settings: dict[str, Any]) -> list[str]:
    """What an OD table lost before the run: rows naming unknown nodes, trips from a node to
    itself, departures after the run's end; and a departure window given beside it, unused."""
    report = settings.get("od_table")
    if not report:
        return []
    unused = settings.get("window_unused")
    window = (
        [
            f"traffic.window {short_repr(unused)} is not used: the OD table's rows carry their "
            "departures (leave the window out, or shift the table's departure times)."
        ]
        if unused is not None
        else []
    )
    said = {
        "unknown_nodes": "name nodes not in the network",
        "same_origin_destination": "start where they end",
        "departs_after_end": "depart after the run ends",
    }
    return window + [
        f"{report[key]} of {report['rows']} OD rows {what}: "
        + ("they do not run." if key != "departs_after_end" else "they never start.")
        for key, what in said.items()
        if report.get(key)
    ]


def _signal_timings(spec: TrafficSpec) -> list[tuple[int, list[float], float]]:
    return [(s.node, list(s.greens_s), s.offset_s) for s in spec.signals]


@dataclass
class WasteRun:
    """A finished waste run with everything needed to reproduce and export it."""

    city: City
    result: WasteResult
    config: WasteConfig
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    traffic: dict[str, Any] | None = None
    spec: WasteSpec | None = None
    round_trucks: dict[int, tuple[str, ...]] | None = None
    """Policy ``current``: per weekday, the truck labels the city's rounds file gave
    (``rounds.csv`` keeps them)."""

    @property
    def kpis(self) -> dict[str, Any]:
        return self.result.kpis

    def run_info(self) -> dict[str, Any]:
        """Version, city hash, seed and settings: what reproduces the run."""
        return {
            **_reproduction_info(self.city, self.seed, self.config),
            "spec": None if self.spec is None else self.spec.model_dump(mode="json"),
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
        return write_waste_result(Path(out), formats=formats, overwrite=overwrite, **self.files())

    def to_ngsi_ld(self) -> list[dict[str, Any]]:
        """Every bin with its fill level at the end of the run as an NGSI-LD ``WasteContainer``
        entity (see :mod:`twin.ngsi`), observed at midnight after the last day: day 0 is
        :data:`~twin.ngsi.REFERENCE_START` (a Monday), so ``REFERENCE_START + days``."""
        return waste_containers(
            self.result.bins,
            crs=self.city.network.crs,
            city=self.city.name,
            observed_at=REFERENCE_START + timedelta(days=self.config.days),
        )

    def _labelled_routes(self) -> pd.DataFrame:
        """The routes table; fixed rounds' also with each truck's label in ``rounds.csv``
        (``truck_label``: truck ``k`` drives the weekday's ``k``-th round): a city's own
        rounds keep their file's labels, the others are numbered from 1, as that file has them."""
        routes = self.result.routes
        if not (self.round_trucks or self.result.rounds) or routes.empty:
            return routes
        if not self.round_trucks:
            return routes.assign(truck_label=(routes["truck"] + 1).astype(str))
        labels = []
        for day, truck in zip(routes["day"].tolist(), routes["truck"].tolist(), strict=True):
            of_weekday = self.round_trucks.get(day % 7) or ()
            labels.append(of_weekday[truck] if truck < len(of_weekday) else "")
        return routes.assign(truck_label=labels)

    def files(self) -> dict[str, Any]:
        """What :func:`twin.results_io.waste_files` writes."""
        return {
            "network": self.city.network,
            "kpis": self.kpis,
            "daily": self.result.daily,
            "routes": self._labelled_routes(),
            "bins": self.result.bins,
            "bin_fill": self.result.bin_fill,
            "rounds": self.result.rounds,
            "round_trucks": self.round_trucks,
            "run_info": self.run_info(),
        }


def _link_times_from_traffic(result: TrafficResult, network, interval_s: float, start_s: float):
    """Travel time of every edge in every interval of a traffic run (free flow where nothing
    was measured; a jammed edge at 1 % of its free speed, or the wait for the next interval and
    its time there where that is sooner: :meth:`LinkTimes.first_in_first_out`)."""
    series = result.edge_series
    n_intervals = int(series["interval_start_s"].nunique())
    speed = series["speed_kph"].to_numpy().reshape(n_intervals, network.n_edges)
    speed = np.maximum(speed, 0.01 * network.edge_speed_kph)
    seconds = np.maximum(network.edge_length_m / (speed / 3.6), network.edge_free_flow_s)
    return LinkTimes(seconds=seconds, interval_s=interval_s, start_s=start_s).first_in_first_out()


def _in_parts(
    on_progress: Callable[[float], None] | None, parts: int
) -> Callable[[int], Callable[[float], None] | None]:
    """Progress of a work done in ``parts`` steps of about equal weight: ``part(k)`` is the
    callback of step ``k``, reporting its own fraction as the whole's."""
    if on_progress is None:
        return lambda k: None
    return lambda k: lambda fraction: on_progress((k + fraction) / parts)


def _shift_link_times(
    result: TrafficResult, network, traffic_config: TrafficConfig, config: WasteConfig, closed
) -> LinkTimes:
    """A traffic run's link times over the waste shift, closed links closed."""
    times = _link_times_from_traffic(
        result, network, traffic_config.record_interval_s, config.shift_start_s
    )
    return LinkTimes(np.where(closed, np.inf, times.seconds), times.interval_s, times.start_s)


def _forecast_link_times(
    loaded: City,
    network,
    traffic_model_args: dict[str, Any],
    config: WasteConfig,
    closed,
    *,
    seed: int,
    days: int,
    progress: Callable[[int], Callable[[float], None] | None],
) -> tuple[LinkTimes, list[dict[str, Any]]]:
    """What a city knows of its traffic before the day: the mean link times of ``days`` other
    days, each the same number of trips drawn again (its own seed) in the same network,
    closures and signal plans; and each day's traffic KPIs. ``progress(day)``: the progress
    callback of day ``day`` (1, 2, …).

    Days whose traffic gridlocked are left out of the mean where another day flowed, as a
    city plans for a normal day, not for the day the streets stood still: a stopped link
    takes up to 100 times its free-flow time, so one such day would dominate the mean (at
    the edge of gridlock, Liechtenstein's 30,000 trips, plans on a mean with them expected
    3-16 % more hours than their trucks drove; BENCHMARKS.md, "Plans on a forecast of the
    traffic"). Where every day gridlocked, the mean of all of them. A mean of
    first-in-first-out times is itself first-in-first-out (the inequality holds term by
    term).

    Each day's seeds derive from the run's seed and the day's number, apart from the run's
    own draws, so that the day the trucks drive in is the same with or without a forecast."""
    n_trips = len(traffic_model_args["trips"])
    each: list[LinkTimes] = []
    kpis: list[dict[str, Any]] = []
    for day in range(1, days + 1):
        day_rng = np.random.default_rng([seed, day])
        trips = generate_trips(
            loaded.context, n_trips=n_trips, window_s=config.shift_s, rng=day_rng
        )
        args = {**traffic_model_args, "trips": trips, "seed": int(day_rng.integers(2**31))}
        result = TrafficModel(network, **args).run(on_progress=progress(day))
        each.append(_shift_link_times(result, network, args["config"], config, closed))
        kpis.append(result.kpis)
    flowed = [times for times, day in zip(each, kpis, strict=True) if not day.get("gridlock")]
    mean = np.mean([times.seconds for times in flowed or each], axis=0)
    return LinkTimes(mean, each[0].interval_s, each[0].start_s), kpis


def _placed_bins(loaded: City, network, spec: WasteSpec, rng: np.random.Generator):
    """The spec's bins on the (edited) network: what a run and its map both place."""
    return place_bins(
        network,
        loaded.context,
        rng=rng,
        population=spec.population,
        use_osm=spec.bins.use_osm,
        residents_per_bin=spec.bins.residents_per_bin,
    )


def _city_rounds(
    spec: WasteSpec,
    table: RoundsTable,
    network: RoadNetwork,
    bins: Bins,
    sites: Sites,
    link_times: LinkTimes,
    config: WasteConfig,
) -> MatchedRounds:
    """The city's own rounds (``spec.rounds``, read as ``table``) put on the run's bins, or a
    :class:`~agents.waste.rounds.RoundsError` naming the row."""
    # the bins the model will plan: reachable when its shift starts
    reachable = reachable_bins(network, bins, sites, link_times, at_s=config.shift_start_s)
    return match_rounds(
        table.stops, table.tracks, bins=bins, network=network,
        disposal_node=sites.disposal_node, reachable=reachable,
        street=bin_streets(network, bins),
        depot_xy=(network.node_x[sites.depot_node], network.node_y[sites.depot_node]),
        service_s=service_times(bins), truck_capacity_kg=config.truck_capacity_kg,
        shift_s=config.shift_s, n_trucks=spec.trucks, label=str(spec.rounds), form=table.form,
    )  # fmt: skip


def _gridlock_warning(kpis: dict[str, Any]) -> str:
    """What a waste run driven in gridlocked traffic must say about its trucks' times (the
    traffic's own words, :func:`agents.kpis.traffic_warnings`, and what they mean for it)."""
    gridlock = next(w for w in traffic_warnings(kpis) if w.startswith("gridlock"))
    return (
        f"the traffic the trucks drive in: {gridlock} A stopped link takes a truck up to 100 "
        "times its free-flow time, so the plans and hours of this run show a city at a "
        "standstill, not a busy day."
    )


TIMED_PLANS_PER_DAY = 4.0
"""Plans a day takes, on average, when it is planned on the time-of-day times of traffic
(planned, then planned again until its own times agree; at most ``1 + TIMING_PASSES``): the
resource estimate's figure. Measured end to end, traffic included, such runs took 1.1–4.3× as
long as the same runs planned on free-flow times (the 15 runs of
``benchmarks/bench_waste_baselines.py --section congestion``, 2026-12-04)."""


def run_waste(
    city: str | os.PathLike[str] | City | None = None,
    spec: WasteSpec | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    traffic: TrafficSpec | Mapping[str, Any] | None = None,
    custom_planner: Planner | None = None,
    budget: Budget | None = None,
    on_progress: Callable[[float], None] | None = None,
    **fields: Any,
) -> WasteRun:
    """Simulate a city's waste collection over the spec's days under one policy and planner.

    Parameters
    ----------
    city
        A name, a path, or an already loaded :class:`~cities.city.City`.
    spec
        The run's parameters (:class:`~twin.specs.WasteSpec`, or a mapping of its fields);
        ``fields`` given as keywords go on top (``run_waste("helsinki", days=7,
        planner="greedy")``): ``policy`` (which bins are emptied when), ``planner`` (who routes
        the trucks), ``trucks`` (default: sized to the city's waste,
        :func:`agents.waste.model.sized_fleet`), solver limits, sites, bins.
    seed
        Seed of bin placement, waste and planning; same seed, same KPIs (PyVRP under a time
        limit alone may differ between machines of different speed; its iteration limit, set by
        default, makes runs repeat).
    traffic
        The scenario's traffic section: its closures and edge changes apply to the trucks too.
        With ``traffic_coupling``, its ``trips`` (scaled) drive as background traffic during the
        shift: every truck leg is timed with the link travel times of its hour, then the traffic
        is simulated again with the busiest day's truck legs added, and both traffic KPIs are
        reported.
    custom_planner
        A :class:`~agents.waste.planning.Planner` object overriding the spec's planner.
    budget
        The most memory and time the run may take (default :meth:`twin.limits.Budget.default`).
    on_progress
        Called with the completed fraction, 0–1.

    Raises
    ------
    twin.specs.ScenarioError
        A bad field, before the city is loaded: ``waste.<field>: problem (got value)``.
    twin.limits.ResourceLimitError
        The run would exceed the budget.
    """
    spec = waste_spec(spec, **fields)
    seed = check_seed(seed)
    traffic = None if traffic is None else traffic_spec(traffic)
    if spec.traffic_coupling and (traffic is None or traffic.trips is None):
        raise ScenarioError(
            "waste.traffic_coupling: the trucks drive among generated trips: pass "
            "traffic={'trips': N} (or a traffic section with trips)"
        )
    # a rounds file the twin cannot read is refused before anything is simulated
    rounds_table = read_rounds(spec.rounds) if spec.policy == "current" else None
    loaded = city if isinstance(city, City) else load_city(city)
    interventions = [i for i in _interventions(traffic) if not isinstance(i, ScaleDemand)]
    network, closed = apply_to_network(loaded.network, interventions)
    rng = np.random.default_rng(seed)
    bins = _placed_bins(loaded, network, spec, rng)
    trucks = _fleet(spec, bins)
    config = WasteConfig(
        days=spec.days,
        policy=spec.policy,
        planner=spec.planner,
        n_trucks=trucks,
        truck_capacity_kg=spec.truck_capacity_kg,
        shift_s=spec.shift_s,
        solver_time_s=spec.solver_time_s,
        solver_iterations=spec.solver_iterations,
        objective=spec.objective,
        plan_times=spec.plan_times,
        costs=CostFactors(**spec.costs.model_dump()),
    )
    config.validate()
    intervals = 1 if not spec.traffic_coupling else math.ceil(config.shift_s / 300.0)
    if spec.policy in GIVEN_ROUTES:
        plans_per_day = 0.0  # given rounds are costed on the planning times, not searched
    elif intervals > 1 and spec.plan_times == "time-of-day":
        plans_per_day = TIMED_PLANS_PER_DAY
    else:
        plans_per_day = 1.0
    check(
        waste_estimate(
            bins=len(bins),
            days=spec.days,
            solver_time_s=spec.solver_time_s,
            solver_iterations=spec.solver_iterations,
            # a forecast's times are a second set of matrices, interval by interval
            time_intervals=intervals * (2 if spec.forecast_days else 1),
            plans_per_day=plans_per_day,
        ),
        budget,
    )
    sites = locate_sites(
        network,
        loaded.context,
        depot_xy=spec.depot,
        disposal_xy=spec.disposal,
        city=loaded.name,
    )
    base_times = np.where(closed, np.inf, network.edge_free_flow_s)
    link_times = LinkTimes(base_times[None, :], 86_400.0)
    coupled: dict[str, Any] | None = None
    traffic_model_args: dict[str, Any] = {}
    forecast_times: LinkTimes | None = None
    # with traffic: the day's traffic, each forecast day's, the waste days, the traffic again
    # with the trucks in it; each about as long as another on a large city
    traffic_runs = 1 + spec.forecast_days if spec.traffic_coupling else 0
    part = _in_parts(on_progress, traffic_runs + 1 + (1 if traffic_runs else 0))
    if spec.traffic_coupling:
        traffic_trips = traffic.scaled_trips()
        # the section's drivers (their share re-routing and how they price links), at 5 s steps
        # (a step changes no trip, only the bookkeeping)
        traffic_config = TrafficConfig(
            duration_s=config.shift_s,
            dt_s=5.0,
            reroute_share=traffic.reroute_share,
            route_cost=traffic.route_cost,
        )
        timing_runs = _signal_plan_runs(traffic)
        timing = f", {timing_runs} to time the signals by {traffic.signal_plan}" * bool(timing_runs)
        _check_budget(
            traffic_trips, traffic_config, network, budget,
            runs=1 + spec.forecast_days + timing_runs,
            what=f"{1 + spec.forecast_days + timing_runs} simulations of the shift's traffic "
            f"(the day the trucks drive in, {spec.forecast_days} for the forecast{timing})",
        )  # fmt: skip
        demand = generate_trips(
            loaded.context, n_trips=traffic_trips, window_s=config.shift_s, rng=rng
        )
        traffic_model_args = {
            "trips": demand, "config": traffic_config, "closed": closed, "seed": seed,
        }  # fmt: skip
        # every policy compared in this traffic simulates the same shift, its signals' timing
        # included: once in a process (a plan file by its content)
        plan = traffic.signal_plan
        if plan not in SIGNAL_PLAN_NAMES and Path(plan).is_file():
            from twin.provenance import file_sha256

            plan = file_sha256(plan)
        shift_key = shift_traffic_memo.key(
            loaded.source.sha256, interventions, demand, traffic_config, plan,
            _signal_timings(traffic), seed, config.shift_start_s,
        )  # fmt: skip

        def simulate_shift() -> tuple[dict | None, dict[str, Any], LinkTimes]:
            # the trucks drive through the scenario's signal plans, timed on this traffic
            base = _base_plans(traffic, network, demand, traffic_config, closed, seed)
            plans = retimed_signals(network, _signal_timings(traffic), base)
            baseline = TrafficModel(network, **traffic_model_args, signal_plans=plans).run(
                on_progress=part(0)
            )
            times = _shift_link_times(baseline, network, traffic_config, config, closed)
            return plans, baseline.kpis, times

        signal_plans, baseline_kpis, link_times = shift_traffic_memo.get(shift_key, simulate_shift)
        traffic_model_args["signal_plans"] = signal_plans
        if (shift_done := part(0)) is not None:
            shift_done(1.0)  # also where the memo had it
        coupled = {
            "trips": traffic_trips,
            "signal_plan": traffic.signal_plan,
            "baseline": baseline_kpis,
        }
        if spec.forecast_days:
            forecast_times, coupled["forecast"] = shift_traffic_memo.get(
                shift_traffic_memo.key("forecast", shift_key, spec.forecast_days),
                lambda: _forecast_link_times(
                    loaded, network, traffic_model_args, config, closed, seed=seed,
                    days=spec.forecast_days, progress=part,
                ),
            )  # fmt: skip
    planner = custom_planner
    if spec.planner == "learned" and planner is None:
        # days outside the model's range are planned as the pyvrp planner plans them
        fallback = PyVRPPlanner(
            max_runtime_s=spec.solver_time_s, max_iterations=spec.solver_iterations
        )
        planner = learned_planner(
            loaded, spec.checkpoint, outside_range="fallback", fallback_s=spec.solver_time_s,
            fallback=fallback, polish_s=spec.solver_time_s if spec.polish_iterations else 0.0,
            polish_iterations=spec.polish_iterations or None,
        )  # fmt: skip
    rounds = None
    if spec.policy == "current":
        rounds = _city_rounds(spec, rounds_table, network, bins, sites, link_times, config)
        if spec.trucks is not None and spec.trucks < rounds.n_trucks:
            raise ScenarioError(
                f"waste.trucks: the rounds in {spec.rounds} send {rounds.n_trucks} trucks out on "
                f"one day, more than the {spec.trucks} given (give at least {rounds.n_trucks}, "
                "or leave trucks unset)"
            )
        config = replace(config, n_trucks=spec.trucks or rounds.n_trucks)
    model = WasteModel(
        network, bins, sites, config=config, link_times=link_times,
        forecast_times=forecast_times, planner=planner,
        rounds=None if rounds is None else rounds.rounds, seed=seed,
    )  # fmt: skip
    if coupled is not None and coupled["baseline"].get("gridlock"):
        model.warnings.append(_gridlock_warning(coupled["baseline"]))
    if rounds_table is not None and (note := rounds_table.unread_note()):
        model.warnings.append(note)
    stood = [day for day in (coupled or {}).get("forecast", []) if day.get("gridlock")]
    if stood:
        left = (
            "the plans are made on the mean of all of them"
            if len(stood) == spec.forecast_days
            else "they are left out of the forecast the plans are made on"
        )
        model.warnings.append(
            f"{len(stood)} of the {spec.forecast_days} forecast days' traffic gridlocked; {left}."
        )
    result = model.run(on_progress=part(traffic_runs))
    if coupled is not None:
        coupled["with_trucks"] = _traffic_with_trucks(
            model, network, traffic_model_args, on_progress=part(traffic_runs + 1)
        )
    from twin.proposals import traffic_inputs

    sections = {
        "waste": spec.model_dump(mode="json"),
        "traffic": None if traffic is None else traffic_inputs(traffic),
    }
    from twin.provenance import GIVEN_ROUNDS

    # given rounds were proposed by nobody: their label must not name the planner left unused
    given = GIVEN_ROUNDS.get(spec.policy)
    provenance = _run_provenance(
        "collection-routes", given or getattr(planner, "name", None) or spec.planner, loaded,
        sections, seed, None if given else getattr(planner, "checkpoint", None),
    )  # fmt: skip
    settings = {
        "population": spec.population,
        "fleet": "given" if spec.trucks is not None else "sized to the city's waste",
        "interventions": [f"{type(i).__name__}({asdict(i)})" for i in interventions],
        "plan_provenance": provenance,
    }
    if rounds_table is not None:
        from twin.provenance import file_sha256

        # what reproduces the run: the rounds' content, not only their file's name
        settings["rounds_sha256"] = file_sha256(rounds_table.path)
    return WasteRun(
        loaded, result, config, seed, settings, coupled, spec,
        round_trucks=None if rounds is None else rounds.trucks,
    )  # fmt: skip


COMPARED_KPIS = (
    "truck_km", "truck_hours", "cost_eur", "cost_per_tonne_eur", "co2_kg", "service_level",
    "overflow_bin_days", "overflow_cost_eur", "mean_fill_at_emptying", "collected_t",
)  # fmt: skip
"""What :func:`against_baseline` reports of every policy; all but the service level and the
overflow also relative to the baseline."""


def against_baseline(
    city: str | os.PathLike[str] | City | None = None,
    spec: WasteSpec | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    policies: tuple[str | Mapping[str, Any], ...] | None = None,
    on_progress: Callable[[float], None] | None = None,
    **fields: Any,
) -> pd.DataFrame:
    """Every policy's waste collection set against the city's baseline, on the same bins,
    waste, fleet and days.

    The baseline is the spec's policy when it is one of :data:`agents.waste.names.BASELINES`
    (``current``: the city's own rounds, ``hand-drawn``, ``schedule``), else ``current`` when the
    spec names a rounds file, else ``hand-drawn``.

    Parameters
    ----------
    city, spec, seed, fields
        As for :func:`run_waste`.
    policies
        What to set against the baseline: policy names, or mappings of waste fields with an
        optional ``label`` (``{"label": "forecast, euros", "policy": "forecast",
        "objective": "euros"}``). Default: the baseline, the other fixed rounds (``hand-drawn``
        and ``schedule``), and ``forecast`` with the spec's objective.
    on_progress
        Called with the completed fraction, 0–1.

    Returns
    -------
    pandas.DataFrame
        One row per policy (``label``, ``baseline`` true for the baseline's), the
        :data:`COMPARED_KPIS`, the run's ``warnings`` (a list; a baseline whose rounds leave
        bins out says so here), and ``<kpi>_vs_baseline`` = policy / baseline − 1 for the
        quantities.
    """
    if fields.get("rounds") is not None and "policy" not in fields:
        fields["policy"] = "current"  # a rounds file given as a keyword is the baseline
    base = waste_spec(spec, **fields)
    baseline = (
        base.policy
        if base.policy in BASELINES
        else ("current" if base.rounds is not None else "hand-drawn")
    )
    if policies is None:
        others = [p for p in ("hand-drawn", "schedule") if p != baseline]
        policies = (baseline, *others, "forecast")
    loaded = city if isinstance(city, City) else load_city(city)
    common = base.model_dump(exclude={"policy", "rounds", "checkpoint", "polish_iterations"})
    runs = [(baseline, {"policy": baseline})]
    runs += [run for run in map(_compared, policies) if run[0] != baseline]
    rows = []
    for i, (label, changes) in enumerate(runs):
        settings = {**common, **changes}
        if settings["policy"] == "current":
            settings["rounds"] = base.rounds
        if settings.get("planner") == "learned":
            settings.setdefault("checkpoint", base.checkpoint)
            settings.setdefault("polish_iterations", base.polish_iterations)
        run = run_waste(loaded, settings, seed=seed)
        # one fleet for all: the baseline's (a city's own rounds bring theirs)
        common["trucks"] = run.config.n_trucks
        kpis = {kpi: run.kpis.get(kpi) for kpi in COMPARED_KPIS}
        warnings = list(run.result.info["warnings"])
        rows.append({"label": label, "baseline": i == 0, **kpis, "warnings": warnings})
        if on_progress:
            on_progress((i + 1) / len(runs))
    table = pd.DataFrame(rows)
    for kpi in ("truck_km", "truck_hours", "cost_eur", "cost_per_tonne_eur", "co2_kg"):
        reference = table[kpi].iloc[0]
        table[f"{kpi}_vs_baseline"] = table[kpi] / reference - 1 if reference else np.nan
    return table


def _compared(entry: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, {"policy": entry}
    changes = {k: v for k, v in entry.items() if k != "label"}
    label = entry.get("label") or ", ".join(f"{v}" for v in changes.values())
    return str(label), changes


@dataclass(frozen=True)
class WasteLayout:
    """Where a waste run's bins, depot and disposal site are, and the fleet it would size,
    without simulating a day (what a map shows before a run)."""

    bins: pd.DataFrame
    """One row per bin: ``lon``, ``lat``, ``capacity_kg``, ``daily_kg``, ``kind``."""
    depot: tuple[float, float]
    disposal: tuple[float, float]
    depot_source: str
    disposal_source: str
    fleet: int
    """Trucks :func:`agents.waste.model.sized_fleet` gives these bins (the default fleet)."""


def waste_layout(
    city: str | os.PathLike[str] | City | None = None,
    spec: WasteSpec | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    **fields: Any,
) -> WasteLayout:
    """Bins, depot, disposal site and default fleet of a waste run, placed as
    :func:`run_waste` places them for the same spec and seed, in a fraction of a second."""
    spec = waste_spec(spec, **fields)
    seed = check_seed(seed)
    loaded = city if isinstance(city, City) else load_city(city)
    network = loaded.network
    bins = _placed_bins(loaded, network, spec, np.random.default_rng(seed))
    sites = locate_sites(
        network, loaded.context, depot_xy=spec.depot, disposal_xy=spec.disposal, city=loaded.name
    )
    lon, lat = network.to_lonlat_transformer().transform(bins.x, bins.y)
    frame = pd.DataFrame(
        {
            "lon": np.asarray(lon),
            "lat": np.asarray(lat),
            "capacity_kg": bins.capacity_kg,
            "daily_kg": bins.daily_kg,
            "kind": bins.kind.astype(str),
        }
    )
    info = sites.summary()
    depot, disposal = int(info["depot_node"]), int(info["disposal_node"])
    return WasteLayout(
        bins=frame,
        depot=(float(network.node_lon[depot]), float(network.node_lat[depot])),
        disposal=(float(network.node_lon[disposal]), float(network.node_lat[disposal])),
        depot_source=str(info.get("depot_source", "")),
        disposal_source=str(info.get("disposal_source", "")),
        fleet=sized_fleet(bins, truck_capacity_kg=spec.truck_capacity_kg, shift_s=spec.shift_s),
    )


def learned_planner(
    city: City,
    checkpoint: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Planner:
    """The learned planner for ``city``: ``checkpoint``, or the shipped one (fine-tuned for
    the city where one ships, else the general planner:
    :func:`generative.propose.shipped_checkpoint`). With ``outside_range="fallback"``, the days
    outside a city's own shipped model go to the general one first, then to ``fallback``.

    ``options`` go to :class:`generative.propose.LearnedPlanner` (samples, temperature,
    refine, polish_s, polish_iterations, outside_range, fallback_s, device).

    Raises
    ------
    twin.errors.TwinError
        No checkpoint given and none shipped, or a checkpoint that cannot be used (missing,
        corrupt, another format version).
    """
    from generative.checkpoint import CheckpointError
    from generative.propose import GENERAL_CHECKPOINT, LearnedPlanner, shipped_checkpoint

    path = checkpoint
    if path is None:
        path = shipped_checkpoint(city.name, sha256=city.source.sha256)
    if path is None:
        raise TwinError(
            "no learned planner is installed (generative/checkpoints/general.pt is missing): "
            "reinstall the package, or train one (`twin corpus`, `twin train`) and pass its "
            "checkpoint (--checkpoint)."
        )
    try:
        if (
            checkpoint is None
            and path != GENERAL_CHECKPOINT
            and GENERAL_CHECKPOINT.is_file()
            and options.get("outside_range") == "fallback"
        ):
            # the city's own model first; its days outside that go to the general one
            general = LearnedPlanner(GENERAL_CHECKPOINT, place_sha256=city.source.sha256, **options)
            options = {**options, "fallback": general}
        return LearnedPlanner(path, place_sha256=city.source.sha256, **options)
    except CheckpointError as err:
        raise TwinError(str(err)) from None


def propose_plans(
    city: str | os.PathLike[str] | City | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Plan one sampled working day of a city four ways, check the proposal and compare them.

    Plans: the learned planner alone (best of ``samples`` drawn at ``temperature``; ``None``:
    the planner's defaults), learned + ``polish_s`` seconds of PyVRP started from it, PyVRP
    alone given the same total wall time, and greedy nearest neighbour. Each row: km driven,
    truck-hours, the objective (km driven + prizes of bins left, in km), required bins left
    unserved, validity and planning seconds. With them, the proposal's checks, whether it is
    recommended, and its provenance. ``options`` as :func:`twin.route_proposals.propose_routes`
    (``bins``, ``seed``, ``trucks``, ``samples``, ``temperature``, ``polish_s``,
    ``checkpoint``, ``outside_range``, ``population``).
    """
    from twin.route_proposals import propose_routes

    return propose_routes(city, **options).summary()


def learned_checkpoint(kind: str, city: City | None = None) -> Path | None:
    """The checkpoint the learned planner of ``kind`` uses for ``city`` (``None``: none is
    installed): for ``collection-routes`` the city's own fine-tuned model where one ships, else
    the general one (:func:`generative.propose.shipped_checkpoint`); for ``signal-plans`` the
    shipped signal planner."""
    if kind == "signal-plans":
        from generative.signal_propose import SIGNAL_CHECKPOINT

        return SIGNAL_CHECKPOINT if SIGNAL_CHECKPOINT.is_file() else None
    if kind != "collection-routes":
        raise ValueError(f"kind {kind!r}: use collection-routes or signal-plans")
    from generative.propose import shipped_checkpoint

    if city is None:
        return shipped_checkpoint()
    return shipped_checkpoint(city.name, sha256=city.source.sha256)


def model_card_markdown(checkpoint: str | os.PathLike[str]) -> str:
    """``checkpoint``'s model card as Markdown, the card checked first.

    Raises
    ------
    twin.errors.TwinError
        A card that describes another checkpoint or was edited by hand, or a checkpoint that
        cannot be read.
    """
    from generative.model_card import ModelCardError, read_model_card, render_markdown

    try:
        return render_markdown(read_model_card(Path(checkpoint)))
    except ModelCardError as err:
        raise TwinError(str(err)) from None


def planner_card_version(checkpoint: str | os.PathLike[str]) -> str:
    """The version of ``checkpoint``'s model card, its card checked first.

    Raises
    ------
    twin.errors.TwinError
        A card that describes another checkpoint or was edited by hand.
    """
    from generative.model_card import ModelCardError, card_version

    try:
        return card_version(Path(checkpoint))
    except ModelCardError as err:
        raise TwinError(str(err)) from None


def _traffic_with_trucks(
    model: WasteModel,
    network,
    traffic_model_args: dict,
    *,
    on_progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
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
    trucks = []
    if legs:
        trucks = traffic_model.inject_vehicles(
            nodes[[leg.origin for leg in legs]],
            nodes[[leg.destination for leg in legs]],
            np.array([leg.depart_s for leg in legs]),
        )
    result = traffic_model.run(on_progress=on_progress)
    kpis = result.kpis
    kpis["truck_day"] = busiest
    kpis["truck_legs"] = len(legs)
    truck_ids = [agent.vehicle for agent in trucks]
    kpis["truck_km"] = float(result.trips["distance_m"].to_numpy()[truck_ids].sum() / 1000.0)
    return kpis


# ------------------------------------------------------------------------------ scenarios
@dataclass
class ScenarioRun:
    """A finished scenario: its traffic and/or waste runs and their KPIs side by side."""

    scenario: Scenario
    traffic: TrafficRun | None = None
    waste: WasteRun | None = None

    @property
    def kpis(self) -> pd.DataFrame:
        """One row per KPI: ``section`` (traffic / waste), ``kpi``, ``value``; a yes/no KPI
        (``gridlock``) as 1 or 0, so that a gridlocked run is never compared as a faster one
        without saying so."""
        rows = []
        for section, run in (("traffic", self.traffic), ("waste", self.waste)):
            if run is None:
                continue
            for key, value in run.kpis.items():
                if isinstance(value, int | float):  # bool among them: 1 or 0
                    rows.append({"section": section, "kpi": key, "value": float(value)})
        return pd.DataFrame(rows, columns=["section", "kpi", "value"])

    def edges(self) -> gpd.GeoDataFrame:
        """Road edges with per-edge traffic summaries (needs a traffic section)."""
        return self._need("traffic").edges()

    def bins(self) -> gpd.GeoDataFrame:
        """Bins with their final fill, emptyings and overflow, as points (WGS84)."""
        waste = self._need("waste")
        return bin_points(waste.city.network, waste.result.bins)

    def routes(self) -> gpd.GeoDataFrame:
        """One line per truck and day along the edges it drove (WGS84)."""
        waste = self._need("waste")
        return route_lines(waste.city.network, waste.result.routes)

    def plot(self, what: str = "traffic", **options: Any):
        """A matplotlib figure: ``"traffic"`` (edges coloured by speed ratio, or ``column=``)
        or ``"waste"`` (bins by overflow days and one day's routes, ``day=``)."""
        if what == "traffic":
            return plot_traffic(self.edges(), **options)
        if what == "waste":
            return plot_waste(self.bins(), self.routes(), **options)
        raise ValueError(f"plot what={short_repr(what)}: use 'traffic' or 'waste'")

    def _need(self, section: str):
        run = getattr(self, section)
        if run is None:
            raise TwinError(f"scenario {short_repr(self.scenario.name)} has no {section} section.")
        return run

    def kpi_dict(self) -> dict[str, dict[str, Any]]:
        """KPIs by section, JSON-ready."""
        out: dict[str, dict[str, Any]] = {}
        if self.traffic is not None:
            out["traffic"] = self.traffic.kpis
        if self.waste is not None:
            out["waste"] = self.waste.kpis
        return out

    def run_info(self) -> dict[str, Any]:
        city = (self.traffic or self.waste).city
        plans = {
            name: run.settings["plan_provenance"]
            for name, run in (("traffic", self.traffic), ("waste", self.waste))
            if run is not None and "plan_provenance" in run.settings
        }
        return {
            "package_version": __version__,
            "scenario": self.scenario.name,
            "city": city.name,
            "city_sha256": city.source.sha256,
            "seed": self.scenario.seed,
            "plans": plans,
        }

    def write(self, out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the resolved scenario (``scenario.yaml``), ``run.json``, the KPIs of every
        section (``kpis.json``, ``kpis.parquet``) and each run's tables in ``traffic/`` and
        ``waste/``, into ``out``, atomically."""
        formats = tuple(f for f in self.scenario.outputs.formats if f != "ngsi-ld")
        ngsi = "ngsi-ld" in self.scenario.outputs.formats

        def fill(folder: Path) -> None:
            (folder / "scenario.yaml").write_text(self.scenario.to_yaml())
            (folder / "run.json").write_text(json.dumps(self.run_info(), indent=2))
            (folder / "kpis.json").write_text(json.dumps(self.kpi_dict(), indent=2, default=float))
            self.kpis.to_parquet(folder / "kpis.parquet")
            if self.traffic is not None:
                (folder / "traffic").mkdir()
                traffic_files(folder / "traffic", **self.traffic.files())
                if ngsi:
                    write_ngsi_ld(
                        self.traffic.to_ngsi_ld(), folder / "traffic" / "TrafficFlowObserved.json"
                    )
            if self.waste is not None:
                (folder / "waste").mkdir()
                waste_files(folder / "waste", formats=formats, **self.waste.files())
                if ngsi:
                    write_ngsi_ld(self.waste.to_ngsi_ld(), folder / "waste" / "WasteContainer.json")

        return atomic_output_dir(Path(out), fill, overwrite=overwrite, manifest="run.json")


def compare(a: ScenarioRun, b: ScenarioRun) -> pd.DataFrame:
    """KPI differences of two runs: ``section, kpi, a, b, difference, relative`` (b − a and
    (b − a) / |a|), for the KPIs both have."""
    joined = a.kpis.merge(b.kpis, on=["section", "kpi"], suffixes=("_a", "_b"))
    joined = joined.rename(columns={"value_a": "a", "value_b": "b"})
    joined["difference"] = joined["b"] - joined["a"]
    scale = joined["a"].abs().where(joined["a"] != 0)
    joined["relative"] = joined["difference"] / scale
    return joined


class Twin:
    """A city loaded once, to run many scenarios on (``Twin.load(city).run(scenario)``)."""

    def __init__(self, city: City) -> None:
        self.city = city

    @classmethod
    def load(cls, city: str | os.PathLike[str] | City | None = None) -> Twin:
        return cls(city if isinstance(city, City) else load_city(city))

    def run(
        self,
        scenario: Scenario | dict[str, Any] | str | os.PathLike[str],
        *,
        on_progress: Callable[[float], None] | None = None,
    ) -> ScenarioRun:
        """Run a scenario (an object, a mapping, or a YAML file) on this city."""
        return run_scenario(scenario, city=self.city, on_progress=on_progress)


def _as_scenario(scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str]) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, Mapping):
        try:
            return Scenario.model_validate(scenario)
        except ValidationError as err:
            raise spec_error(err) from None
    return load_scenario(scenario)


def _interventions(spec: TrafficSpec | None) -> list[object]:
    if spec is None:
        return []
    found: list[object] = []
    found += spec.closures
    for change in spec.change:
        found.append(
            ChangeEdge(
                edge=change.edge,
                way=change.way,
                lanes=change.lanes,
                capacity_vph=change.capacity_vph,
                speed_kph=change.speed_kph,
            )
        )
    if spec.demand_scale != 1.0:
        found.append(ScaleDemand(spec.demand_scale))
    return found


def run_scenario(
    scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str],
    *,
    city: City | None = None,
    budget: Budget | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> ScenarioRun:
    """Run a scenario's traffic and/or waste sections; same scenario and seed, same KPIs.

    ``scenario`` is a :class:`~twin.specs.Scenario`, a mapping of its fields or a YAML file;
    each section runs as :func:`run_traffic` / :func:`run_waste` run it. A traffic section with
    ``simulate: false`` is not run: it only gives the waste run its streets and traffic.
    """
    spec = _as_scenario(scenario)
    loaded = city if city is not None else load_city(spec.city)
    if city is not None:
        spec = _on_city(spec, city)
    # a traffic section that is not simulated only sets the waste trucks' streets and traffic
    simulated = spec.traffic if spec.traffic is not None and spec.traffic.simulate else None
    sections = [s for s in (simulated, spec.waste) if s is not None]
    part = _in_parts(on_progress, len(sections))
    traffic = waste = None
    if simulated is not None:
        traffic = run_traffic(
            loaded, spec.traffic, seed=spec.seed, budget=budget, on_progress=part(0)
        )
    if spec.waste is not None:
        # the trucks drive on the scenario's streets: its closures, and with coupling its traffic
        waste = run_waste(
            loaded,
            spec.waste,
            seed=spec.seed,
            traffic=spec.traffic,
            budget=budget,
            on_progress=part(len(sections) - 1),
        )
    return ScenarioRun(spec, traffic, waste)


def _on_city(spec: Scenario, city: City) -> Scenario:
    """The scenario as run on ``city``: where its ``city`` names another file (a scenario of
    one city run on another, ``Twin.load(other).run(file)``), it names ``city``, so that the
    written ``scenario.yaml`` reproduces the run rather than another."""
    try:
        same = resolve(spec.city).sha256 == city.source.sha256
    except USER_ERRORS:
        same = False
    if same:
        return spec
    registered = city.source.registered
    named = registered.name if registered is not None else str(city.source.path)
    return spec.model_copy(update={"city": named})


def check_scenario(path: str | os.PathLike[str], *, deep: bool = True) -> Scenario:
    """Validate a scenario file; with ``deep``, also load its city and check that every edge,
    way and signal it names exists there and that its rounds' stops meet the city's bins.
    Raises :class:`~twin.scenario.ScenarioError` (``file:line: field: problem``)."""
    spec, city = checked_scenario(path, deep=deep)
    waste = spec.waste
    if city is not None and waste is not None and waste.policy == "current" and waste.rounds:
        # a run meets the rounds with its bins itself, before it simulates: only here
        _check_rounds_on_bins(spec, city, scenario_location(path, ("waste", "rounds")))
    return spec


def checked_scenario(
    path: str | os.PathLike[str], *, deep: bool = True
) -> tuple[Scenario, City | None]:
    """:func:`check_scenario` but for the rounds' day (the run that follows drives them), and
    the city it loaded to check it (``None`` if it loaded none), so that the run need not load
    the city again."""
    spec = load_scenario(path)
    where = lambda loc: scenario_location(path, loc)  # noqa: E731
    if spec.waste is not None and spec.waste.checkpoint is not None:
        _check_checkpoint(spec, where(("waste", "checkpoint")))
    rounds = spec.waste is not None and spec.waste.policy == "current" and spec.waste.rounds
    if rounds:
        try:  # the file as such; check_scenario meets its stops with the bins
            read_rounds(spec.waste.rounds)
        except USER_ERRORS as err:
            raise ScenarioError(f"{where(('waste', 'rounds'))}: waste.rounds: {err}") from None
    sites = spec.waste is not None and (spec.waste.depot or spec.waste.disposal) is not None
    try:
        resolve(spec.city)  # cheap: finds the file without reading it
        loads = deep and (spec.traffic is not None or sites or rounds)
        city = load_city(spec.city) if loads else None
    except USER_ERRORS as err:
        raise ScenarioError(f"{where(('city',))}: city: {err}") from None
    if city is None:
        return spec, None
    check_scenario_in_city(spec, city, path)
    network = city.network
    if spec.traffic is not None and spec.traffic.trips is not None and spec.traffic.simulate:
        config = TrafficConfig(
            duration_s=spec.traffic.duration_s,
            dt_s=spec.traffic.dt_s,
            reroute_share=spec.traffic.reroute_share,
            route_cost=spec.traffic.route_cost,
        )
        _check_budget(spec.traffic.scaled_trips(), config, network, None)
    return spec, city


def _check_rounds_on_bins(spec: Scenario, city: City, where: str) -> None:
    """Drive the scenario's own rounds for a day at free-flow times, on its streets: the run's
    own matching of their stops to the city's bins (a bin it lacks, a stop off the city or out
    of the trucks' reach, a truck over capacity, more trucks than given), so that a check
    refuses what the run would stop on, naming the row. Traffic slows the trucks but changes
    no stop's reach, so the day is not driven among it."""
    waste = spec.waste.model_copy(update={"days": 1, "traffic_coupling": False, "forecast_days": 0})
    try:
        run_waste(city, waste, seed=spec.seed, traffic=spec.traffic)
    except USER_ERRORS as err:
        raise ScenarioError(f"{where}: waste.rounds: {err}") from None


def check_scenario_in_city(
    spec: Scenario, city: City, path: str | os.PathLike[str] | None = None
) -> None:
    """Refuse a scenario whose traffic section names streets or junctions ``city`` lacks, or
    whose depot or disposal site lies off its roads.

    Every closure and street change must name an edge or way of the city's network, every
    signal timing a signalized junction (with its phase count), a signal plan file must fit
    the network, and a depot or disposal site given as lon/lat must lie within reach of a road
    (:func:`agents.waste.sites.check_site`): what a run would otherwise stop on only once it
    starts.

    Parameters
    ----------
    spec : Scenario
        The scenario, as read by :func:`~twin.scenario.load_scenario`.
    city : City
        The city it runs on (already loaded: the caller may have it open).
    path : path-like, optional
        The scenario's file, so that each problem names its ``file:line``; without it, a
        problem names the field only.

    Raises
    ------
    ScenarioError
        Every problem found, one a line (``file:line: traffic.close.0: problem``).
    """
    where = lambda loc: scenario_location(path, loc) if path is not None else "scenario"  # noqa: E731
    network = city.network
    problems = []
    for role in ("depot", "disposal"):
        lonlat = None if spec.waste is None else getattr(spec.waste, role)
        if lonlat is not None:
            try:
                check_site(network, lonlat, role=role, city=city.name)
            except TwinError as err:
                problems.append(f"{where(('waste', role))}: waste.{role}: {err}")
    if spec.traffic is not None:
        problems += _traffic_problems(spec.traffic, network, where)
    if problems:
        raise ScenarioError("\n".join(problems))


def _traffic_problems(
    traffic: TrafficSpec, network: RoadNetwork, where: Callable[[tuple], str]
) -> list[str]:
    """What a traffic section names that the network lacks, one line each."""
    problems = []
    if traffic.od:
        try:  # its file, its columns and times, its nodes in this network (as a run reads it)
            read_od_table(traffic.od, network, on_invalid=traffic.on_invalid)
        except TwinError as err:
            problems.append(f"{where(('traffic', 'od'))}: traffic.od: {err}")
    for i, closure in enumerate(traffic.closures):
        target = {"edge": closure.edge, "way": closure.way}
        problems += _edge_problem(network, target, where(("traffic", "close", i)), f"close.{i}")
    for i, change in enumerate(traffic.change):
        target = {"edge": change.edge, "way": change.way}
        problems += _edge_problem(network, target, where(("traffic", "change", i)), f"change.{i}")
    for i, line in _signal_problems(traffic, network):
        problems.append(f"{where(('traffic', 'signals', i))}: {line}")
    if traffic.signal_plan not in SIGNAL_PLAN_NAMES:
        try:
            read_plan_file(traffic.signal_plan, network, default_plans(network))
        except TwinError as err:
            here = where(("traffic", "signal_plan"))
            problems += [f"{here}: traffic.signal_plan: {line}" for line in str(err).splitlines()]
    return problems


def _signal_problems(traffic: TrafficSpec, network: RoadNetwork) -> list[tuple[int, str]]:
    """What the section's retimed junctions break (:func:`retimed_signals`): the timing's
    index and a line naming it, one a fault."""
    problems = []
    defaults = default_plans(network) if traffic.signals else None  # once, not a timing each
    for i, timing in enumerate(traffic.signals):
        try:
            retimed_signals(network, [(timing.node, timing.greens_s, timing.offset_s)], defaults)
        except TwinError as err:
            # a junction's faults come a line each: each line names the timing
            problems += [(i, f"traffic.signals.{i}: {line}") for line in str(err).splitlines()]
    return problems


def check_signal_timings(traffic: TrafficSpec, network: RoadNetwork) -> None:
    """Refuse a traffic section's retimed junctions that ``network`` cannot run: a node that
    is no signalized junction, a count of greens other than its phases', a green under its
    least, a cycle too long, an offset outside the cycle (the part of
    :func:`check_scenario_in_city` a form's typed plans need, without reading any file).

    Raises
    ------
    ScenarioError
        Every problem, one a line (``traffic.signals.0: junction …``).
    """
    problems = _signal_problems(traffic, network)
    if problems:
        raise ScenarioError("\n".join(line for _, line in problems))


def _check_checkpoint(spec: Scenario, where: str) -> None:
    """Refuse a waste section's checkpoint that is set for another policy or cannot be read."""
    from generative.checkpoint import CheckpointError, load_checkpoint

    if spec.waste.planner != "learned":
        raise ScenarioError(
            f"{where}: waste.checkpoint: set for planner {spec.waste.planner!r}; a checkpoint "
            "is for planner 'learned' (set that planner, or remove the checkpoint)"
        )
    try:
        load_checkpoint(spec.waste.checkpoint)
    except CheckpointError as err:
        raise ScenarioError(f"{where}: waste.checkpoint: {err}") from None


def _edge_problem(network, target: dict, where: str, field: str) -> list[str]:
    try:
        resolve_edges(network, **target)
    except TwinError as err:
        return [f"{where}: traffic.{field}: {err}"]
    return []

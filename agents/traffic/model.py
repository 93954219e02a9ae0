"""The traffic twin as a Mesa model: demand, routes, signals and the link engine together."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mesa
import numpy as np
import pandas as pd

from agents.kpis import edge_time_series, traffic_kpis
from agents.mesa_ids import release_finished_models
from agents.traffic.agents import SignalAgent, VehicleAgent
from agents.traffic.demand import Trips, departure_order
from agents.traffic.engine import (
    ARRIVED,
    CHOICE_TABLES_KEPT,
    PLANNED,
    ROUTE_COSTS,
    Engine,
    LinkParams,
)
from agents.traffic.signals import SignalPlan, compile_signals, default_plans
from cities.errors import TwinError
from cities.network import RoadNetwork
from cities.roads import SATURATION_FLOW_VPH_PER_LANE
from cities.routing import Router

# Mesa 3.3 would keep every model this process builds in memory (see agents.mesa_ids)
release_finished_models()

__all__ = ["TrafficConfig", "TrafficModel", "TrafficResult"]


@dataclass(frozen=True)
class TrafficConfig:
    """Settings of a traffic run.

    Attributes
    ----------
    duration_s
        Simulated time.
    dt_s
        Time step. Link times are exact (not rounded to steps); the step bounds how finely
        capacity, signals and spillback are resolved: vehicles move in slices of at most 1 s
        whatever the step (:data:`agents.traffic.engine.SLICE_S`), so a longer step only
        coarsens the bookkeeping (records, progress), and runs faster.
    reroute_share
        Share of drivers who re-route en route on current travel times (the rest keep their
        free-flow shortest path).
    reroute_interval_s
        How often current travel times are measured and route choices updated.
    route_noise
        Relative random perturbation of link costs at each update, which breaks ties between
        equally good routes.
    route_cost
        How re-routing drivers price links (:data:`agents.traffic.engine.ROUTE_COSTS`):
        ``"instantaneous"`` (default), the link's length over the mean speed of the vehicles on
        it at the update, queued ones standing, as UXsim's dynamic user optimum prices links;
        ``"experienced"``, the time vehicles took to leave each link since the last update, or
        more where the link is denser now. The default follows UXsim in more of the benchmark's
        runs (20 of 28 within 10 %, against 17; grid (a) −0.9 % against −9.4 %) but overshoots
        it near the edge of gridlock (BENCHMARKS.md, "Traffic fidelity").
    record_interval_s
        Width of the per-edge time series intervals.
    collect_interval_s
        How often the Mesa DataCollector records network totals.
    stuck_time_s
        Deadlock release (see :class:`~agents.traffic.engine.Engine`); ``None`` disables it.
    reconsider_s
        An adaptive driver held at the end of a link draws its next link again this often;
        ``None`` (default): every second (each slice of a step), as UXsim re-chooses at each of
        its 1 s steps. Drivers who stick to a blocked turn for several seconds lock grids up
        (BENCHMARKS.md, "re-choice while held").
    on_unreachable
        ``"skip"`` drops trips with no route (counted in the result), ``"error"`` refuses them.
    max_vehicle_agents
        Runs with up to this many trips get a Mesa agent per vehicle; larger runs get agents
        for a random sample of this size (all vehicles are simulated either way).
    """

    duration_s: float = 7200.0
    dt_s: float = 2.0
    reroute_share: float = 0.2
    reroute_interval_s: float = 300.0
    route_noise: float = 0.01
    route_cost: str = "instantaneous"
    record_interval_s: float = 300.0
    collect_interval_s: float = 60.0
    stuck_time_s: float | None = 300.0
    reconsider_s: float | None = None
    on_unreachable: str = "skip"
    max_vehicle_agents: int = 20_000

    def validate(self) -> None:
        """Raise :class:`TwinError` naming the first impossible setting."""
        checks = [
            (self.duration_s > 0, "duration_s", self.duration_s, "must be positive"),
            (0 < self.dt_s <= 60, "dt_s", self.dt_s, "must be in (0, 60] seconds"),
            (
                0 <= self.reroute_share <= 1,
                "reroute_share",
                self.reroute_share,
                "must be in [0, 1]",
            ),
            (
                self.reroute_interval_s > 0,
                "reroute_interval_s",
                self.reroute_interval_s,
                "must be positive",
            ),
            (
                self.route_cost in ROUTE_COSTS,
                "route_cost",
                self.route_cost,
                f"must be one of {', '.join(ROUTE_COSTS)}",
            ),
            (
                self.record_interval_s >= self.dt_s,
                "record_interval_s",
                self.record_interval_s,
                "must be at least one time step",
            ),
            (
                self.reconsider_s is None or self.reconsider_s > 0,
                "reconsider_s",
                self.reconsider_s,
                "must be positive (or None: every step)",
            ),
            (
                self.on_unreachable in {"skip", "error"},
                "on_unreachable",
                self.on_unreachable,
                "must be 'skip' or 'error'",
            ),
        ]
        for ok, name, value, rule in checks:
            if not ok:
                raise TwinError(f"Invalid traffic setting {name}={value!r}: it {rule}.")


@dataclass
class TrafficResult:
    """What a run produced: trips, per-edge time series, KPIs and Mesa's collected data."""

    trips: pd.DataFrame
    edge_series: pd.DataFrame
    kpis: dict[str, Any]
    model_data: pd.DataFrame
    skipped_trips: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class TrafficModel(mesa.Model):
    """Mesoscopic traffic on a road network (see :mod:`agents.traffic.engine` for the physics).

    Parameters
    ----------
    network
        The road network (after interventions).
    trips
        Background demand.
    config
        Run settings.
    closed
        Mask of closed edges: no route uses them and nothing enters them.
    signal_plans
        Plans by node position; default: :func:`~agents.traffic.signals.default_plans` for every
        signalized node.
    seed
        Seed of every random choice (same seed, same run).
    """

    def __init__(
        self,
        network: RoadNetwork,
        trips: Trips,
        *,
        config: TrafficConfig | None = None,
        closed: np.ndarray | None = None,
        signal_plans: dict[int, SignalPlan] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(rng=seed)
        self.config = config or TrafficConfig()
        self.config.validate()
        self.network = network
        self.closed = np.zeros(network.n_edges, dtype=bool) if closed is None else closed
        self.base_cost = np.where(self.closed, np.inf, network.edge_free_flow_s)
        self.router = Router(network, self.base_cost)
        plans = default_plans(network) if signal_plans is None else signal_plans
        self.engine = Engine(
            LinkParams(
                length_m=network.edge_length_m,
                free_speed_mps=network.edge_speed_kph / 3.6,
                capacity_vps=np.where(self.closed, 0.0, network.edge_capacity_vph / 3600.0),
                storage_veh=network.edge_storage_veh,
                from_node=network.edge_u.astype(np.int64),
                to_node=network.edge_v.astype(np.int64),
                saturation_vps=np.maximum(network.edge_lanes, 1)
                * (SATURATION_FLOW_VPH_PER_LANE / 3600.0),
            ),
            dt=self.config.dt_s,
            signals=compile_signals(plans, network.n_edges),
            record_interval_s=self.config.record_interval_s,
            stuck_time_s=self.config.stuck_time_s,
            reconsider_s=self.config.reconsider_s,
        )
        self.engine.rng = np.random.default_rng(self.rng.integers(2**63))
        self.signal_agents = SignalAgent.create_agents(self, len(plans), plan=list(plans.values()))
        self._destinations = np.zeros(0, dtype=np.int64)
        self._next_reroute = 0.0
        self.free_flow_s = np.zeros(0)
        self.origins = np.zeros(0, dtype=np.int64)
        self.skipped_trips = 0
        staying = int(np.count_nonzero(trips.origin == trips.destination))
        if staying:
            # such a trip drives no road: it is left out, and its absence from the trips table
            # must not pass unnoticed (read_od_table reports and drops them before this)
            warnings.warn(
                f"{staying} of {len(trips.origin)} trips start and end at the same node: they "
                "drive no road and are not simulated (give them distinct origin and destination "
                "nodes, or drop them).",
                stacklevel=2,
            )
        # vehicle ids in departure order: those on the road together sit together in memory,
        # which keeps the step kernel's working set small (Trips built by hand may be unsorted)
        order = departure_order(trips.origin, trips.destination, trips.depart_s)
        vehicles = self._add_trips(trips.subset(order))
        sample = vehicles
        if len(vehicles) > self.config.max_vehicle_agents:
            sample = np.sort(
                self.rng.choice(vehicles, self.config.max_vehicle_agents, replace=False)
            )
        self.vehicle_agents = VehicleAgent.create_agents(self, len(sample), vehicle=list(sample))
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "time_s": lambda m: m.engine.time,
                "planned": lambda m: m._counts["planned"],
                "waiting": lambda m: m._counts["waiting"],
                "running": lambda m: m._counts["running"],
                "arrived": lambda m: m._counts["arrived"],
                "queued": lambda m: int(m.engine.queued().sum()),
            }
        )
        self._next_collect = 0.0
        self._collected_at: float | None = None

    # ---------------------------------------------------------------- demand
    def _add_trips(self, trips: Trips, *, adaptive: bool | None = None) -> np.ndarray:
        # a large demand repeats OD pairs many times: route each distinct pair once
        pair_key = trips.origin.astype(np.int64) * self.network.n_nodes + trips.destination
        pair_of_trip, distinct = pd.factorize(pair_key)
        n = self.network.n_nodes
        routes = self.router.routes(distinct // n, distinct % n)
        reachable = routes.reachable[pair_of_trip]
        if not reachable.all() and self.config.on_unreachable == "error":
            raise TwinError(
                f"{int((~reachable).sum())} of {len(reachable)} trips have no route (closed roads "
                "cut them off): reopen roads, or skip such trips (on_invalid: skip in a "
                "scenario, --on-invalid skip on the command line)."
            )
        self.skipped_trips += int((~reachable).sum())
        keep = np.flatnonzero(reachable & (trips.origin != trips.destination))
        if len(keep) == 0:
            return np.zeros(0, dtype=np.int64)
        if adaptive is None:
            is_adaptive = self.rng.random(len(keep)) < self.config.reroute_share
        else:
            is_adaptive = np.full(len(keep), adaptive)
        pair = pair_of_trip[keep]
        # adaptive drivers take each next link from the choice tables: they need the first only
        lengths = np.where(is_adaptive, 1, np.diff(routes.offsets)[pair])
        take = np.repeat(routes.offsets[pair], lengths) + (
            np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        )
        edges = routes.edges[take]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        destination = trips.destination[keep]
        # destinations get choice rows in order of first use, so existing rows never move
        fresh = pd.unique(destination[is_adaptive])
        fresh = fresh[~np.isin(fresh, self._destinations)]
        self._destinations = np.concatenate([self._destinations, fresh])
        rows = np.where(is_adaptive, pd.Index(self._destinations).get_indexer(destination), -1)
        if is_adaptive.any():
            self._next_reroute = self.engine.time  # the destination set changed: rebuild tables
        ids = self.engine.add_vehicles(
            trips.depart_s[keep], edges, offsets, choice_row=rows, destination=destination
        )
        self.free_flow_s = np.concatenate([self.free_flow_s, routes.cost[pair]])
        self.origins = np.concatenate([self.origins, trips.origin[keep]])
        return ids

    def inject_vehicles(
        self,
        origin: np.ndarray,
        destination: np.ndarray,
        depart_s: np.ndarray,
        *,
        kind: str = "truck",
    ) -> list[VehicleAgent]:
        """Add vehicles (e.g. waste trucks) that follow shortest routes without re-routing."""
        trips = Trips(
            np.asarray(origin, dtype=np.int64),
            np.asarray(destination, dtype=np.int64),
            np.asarray(depart_s, dtype=np.float64),
        )
        ids = self._add_trips(trips, adaptive=False)
        return list(VehicleAgent.create_agents(self, len(ids), vehicle=list(ids), kind=kind))

    def signals_changed(self) -> None:
        """Recompile signal timing after an agent's plan changed."""
        plans = {agent.node: agent.plan for agent in self.signal_agents}
        self.engine.signals = compile_signals(plans, self.network.n_edges)

    # ---------------------------------------------------------------- running
    def _update_route_choice(self) -> None:
        costs = self.engine.link_travel_times(method=self.config.route_cost)
        engine = self.engine
        adaptive = (engine.state != ARRIVED) & (engine.choice_row >= 0)
        if not adaptive.any():
            return
        noisy = costs * (1 + self.config.route_noise * self.rng.random(len(costs)))
        # Trees only towards destinations of drivers who may read this table: it stays among the
        # tables drivers pick from for CHOICE_TABLES_KEPT updates (each at most an interval and
        # a step apart), so those on the road or leaving before then. Later drivers read later
        # tables; over a long shift this skips most searches, and every row a driver reads is
        # the one a search towards all destinations would give.
        horizon = engine.time + CHOICE_TABLES_KEPT * (
            self.config.reroute_interval_s + self.config.dt_s
        )
        reads = adaptive & ((engine.state != PLANNED) | (engine.depart < horizon))
        active = np.unique(engine.choice_row[reads])
        shape = (len(self._destinations), self.network.n_nodes)
        next_edge = np.full(shape, -1, dtype=np.int32)
        cost_to_go = np.full(shape, np.inf, dtype=np.float32)
        next_edge[active], cost_to_go[active] = Router(self.network, noisy).next_hops(
            self._destinations[active]
        )
        self.engine.push_choice_table(
            next_edge,
            cost_to_go,
            noisy,
            departing_before=self.engine.time + self.config.reroute_interval_s,
        )

    def step(self) -> None:
        """Advance by one time step."""
        engine = self.engine
        if engine.time >= self._next_reroute - 1e-9:
            self._update_route_choice()
            self._next_reroute = engine.time + self.config.reroute_interval_s
        if engine.time >= self._next_collect - 1e-9:
            self._collect()
            self._next_collect += self.config.collect_interval_s
        engine.step()

    def _collect(self) -> None:
        if self._collected_at == self.engine.time:
            return
        self._counts = self.engine.counts()  # once per collection, read by the reporters
        self.datacollector.collect(self)
        self._collected_at = self.engine.time

    def run(self, *, on_progress: Callable[[float], None] | None = None) -> TrafficResult:
        """Run to the configured duration and return the result."""
        steps = int(np.ceil(self.config.duration_s / self.config.dt_s - 1e-9))
        report_every = max(1, steps // 100)
        for i in range(steps):
            self.step()
            if on_progress and (i % report_every == 0 or i == steps - 1):
                on_progress((i + 1) / steps)
        return self.result()

    # ---------------------------------------------------------------- results
    def trips_frame(self) -> pd.DataFrame:
        """One row per simulated vehicle: the trips in departure order (those of one second by
        origin and destination node, :func:`~agents.traffic.demand.departure_order`), then
        vehicles injected later."""
        engine, nodes = self.engine, self.network.node_osmid
        status = np.array(["planned", "running", "arrived"])[engine.state]
        status[engine.waiting()] = "waiting"
        return pd.DataFrame(
            {
                "vehicle": np.arange(engine.n_vehicles),
                "origin": nodes[self.origins],
                "destination": nodes[engine.destination],
                "depart_s": engine.depart,
                "start_s": engine.start,
                "arrive_s": engine.arrive,
                "travel_time_s": engine.arrive - engine.depart,
                "free_flow_s": self.free_flow_s,
                "distance_m": engine.distance,
                "status": status,
            }
        )

    def result(self) -> TrafficResult:
        """Trips, per-edge series and KPIs of the run so far."""
        engine, network = self.engine, self.network
        # the run's end is a row of its own: the counts the trips table ends with
        self._collect()
        engine.flush_interval()
        raw = engine.interval_series()
        series = edge_time_series(
            exits=raw["exits"],
            time_on_link_s=raw["time_on_link_s"],
            occupancy=raw["occupancy"],
            queued=raw["queued"],
            length_m=network.edge_length_m,
            free_speed_kph=network.edge_speed_kph,
            interval_s=raw["width_s"] if len(raw["width_s"]) else self.config.record_interval_s,
        )
        trips = self.trips_frame()
        kpis = traffic_kpis(
            trips,
            series,
            length_m=network.edge_length_m,
            capacity_vph=network.edge_capacity_vph,
            free_speed_kph=network.edge_speed_kph,
            interval_s=self.config.record_interval_s,
        )
        kpis["trips_skipped_unroutable"] = self.skipped_trips
        kpis["simulated_s"] = engine.time
        return TrafficResult(
            trips=trips,
            edge_series=series,
            kpis=kpis,
            model_data=self.datacollector.get_model_vars_dataframe(),
            skipped_trips=self.skipped_trips,
        )

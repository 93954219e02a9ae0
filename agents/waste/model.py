"""The waste-collection twin as a Mesa model: bins fill day by day, a policy picks what to
empty, a planner routes the trucks, and the trucks drive those routes on the road network.

One model step is one day. On a working day (:data:`~agents.waste.policies.WORKING_DAYS`) the
shift comes first: the policy looks at the bins (with sensors, at their fill this morning; a
fixed schedule at nothing), a planner routes the fleet, and every truck drives its route through
the real bins (:class:`~agents.waste.agents.TruckAgent`). Then the day's waste goes in; what
does not fit overflows. Every day the mass balance holds exactly::

    initial + generated = in bins + collected + overflowed

Travel times come from the road model: free-flow times by default, or link travel times by time
of day (from a traffic run: :class:`LinkTimes`), in which case each leg is timed, and routed, at
the hour the truck drives it. Plans are made on the times at which the trucks drive
(``plan_times="time-of-day"``: see :meth:`WasteModel.planning_matrices` and
:meth:`WasteModel.timed_matrices`) or on free-flow times (``"free-flow"``, what a plan made
without traffic data assumes); either way the trucks then drive them in the twin's traffic, and
``planned_hours`` against ``truck_hours`` shows what a plan missed (its travel times, and loads
that made a truck tip early).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import mesa
import numpy as np
import pandas as pd

from agents.kpis import waste_kpis
from agents.mesa_ids import release_finished_models
from agents.waste.agents import BinAgent, TruckAgent, TruckDay
from agents.waste.bins import Bins, daily_generation
from agents.waste.costs import DEFAULT_COSTS, OBJECTIVES, CostFactors
from agents.waste.names import GIVEN_ROUTES, PLAN_TIMES
from agents.waste.planning import (
    PLANNERS,
    GreedyPlanner,
    Plan,
    Planner,
    PyVRPPlanner,
    RoutingProblem,
    finish_plan,
)
from agents.waste.policies import (
    LOOKAHEAD_SHIFTS,
    POLICIES,
    PRIZE_SCALE_M,
    THRESHOLD,
    UNLOAD,
    WORKING_DAYS,
    DayRequest,
    make_policy,
)
from agents.waste.sites import Sites
from cities.errors import TwinError
from cities.network import RoadNetwork
from cities.routing import Router

# Mesa 3.3 would keep every model this process builds in memory (see agents.mesa_ids)
release_finished_models()

__all__ = [
    "GIVEN_ROUTES",
    "LinkTimes",
    "TravelTimes",
    "Walk",
    "WasteConfig",
    "WasteModel",
    "WasteResult",
    "bin_streets",
    "sized_fleet",
]

DEPOT_LOCATION = 0
"""The depot's model location (the disposal site is 1, bin ``k`` is ``k + 2``)."""

TIMING_PASSES = 8
"""Most times a day is planned again on the times at which its stops are left (time-of-day
planning); each pass starts from the plan before."""

TIMING_TOLERANCE = 0.01
"""A plan whose duration on the times at which its own stops are left differs from the duration
it was planned with by at most this share is kept."""

CONTAINER_SERVICE_S = 40.0
"""Time to empty one 1,100 L container with a rear loader's lift (walk, hook, lift, return):
typically 30–60 s."""

STOP_SERVICE_S = 20.0
"""Fixed time per stop (stopping, crew getting out and back in)."""


DRIVE_BETWEEN_STOPS_S = 60.0
"""Typical drive from one collection point to the next on a round (a few hundred metres of
residential street with turns): used only to size a default fleet."""

LOADS_PER_SHIFT = 2
"""Full loads a truck tips in one shift (a morning and an afternoon round): used only to size a
default fleet."""

_DAY_OFF = {
    "requested": 0, "required": 0, "unserved_required": 0,
    "plan_s": 0.0, "planned_km": 0.0, "planned_hours": 0.0,
    "planned_by": None, "plan_note": None,
}  # fmt: skip
"""A day without collection in the daily table: nothing asked for or planned (numbers, not
blanks: a column keeps its type whether or not a run holds a weekend)."""


def sized_fleet(bins: Bins, *, truck_capacity_kg: float, shift_s: float) -> int:
    """The trucks a city's bins need: enough to carry a working day's waste and to stop at a
    working day's bins within the shift, with a fifth to spare.

    A week's waste is collected on five working days. Capacity: each truck tips
    :data:`LOADS_PER_SHIFT` loads a shift. Time: a bin is emptied about as often as it fills, and
    each stop takes its service time plus :data:`DRIVE_BETWEEN_STOPS_S` of driving, within 80 % of
    the shift (the rest is the drive out, back and to the tip).
    """
    weekly_kg = 7.0 * float(np.sum(bins.daily_kg))
    per_working_day_kg = weekly_kg / 5.0
    by_load = per_working_day_kg / (truck_capacity_kg * LOADS_PER_SHIFT)
    visits_per_day = 7.0 / 5.0 * np.sum(bins.daily_kg / bins.capacity_kg)
    if not len(bins):
        return 1
    stop_s = STOP_SERVICE_S + CONTAINER_SERVICE_S * float(np.mean(bins.containers))
    by_time = visits_per_day * (stop_s + DRIVE_BETWEEN_STOPS_S) / (0.8 * shift_s)
    return max(1, math.ceil(1.2 * max(by_load, by_time)))


@dataclass(frozen=True)
class WasteConfig:
    """Settings of a waste run.

    Attributes
    ----------
    days
        Simulated days; day 0 is a Monday.
    policy
        Which bins are emptied when: one of :data:`~agents.waste.policies.POLICIES`.
    planner
        Who routes the trucks: one of :data:`~agents.waste.planning.PLANNERS` (``learned``
        needs the trained planner passed to the model).
    n_trucks
        Fleet size (every truck drives at most one shift a day).
    truck_capacity_kg
        Payload between unloads (rear loaders carry 8–12 t).
    shift_s
        Longest shift, depot to depot.
    shift_start_s
        Time of day the shift starts (used with time-of-day travel times).
    unload_s
        Time at the disposal site per unload (queue, weighbridge, tipping).
    solver_time_s
        PyVRP's time limit per day.
    solver_iterations
        Also stop PyVRP after this many iterations. Runs are bit-for-bit reproducible for a seed
        when this limit, not the time limit, ends every search.
    initial_fill
        Bins start this full on average (drawn uniformly between 0 and twice this share).
    threshold
        Fill share at which the ``threshold`` policy empties a bin.
    prize_scale_m
        Urgency prize scale of the planned policies
        (:func:`~agents.waste.policies.urgency_prize`).
    lookahead_shifts
        Shifts ahead within which an optional bin's chance of becoming due sets its prize.
    objective
        What the planner minimises: truck-km, truck-hours or euros
        (:data:`~agents.waste.costs.OBJECTIVES`; ``hours`` and ``euros`` need planner ``pyvrp``).
    plan_times
        Travel times the days are planned on (:data:`~agents.waste.names.PLAN_TIMES`).
    costs
        Cost factors of the euros and CO2 figures and of the ``euros`` objective.
    """

    days: int = 28
    policy: str = "forecast"
    planner: str = "pyvrp"
    n_trucks: int = 3
    truck_capacity_kg: float = 10_000.0
    shift_s: float = 8 * 3600.0
    shift_start_s: float = 6 * 3600.0
    unload_s: float = 900.0
    solver_time_s: float = 2.0
    solver_iterations: int | None = None
    initial_fill: float = 0.3
    threshold: float = THRESHOLD
    prize_scale_m: float = PRIZE_SCALE_M
    lookahead_shifts: int = LOOKAHEAD_SHIFTS
    objective: str = "km"
    plan_times: str = "time-of-day"
    costs: CostFactors = DEFAULT_COSTS

    def validate(self) -> None:
        """Raise :class:`TwinError` naming the first impossible setting."""
        checks = [
            (isinstance(self.days, int) and self.days >= 1, "days", self.days, "an integer ≥ 1"),
            (self.policy in POLICIES, "policy", self.policy, f"one of {', '.join(POLICIES)}"),
            (
                isinstance(self.n_trucks, int) and self.n_trucks >= 1,
                "n_trucks",
                self.n_trucks,
                "an integer ≥ 1",
            ),
            (self.truck_capacity_kg > 0, "truck_capacity_kg", self.truck_capacity_kg, "> 0"),
            (0 < self.shift_s <= 24 * 3600, "shift_s", self.shift_s, "in (0, 86400] seconds"),
            (0 <= self.shift_start_s < 24 * 3600, "shift_start_s", self.shift_start_s, "[0, 24 h)"),
            (self.unload_s >= 0, "unload_s", self.unload_s, "≥ 0"),
            (self.solver_time_s > 0, "solver_time_s", self.solver_time_s, "> 0"),
            (
                self.solver_iterations is None
                or (isinstance(self.solver_iterations, int) and self.solver_iterations >= 1),
                "solver_iterations",
                self.solver_iterations,
                "an integer ≥ 1 (or none)",
            ),
            (self.planner in PLANNERS, "planner", self.planner, f"one of {', '.join(PLANNERS)}"),
            (0 <= self.initial_fill <= 0.5, "initial_fill", self.initial_fill, "in [0, 0.5]"),
            (0 < self.threshold <= 1, "threshold", self.threshold, "in (0, 1]"),
            (self.prize_scale_m >= 0, "prize_scale_m", self.prize_scale_m, "≥ 0"),
            (
                isinstance(self.lookahead_shifts, int) and 1 <= self.lookahead_shifts <= 5,
                "lookahead_shifts",
                self.lookahead_shifts,
                "an integer from 1 to 5",
            ),
            (
                self.objective in OBJECTIVES,
                "objective",
                self.objective,
                f"one of {', '.join(OBJECTIVES)}",
            ),
            (
                self.plan_times in PLAN_TIMES,
                "plan_times",
                self.plan_times,
                f"one of {', '.join(PLAN_TIMES)}",
            ),
        ]
        for ok, name, value, allowed in checks:
            if not ok:
                raise TwinError(f"waste setting {name}={value!r} is not valid: use {allowed}.")
        if self.objective != "km" and self.planner != "pyvrp" and self.policy not in GIVEN_ROUTES:
            raise TwinError(
                f"waste objective {self.objective!r} is planned by PyVRP: the {self.planner} "
                "planner minimises km only. Use planner pyvrp, or objective km."
            )


@dataclass(frozen=True, eq=False)
class LinkTimes:
    """Link travel times by time of day: ``seconds[k, e]`` for edge ``e`` during
    ``[start_s + k × interval_s, start_s + (k + 1) × interval_s)``; before and after, the first
    and last rows hold."""

    seconds: np.ndarray
    interval_s: float
    start_s: float = 0.0

    def index(self, time_of_day_s: float) -> int:
        k = int((time_of_day_s - self.start_s) // self.interval_s)
        return min(max(k, 0), len(self.seconds) - 1)

    def first_in_first_out(self) -> LinkTimes:
        """These times with no edge slower to enter now than after waiting for the next
        interval: ``seconds[k] ≤ interval_s + seconds[k + 1]``, from the last interval back.

        Times measured interval by interval can say that an edge entered during a short jam
        takes a hundred times its free-flow time, though the jam clears minutes later: a truck
        would wait for it instead (and a vehicle in it moves on at the next interval's speed),
        so that leaving later never arrives earlier."""
        seconds = np.array(self.seconds, dtype=np.float64)
        for k in range(len(seconds) - 2, -1, -1):
            np.minimum(seconds[k], self.interval_s + seconds[k + 1], out=seconds[k])
        return LinkTimes(seconds=seconds, interval_s=self.interval_s, start_s=self.start_s)


@dataclass
class Walk:
    """A day's routes driven on the time-of-day times (:meth:`WasteModel.walk`)."""

    leave_at: dict[int, float] = field(default_factory=dict)
    """Shift clock (s) at which each location is first left."""
    leave_tip: list[float] = field(default_factory=list)
    """Shift clocks at which the disposal site is left."""
    last_s: float = 0.0
    """When the last truck is back at the depot."""
    duration_s: float = 0.0
    """Truck-seconds of the plan."""
    distance_m: float = 0.0
    """Truck-metres of the plan."""
    overtime_s: float = 0.0
    """Truck-seconds past the end of the shift (summed over the trucks that overrun)."""


def service_times(bins: Bins) -> np.ndarray:
    """Seconds a truck stands at each bin (:data:`STOP_SERVICE_S` and
    :data:`CONTAINER_SERVICE_S` for each of its containers)."""
    return STOP_SERVICE_S + CONTAINER_SERVICE_S * bins.containers


def reachable_bins(
    network: RoadNetwork, bins: Bins, sites: Sites, link_times: LinkTimes | None = None, *,
    at_s: float = 0.0,
) -> np.ndarray:  # fmt: skip
    """Per bin, whether a truck can drive to it from the depot and on from it to the disposal
    site at ``at_s`` (links closed then, ``inf`` in ``link_times``, stay closed): the bins a
    :class:`WasteModel` plans, found with two searches instead of its travel-time matrix."""
    if link_times is None:
        times = network.edge_free_flow_s
    else:
        times = link_times.seconds[link_times.index(at_s)]
    router = Router(network, times)
    from_depot = router.costs(np.array([sites.depot_node]))[0]
    to_disposal = router.costs_to(np.array([sites.disposal_node]))[0]
    return np.isfinite(from_depot[bins.node]) & np.isfinite(to_disposal[bins.node])


class TravelTimes:
    """Travel time and distance between a model's locations on one set of link times, built
    per time-of-day interval on first use (a router per interval), row by row: a row is the
    times and distances from one location to all, found by one search when first asked for.

    A day planned on the times of the hours its trucks drive reads, for each stop, the row of
    the interval it is left in, and in every interval only the rows of the bins the plan left
    out (:meth:`WasteModel.timed_matrices`): on Liechtenstein's first day in half-hourly
    traffic 304 rows of the 12,220 that every location's in every interval would take
    (``tests/agents/waste/test_baselines.py``), the same matrices where they are read.

    Parameters
    ----------
    network
        The road network.
    link_times
        Link travel times by time of day; ``inf`` closes a link.
    location_nodes
        Network node of every model location (depot, disposal site, bins).
    """

    def __init__(
        self, network: RoadNetwork, link_times: LinkTimes, location_nodes: np.ndarray
    ) -> None:
        self.network, self.link_times, self.location_nodes = network, link_times, location_nodes
        # locations at one node share its row: rows are kept by distinct node
        self._nodes, self._node_of = np.unique(location_nodes, return_inverse=True)
        self._routers: dict[int, Router] = {}
        self._rows: dict[int, _IntervalRows] = {}

    def _interval_rows(self, k: int, rows: np.ndarray) -> _IntervalRows:
        """Interval ``k``'s rows, with those of the distinct nodes ``rows`` searched."""
        if k not in self._rows:
            self._rows[k] = _IntervalRows.empty(len(self._nodes))
        held = self._rows[k]
        missing = rows[~held.found[rows]]
        if len(missing):
            missing = np.unique(missing)
            duration, distance = self.router(k).cost_matrices(
                self._nodes[missing], along=self.network.edge_length_m, targets=self._nodes
            )
            held.duration[missing], held.distance[missing] = duration, distance
            held.found[missing] = True
        return held

    def block(
        self, time_of_day_s: float, rows: np.ndarray, columns: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Travel time and distance from locations ``rows`` to locations ``columns`` when
        driving at ``time_of_day_s``, ``len(rows) × len(columns)``."""
        row_nodes = self._node_of[np.asarray(rows, dtype=np.int64)]
        column_nodes = self._node_of[np.asarray(columns, dtype=np.int64)]
        held = self._interval_rows(self.link_times.index(time_of_day_s), row_nodes)
        grid = np.ix_(row_nodes, column_nodes)
        return held.duration[grid], held.distance[grid]

    def pair(self, time_of_day_s: float, origin: int, destination: int) -> tuple[float, float]:
        """Travel time and distance from location ``origin`` to ``destination`` when driving
        at ``time_of_day_s``."""
        row = self._node_of[origin]
        held = self._interval_rows(self.link_times.index(time_of_day_s), np.array([row]))
        column = self._node_of[destination]
        return float(held.duration[row, column]), float(held.distance[row, column])

    def matrices(self, time_of_day_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Travel time and distance between all locations when driving at ``time_of_day_s``."""
        everywhere = np.arange(len(self.location_nodes))
        return self.block(time_of_day_s, everywhere, everywhere)

    def router(self, interval: int) -> Router:
        if interval not in self._routers:
            self._routers[interval] = Router(self.network, self.link_times.seconds[interval])
        return self._routers[interval]

    @property
    def cached(self) -> bool:
        """Whether any router or row is held."""
        return bool(self._routers or self._rows)

    def clear(self) -> None:
        """Let go of the routers and rows (rebuilt on demand): gigabytes on a large city."""
        self._rows.clear()
        self._routers.clear()


@dataclass(frozen=True, eq=False)
class _IntervalRows:
    """One interval's rows between distinct location nodes, filled where ``found``: allocated
    whole, the memory of a row is taken when it is written."""

    duration: np.ndarray
    distance: np.ndarray
    found: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _IntervalRows:
        return cls(np.empty((n, n)), np.empty((n, n)), np.zeros(n, dtype=bool))


@dataclass(eq=False)
class WasteResult:
    """Outcome of a waste run.

    Attributes
    ----------
    daily
        One row per day: waste generated, collected, overflowed, in bins; bins emptied and
        overflowing; truck km and hours; unloads; planning time.
    routes
        One row per truck and day: distance, duration, bins emptied and skipped, collected kg,
        unloads, and the network edges driven (``edges``, in order).
    bins
        One row per bin: position, capacity, mean daily input, final fill, times emptied,
        overflow days and kg.
    kpis
        The run's KPIs (:func:`agents.kpis.waste_kpis`).
    info
        Policy, planner, fleet, sites, unreachable bins, warnings.
    bin_fill
        One row per day and bin: the waste left in the bin at the end of that day (after the
        day's collection and overflow), ``fill_kg`` and ``fill_share`` of its capacity.
    rounds
        The weekly rounds of a fixed-rounds policy (:meth:`WasteModel.fixed_rounds`), ``None``
        for policies that plan each day.
    """

    daily: pd.DataFrame
    routes: pd.DataFrame
    bins: pd.DataFrame
    kpis: dict
    info: dict = field(default_factory=dict)
    bin_fill: pd.DataFrame | None = None
    rounds: dict[int, tuple[np.ndarray, ...]] | None = None


def _counted(daily: pd.DataFrame, column: str) -> tuple[int, int]:
    """The total of a daily count and the days it is above 0 (none where the table lacks it)."""
    if not len(daily) or column not in daily:
        return 0, 0
    some = daily[column] > 0
    return int(daily.loc[some, column].sum()), int(some.sum())


def _in_hours(violation: str) -> str:
    """A plan check's "route 0: takes 58639.5 s, shift is 28800.0 s" as a planner reads it."""
    found = re.fullmatch(r"route (\d+): takes ([\d.]+) s, shift is ([\d.]+) s", violation)
    if found is None:
        return violation
    truck, takes, shift = int(found[1]) + 1, float(found[2]) / 3600, float(found[3]) / 3600
    return f"truck {truck}'s round takes {takes:.1f} h, longer than the {shift:.3g} h shift"


def _beside_collected(bins: Bins, missed: np.ndarray) -> str:
    """What to do where missed bins stand at a spot the rounds visit: a stop given by position
    takes one bin there, and the twin may have several at one spot."""
    from agents.waste.rounds import SAME_SPOT_M

    visited = np.setdiff1d(np.arange(len(bins)), missed)
    if not len(visited):
        return ""
    from scipy.spatial import cKDTree

    xy = np.column_stack([bins.x, bins.y])
    gap, _ = cKDTree(xy[visited]).query(xy[missed])
    beside = int(np.sum(gap <= SAME_SPOT_M))
    if not beside:
        return ""
    return (
        f" {beside} of them stand at a spot the rounds stop at: a stop given by position "
        "empties one bin there; give the spot once per bin there, or the bins' numbers "
        "(the bins table's bin)."
    )


class WasteModel(mesa.Model):
    """Bins, trucks, a policy and a planner, one day per step.

    Parameters
    ----------
    network
        The road network (after interventions).
    bins, sites
        Bins (:func:`~agents.waste.bins.place_bins`) and depot / disposal site
        (:func:`~agents.waste.sites.locate_sites`).
    config
        Run settings.
    link_times
        Travel times by time of day, those the trucks drive in; default free-flow times.
        ``inf`` closes a link.
    forecast_times
        Travel times by time of day the days are planned on with ``plan_times="time-of-day"``
        (a forecast: say, the mean of other days' traffic); default ``link_times`` themselves,
        a perfect forecast. Trucks drive, and decide whether a stop still fits the shift, on
        ``link_times``: a crew sees the traffic it is in.
    planner
        Overrides the planner (any :class:`~agents.waste.planning.Planner`, e.g. the learned
        one); default from ``config.planner``.
    rounds
        With policy ``current``: the city's rounds, per working weekday one array of bin indices
        per truck in driving order (:func:`agents.waste.rounds.match_rounds`).
    seed
        Seed of every random draw (same seed, same run).
    """

    def __init__(
        self,
        network: RoadNetwork,
        bins: Bins,
        sites: Sites,
        *,
        config: WasteConfig | None = None,
        link_times: LinkTimes | None = None,
        forecast_times: LinkTimes | None = None,
        planner: Planner | None = None,
        rounds: dict[int, tuple[np.ndarray, ...]] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(rng=seed)
        self.config = config or WasteConfig()
        self.config.validate()
        bins.validate(n_nodes=network.n_nodes)
        self.network, self.bins, self.sites = network, bins, sites
        self.link_times = link_times or LinkTimes(network.edge_free_flow_s[None, :], 86_400.0)
        self.service_s = service_times(bins)
        self.location_nodes = np.concatenate(
            [[sites.depot_node, sites.disposal_node], bins.node]
        ).astype(np.int64)
        forecast_shape = None if forecast_times is None else forecast_times.seconds.shape
        if forecast_shape is not None and forecast_shape[1:] != (network.n_edges,):
            raise ValueError(
                f"forecast_times: {forecast_shape[-1]} links a row where the network has "
                f"{network.n_edges}: give a forecast of this network's links"
            )
        self.driving = TravelTimes(network, self.link_times, self.location_nodes)
        """The times the trucks drive in."""
        self.forecast = (
            self.driving
            if forecast_times is None
            else TravelTimes(network, forecast_times, self.location_nodes)
        )
        """The times time-of-day plans are made on."""
        self._free_flow: TravelTimes | None = None
        # a bin the trucks cannot reach and leave (closed roads) is never planned
        self.unreachable = np.flatnonzero(
            ~reachable_bins(network, bins, sites, self.link_times, at_s=self.config.shift_start_s)
        )
        self.policy = make_policy(
            self.config.policy,
            bins,
            depot_xy=(network.node_x[sites.depot_node], network.node_y[sites.depot_node]),
            threshold=self.config.threshold,
            prize_scale_m=self.config.prize_scale_m,
            lookahead_shifts=self.config.lookahead_shifts,
            objective=self.config.objective,
            rounds=rounds,
            hand_drawn={
                "street": bin_streets(network, bins),
                "service_s": self.service_s,
                "n_trucks": self.config.n_trucks,
                "truck_capacity_kg": self.config.truck_capacity_kg,
                "shift_s": self.config.shift_s,
            }
            if self.config.policy == "hand-drawn"
            else None,
        )
        self.planner = planner or self._default_planner()
        self.trucks = TruckAgent.create_agents(
            self, self.config.n_trucks, truck=list(range(self.config.n_trucks))
        )
        self.bin_agents = BinAgent.create_agents(self, len(bins), index=list(range(len(bins))))
        capacity = bins.capacity_kg
        self.fill_kg = self.rng.uniform(0.0, 2 * self.config.initial_fill, len(bins)) * capacity
        self.initial_kg = float(self.fill_kg.sum())
        self.generated_kg = 0.0
        self.collected_kg = 0.0
        self.overflow_kg = 0.0
        self.bin_emptied = np.zeros(len(bins), dtype=np.int64)
        self.bin_overflow_days = np.zeros(len(bins), dtype=np.int64)
        self.bin_overflow_kg = np.zeros(len(bins))
        self.day = 0
        self._plans: dict[object, tuple[Plan, RoutingProblem]] = {}
        self._fixed_routes: dict[object, list[np.ndarray]] = {}
        self._daily: list[dict] = []
        self._fill_by_day: list[np.ndarray] = []
        self._truck_days: list[TruckDay] = []
        self._waste_rng = np.random.default_rng(self.rng.integers(2**63))
        self.warnings: list[str] = []
        if len(self.unreachable):
            self.warnings.append(
                f"{len(self.unreachable)} bins cannot be reached from the depot or cannot reach "
                "the disposal site (closed roads); they are never emptied."
            )
        never = getattr(self.policy, "never_collected", None)
        if never is not None and len(never()):
            self.warnings.append(
                f"{len(never())} of {len(bins)} bins are in none of the given rounds; they are "
                f"never emptied.{_beside_collected(bins, never())}"
            )
        if (
            self.config.objective != "km"
            and not isinstance(self.planner, PyVRPPlanner)
            and self.config.policy not in GIVEN_ROUTES
        ):
            raise TwinError(
                f"waste objective {self.config.objective!r} is planned by PyVRP: the "
                f"{getattr(self.planner, 'name', 'given')} planner minimises km only. Use "
                "planner pyvrp, or objective km."
            )

    def _default_planner(self) -> Planner:
        if self.config.planner == "learned":
            raise ValueError(
                "planner 'learned' plans with a trained model: pass planner= (a "
                "generative.propose.LearnedPlanner); twin.api.run_waste loads the city's one."
            )
        if self.config.planner == "greedy":
            return GreedyPlanner()
        return PyVRPPlanner(
            max_runtime_s=self.config.solver_time_s,
            max_iterations=self.config.solver_iterations,
            objective=self.config.objective,
            costs=self.config.costs,
        )

    # ------------------------------------------------------------------ travel
    def matrices(self, time_of_day_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Travel time and distance between all locations (depot, disposal, bins) when driving
        at ``time_of_day_s`` (in the traffic the trucks drive in)."""
        return self.driving.matrices(time_of_day_s)

    def router(self, interval: int) -> Router:
        return self.driving.router(interval)

    def leg(
        self,
        origin: int,
        destination: int,
        shift_clock_s: float,
        *,
        times: TravelTimes | None = None,
    ) -> tuple[float, float]:
        """Duration and distance of a drive between two locations, leaving at that shift time,
        on ``times`` (default: the traffic the trucks drive in)."""
        if origin == destination:
            return 0.0, 0.0
        times = times or self.driving
        return times.pair(self.config.shift_start_s + shift_clock_s, origin, destination)

    # ------------------------------------------------------------------ bins
    def empty_bin(self, index: int, kg: float) -> None:
        """A truck took ``kg`` from bin ``index``."""
        self.fill_kg[index] -= kg
        if self.fill_kg[index] < 1e-9:
            self.fill_kg[index] = 0.0
        self.bin_emptied[index] += 1

    def deliver(self, kg: float) -> None:
        """A truck unloaded ``kg`` at the disposal site."""
        self.collected_kg += kg

    # ------------------------------------------------------------------ planning times
    def _free_flow_times(self) -> TravelTimes:
        """Travel time and distance between locations at free-flow speeds (closed links stay
        closed)."""
        if self._free_flow is None:
            closed = np.isinf(self.link_times.seconds).any(axis=0)
            weights = np.where(closed, np.inf, self.network.edge_free_flow_s)
            self._free_flow = TravelTimes(
                self.network, LinkTimes(weights[None, :], 86_400.0), self.location_nodes
            )
        return self._free_flow

    def planning_matrices(self, locations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The travel time and distance a day is first planned on, between ``locations``
        (model locations).

        ``free-flow``: free-flow times. ``time-of-day``: the forecast's link times when the
        shift starts; with link times that change during the shift, the plan is then made
        again on the times at which its stops are left (:meth:`timed_matrices`).
        """
        times = self._free_flow_times() if self.config.plan_times == "free-flow" else self.forecast
        return times.block(self.config.shift_start_s, locations, locations)

    def walk(self, routes: list[np.ndarray]) -> Walk:
        """``routes`` (model locations) driven as the trucks drive them, every truck from the
        shift's start, each leg at the forecast's link times of the moment it starts
        (:meth:`leg`): when each stop is left, and the hours and distance of the whole plan on
        these times."""
        walked = Walk()
        for route in routes:
            clock = self.back_at_depot_s(route.tolist(), walked=walked, times=self.forecast)
            walked.last_s = max(walked.last_s, clock)
            walked.duration_s += clock
            walked.overtime_s += max(0.0, clock - self.config.shift_s)
        return walked

    def back_at_depot_s(
        self,
        stops: list[int],
        *,
        at: int = DEPOT_LOCATION,
        clock_s: float = 0.0,
        walked: Walk | None = None,
        times: TravelTimes | None = None,
    ) -> float:
        """Shift clock at which a truck at ``at`` at ``clock_s``, driving ``stops`` (model
        locations) as planned and then home, is back at the depot: each leg at the link times
        (``times``; default the traffic the trucks drive in) of the moment it starts
        (:meth:`leg`), a bin's service and an unload at the disposal site counted. ``walked``:
        a :class:`Walk` to record when each stop is left, and the distance, in."""
        for stop in [*stops, DEPOT_LOCATION]:
            if walked is not None:
                walked.leave_at.setdefault(at, clock_s)
                if at == 1:
                    walked.leave_tip.append(clock_s)
            duration, distance = self.leg(at, stop, clock_s, times=times)
            clock_s += duration
            if walked is not None:
                walked.distance_m += distance
            if stop >= 2:
                clock_s += float(self.service_s[stop - 2])
            elif stop == 1:
                clock_s += self.config.unload_s
            at = stop
        return clock_s

    def timed_matrices(
        self, routes: list[np.ndarray], locations: np.ndarray, walked: Walk | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Planning matrices (over the model ``locations`` of a day's problem) whose row of each
        stop holds the forecast's travel times of the interval in which a truck leaves it on
        ``routes`` (model locations), driven as the trucks drive them (:meth:`leg`); the
        disposal site's, visited at several times, the mean over the times trucks leave it;
        stops off the routes the mean over the intervals the routes span. ``walked``: the
        routes' :meth:`walk`, where the caller has it.

        PyVRP has no time-dependent travel times; planning again on the times at which each
        stop is left is the classic approximation, and what makes a plan's hours hold in
        traffic: for the plan whose times these are, they are the times its trucks drive."""
        start = self.config.shift_start_s
        walked = self.walk(routes) if walked is None else walked
        leave_at, leave_tip, last = walked.leave_at, walked.leave_tip, walked.last_s
        forecast = self.forecast
        leave_at[DEPOT_LOCATION] = 0.0
        leave_at.pop(1, None)
        # one row per distinct location (a location given twice gets its row twice)
        row_of = {location: i for i, location in enumerate(dict.fromkeys(locations.tolist()))}
        size = (len(row_of), len(locations))
        duration, distance = np.empty(size), np.empty(size)
        # each row is searched only in the intervals it is read for: the stops' in the one
        # they are left in, the others' in every interval the routes span (stops that are not
        # among the locations are no row of the result)
        leave_at = {loc: clock for loc, clock in leave_at.items() if loc in row_of}
        leave_tip = leave_tip if 1 in row_of else []
        timed = set(leave_at) | ({1} if leave_tip else set())
        off_routes = np.array([loc for loc in row_of if loc not in timed], dtype=np.int64)
        if len(off_routes):
            times = [*np.arange(0.0, last, forecast.link_times.interval_s), last]
            spanned = {
                forecast.link_times.index(start + t): forecast.block(
                    start + t, off_routes, locations
                )
                for t in times
            }
            rows = [row_of[loc] for loc in off_routes.tolist()]
            duration[rows] = np.mean([m[0] for m in spanned.values()], axis=0)
            distance[rows] = np.mean([m[1] for m in spanned.values()], axis=0)
        if leave_tip:  # the tip's one row: the mean over the times trucks leave it
            tip = [forecast.block(start + clock, [1], locations) for clock in leave_tip]
            duration[row_of[1]] = np.mean([m[0][0] for m in tip], axis=0)
            distance[row_of[1]] = np.mean([m[1][0] for m in tip], axis=0)
        for location, clock in leave_at.items():
            timed_duration, timed_distance = forecast.block(start + clock, [location], locations)
            duration[row_of[location]] = timed_duration[0]
            distance[row_of[location]] = timed_distance[0]
        if len(row_of) < len(locations):
            given = [row_of[location] for location in locations.tolist()]
            duration, distance = duration[given], distance[given]
        return duration, distance

    # ------------------------------------------------------------------ one day
    def _problem(
        self, request: DayRequest, matrices: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[RoutingProblem, np.ndarray]:
        keep = ~np.isin(request.bins, self.unreachable)
        chosen = request.bins[keep]
        locations = np.concatenate([[0, 1], chosen + 2])
        if matrices is None:
            duration, distance = self.planning_matrices(locations)
        else:
            duration, distance = matrices
        problem = RoutingProblem(
            duration_s=duration,
            distance_m=distance,
            load_kg=request.load_kg[keep],
            prize=request.prize[keep],
            required=request.required[keep],
            service_s=self.service_s[chosen],
            n_trucks=self.config.n_trucks,
            truck_capacity_kg=self.config.truck_capacity_kg,
            shift_s=self.config.shift_s,
            unload_s=self.config.unload_s,
            xy_m=np.column_stack(
                [self.network.node_x[self.location_nodes[locations]],
                 self.network.node_y[self.location_nodes[locations]]]
            ),
            prize_service_s=None
            if request.saves_service is None
            else request.saves_service[keep] * self.service_s[chosen],
            prize_eur=None
            if request.overflow_risk is None
            else request.overflow_risk[keep] * self.config.costs.overflow_eur,
        )  # fmt: skip
        return problem, chosen

    def _given_plan(self, request: DayRequest, problem: RoutingProblem, chosen: np.ndarray):
        """The policy's own routes as a :class:`Plan` of ``problem`` (its cost and rule checks
        on the planning times); unreachable bins left out."""
        started = time.perf_counter()
        position = {int(b): i + 2 for i, b in enumerate(chosen.tolist())}
        routes = []
        for route in request.routes or ():
            stops = [
                1 if b == UNLOAD else position[b]
                for b in route.tolist()
                if b == UNLOAD or b in position
            ]
            while stops and stops[0] == 1:
                stops.pop(0)  # nothing to tip before the first bin
            if stops and stops[-1] != 1:
                stops.append(1)
            routes.append(np.asarray(stops, dtype=np.int64))
        plan = finish_plan(problem, routes, "given", started, {})
        if plan.info["violations"]:
            plan.info["fallback"] = (
                f"the {self.config.policy} rounds break the plan's rules on the planning times: "
                f"{_in_hours(plan.info['violations'][0])}"
            )
        return plan

    def _plan_fresh(
        self, problem: RoutingProblem, chosen: np.ndarray
    ) -> tuple[Plan, RoutingProblem]:
        """Plan a day. With link times that change during the shift (and ``time-of-day``
        planning), plan again on the times at which the plan's stops are left
        (:meth:`timed_matrices`), from the plan before, until a plan's hours on its own times
        (its routes walked leg by leg, :meth:`walk`) agree with those it was made on within
        :data:`TIMING_TOLERANCE` and its trucks are back within the shift on them (at most
        :data:`TIMING_PASSES` times, and no further once a plan comes back that was met before).

        Where jams come and go, the passes may not settle (a stop moved out of a jam's hour
        lands in another's): the plan kept is then, of the passes whose trucks are back within
        the shift on their own times, the cheapest; where every pass overruns, the one that
        overruns least (trucks skip the stops they cannot finish, so an overrunning plan is not
        the plan driven). It comes back costed on its own times, so that the hours it expects
        are those its trucks will drive. ``info["timing"]`` lists every pass's hours,
        overtime and cost on its own times, whether it settled, and which was kept."""
        seed = int(self.rng.integers(2**31))
        plan = self.planner.plan(problem, seed=seed)
        if self.config.plan_times == "free-flow" or len(self.forecast.link_times.seconds) == 1:
            return plan, problem
        locations = np.concatenate([[0, 1], chosen + 2])  # planning → model locations
        spent = plan.solve_s
        best: tuple[tuple[float, float], Plan, RoutingProblem] | None = None
        passes: list[dict] = []
        seen: set[tuple] = set()
        for attempt in range(TIMING_PASSES + 1):
            seen.add(_routes_key(plan))
            routes = [locations[r] for r in plan.routes]
            walked = self.walk(routes)
            timed = self.timed_matrices(routes, locations, walked)
            timed_problem = dataclasses.replace(problem, duration_s=timed[0], distance_m=timed[1])
            own = finish_plan(timed_problem, plan.routes, plan.planner, time.perf_counter(),
                              dict(plan.info))  # fmt: skip
            # its hours on its own times are the walk's: the timed matrices have one row for
            # the disposal site, which trucks leave at several times of day
            own.info.update(
                duration_s=walked.duration_s,
                distance_m=walked.distance_m,
                objective=own.info["objective"] - own.info["distance_m"] + walked.distance_m,
            )
            cost = self._cost(own.info)
            passes.append(
                {"hours": walked.duration_s / 3600.0, "overtime_hours": walked.overtime_s / 3600.0,
                 "cost": cost, "settled": False, "kept": False}
            )  # fmt: skip
            agrees = abs(own.info["duration_s"] - plan.info["duration_s"]) <= (
                TIMING_TOLERANCE * max(own.info["duration_s"], 1.0)
            )
            if agrees and walked.overtime_s == 0.0:
                best = ((0.0, 0.0), plan, problem)  # settled: the plan as made
                kept = attempt
                passes[kept]["settled"] = True
                break
            if best is None or (walked.overtime_s, cost) < best[0]:
                best, kept = ((walked.overtime_s, cost), own, timed_problem), attempt
            if attempt == TIMING_PASSES:
                break
            problem = timed_problem
            if isinstance(self.planner, PyVRPPlanner):
                plan = self.planner.plan(problem, seed=seed, initial=plan)
            else:
                plan = self.planner.plan(problem, seed=seed)
            spent += plan.solve_s
            if _routes_key(plan) in seen:
                break  # a plan met before: the passes from here on repeat those after it
        _, plan, problem = best
        passes[kept]["kept"] = True
        plan.info.update(planning_s=spent, timing=passes)
        return plan, problem

    def _cost(self, info: dict) -> float:
        """A plan's cost by the run's objective, from its totals (its missed prizes aside: the
        passes of one day differ in routes, hardly in the bins they leave)."""
        if self.config.objective == "hours":
            return float(info["duration_s"])
        if self.config.objective == "euros":
            return self.config.costs.euros(
                truck_km=info["distance_m"] / 1000.0, truck_hours=info["duration_s"] / 3600.0
            )
        return float(info["objective"])

    def _plan_day(self, day: int) -> tuple[list[np.ndarray], dict]:
        request = self.policy.request(day, self.fill_kg.copy())
        problem, chosen = self._problem(request)
        cached = self._plans.get(request.reuse) if request.reuse is not None else None
        fresh = cached is None
        if fresh:
            if request.routes is not None:
                plan = self._given_plan(request, problem, chosen)
            else:
                plan, problem = self._plan_fresh(problem, chosen)
            if request.reuse is not None:
                self._plans[request.reuse] = (plan, problem)
        else:
            plan, problem = cached
        # planning locations → model locations (bins as model index + 2)
        to_model = np.concatenate([[0, 1], chosen + 2])
        routes = [to_model[route] for route in plan.routes]
        if request.reuse is not None:
            self._fixed_routes[request.reuse] = routes
        unserved = plan.unserved_required(problem)
        plan_s = float(plan.info.get("planning_s", plan.solve_s))
        return routes, {
            "requested": len(chosen),
            "required": int(problem.required.sum()),
            "unserved_required": len(unserved),
            "plan_s": plan_s if fresh else 0.0,
            "planned_km": float(plan.info.get("distance_m", np.nan)) / 1000.0,
            "planned_hours": float(plan.info.get("duration_s", np.nan)) / 3600.0,
            "planned_by": plan.planner,
            # a planner that passed the day on (say, outside a learned model's range) says why
            "plan_note": str(plan.info.get("fallback") or plan.info.get("outside_range") or ""),
        }

    def step(self) -> None:
        """Simulate one day: the shift (on working days), then the day's waste."""
        day = self.day
        record: dict = {"day": day, "weekday": day % 7}
        emptied_before = int(self.bin_emptied.sum())
        truck_days: list[TruckDay] = []
        if day % 7 in WORKING_DAYS:
            routes, plan_info = self._plan_day(day)
            record.update(plan_info)
            for truck, route in zip(self.trucks, routes, strict=False):
                truck_days.append(truck.drive(route, day))
        else:
            record.update(_DAY_OFF)
        self._truck_days.extend(truck_days)

        generated = daily_generation(self.bins, day, self._waste_rng)
        room = self.bins.capacity_kg - self.fill_kg
        added = np.minimum(generated, room)
        spilled = generated - added
        self.fill_kg += added
        overflowing = spilled > 1e-9
        self.bin_overflow_days += overflowing
        self.bin_overflow_kg += spilled
        self.generated_kg += float(generated.sum())
        self.overflow_kg += float(spilled.sum())

        record.update(
            {
                "generated_kg": float(generated.sum()),
                "collected_kg": sum(t.collected_kg for t in truck_days),
                "overflow_kg": float(spilled.sum()),
                "overflowing_bins": int(overflowing.sum()),
                "in_bins_kg": float(self.fill_kg.sum()),
                "bins_emptied": int(self.bin_emptied.sum()) - emptied_before,
                "fill_share_emptied_sum": sum(sum(t.fill_share) for t in truck_days),
                "skipped_bins": sum(len(t.skipped) for t in truck_days),
                "truck_km": sum(t.distance_m for t in truck_days) / 1000.0,
                "truck_hours": sum(t.duration_s for t in truck_days) / 3600.0,
                "trucks_out": sum(1 for t in truck_days if t.legs),
                "unloads": sum(len(t.unloads_kg) for t in truck_days),
                "extra_unloads": sum(t.extra_unloads for t in truck_days),
                "cumulative_generated_kg": self.generated_kg,
                "cumulative_collected_kg": self.collected_kg,
                "cumulative_overflow_kg": self.overflow_kg,
            }
        )
        self._daily.append(record)
        self._fill_by_day.append(self.fill_kg.astype(np.float32))
        self.day += 1

    def fixed_rounds(self) -> dict[int, tuple[np.ndarray, ...]]:
        """The weekly rounds of a fixed-rounds policy (``schedule``, ``hand-drawn``,
        ``current``): per working weekday, one array per truck of bin indices in driving order
        with :data:`~agents.waste.policies.UNLOAD` for each trip to the disposal site (the form
        :class:`~agents.waste.policies.GivenRounds` drives). Rounds drawn or given are known for
        the whole week at once; planned ones (``schedule``) once a run has planned every working
        weekday. Empty otherwise, and for policies that plan every day afresh: a part of a week
        would read as bins collected less often than they are."""
        given = getattr(self.policy, "rounds", None)
        if isinstance(given, dict):
            # bins the trucks cannot reach (closed roads) are never driven to
            return {
                int(w): tuple(r[~np.isin(r, self.unreachable)] for r in routes)
                for w, routes in sorted(given.items())
            }
        if not all(w in self._fixed_routes for w in WORKING_DAYS):
            return {}
        return {
            int(key): tuple(
                np.where(route == 1, UNLOAD, route - 2).astype(np.int64) for route in routes
            )
            for key, routes in sorted(self._fixed_routes.items())
        }

    @property
    def truck_days(self) -> list[TruckDay]:
        """What every truck did each day so far (one entry per truck sent out)."""
        return list(self._truck_days)

    def mass_balance_error_kg(self) -> float:
        """``initial + generated − (in bins + collected + overflowed)``: zero up to rounding."""
        return (self.initial_kg + self.generated_kg) - (
            float(self.fill_kg.sum()) + self.collected_kg + self.overflow_kg
        )

    def run(self, *, on_progress: Callable[[float], None] | None = None) -> WasteResult:
        """Simulate ``config.days`` days and return the result."""
        for i in range(self.config.days):
            self.step()
            if on_progress:
                on_progress((i + 1) / self.config.days)
        result = self.result()
        # the travel-time caches (a matrix pair and a router per traffic interval: gigabytes on
        # a large city) are rebuilt on demand; a sweep or benchmark running many models in one
        # process must not hold every run's
        self.driving.clear()
        self.forecast.clear()
        if self._free_flow is not None:
            self._free_flow.clear()
        return result

    # ------------------------------------------------------------------ results
    def _driven_edges(self, truck_days: list[TruckDay]) -> list[np.ndarray]:
        """Network edges of every truck-day, each leg routed as it was timed (at its hour);
        all legs of one hour in one routing call (one search per distinct origin)."""
        legs = [(i, leg) for i, t in enumerate(truck_days) for leg in t.legs]
        hour = np.array(
            [self.link_times.index(self.config.shift_start_s + leg.depart_s) for _, leg in legs],
            dtype=np.int64,
        )
        ends = self.location_nodes[[[leg.origin, leg.destination] for _, leg in legs]]
        paths: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(legs)
        for k in np.unique(hour):
            mine = np.flatnonzero(hour == k)
            routes = self.router(int(k)).routes(ends[mine, 0], ends[mine, 1])
            for j, leg_index in enumerate(mine):
                paths[leg_index] = routes.path(j)
        pieces: list[list[np.ndarray]] = [[] for _ in truck_days]
        for (i, _), path in zip(legs, paths, strict=True):
            pieces[i].append(path)
        return [np.concatenate(p) if p else np.zeros(0, dtype=np.int64) for p in pieces]

    def result(self) -> WasteResult:
        """Daily table, routes, bins and KPIs of the run so far."""
        daily = pd.DataFrame(self._daily)
        driving = [t for t in self._truck_days if t.legs]
        routes = pd.DataFrame(
            [
                {
                    "day": t.day,
                    "truck": t.truck,
                    "distance_km": t.distance_m / 1000.0,
                    "duration_h": t.duration_s / 3600.0,
                    "bins_emptied": len(t.emptied),
                    "bins_skipped": len(t.skipped),
                    "collected_kg": t.collected_kg,
                    "unloads": len(t.unloads_kg),
                    "edges": edges,
                }
                for t, edges in zip(driving, self._driven_edges(driving), strict=True)
            ],
            columns=[
                "day", "truck", "distance_km", "duration_h", "bins_emptied", "bins_skipped",
                "collected_kg", "unloads", "edges",
            ],
        )  # fmt: skip
        frame = self.bins.to_frame()
        frame["fill_kg"] = self.fill_kg
        frame["times_emptied"] = self.bin_emptied
        frame["overflow_days"] = self.bin_overflow_days
        frame["overflow_kg"] = self.bin_overflow_kg
        kpis = waste_kpis(
            daily, n_bins=len(self.bins), initial_kg=self.initial_kg, costs=self.config.costs
        )
        warnings = list(self.warnings)
        unserved, short_days = _counted(daily, "unserved_required")
        if unserved:
            warnings.append(
                f"the fleet could not empty {unserved} bins that were due on {short_days} of "
                f"{len(daily)} days (too few trucks or too short a shift); they were left to "
                "overflow. Add trucks or lengthen the shift."
            )
        # the plan had these, the drive ran out of shift: required_unserved does not count them
        skipped, skipped_days = _counted(daily, "skipped_bins")
        if skipped:
            warnings.append(
                f"the trucks passed over {skipped} stops of their routes on {skipped_days} of "
                f"{len(daily)} days because the shift ran out (the routes took longer to drive "
                "than the shift; bins_skipped_for_time). Lengthen the shift, add trucks or "
                "shorten the rounds."
            )
        notes = daily["plan_note"].fillna("") if "plan_note" in daily else None
        noted = daily[notes != ""] if notes is not None else daily.iloc[:0]
        if len(noted):
            planned = int(daily["planned_by"].notna().sum())
            warnings.append(
                f"{len(noted)} of {planned} working days carry a planner's note (planned by "
                f"{', '.join(sorted(set(noted['planned_by'])))}); the first, day "
                f"{int(noted['day'].iloc[0])}: {noted['plan_note'].iloc[0]}"
            )
        info = {
            "policy": self.config.policy,
            "planner": "given rounds"
            if self.config.policy in GIVEN_ROUTES
            else getattr(self.planner, "name", type(self.planner).__name__),
            "objective": None if self.config.policy in GIVEN_ROUTES else self.config.objective,
            "plan_times": self.config.plan_times,
            "n_trucks": self.config.n_trucks,
            "days": self.day,
            "bins": len(self.bins),
            "sites": self.sites.described(self.network),
            "unreachable_bins": self.unreachable.tolist(),
            "mass_balance_error_kg": self.mass_balance_error_kg(),
            "warnings": warnings,
        }
        return WasteResult(
            daily=daily, routes=routes, bins=frame, kpis=kpis, info=info,
            bin_fill=self._bin_fill_table(), rounds=self.fixed_rounds() or None,
        )  # fmt: skip

    def _bin_fill_table(self) -> pd.DataFrame:
        n_days, n_bins = len(self._fill_by_day), len(self.bins)
        fill = np.stack(self._fill_by_day) if n_days else np.zeros((0, n_bins), np.float32)
        return pd.DataFrame(
            {
                "day": np.repeat(np.arange(n_days, dtype=np.int32), n_bins),
                "bin": np.tile(np.arange(n_bins, dtype=np.int32), n_days),
                "fill_kg": fill.ravel(),
                "fill_share": (fill / self.bins.capacity_kg.astype(np.float32)).ravel(),
            }
        )


def _routes_key(plan: Plan) -> tuple:
    """A plan's routes as a hashable key (two passes with the same key are the same plan)."""
    return tuple(tuple(route.tolist()) for route in plan.routes)


def bin_streets(network: RoadNetwork, bins: Bins) -> np.ndarray:
    """The street each bin stands on: the name of a named road at its node (the longest), else
    ``way:<OSM id>`` of its longest road, else ``node:<node>``."""
    at_node: dict[int, tuple[float, str]] = {}
    lengths = network.edge_length_m
    for end in (network.edge_u, network.edge_v):
        for e in np.flatnonzero(np.isin(end, bins.node)).tolist():
            node = int(end[e])
            name = network.edge_name[e]
            named = isinstance(name, str) and bool(name.strip())
            label = name.strip() if named else f"way:{network.edge_osmid[e]}"
            # a named road beats an unnamed one, then the longer road
            rank = (1e12 if named else 0.0) + float(lengths[e])
            if node not in at_node or rank > at_node[node][0]:
                at_node[node] = (rank, label)
    return np.array(
        [at_node.get(int(n), (0.0, f"node:{int(n)}"))[1] for n in bins.node.tolist()], dtype=object
    )

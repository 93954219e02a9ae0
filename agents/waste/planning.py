"""Daily collection planning: which bins each truck empties, in which order, and when it unloads.

A pure solver layer on matrices. The waste model builds a :class:`RoutingProblem` from the road
network (travel times and distances between the depot, the disposal site and the bins) and the
bins' state, asks a :class:`Planner` for a :class:`Plan`, and may check any plan with
:func:`check_plan`.

Route model
-----------
Location 0 is the depot (:data:`DEPOT`), location 1 the disposal site (:data:`DISPOSAL`), bin
``k`` is location ``k + 2``. A route lists the locations a truck visits after leaving the depot,
and before returning there: bins, and :data:`DISPOSAL` for each unload. Every non-empty route
ends with :data:`DISPOSAL`, so trucks return to the depot empty. Its duration is the travel time
of all legs (depot legs included), plus ``service_s`` at each bin and ``unload_s`` at each
disposal visit; it must not exceed ``shift_s``. The load grows by each bin's load and drops to
zero at each disposal visit; it must never exceed ``truck_capacity_kg``.

A bin holding more than a truck can carry is taken as one full truck load (the remainder stays in
the bin for another day): every planner and :func:`check_plan` use ``min(load_kg, capacity)``.
Standing still costs nothing: legs from a location to itself (two unloads in a row) take no
time, whatever the matrix diagonal says.

Planners
--------
- :class:`GreedyPlanner`, a deterministic nearest-neighbour baseline;
- :class:`PyVRPPlanner`, a prize-collecting VRP with reloads solved by PyVRP's iterated local
  search.

Both only ever return plans that :func:`check_plan` accepts; a day whose required bins cannot
all be emptied (unreachable bins, more waste than the fleet can carry in a shift) yields the best
plan found with ``info["feasible"]`` false, and :meth:`Plan.unserved_required` names the bins
left over.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from agents.waste.costs import DEFAULT_COSTS, OBJECTIVES, CostFactors
from agents.waste.names import PLANNERS

__all__ = [
    "DEPOT",
    "DISPOSAL",
    "PLANNERS",
    "GreedyPlanner",
    "Plan",
    "Planner",
    "PyVRPPlanner",
    "RouteStats",
    "RoutingProblem",
    "check_plan",
    "finish_plan",
    "route_stats",
    "spread_trips",
]

DEPOT, DISPOSAL = 0, 1
"""Location indices of the depot and the disposal site; bin ``k`` is location ``k + 2``."""

_FIRST_BIN = 2
_REL_TOL = 1e-9
"""Relative slack of :func:`check_plan`: float sums in another order must not read as violations."""


# --------------------------------------------------------------------------------------------
# Problem and plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RoutingProblem:
    """One day's collection problem, on matrices.

    Parameters
    ----------
    duration_s
        ``(n_loc, n_loc)`` travel times in seconds on the road network, asymmetric, ``inf`` where
        unreachable; ``n_loc = 2 + n_bins`` (depot, disposal site, bins).
    distance_m
        ``(n_loc, n_loc)`` metres along the same fastest paths, ``inf`` where unreachable.
    load_kg
        ``(n_bins,)`` expected waste to pick up at each bin.
    prize
        ``(n_bins,)`` value, in metres of driving, of emptying each optional bin today.
    required
        ``(n_bins,)`` bool: the bin must be emptied today.
    service_s
        ``(n_bins,)`` seconds spent emptying each bin.
    n_trucks
        Trucks available; each drives at most one route.
    truck_capacity_kg
        Load a truck can carry between unloads.
    shift_s
        Longest allowed route, depot to depot.
    unload_s
        Time spent at the disposal site per visit.
    xy_m
        Optional ``(n_loc, 2)`` positions in metres (any origin): solvers work on the matrices
        alone; learned planners also read where the locations lie.
    prize_service_s
        Optional ``(n_bins,)`` service seconds of a later visit that an optional visit today is
        worth. Objectives that count time add their worth to the prize; ``km`` ignores them.
    prize_eur
        Optional ``(n_bins,)`` euros an optional visit today saves besides its driving and
        service (the expected cost of the overflow it prevents). The ``euros`` objective adds
        them to the prize, ``hours`` at the cost of a truck-hour; ``km`` ignores them.

    Notes
    -----
    Array fields are converted to numpy arrays on construction; call :meth:`validate` to check
    them (planners and :func:`check_plan` do).
    """

    duration_s: np.ndarray
    distance_m: np.ndarray
    load_kg: np.ndarray
    prize: np.ndarray
    required: np.ndarray
    service_s: np.ndarray
    n_trucks: int
    truck_capacity_kg: float
    shift_s: float
    unload_s: float
    xy_m: np.ndarray | None = None
    prize_service_s: np.ndarray | None = None
    prize_eur: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Callers may pass lists; keep the stored fields arrays (required keeps its dtype so that
        # validate() can reject a non-boolean mask instead of silently casting it).
        for name in ("duration_s", "distance_m", "load_kg", "prize", "service_s"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float))
        object.__setattr__(self, "required", np.asarray(self.required))
        if self.xy_m is not None:
            object.__setattr__(self, "xy_m", np.asarray(self.xy_m, dtype=float))
        for name in ("prize_service_s", "prize_eur"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float))

    @property
    def n_bins(self) -> int:
        """Number of bins (locations minus the depot and the disposal site)."""
        return int(self.load_kg.shape[0]) if self.load_kg.ndim == 1 else 0

    @property
    def effective_load_kg(self) -> np.ndarray:
        """Load actually picked up at each bin: at most one full truck."""
        return np.minimum(self.load_kg, self.truck_capacity_kg)

    def validate(self) -> None:
        """Check shapes and values.

        Raises
        ------
        ValueError
            Naming the first bad field: wrong shape, NaN, negative value, a non-boolean
            ``required``, a non-positive capacity, a non-finite scalar.
        """
        for name in ("duration_s", "distance_m"):
            matrix = getattr(self, name)
            if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
                raise ValueError(f"{name}: expected a square (n_loc, n_loc) matrix with n_loc >= 2")
            if np.isnan(matrix).any():
                raise ValueError(f"{name}: contains NaN (use inf for unreachable pairs)")
            if (matrix < 0).any():
                raise ValueError(f"{name}: contains negative values")
        if self.distance_m.shape != self.duration_s.shape:
            raise ValueError(
                f"distance_m: shape {self.distance_m.shape} differs from duration_s "
                f"{self.duration_s.shape}"
            )
        n_bins = self.duration_s.shape[0] - 2
        for name in ("load_kg", "prize", "service_s", "required"):
            if getattr(self, name).shape != (n_bins,):
                raise ValueError(
                    f"{name}: expected shape ({n_bins},) for {n_bins} bins, "
                    f"got {getattr(self, name).shape}"
                )
        for name in ("load_kg", "prize", "service_s"):
            values = getattr(self, name)
            if not np.isfinite(values).all():
                raise ValueError(f"{name}: contains NaN or inf")
            if (values < 0).any():
                raise ValueError(f"{name}: contains negative values")
        if self.required.dtype != np.bool_:
            raise ValueError(f"required: expected a bool array, got dtype {self.required.dtype}")
        if isinstance(self.n_trucks, bool) or not isinstance(self.n_trucks, int | np.integer):
            raise ValueError(f"n_trucks: expected an int, got {self.n_trucks!r}")
        if self.n_trucks < 0:
            raise ValueError(f"n_trucks: expected >= 0, got {self.n_trucks}")
        if not (math.isfinite(self.truck_capacity_kg) and self.truck_capacity_kg > 0):
            raise ValueError(f"truck_capacity_kg: expected > 0, got {self.truck_capacity_kg}")
        for name in ("shift_s", "unload_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: expected a finite value >= 0, got {value}")
        if self.xy_m is not None and self.xy_m.shape != (n_bins + 2, 2):
            raise ValueError(f"xy_m: expected shape ({n_bins + 2}, 2), got {self.xy_m.shape}")
        for name in ("prize_service_s", "prize_eur"):
            values = getattr(self, name)
            if values is not None and (
                values.shape != (n_bins,) or not np.all(np.isfinite(values)) or np.any(values < 0)
            ):
                raise ValueError(f"{name}: expected {n_bins} finite values >= 0")


@dataclass(frozen=True, eq=False)
class Plan:
    """Truck routes for one day.

    Parameters
    ----------
    routes
        One int array per truck used: the locations visited in order, without the depot at start
        and end; bins (``>= 2``) and :data:`DISPOSAL` for each unload. Non-empty routes end with
        :data:`DISPOSAL`.
    planner
        Name of the planner that made it.
    solve_s
        Wall time spent planning, seconds.
    info
        Free-form details; both planners set ``feasible`` (valid and every required bin served),
        ``violations`` (from :func:`check_plan`), ``distance_m``, ``duration_s`` (totals),
        ``objective`` (distance plus the prizes of optional bins left out), ``unservable_bins``
        (bins no truck can empty within a shift on its own) and ``capped_bins`` (bins fuller than
        a truck).
    """

    routes: list[np.ndarray]
    planner: str
    solve_s: float
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "routes", [np.asarray(route, dtype=np.int64) for route in self.routes]
        )

    @property
    def visited_bins(self) -> np.ndarray:
        """Sorted bin indices (0-based: location − 2) that some route empties."""
        if not self.routes:
            return np.zeros(0, dtype=np.int64)
        stops = np.concatenate(self.routes)
        return np.unique(stops[stops >= _FIRST_BIN]) - _FIRST_BIN

    def unserved_required(self, problem: RoutingProblem) -> np.ndarray:
        """Required bin indices that no route empties."""
        served = np.zeros(problem.n_bins, dtype=bool)
        visited = self.visited_bins
        served[visited[visited < problem.n_bins]] = True
        return np.flatnonzero(problem.required & ~served)


@runtime_checkable
class Planner(Protocol):
    """Anything that turns a day's :class:`RoutingProblem` into a :class:`Plan`."""

    name: str

    def plan(self, problem: RoutingProblem, *, seed: int = 0) -> Plan:
        """Plan the day's routes."""
        ...


# --------------------------------------------------------------------------------------------
# Route evaluation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteStats:
    """Totals of one route.

    Parameters
    ----------
    duration_s
        Depot to depot: travel, service at bins, unloading.
    distance_m
        Depot to depot.
    loads_kg
        Load carried into each :data:`DISPOSAL` visit, in order.
    """

    duration_s: float
    distance_m: float
    loads_kg: list[float]


def _segments(problem: RoutingProblem, route: np.ndarray) -> tuple[float, float, list[float]]:
    """Duration, distance and the load of every stretch between unloads, trailing one included."""
    load = problem.effective_load_kg
    duration = distance = 0.0
    loads: list[float] = []
    carried = 0.0
    previous = DEPOT
    for stop in [*route.tolist(), DEPOT]:
        if stop != previous:
            duration += problem.duration_s[previous, stop]
            distance += problem.distance_m[previous, stop]
        if stop >= _FIRST_BIN:
            duration += problem.service_s[stop - _FIRST_BIN]
            carried += load[stop - _FIRST_BIN]
        elif stop == DISPOSAL:
            duration += problem.unload_s
            loads.append(carried)
            carried = 0.0
        previous = stop
    loads.append(carried)
    return float(duration), float(distance), loads


def _check_indices(problem: RoutingProblem, route: np.ndarray) -> str | None:
    n_loc = problem.duration_s.shape[0]
    if route.ndim != 1:
        return "is not a 1-D array"
    bad = route[(route < DISPOSAL) | (route >= n_loc)]
    if bad.size:
        return f"has invalid location indices {bad.tolist()} (expected 1 .. {n_loc - 1})"
    return None


def route_stats(problem: RoutingProblem, route: Sequence[int] | np.ndarray) -> RouteStats:
    """Duration, distance and unload loads of one route, depot legs included.

    Parameters
    ----------
    problem
        The day's problem.
    route
        Locations visited after leaving the depot, as in :attr:`Plan.routes`.

    Returns
    -------
    RouteStats
        ``inf`` duration and distance where a leg is unreachable. An empty route (the truck
        stays home) takes no time.

    Raises
    ------
    ValueError
        If the route holds the depot or an index outside the problem.
    """
    route = np.asarray(route, dtype=np.int64)
    problem_ = _check_indices(problem, route)
    if problem_ is not None:
        raise ValueError(f"route {problem_}")
    duration, distance, loads = _segments(problem, route)
    return RouteStats(duration_s=duration, distance_m=distance, loads_kg=loads[:-1])


def check_plan(problem: RoutingProblem, plan: Plan) -> list[str]:
    """List every way in which a plan breaks the rules; empty if it is valid.

    Checks: more routes than trucks, invalid location indices (the depot included), a bin
    emptied twice, a non-empty route not ending with :data:`DISPOSAL`, unreachable legs, a load
    above capacity between unloads, a route longer than the shift.

    Parameters
    ----------
    problem
        The day's problem (validated first).
    plan
        The plan to check.

    Returns
    -------
    list of str
        One human-readable line per violation.

    Raises
    ------
    ValueError
        If the problem itself is malformed (see :meth:`RoutingProblem.validate`).
    """
    problem.validate()
    violations: list[str] = []
    if len(plan.routes) > problem.n_trucks:
        violations.append(f"{len(plan.routes)} routes for {problem.n_trucks} trucks")
    seen: dict[int, int] = {}
    capacity = problem.truck_capacity_kg
    for r, route in enumerate(plan.routes):
        bad = _check_indices(problem, route)
        if bad is not None:
            violations.append(f"route {r} {bad}")
            continue
        for stop in route[route >= _FIRST_BIN].tolist():
            if stop in seen:
                violations.append(
                    f"route {r}: bin {stop - _FIRST_BIN} already emptied by route {seen[stop]}"
                )
            else:
                seen[stop] = r
        if route.size == 0:
            continue
        if route[-1] != DISPOSAL:
            violations.append(f"route {r}: does not end with DISPOSAL")
        legs = [DEPOT, *route.tolist(), DEPOT]
        for a, b in itertools.pairwise(legs):
            if a != b and not (
                np.isfinite(problem.duration_s[a, b]) and np.isfinite(problem.distance_m[a, b])
            ):
                violations.append(f"route {r}: leg {a} -> {b} is unreachable")
        duration, _, loads = _segments(problem, route)
        for k, load in enumerate(loads):
            if load > capacity * (1 + _REL_TOL):
                where = f"into disposal visit {k}" if k < len(loads) - 1 else "back to the depot"
                violations.append(
                    f"route {r}: carries {load:.1f} kg {where}, capacity {capacity:.1f} kg"
                )
        if np.isfinite(duration) and duration > problem.shift_s * (1 + _REL_TOL) + _REL_TOL:
            violations.append(
                f"route {r}: takes {duration:.1f} s, shift is {problem.shift_s:.1f} s"
            )
    return violations


# --------------------------------------------------------------------------------------------
# Shared planning helpers
# --------------------------------------------------------------------------------------------


def _servable(problem: RoutingProblem) -> np.ndarray:
    """Bins a fresh truck can empty on their own: depot → bin → disposal → depot within a shift."""
    bins = np.arange(problem.n_bins) + _FIRST_BIN
    dur, dist = problem.duration_s, problem.distance_m
    alone = (
        dur[DEPOT, bins]
        + problem.service_s
        + dur[bins, DISPOSAL]
        + problem.unload_s
        + dur[DISPOSAL, DEPOT]
    )
    reachable = (
        np.isfinite(dist[DEPOT, bins])
        & np.isfinite(dist[bins, DISPOSAL])
        & np.isfinite(dist[DISPOSAL, DEPOT])
    )
    return reachable & (alone <= problem.shift_s)


class _RouteBuilder:
    """One truck's route under construction, with its clock and load, in exact float terms."""

    def __init__(self, problem: RoutingProblem) -> None:
        self.p = problem
        self.load_kg = problem.effective_load_kg
        self.stops: list[int] = []
        self.at = DEPOT
        self.t = 0.0
        self.carried = 0.0
        # time to finish from the disposal site: unload, drive home
        self.finish = problem.unload_s + problem.duration_s[DISPOSAL, DEPOT]

    def _leg(self, frm: int, to: np.ndarray) -> np.ndarray:
        return np.where(to == frm, 0.0, self.p.duration_s[frm, to])

    def fits(self, bins: np.ndarray, *, after_unload: bool = False) -> np.ndarray:
        """Which of ``bins`` (locations) this truck can add next, then still unload and go home."""
        p = self.p
        if after_unload:
            frm, t, carried = DISPOSAL, self.t + self._unload_cost(), 0.0
        else:
            frm, t, carried = self.at, self.t, self.carried
        k = bins - _FIRST_BIN
        with np.errstate(invalid="ignore"):
            end = (
                t
                + self._leg(frm, bins)
                + p.service_s[k]
                + p.duration_s[bins, DISPOSAL]
                + self.finish
            )
        return (carried + self.load_kg[k] <= p.truck_capacity_kg) & (end <= p.shift_s)

    def _unload_cost(self) -> float:
        if self.at == DISPOSAL:
            return 0.0
        return float(self.p.duration_s[self.at, DISPOSAL] + self.p.unload_s)

    def add(self, stop: int) -> None:
        p = self.p
        if stop != self.at:
            self.t += float(p.duration_s[self.at, stop])
        if stop == DISPOSAL:
            self.t += p.unload_s
            self.carried = 0.0
        else:
            self.t += float(p.service_s[stop - _FIRST_BIN])
            self.carried += float(self.load_kg[stop - _FIRST_BIN])
        self.stops.append(stop)
        self.at = stop

    def close(self) -> np.ndarray:
        if self.stops and self.stops[-1] != DISPOSAL:
            self.add(DISPOSAL)
        return np.asarray(self.stops, dtype=np.int64)


def finish_plan(
    problem: RoutingProblem,
    routes: list[np.ndarray],
    planner: str,
    started: float,
    info: dict,
) -> Plan:
    """Wrap valid routes into a :class:`Plan` with the info fields every planner sets (see
    :class:`Plan`); ``started`` is the ``time.perf_counter()`` reading when planning began."""
    routes = [route for route in routes if route.size]
    plan = Plan(routes=routes, planner=planner, solve_s=0.0, info=info)
    violations = check_plan(problem, plan)
    stats = [route_stats(problem, route) for route in plan.routes]
    distance = float(sum(s.distance_m for s in stats))
    served = np.zeros(problem.n_bins, dtype=bool)
    served[plan.visited_bins] = True
    missed_prize = float(problem.prize[~served & ~problem.required].sum())
    unserved = plan.unserved_required(problem)
    info.update(
        feasible=not violations and unserved.size == 0,
        violations=violations,
        distance_m=distance,
        duration_s=float(sum(s.duration_s for s in stats)),
        objective=distance + missed_prize,
        n_unserved_required=int(unserved.size),
        unservable_bins=np.flatnonzero(~_servable(problem)),
        capped_bins=np.flatnonzero(problem.load_kg > problem.truck_capacity_kg),
    )
    return Plan(
        routes=plan.routes, planner=planner, solve_s=time.perf_counter() - started, info=info
    )


def _repair(problem: RoutingProblem, sequences: list[list[int]]) -> list[np.ndarray]:
    """Make routes valid in exact float terms, keeping their order.

    Walks each stop sequence, unloading early where the load would overflow and dropping a bin
    where it no longer fits the shift; the proposed unloads are kept. A no-op on routes that are
    already valid.
    """
    routes = []
    for sequence in sequences:
        builder = _RouteBuilder(problem)
        for stop in sequence:
            if stop == DISPOSAL:
                if builder.stops and builder.at != DISPOSAL:
                    builder.add(DISPOSAL)
                continue
            one = np.array([stop])
            if builder.fits(one)[0]:
                builder.add(stop)
            elif builder.carried > 0 and builder.fits(one, after_unload=True)[0]:
                builder.add(DISPOSAL)
                builder.add(stop)
        routes.append(builder.close())
    return routes


# --------------------------------------------------------------------------------------------
# Greedy nearest neighbour
# --------------------------------------------------------------------------------------------


class GreedyPlanner:
    """Nearest-neighbour baseline, one truck after another.

    From where it stands, a truck drives to the nearest (by travel time) unserved bin it can
    still fit: required bins first, while any remain that this truck can reach in its shift, then
    optional bins worth the detour. A bin fits if the truck can empty it, then still drive to the
    disposal site, unload and return to the depot within the shift, and its load fits the truck;
    when none fits because the truck is too full, it unloads first. When nothing fits the truck
    unloads and goes home, and the next truck starts.

    An optional bin is worth the detour when its prize exceeds the extra distance of fetching it
    on the way to the disposal site: ``d(here, bin) + d(bin, disposal) − d(here, disposal)``.
    That is the marginal cost the truck pays now (it has to reach the disposal site anyway), and
    the same trade-off, in metres, that :class:`PyVRPPlanner` optimises. Ties go to the lowest
    bin index, so the planner is deterministic.
    """

    name = "greedy"

    def plan(self, problem: RoutingProblem, *, seed: int = 0) -> Plan:
        """Plan the day's routes; ``seed`` is ignored (the planner is deterministic)."""
        started = time.perf_counter()
        problem.validate()
        servable = _servable(problem)
        required = problem.required & servable
        optional = ~problem.required & servable
        served = np.zeros(problem.n_bins, dtype=bool)
        routes: list[np.ndarray] = []
        for _ in range(problem.n_trucks):
            builder = _RouteBuilder(problem)
            while True:
                step = self._next_step(problem, builder, np.flatnonzero(required & ~served))
                if step is None:
                    step = self._next_step(
                        problem, builder, np.flatnonzero(optional & ~served), worth=True
                    )
                if step is None:
                    break
                builder.add(step)
                if step >= _FIRST_BIN:
                    served[step - _FIRST_BIN] = True
            route = builder.close()
            if not route.size:
                break  # the next trucks would find nothing either
            routes.append(route)
        return finish_plan(problem, routes, self.name, started, {})

    @staticmethod
    def _next_step(
        problem: RoutingProblem,
        builder: _RouteBuilder,
        candidates: np.ndarray,
        *,
        worth: bool = False,
    ) -> int | None:
        """The next location among ``candidates`` (bin indices), DISPOSAL to unload, or None."""
        if not candidates.size:
            return None
        bins = candidates + _FIRST_BIN
        ok = builder.fits(bins)
        if worth:
            ok &= GreedyPlanner._worth(problem, builder.at, bins, ok)
        if ok.any():
            dur = problem.duration_s[builder.at, bins[ok]]
            return int(bins[ok][np.argmin(dur)])
        if builder.carried > 0 and builder.at != DISPOSAL:
            after = builder.fits(bins, after_unload=True)
            if worth:
                after &= GreedyPlanner._worth(problem, DISPOSAL, bins, after)
            if after.any():
                return DISPOSAL
        return None

    @staticmethod
    def _worth(problem: RoutingProblem, at: int, bins: np.ndarray, ok: np.ndarray) -> np.ndarray:
        dist = problem.distance_m
        here_to_disposal = 0.0 if at == DISPOSAL else dist[at, DISPOSAL]
        worth = np.zeros(bins.shape, dtype=bool)
        b = bins[ok]  # fitting bins only: their legs are finite, so no inf - inf
        detour = dist[at, b] + dist[b, DISPOSAL] - here_to_disposal
        worth[ok] = problem.prize[b - _FIRST_BIN] > detour
        return worth


# --------------------------------------------------------------------------------------------
# PyVRP
# --------------------------------------------------------------------------------------------


class PyVRPPlanner:
    """Prize-collecting VRP with intermediate unloads, solved by PyVRP.

    Model: two PyVRP depots, the depot (every route starts there) and the disposal site (every
    route ends there, and it is each truck's reload depot, which empties the truck). Bins the
    fleet can serve at all (see ``unservable_bins``) are clients with ``pickup`` = load, their
    prize, ``required`` flag and service time. The objective is the routes' cost plus the
    prizes of the optional bins left out, the cost being one of :data:`OBJECTIVES`:

    ``km``
        distance in metres (prizes as they are, in metres of driving);
    ``hours``
        route duration in seconds, service and unloading included (a prize of ``p`` metres is
        worth ``p / v`` seconds, ``v`` the day's typical speed: the median over the matrices'
        legs of distance / time, plus the service time it saves later,
        ``RoutingProblem.prize_service_s``);
    ``euros``
        truck-km and truck-hours at ``costs`` (:mod:`agents.waste.costs`), in units of
        1/10,000 €; a prize of ``p`` metres is worth what driving it costs, its time at ``v``
        included, plus what the service time it saves later costs, plus the euros it saves
        otherwise (``RoutingProblem.prize_eur``; under ``hours`` at the cost of a truck-hour).

    Time: PyVRP charges a depot's service duration at the start of every trip, so the disposal
    site's ``service_duration = unload_s`` counts each intermediate unload, but not the final
    one, where the route ends. The final unload and the fixed drive from the disposal site to the
    depot are the same for every route, so they are taken off PyVRP's ``shift_duration`` instead.

    Integers: PyVRP works in integers. Distances and prizes are rounded to whole metres (they only
    steer the objective). Feasibility is kept conservative: travel and service times are rounded
    up to whole seconds and the shift down, loads are rounded up to ``1 / load_scale`` kg and the
    capacity down, so a route PyVRP calls feasible is feasible in the problem's own floats.
    Unreachable pairs get a large finite distance and duration that no feasible route can use.
    The routes are then re-checked (and, only if needed, repaired) in exact floats.

    Infeasible days: when the best solution of the first search is infeasible (required bins
    the fleet cannot all empty in a shift), a second search of the same length makes required
    bins optional with a prize larger than any distance saving, so it empties as many as fit,
    then the optional bins worth it. The plan comes back with ``info["feasible"]`` false.

    Parameters
    ----------
    max_runtime_s
        Time limit of one search, seconds.
    max_iterations
        Also stop after this many iterations. Runs are only bit-for-bit reproducible for a seed
        when an iteration limit (this or ``no_improvement``) ends them before the time limit.
    no_improvement
        Also stop after this many iterations without a better solution.
    settle_start
        Give a start plan (``plan(..., initial=…)``) PyVRP's full local search before the
        iterated search, as PyVRP does with its own random start; ``False`` starts from the
        plan as it is, as ``pyvrp.solve`` does with a given solution.
    load_scale
        Integer load units per kg.
    objective
        What the routes cost: one of :data:`~agents.waste.costs.OBJECTIVES`.
    costs
        Cost factors of the ``euros`` objective.
    """

    name = "pyvrp"

    def __init__(
        self,
        *,
        max_runtime_s: float = 5.0,
        max_iterations: int | None = None,
        no_improvement: int | None = None,
        load_scale: float = 10.0,
        settle_start: bool = True,
        objective: str = "km",
        costs: CostFactors = DEFAULT_COSTS,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(
                f"objective: expected one of {', '.join(OBJECTIVES)}, got {objective!r}"
            )
        if max_runtime_s <= 0:
            raise ValueError(f"max_runtime_s: expected > 0, got {max_runtime_s}")
        if load_scale <= 0:
            raise ValueError(f"load_scale: expected > 0, got {load_scale}")
        self.max_runtime_s = float(max_runtime_s)
        self.max_iterations = max_iterations
        self.no_improvement = no_improvement
        self.settle_start = bool(settle_start)
        self.load_scale = float(load_scale)
        self.objective = objective
        self.costs = costs

    def _unit_costs(self, problem: RoutingProblem) -> tuple[int, int, float]:
        """PyVRP's cost per metre and per second, and the objective units a metre of prize is
        worth, for this planner's objective."""
        if self.objective == "km":
            return 1, 0, 1.0
        speed = _typical_speed_mps(problem)
        if self.objective == "hours":
            return 0, 1, 1.0 / speed
        per_m = self.costs.truck_km_eur / 1000.0 * _EURO_UNITS
        per_s = self.costs.truck_hour_eur / 3600.0 * _EURO_UNITS
        return round(per_m), round(per_s), per_m + per_s / speed

    def _units_per_eur(self) -> float:
        """The objective units a euro of prize is worth (``km``: none, it counts no money)."""
        if self.objective == "euros":
            return float(_EURO_UNITS)
        if self.objective == "hours" and self.costs.truck_hour_eur > 0:
            return 3600.0 / self.costs.truck_hour_eur
        return 0.0

    def plan(self, problem: RoutingProblem, *, seed: int = 0, initial: Plan | None = None) -> Plan:
        """Plan the day's routes with PyVRP; ``seed`` seeds its search, which starts from
        ``initial`` when given (a valid plan, e.g. a learned planner's, to polish)."""
        started = time.perf_counter()
        problem.validate()
        servable = np.flatnonzero(_servable(problem))
        info: dict = {"pyvrp_feasible": None, "searches": 0}
        if problem.n_trucks == 0 or servable.size == 0:
            return finish_plan(problem, [], self.name, started, info)

        data = self._data(problem, servable, soft_required=False)
        start = None if initial is None else self._solution(data, servable, initial)
        result = self._solve(data, seed, initial=start)
        info.update(searches=1, iterations=result.num_iterations)
        info["pyvrp_feasible"] = bool(result.best.is_feasible())
        routes = self._routes(problem, servable, result.best)
        if not result.best.is_feasible():
            data = self._data(problem, servable, soft_required=True)
            soft = self._solve(data, seed)
            info.update(searches=2, iterations=info["iterations"] + soft.num_iterations)
            soft_routes = self._routes(problem, servable, soft.best)
            if self._n_required(problem, soft_routes) >= self._n_required(problem, routes):
                routes = soft_routes
        return finish_plan(problem, routes, self.name, started, info)

    def _solve(self, data, seed: int, initial=None):
        # Imported here: pyvrp is only needed by this planner.
        from pyvrp import solve
        from pyvrp.exceptions import PenaltyBoundWarning
        from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, NoImprovement

        criteria = [MaxRuntime(self.max_runtime_s)]
        if self.max_iterations is not None:
            criteria.append(MaxIterations(self.max_iterations))
        if self.no_improvement is not None:
            criteria.append(NoImprovement(self.no_improvement))
        stop = MultipleCriteria(criteria)
        with warnings.catch_warnings():
            # Raised when no feasible solution turns up: the caller handles that (second search,
            # info["feasible"]), and days with more waste than trucks are normal in a simulation.
            warnings.simplefilter("ignore", PenaltyBoundWarning)
            if initial is not None and self.settle_start:
                return _search_from(data, stop, seed, initial)
            return solve(
                data, stop=stop, seed=seed, collect_stats=False, display=False,
                initial_solution=initial,
            )  # fmt: skip

    @staticmethod
    def _solution(data, servable: np.ndarray, plan: Plan):
        """``plan`` as a PyVRP solution of ``data`` (bins PyVRP does not know are left out)."""
        from pyvrp import Activity, ActivityType, Route, Solution

        client_of = {int(b) + _FIRST_BIN: i for i, b in enumerate(servable)}
        routes = []
        for route in plan.routes:
            activities = [Activity(ActivityType.DEPOT, DEPOT)]
            for stop in route.tolist():
                if stop == DISPOSAL:
                    activities.append(Activity(ActivityType.DEPOT, DISPOSAL))
                elif stop in client_of:
                    activities.append(Activity(ActivityType.CLIENT, client_of[stop]))
            if len(activities) > 1:
                routes.append(Route(data, activities, 0))
        return Solution(data, routes)

    def _data(self, problem: RoutingProblem, servable: np.ndarray, *, soft_required: bool):
        from pyvrp import Client, Depot, Location, ProblemData, VehicleType

        locations = np.concatenate([[DEPOT, DISPOSAL], servable + _FIRST_BIN])
        dur = problem.duration_s[np.ix_(locations, locations)]
        dist = problem.distance_m[np.ix_(locations, locations)]
        shift = math.floor(problem.shift_s - problem.duration_s[DISPOSAL, DEPOT] - problem.unload_s)
        # Large enough that a route using an unreachable leg breaks the shift by far and costs
        # more than any real route, small enough that PyVRP's penalty arithmetic cannot overflow.
        big_duration = 10 * max(shift, 1) + 10**6
        finite_dist = dist[np.isfinite(dist)]
        big_distance = 10 * int(finite_dist.max(initial=0.0) + 1) * len(locations) + 10**6
        reachable_dur, reachable_dist = np.isfinite(dur), np.isfinite(dist)
        duration_int = np.where(
            reachable_dur, _ceil(np.where(reachable_dur, dur, 0.0)), big_duration
        )
        distance_int = np.where(
            reachable_dist, np.rint(np.where(reachable_dist, dist, 0.0)), big_distance
        ).astype(np.int64)
        np.fill_diagonal(duration_int, 0)
        np.fill_diagonal(distance_int, 0)
        per_m, per_s, prize_per_m = self._unit_costs(problem)

        capacity = math.floor(problem.truck_capacity_kg * self.load_scale)
        loads = np.minimum(_ceil(problem.effective_load_kg[servable] * self.load_scale), capacity)
        service = _ceil(problem.service_s[servable])
        worth = problem.prize[servable] * prize_per_m
        if problem.prize_service_s is not None:
            worth = worth + problem.prize_service_s[servable] * per_s
        if problem.prize_eur is not None:
            worth = worth + problem.prize_eur[servable] * self._units_per_eur()
        prizes = np.rint(worth).astype(np.int64)
        required = problem.required[servable]
        if soft_required:
            # Leaving a required bin out must cost more than anything it could save: all the
            # optional prizes plus the longest possible detour through every bin.
            finite_dist = distance_int[distance_int < big_distance]
            finite_dur = duration_int[duration_int < big_duration]
            longest = per_m * int(finite_dist.max(initial=0) + 1) + per_s * int(
                finite_dur.max(initial=0) + 1 + service.max(initial=0)
            )
            big_prize = int(prizes[~required].sum()) + 2 * len(locations) * longest
            prizes = np.where(required, big_prize, prizes)
        clients = [
            Client(
                location=2 + i,
                pickup=[int(loads[i])],
                service_duration=int(service[i]),
                prize=int(prizes[i]),
                required=bool(required[i]) and not soft_required,
            )
            for i in range(servable.size)
        ]
        depots = [Depot(location=0), Depot(location=1, service_duration=_ceil(problem.unload_s))]
        vehicle = VehicleType(
            num_available=int(problem.n_trucks),
            capacity=[capacity],
            # PyVRP's routes end at the disposal site; the last unload and the drive back to
            # the depot cost too, once per truck used, so a truck is sent out only when worth it
            fixed_cost=per_m * int(min(distance_int[1, 0], big_distance))
            + per_s * (int(min(duration_int[1, 0], big_duration)) + _ceil(problem.unload_s)),
            unit_distance_cost=per_m,
            unit_duration_cost=per_s,
            start_depot=0,
            end_depot=1,
            shift_duration=max(shift, 0),
            reload_depots=[1],
        )
        return ProblemData(
            locations=[Location(0.0, 0.0) for _ in locations],
            clients=clients,
            depots=depots,
            vehicle_types=[vehicle],
            distance_matrices=[distance_int],
            duration_matrices=[duration_int.astype(np.int64)],
        )

    @staticmethod
    def _routes(problem: RoutingProblem, servable: np.ndarray, solution) -> list[np.ndarray]:
        """PyVRP routes (trips separated by reloads) as our location sequences, made valid."""
        sequences = []
        for route in solution.routes():
            sequence = []
            for activity in list(route)[1:]:  # skip the start at the depot
                if activity.is_client():
                    sequence.append(int(servable[activity.idx]) + _FIRST_BIN)
                else:  # a reload or the end of the route: both at the disposal site
                    sequence.append(DISPOSAL)
            sequences.append(sequence)
        return _repair(problem, sequences)

    @staticmethod
    def _n_required(problem: RoutingProblem, routes: list[np.ndarray]) -> int:
        stops = np.concatenate([np.zeros(0, dtype=np.int64), *routes])
        bins = stops[stops >= _FIRST_BIN] - _FIRST_BIN
        return int(problem.required[bins].sum())


def _search_from(data, stop, seed: int, initial):
    """PyVRP's search (:func:`pyvrp.solve` with its default settings) started from
    ``initial``, a given solution, after a full local search of it.

    ``pyvrp.solve`` runs that full local search on the random solution it starts from when
    given none, but starts the iterated search from a given solution as it is. Measured on
    Helsinki's days, a learned plan first brought to its local optimum leads to better plans
    at equal time than the random start, where the plan as it is does not (BENCHMARKS.md,
    learned planner).
    """
    from pyvrp.IteratedLocalSearch import IteratedLocalSearch

    search, penalties, _, params = _pyvrp_parts(data, seed)
    start = search(initial, penalties.max_cost_evaluator(), exhaustive=True)
    return IteratedLocalSearch(data, penalties, search, start, params.ils).run(
        stop, collect_stats=False, display=False
    )


def _pyvrp_parts(data, seed: int):
    """The local search (its default operators), penalty manager, random numbers and settings
    that :func:`pyvrp.solve` builds for ``data`` with ``seed``."""
    from pyvrp import PenaltyManager, RandomNumberGenerator
    from pyvrp.search import LocalSearch, PerturbationManager, compute_neighbours
    from pyvrp.solve import SolveParams

    params = SolveParams()
    rng = RandomNumberGenerator(seed=seed)
    neighbours = compute_neighbours(data, params.neighbourhood)
    search = LocalSearch(data, rng, neighbours, PerturbationManager(params.perturbation))
    for operator in params.operators:
        if operator.supports(data):
            search.add_operator(operator(data))
    penalties = PenaltyManager(params.penalty.midpoint_penalties(data), params.penalty)
    return search, penalties, rng, params


def spread_trips(routes: Sequence[np.ndarray], n_trucks: int) -> list[np.ndarray]:
    """Whole trips of trucks that make several moved onto idle trucks, as a start for PyVRP.

    PyVRP's search moves bins between two routes in more ways than between two trips of one
    route, so a start that loads every trip onto one truck while others stand idle keeps it near
    that start: learned plans polished from such starts ended up to 0.6 % behind PyVRP alone at
    5 s on the training cities' days (Aguascalientes, São Paulo centre), where spread starts
    ended at most 0.12 % behind, or ahead (BENCHMARKS.md, "Learned planner: any city"). Until no
    truck is idle, the last trip of the route with the most trips becomes a route of its own;
    each trip keeps its bins, order and unload. Where the depot is the disposal site the routes
    cost the same; elsewhere each new route adds the drive from the disposal site back to the
    depot, which the search may undo.

    Parameters
    ----------
    routes
        A plan's routes (see :class:`Plan`): each non-empty route ends with an unload.
    n_trucks
        The day's fleet.

    Returns
    -------
    list of numpy.ndarray
        At most ``max(n_trucks, len(routes))`` routes holding the same stops.
    """
    trips = []
    for route in routes:
        route = np.asarray(route, dtype=np.int64)
        ends = np.flatnonzero(route == DISPOSAL) + 1
        trips.append([trip for trip in np.split(route, ends) if len(trip)])
    trips = [own for own in trips if own]
    while len(trips) < n_trucks:
        most = max(range(len(trips)), key=lambda r: len(trips[r]), default=None)
        if most is None or len(trips[most]) < 2:
            break
        trips.append([trips[most].pop()])
    return [np.concatenate(own) for own in trips]


_EURO_UNITS = 10_000
"""PyVRP's integer cost units per euro under the ``euros`` objective."""


def _typical_speed_mps(problem: RoutingProblem) -> float:
    """The median speed, metres per second, over the problem's reachable legs."""
    duration, distance = problem.duration_s, problem.distance_m
    legs = np.isfinite(duration) & np.isfinite(distance) & (duration > 0) & (distance > 0)
    if not legs.any():
        return 10.0  # nothing to drive: any positive speed prices the (absent) detours
    return float(np.median(distance[legs] / duration[legs]))


def _ceil(values):
    """Round up to integers (an int for a scalar)."""
    result = np.ceil(np.asarray(values, dtype=float))
    return result.astype(np.int64) if result.ndim else int(result)

"""Resource limits of a run, from one place: an estimate before it starts, and a budget.

Before a run allocates anything large, :func:`traffic_estimate` / :func:`waste_estimate` give
its memory and time from its size (trips, period, network; bins, days, solver limits), and
:func:`check` refuses a run whose estimate exceeds the :class:`Budget` with one line giving
both figures and what to change. The CLI, the Python API, sweeps and the dashboard all run
through :mod:`twin.api`, which calls it.

The estimates are fitted to measured peak memory (``benchmarks/bench_limits.py``) and err on the
high side; they say whether a run fits, not what it will cost to the megabyte.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from twin.errors import TwinError
from twin.specs import short_repr

__all__ = [
    "Budget",
    "Estimate",
    "ResourceLimitError",
    "check",
    "traffic_estimate",
    "waste_estimate",
]

MEMORY_ENV = "TWIN_MEMORY_BUDGET_GB"
TIME_ENV = "TWIN_TIME_BUDGET_S"
DEFAULT_TIME_BUDGET_S = 4 * 3600.0
"""A run estimated to take longer is refused unless the budget is raised: a dashboard server
or a sweep worker is not held for a day by one mistyped figure."""

# fitted on the bundled Helsinki centre (290 edges) and Liechtenstein (4,257 edges): a trip's
# arrays, route and result rows grow with the length of its route, ~ the square root of the
# network's size; an edge's time series costs one row per recording interval
_TRIP_BYTES = 200.0
_TRIP_BYTES_PER_ROOT_EDGE = 45.0
_EDGE_INTERVAL_BYTES = 300.0
_EDGE_BYTES = 4_000.0
_SAFETY = 1.5
_TRIP_SECONDS_PER_ROOT_EDGE = 1.5e-6
_EDGE_STEP_SECONDS = 20e-9
# re-routing drivers: a next-hop table and cost to go per destination still travelled to, over
# every node, and the shortest-path searches that refresh them (measured on São Paulo centre:
# 2,108 destinations × 3,444 nodes)
_TABLE_BYTES_PER_ENTRY = 48.0
_TABLE_SECONDS_PER_ENTRY_EDGE = 3.6e-8 / 3444


class ResourceLimitError(TwinError):
    """A run whose estimated memory or time exceeds the budget."""


@dataclass(frozen=True)
class Estimate:
    """What a run is expected to need: peak memory above the loaded city, and wall time."""

    memory_bytes: float
    time_s: float
    what: str

    def describe(self) -> str:
        return f"{self.what}: about {_size(self.memory_bytes)} and {_duration(self.time_s)}"


@dataclass(frozen=True)
class Budget:
    """The most memory and time one run may take.

    ``Budget.default()`` reads ``$TWIN_MEMORY_BUDGET_GB`` (default: half of this machine's
    memory) and ``$TWIN_TIME_BUDGET_S`` (default: four hours).
    """

    memory_bytes: float
    time_s: float

    @classmethod
    def default(cls) -> Budget:
        memory = _env_number(MEMORY_ENV)
        time_s = _env_number(TIME_ENV)
        return cls(
            memory_bytes=memory * 2**30 if memory is not None else _physical_memory() / 2,
            time_s=time_s if time_s is not None else DEFAULT_TIME_BUDGET_S,
        )


def traffic_estimate(
    *,
    trips: int,
    duration_s: float,
    dt_s: float,
    n_edges: int,
    n_nodes: int,
    reroute_share: float = 0.2,
    reroute_interval_s: float = 300.0,
    record_interval_s: float = 300.0,
) -> Estimate:
    """Memory and time of a traffic run of ``trips`` vehicles on a network of ``n_nodes`` and
    ``n_edges``.

    A trip's arrays, route and result rows grow with its route's length (~ √edges); each edge
    keeps a row per recording interval; with re-routing drivers, a table over every node for
    each destination (at most one per node) is kept and refreshed every ``reroute_interval_s``.
    """
    root = math.sqrt(max(n_edges, 1))
    intervals = math.ceil(duration_s / record_interval_s)
    destinations = min(trips, n_nodes) if reroute_share > 0 else 0
    memory = _SAFETY * (
        trips * (_TRIP_BYTES + _TRIP_BYTES_PER_ROOT_EDGE * root)
        + n_edges * (_EDGE_BYTES + intervals * _EDGE_INTERVAL_BYTES)
        + destinations * n_nodes * _TABLE_BYTES_PER_ENTRY
    )
    steps = duration_s / dt_s
    refreshes = math.ceil(duration_s / reroute_interval_s)
    seconds = (
        trips * _TRIP_SECONDS_PER_ROOT_EDGE * root
        + steps * n_edges * _EDGE_STEP_SECONDS
        + refreshes * destinations * n_nodes * n_edges * _TABLE_SECONDS_PER_ENTRY_EDGE
    )
    return Estimate(memory, seconds, f"{trips:,} trips over {_duration(duration_s)}")


def waste_estimate(
    *,
    bins: int,
    days: int,
    solver_time_s: float,
    solver_iterations: int | None,
    time_intervals: int = 1,
    plans_per_day: float = 1.0,
) -> Estimate:
    """Memory and time of a waste run over ``days`` with ``bins`` bins.

    Memory: travel time and distance between all locations (bins, depot, disposal site) per
    interval of the day's travel times (and once more at free flow where there are several),
    and the fill of every bin each day. Time: ``plans_per_day`` plans each working day, each at
    its time limit, or sooner where an iteration limit ends the search first (about 1 ms per
    iteration per 100 bins on the machines measured).
    """
    locations = bins + 2
    matrices = time_intervals + (1 if time_intervals > 1 else 0)
    memory = _SAFETY * (16.0 * locations**2 * matrices + 8.0 * bins * days * 4)
    per_plan = solver_time_s
    if solver_iterations is not None:
        per_plan = min(per_plan, 1e-3 * solver_iterations * max(1.0, bins / 100))
    working_days = math.ceil(days * 5 / 7)
    return Estimate(
        memory, working_days * plans_per_day * per_plan, f"{bins:,} bins over {days:,} days"
    )


def check(estimate: Estimate, budget: Budget | None = None) -> None:
    """Refuse a run whose estimate exceeds the budget (default :meth:`Budget.default`).

    Raises
    ------
    ResourceLimitError
        Naming the estimate, the limit, and how to shrink the run or raise the limit.
    """
    budget = budget or Budget.default()
    if estimate.memory_bytes > budget.memory_bytes:
        raise ResourceLimitError(
            f"{estimate.what} would need about {_size(estimate.memory_bytes)} of memory; the "
            f"limit is {_size(budget.memory_bytes)}. Make the run smaller (fewer trips or bins, "
            f"a shorter period), or raise the limit with ${MEMORY_ENV}."
        )
    if estimate.time_s > budget.time_s:
        raise ResourceLimitError(
            f"{estimate.what} would take about {_duration(estimate.time_s)}; the limit is "
            f"{_duration(budget.time_s)}. Make the run smaller, or raise the limit with "
            f"${TIME_ENV} (seconds)."
        )


def _env_number(name: str) -> float | None:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ResourceLimitError(
            f"${name}={short_repr(text)}: set it to a positive number, or unset it."
        )
    return value


def _physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _size(n_bytes: float) -> str:
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:,.1f} GB"
    return f"{n_bytes / 2**20:,.0f} MB"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:,.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds:,.0f} s"

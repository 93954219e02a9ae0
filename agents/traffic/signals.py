"""Fixed-time signal plans: data a scenario (or the learned planner) can read and replace.

A plan gives each phase its approaches (incoming edges) and green time; phases run in order, each
followed by a lost time (amber and all-red). Default plans, for every OSM-signalized junction,
split approaches into two phases by direction (the main axis and the one across it) and share
the cycle's effective green in proportion to each phase's largest approach capacity, a simple
stand-in for Webster's critical flow ratios when flows are unknown. OSM tags each carriageway
crossing of a large junction as its own signal; the short links between them
(< :data:`INTERNAL_LINK_M`) are treated as inside the junction and get no signal of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from agents.traffic.engine import Signals
from cities.network import RoadNetwork

__all__ = [
    "DEFAULT_CYCLE_S",
    "LOST_TIME_S",
    "Phase",
    "SignalPlan",
    "compile_signals",
    "default_plans",
    "repeated_green",
]

DEFAULT_CYCLE_S = 90.0
"""Cycle length of default plans (typical fixed-time cycles are 60–120 s)."""

LOST_TIME_S = 4.0
"""Amber plus all-red after each phase."""

INTERNAL_LINK_M = 30.0
"""Links shorter than this between two signalized nodes are inside one junction (no own signal)."""

PEDESTRIAN_PHASE_S = 20.0
"""Green for pedestrians at a signal whose approaches all share one axis (a crossing)."""


@dataclass(frozen=True)
class Phase:
    """Approaches (edge positions) that have green together, and for how long."""

    approaches: tuple[int, ...]
    green_s: float


@dataclass(frozen=True)
class SignalPlan:
    """Fixed-time plan of one junction (node position)."""

    node: int
    phases: tuple[Phase, ...]
    offset_s: float = 0.0
    lost_time_s: float = LOST_TIME_S

    @property
    def cycle_s(self) -> float:
        """Sum of every phase's green and lost time."""
        return sum(p.green_s + self.lost_time_s for p in self.phases)

    def green_share(self, edge: int) -> float:
        """Share of the cycle an approach has green."""
        return sum(p.green_s for p in self.phases if edge in p.approaches) / self.cycle_s

    def with_splits(self, greens: list[float], *, offset_s: float | None = None) -> SignalPlan:
        """The same phases with new green times (and optionally a new offset)."""
        if len(greens) != len(self.phases) or any(g < 0 for g in greens):
            raise ValueError(
                f"signal at node {self.node} has {len(self.phases)} phases: give as many "
                "non-negative green times"
            )
        phases = tuple(
            Phase(p.approaches, float(g)) for p, g in zip(self.phases, greens, strict=True)
        )
        return SignalPlan(
            self.node, phases, self.offset_s if offset_s is None else offset_s, self.lost_time_s
        )


def _approach_bearings(network: RoadNetwork, edges: np.ndarray) -> np.ndarray:
    """Direction of travel (radians) on the last segment of each edge."""
    geometry = network.edge_geometry[edges]
    n_points = shapely.get_num_points(geometry)
    end = shapely.get_coordinates(shapely.get_point(geometry, n_points - 1))
    before = shapely.get_coordinates(shapely.get_point(geometry, n_points - 2))
    return np.arctan2(end[:, 1] - before[:, 1], end[:, 0] - before[:, 0])


def default_plans(
    network: RoadNetwork, *, cycle_s: float = DEFAULT_CYCLE_S
) -> dict[int, SignalPlan]:
    """A two-phase fixed-time plan for every signalized node, keyed by node position."""
    plans = {}
    # a short link from one signalized node to the next lies inside one complex junction (a dual
    # carriageway crossing): the upstream signal already controls it, so it gets none of its own
    internal = (network.edge_length_m < INTERNAL_LINK_M) & network.node_signalized[network.edge_u]
    for node in np.flatnonzero(network.node_signalized):
        approaches = network.in_edges_of(int(node))
        approaches = approaches[~internal[approaches]]
        if len(approaches) == 0:
            continue
        bearing = _approach_bearings(network, approaches)
        axis = np.mod(bearing - bearing[0], np.pi)  # 0 = along the first approach's axis
        main = (axis < np.pi / 4) | (axis > 3 * np.pi / 4)
        groups = [approaches[main], approaches[~main]]
        groups = [g for g in groups if len(g)]
        if len(groups) == 1:  # a crossing on one road: road traffic, then pedestrians
            green = cycle_s - 2 * LOST_TIME_S - PEDESTRIAN_PHASE_S
            phases = (Phase(tuple(int(e) for e in groups[0]), green), Phase((), PEDESTRIAN_PHASE_S))
        else:
            demand = np.array([network.edge_capacity_vph[g].max() for g in groups])
            greens = (cycle_s - LOST_TIME_S * len(groups)) * demand / demand.sum()
            phases = tuple(
                Phase(tuple(int(e) for e in g), float(green))
                for g, green in zip(groups, greens, strict=True)
            )
        plans[int(node)] = SignalPlan(int(node), phases)
    return plans


def compile_signals(plans: dict[int, SignalPlan], n_links: int) -> Signals:
    """Per-link timing arrays for the engine.

    Raises
    ------
    ValueError
        A link with green in more than one phase of its plan: the engine gives a link one
        green a cycle (the later phase's alone would be simulated, below the plan's share).
    """
    cycle, offset = np.zeros(n_links), np.zeros(n_links)
    start, end = np.zeros(n_links), np.zeros(n_links)
    for plan in plans.values():
        if twice := repeated_green(plan):
            raise ValueError(f"signal at node {plan.node}: {twice}")
        clock = 0.0
        for phase in plan.phases:
            for edge in phase.approaches:
                cycle[edge], offset[edge] = plan.cycle_s, plan.offset_s
                start[edge], end[edge] = clock, clock + phase.green_s
            clock += phase.green_s + plan.lost_time_s
    return Signals(cycle, offset, start, end)


def repeated_green(plan: SignalPlan) -> str:
    """What is wrong where a link of ``plan`` has green in more than one phase, else ``""``."""
    phases_of: dict[int, list[int]] = {}
    for number, phase in enumerate(plan.phases, start=1):
        for edge in set(phase.approaches):
            phases_of.setdefault(edge, []).append(number)
    twice = {edge: numbers for edge, numbers in phases_of.items() if len(numbers) > 1}
    if not twice:
        return ""
    edge, numbers = min(twice.items())
    return (
        f"link {edge} has green in phases {' and '.join(map(str, numbers))}: a link gets one green "
        "a cycle; give it one phase (a longer green) instead"
    )

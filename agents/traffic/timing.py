"""Signal timing: the limits every plan respects, Webster's method and Webster's delay formula.

Limits (:class:`TimingLimits`; every proposal and every plan file is checked against them):

- **minimum green 7 s** for a vehicle phase: the UK's statutory minimum (DfT, *Traffic Signs
  Manual*, chapter 6, 2019) and within the 5–15 s range of the FHWA *Signal Timing Manual*
  (2nd ed., NCHRP Report 812, 2015, table 5-4);
- **pedestrians cross in time**: people walking beside a phase's traffic cross the roads of the
  other phases, so a vehicle phase's green is at least a walk of 7 s plus the time to cross
  the widest of those roads (3.5 m a lane) at 1.07 m/s (3.5 ft/s), both from the US *Manual on
  Uniform Traffic Control Devices* (2009, section 4E.06), less the intergreen, through which the
  last walkers finish (a modelling choice: practice differs between countries); a pedestrian
  phase keeps at least the walk and clearance time of the default plans
  (:data:`~agents.traffic.signals.PEDESTRIAN_PHASE_S`);
- **intergreen 4 s** after every phase (yellow 3 s + all-red 1 s, the shortest change and
  clearance interval of ITE's *Guidelines for Determining Traffic Signal Change and Clearance
  Intervals*, 2020); in the twin an approach discharges at its saturation flow for the whole
  green it is shown, so the intergreen is the phase's lost time;
- **maximum cycle 120 s**: longer cycles rarely lower delay (Webster 1958) and are the usual
  upper bound of fixed-time plans (FHWA *Signal Timing Manual*, 60–120 s typical).

Webster's method (F. V. Webster, *Traffic Signal Settings*, Road Research Technical Paper 39,
HMSO 1958): with ``y_i`` the largest ratio of flow to saturation flow among phase *i*'s
approaches, ``Y = Σ y_i`` and ``L`` the lost time of a cycle, the cycle of least delay is
``C0 = (1.5 L + 5) / (1 − Y)`` and the effective green ``C0 − L`` is shared in proportion to
``y_i``. A pedestrian phase has no flow ratio: its green is fixed and counts with the lost
time. Webster's delay formula gives the mean delay of a vehicle on an isolated approach below
saturation, with random (Poisson) arrivals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from agents.traffic.signals import (
    LOST_TIME_S,
    PEDESTRIAN_PHASE_S,
    Phase,
    SignalPlan,
    repeated_green,
)
from cities.errors import TwinError
from cities.network import RoadNetwork

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_FLOW_RATIO",
    "SignalPlanError",
    "TimingLimits",
    "approach_flows_vph",
    "check_plans",
    "webster_cycle",
    "webster_delay",
    "webster_greens",
    "webster_plan",
    "webster_plans",
]

TOLERANCE_S = 0.01
"""Plans are checked to the hundredth of a second they are written at (a green of 9.54 s in a
plan file meets a minimum of 9.5416 s)."""

MAX_FLOW_RATIO = 0.9
"""Sum of critical flow ratios beyond which Webster's cycle is not defined (it grows without
bound as ``Y → 1``): such a junction gets the longest cycle allowed, which passes the most."""


class SignalPlanError(TwinError):
    """A signal plan that breaks a timing limit or does not fit its junction; the message names
    every junction (OSM node id) and what to change, one per line."""


@dataclass(frozen=True)
class TimingLimits:
    """What every signal plan respects (sources in the module's docstring).

    Parameters
    ----------
    min_green_s
        Shortest green of a vehicle phase.
    intergreen_s
        Shortest time between one phase's green and the next (yellow + all-red).
    max_cycle_s
        Longest cycle.
    pedestrian_green_s
        Shortest green of a pedestrian phase (one that serves no road approach).
    walk_s, walking_speed_mps, lane_width_m
        Pedestrians beside a vehicle phase's traffic get ``walk_s`` and the time to cross the
        other phases' widest road at ``walking_speed_mps``.
    """

    min_green_s: float = 7.0
    intergreen_s: float = LOST_TIME_S
    max_cycle_s: float = 120.0
    pedestrian_green_s: float = PEDESTRIAN_PHASE_S
    walk_s: float = 7.0
    walking_speed_mps: float = 1.07
    lane_width_m: float = 3.5

    def __post_init__(self) -> None:
        for name in ("min_green_s", "intergreen_s", "max_cycle_s", "pedestrian_green_s", "walk_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value}")
        if not (self.walking_speed_mps > 0 and self.lane_width_m > 0):
            raise ValueError("walking_speed_mps and lane_width_m must be positive")
        if self.max_cycle_s < 2 * (self.min_green_s + self.intergreen_s):
            raise ValueError(
                f"max_cycle_s {self.max_cycle_s} cannot hold two phases of min_green_s "
                f"{self.min_green_s} and intergreen_s {self.intergreen_s}"
            )

    def minimum_greens(self, plan: SignalPlan, lanes: np.ndarray) -> np.ndarray:
        """The shortest green each phase of ``plan`` may have, seconds.

        A pedestrian phase (no road approach): :attr:`pedestrian_green_s`. A vehicle phase:
        :attr:`min_green_s`, or more where its pedestrians need longer to cross the widest road
        of the junction's other vehicle phases (``lanes``: lanes of every link).
        """
        widths = [
            self.lane_width_m * float(np.sum(lanes[list(p.approaches)])) if p.approaches else 0.0
            for p in plan.phases
        ]
        minimum = np.empty(len(plan.phases))
        for i, phase in enumerate(plan.phases):
            if not phase.approaches:
                minimum[i] = self.pedestrian_green_s
                continue
            crossed = max((w for j, w in enumerate(widths) if j != i), default=0.0)
            crossing = self.walk_s + crossed / self.walking_speed_mps - self.intergreen_s
            minimum[i] = max(self.min_green_s, crossing if crossed > 0 else 0.0)
        return minimum


DEFAULT_LIMITS = TimingLimits()
"""The limits of the module's docstring."""


def webster_cycle(flow_ratios: np.ndarray | list[float], lost_time_s: float) -> float:
    """Webster's optimum cycle ``(1.5 L + 5) / (1 − Y)``, seconds.

    Parameters
    ----------
    flow_ratios
        Critical flow ratio ``y_i`` (flow / saturation flow) of each phase.
    lost_time_s
        Lost time of the whole cycle, ``L``.

    Raises
    ------
    ValueError
        Where ``Y = Σ y_i ≥ 1``: no cycle serves that demand.
    """
    total = float(np.sum(flow_ratios))
    if not total < 1:
        raise ValueError(f"flow ratios sum to {total:.3f} ≥ 1: no cycle serves this demand")
    return (1.5 * lost_time_s + 5.0) / (1.0 - total)


def webster_greens(
    flow_ratios: np.ndarray | list[float], cycle_s: float, lost_time_s: float
) -> np.ndarray:
    """Effective greens sharing ``cycle_s − lost_time_s`` in proportion to the flow ratios
    (equally where every ratio is zero)."""
    ratios = np.asarray(flow_ratios, dtype=np.float64)
    weights = ratios if ratios.sum() > 0 else np.ones_like(ratios)
    return (cycle_s - lost_time_s) * weights / weights.sum()


def webster_delay(cycle_s: float, green_s: float, flow_vps: float, saturation_vps: float) -> float:
    """Webster's mean delay per vehicle (s) on an isolated approach with random arrivals.

    ``d = c(1 − λ)² / (2(1 − λx)) + x² / (2q(1 − x)) − 0.65 (c/q²)^(1/3) x^(2 + 5λ)``, with
    ``λ = g / c`` the green share, ``q`` the arrival flow and ``x = q / (λ s)`` the degree of
    saturation: uniform delay, random delay and Webster's empirical correction.

    Raises
    ------
    ValueError
        At or above saturation (``x ≥ 1``), where the formula does not hold.
    """
    share = green_s / cycle_s
    saturation = flow_vps / (share * saturation_vps)
    if not saturation < 1:
        raise ValueError(f"degree of saturation {saturation:.3f} ≥ 1: Webster's delay needs x < 1")
    uniform = cycle_s * (1 - share) ** 2 / (2 * (1 - share * saturation))
    random_delay = saturation**2 / (2 * flow_vps * (1 - saturation))
    correction = 0.65 * (cycle_s / flow_vps**2) ** (1 / 3) * saturation ** (2 + 5 * share)
    return uniform + random_delay - correction


def _split(total_s: float, weights: np.ndarray, minimum_s: np.ndarray) -> np.ndarray:
    """``total_s`` shared in proportion to ``weights``, no share below its minimum (those are
    held at the minimum and the rest shared again); ``total_s`` at least the minima's sum."""
    greens = np.zeros(len(weights))
    held = np.zeros(len(weights), dtype=bool)
    while True:
        free = ~held
        left = total_s - minimum_s[held].sum()
        share = weights[free] if weights[free].sum() > 0 else np.ones(int(free.sum()))
        greens[free] = left * share / share.sum()
        greens[held] = minimum_s[held]
        short = free & (greens < minimum_s - 1e-9)
        if not short.any():
            return greens
        held |= short


def webster_plan(
    plan: SignalPlan,
    flow_vph: np.ndarray,
    saturation_vph: np.ndarray,
    lanes: np.ndarray,
    limits: TimingLimits = DEFAULT_LIMITS,
) -> SignalPlan:
    """Webster's timing of one junction's phases, within ``limits``.

    Parameters
    ----------
    plan
        The junction's plan: its phases and approaches are kept, greens and cycle are new.
    flow_vph, saturation_vph
        Arrival flow and saturation flow of every link (edge position), veh/h.
    lanes
        Lanes of every link (the width pedestrians cross).
    limits
        The timing limits; greens below the minimum are raised to it and the cycle capped.

    Returns
    -------
    SignalPlan
        The same phases with Webster's greens, the limits' intergreen and offset 0.
    """
    intergreen = limits.intergreen_s
    is_vehicle = np.array([bool(p.approaches) for p in plan.phases])
    ratios = np.array(
        [
            max(flow_vph[a] / max(saturation_vph[a], 1e-9) for a in p.approaches)
            if p.approaches
            else 0.0
            for p in plan.phases
        ]
    )
    minimum = limits.minimum_greens(plan, lanes)
    # a pedestrian phase's green is fixed: Webster treats it as time lost to the vehicles
    lost = intergreen * len(plan.phases) + minimum[~is_vehicle].sum()
    # past MAX_FLOW_RATIO the longest cycle allowed, which passes the most
    cycle = webster_cycle(ratios, lost) if ratios.sum() < MAX_FLOW_RATIO else limits.max_cycle_s
    shortest = intergreen * len(plan.phases) + minimum.sum()
    cycle = min(max(cycle, shortest), max(limits.max_cycle_s, shortest))
    weights = np.where(is_vehicle, ratios, 0.0)
    if not weights.any():
        weights = is_vehicle.astype(np.float64)
    greens = _split(cycle - intergreen * len(plan.phases), weights, minimum)
    phases = tuple(
        Phase(phase.approaches, float(green))
        for phase, green in zip(plan.phases, greens, strict=True)
    )
    return SignalPlan(plan.node, phases, offset_s=0.0, lost_time_s=intergreen)


def webster_plans(
    plans: Mapping[int, SignalPlan],
    flow_vph: np.ndarray,
    saturation_vph: np.ndarray,
    lanes: np.ndarray,
    limits: TimingLimits = DEFAULT_LIMITS,
) -> dict[int, SignalPlan]:
    """:func:`webster_plan` of every junction of ``plans`` (node position → plan)."""
    return {
        node: webster_plan(plan, flow_vph, saturation_vph, lanes, limits)
        for node, plan in plans.items()
    }


def approach_flows_vph(
    entries: np.ndarray, width_s: np.ndarray, *, window_s: float = 3600.0
) -> np.ndarray:
    """Each link's arrival flow in its busiest ``window_s`` (veh/h): what a signal must serve.

    Parameters
    ----------
    entries
        Vehicles entering each link per recording interval (intervals × links), from
        :meth:`agents.traffic.engine.Engine.interval_series`.
    width_s
        Length of each interval.
    window_s
        Span of the rolling window (the peak hour by default; the whole run if shorter).
    """
    entries = np.asarray(entries, dtype=np.float64)
    if len(entries) == 0:
        return np.zeros(entries.shape[1] if entries.ndim == 2 else 0)
    ends = np.cumsum(width_s)
    cumulative = np.vstack([np.zeros(entries.shape[1]), np.cumsum(entries, axis=0)])
    starts = np.concatenate([[0.0], ends])
    if ends[-1] <= window_s:
        return cumulative[-1] / ends[-1] * 3600.0
    # every window that ends at an interval's end and spans whole intervals
    best = np.zeros(entries.shape[1])
    for last in range(1, len(starts)):
        first = int(np.searchsorted(starts, starts[last] - window_s - 1e-9))
        span = starts[last] - starts[first]
        if span >= window_s - 1e-9:
            best = np.maximum(best, (cumulative[last] - cumulative[first]) / span * 3600.0)
    return best


def check_plans(
    plans: Mapping[int, SignalPlan],
    network: RoadNetwork,
    limits: TimingLimits = DEFAULT_LIMITS,
) -> None:
    """Refuse plans that break a limit or do not fit their junctions.

    Every junction must be a signalized node of ``network`` with at least two phases (one
    approach and nothing else to give time to is no signal to time), phases must serve only
    the junction's own approaches, greens must reach the minimum, intergreens the limit's, the
    cycle must not exceed the maximum and the offset must lie within the cycle.

    Raises
    ------
    SignalPlanError
        Naming every junction (OSM node id) that fails, and how.
    """
    problems = []
    for node, plan in plans.items():
        name = _junction(network, node)
        if not 0 <= node < network.n_nodes or not network.node_signalized[node]:
            problems.append(f"{name}: not a signalized junction of this network")
            continue
        own = set(network.in_edges_of(int(node)).tolist())
        foreign = sorted({a for p in plan.phases for a in p.approaches} - own)
        if foreign:
            problems.append(f"{name}: phases name links that do not end there ({foreign[:5]})")
        if len(plan.phases) < 2:
            problems.append(
                f"{name}: one phase only (one approach and nothing else to time): give it a "
                "second phase (a pedestrian phase) or leave the junction out of the plan"
            )
        if foreign:
            continue
        if twice := repeated_green(plan):
            problems.append(f"{name}: {twice}")
        minimum = limits.minimum_greens(plan, network.edge_lanes)
        for number, (phase, least) in enumerate(zip(plan.phases, minimum, strict=True), start=1):
            if not phase.green_s >= least - TOLERANCE_S:
                kind = "vehicle" if phase.approaches else "pedestrian"
                # a planner who sees 12.8 s where 7 s is the rule must learn where it comes from
                walkers = " (the time pedestrians beside it need to cross)"
                why = walkers if phase.approaches and least > limits.min_green_s else ""
                problems.append(
                    f"{name}: phase {number} has {_seconds(phase.green_s)} of green, below the "
                    f"{kind} minimum of {_seconds(least)}{why}"
                )
        if not plan.lost_time_s >= limits.intergreen_s - TOLERANCE_S:
            problems.append(
                f"{name}: intergreen {plan.lost_time_s:g} s is below the minimum of "
                f"{limits.intergreen_s:g} s"
            )
        if not plan.cycle_s <= limits.max_cycle_s + TOLERANCE_S:
            problems.append(
                f"{name}: cycle {plan.cycle_s:.1f} s is over the maximum of "
                f"{limits.max_cycle_s:g} s: shorten its greens"
            )
        if not 0 <= plan.offset_s < max(plan.cycle_s, 1e-9):
            problems.append(
                f"{name}: offset {plan.offset_s:g} s is outside its cycle (0 to "
                f"{plan.cycle_s:.1f} s)"
            )
    if problems:
        shown = problems[:20]
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise SignalPlanError("\n".join(shown) + more)


def _seconds(value: float) -> str:
    """Seconds to 0.01 s, as plan files keep them (12.81 s, not 12.8 s, where 12.8 would be
    refused)."""
    return f"{round(float(value), 2):g} s"


def _junction(network: RoadNetwork, node: int) -> str:
    if 0 <= node < network.n_nodes:
        return f"junction {int(network.node_osmid[node])}"
    return f"junction at position {node}"

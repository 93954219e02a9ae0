"""Collection policies: which bins to empty on a working day, and what each is worth.

Every policy answers one question each working day — given what it knows about the bins, which
of them are candidates today, which must be emptied (``required``), how much each will hold
(``load_kg``) and what emptying an optional one is worth (``prize``, in metres of driving) — as a
:class:`DayRequest`. The model turns the request into a
:class:`~agents.waste.planning.RoutingProblem`, a planner turns that into routes, and trucks
drive them. All policies are judged by the same simulation and KPIs.

``schedule``
    Fixed weekly rounds, as most cities run them: bins are grouped into one district per working
    day (equal-waste sectors around the depot); each district is emptied on set weekdays, as
    often as its fastest-filling bin needs (once, twice, three or five times a week), whatever the
    bins hold. Knows no fill levels. Its rounds are planned once per weekday and driven unchanged
    every week.
``hand-drawn``
    The same districts and weekdays as ``schedule``, each day's rounds drawn as a person draws
    them by hand: street after street in a sweep around the depot, each truck taking the next
    streets, tipping when its expected load fills it (:class:`HandDrawnRounds`). The baseline of a
    city that has no rounds of its own to import.
``current``
    The city's own rounds as it drives them today, imported from a file (see
    :mod:`agents.waste.rounds`) and driven as given, stop by stop (:class:`GivenRounds`).
``threshold``
    Fill sensors: every bin at or above :data:`THRESHOLD` of its capacity, or forecast to
    overflow before the next working day's shift, is emptied today.
``forecast``
    Fill sensors and a prize-collecting plan: bins forecast to overflow before the next shift are
    required; a bin likely to be required at the next shift is optional with an urgency prize
    that grows with that chance (:func:`urgency_prize`). The planner
    decides which optional bins are worth the detour (the Groningen study's scheme,
    arXiv 2409.13386). Planned on truck-hours or euros, where every stop's service time counts,
    an early stop is worth the share of a due visit's load it brings (:func:`load_share`), and
    leaving a bin costs its chance of overflowing (:func:`overflow_probability`) at the city's
    price of an overflow.

Forecasts use the bins' mean daily input and the weekday pattern
(:data:`~agents.waste.bins.WEEKDAY_FACTORS`), with a one-sided 95 % safety margin for the
day-to-day noise (:data:`~agents.waste.bins.FILL_NOISE_CV`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from agents.waste.bins import FILL_NOISE_CV, WEEKDAY_FACTORS, Bins
from agents.waste.names import POLICIES

__all__ = [
    "LOOKAHEAD_SHIFTS",
    "MIN_DUE_PROBABILITY",
    "POLICIES",
    "PRIZE_SCALE_M",
    "THRESHOLD",
    "UNLOAD",
    "WORKING_DAYS",
    "DayRequest",
    "FixedSchedule",
    "GivenRounds",
    "HandDrawnRounds",
    "PlannedPolicy",
    "ThresholdPolicy",
    "load_share",
    "make_policy",
    "overflow_probability",
    "urgency_prize",
]


WORKING_DAYS = (0, 1, 2, 3, 4)
"""Weekdays with a collection shift, Monday = 0 (simulation day 0 is a Monday)."""

THRESHOLD = 0.7
"""Fill share at which the threshold policy empties a bin."""

MIN_DUE_PROBABILITY = 0.05
"""Optional bins whose chance of being required at the next shift is below this are not offered
to the planner (their prize would be next to nothing, and leaving them out keeps the daily
problem small)."""

PRIZE_SCALE_M = 1_000.0
"""Urgency prize of a bin sure to be due at the next shift, in metres of driving: the detour a
planner may make to empty it today rather than drive to it on its own next time
(see :func:`urgency_prize`)."""

LOOKAHEAD_SHIFTS = 1
"""Shifts the planned policies look ahead: an optional bin's prize is its chance of being required
within that many shifts."""

SAFETY_Z = 1.645
"""One-sided 95 % quantile of the standard normal: forecasts add this many standard deviations."""

UNLOAD = -1
"""In a policy's given routes (:attr:`DayRequest.routes`): drive to the disposal site and tip."""

SCHEDULE_DAYS = {1: (0,), 2: (0, 3), 3: (0, 2, 4), 5: (0, 1, 2, 3, 4)}
"""Collection weekdays of a district by weekly frequency, for a district whose base day is
Monday; district ``k`` shifts them by ``k`` working days (wrapping within the week)."""


@dataclass(frozen=True, eq=False)
class DayRequest:
    """What a policy asks for on one working day.

    Attributes
    ----------
    bins
        Candidate bin indices (into the model's :class:`~agents.waste.bins.Bins`).
    load_kg, prize, required
        Per candidate: the load the policy expects to pick up, the prize of an optional visit
        (metres of driving), and whether it must be emptied today.
    reuse
        A key under which the day's routes may be planned once and driven again (fixed rounds
        use the weekday); ``None`` plans afresh.
    saves_service
        Per candidate: the share of a later visit's service time that an optional visit today
        is worth (its chance of being due at the next shift, times its :func:`load_share` when
        the plan counts time); ``None``: none.
    overflow_risk
        Per candidate: the chance that, left today, it overflows before the next shift
        (:func:`overflow_probability`; 0 for required bins); ``None``: not weighed.
    routes
        Routes the policy drives as they are, without a planner: one array per truck of bin
        indices in driving order, :data:`UNLOAD` for a trip to the disposal site; ``None`` lets
        the planner route ``bins``.
    """

    bins: np.ndarray
    load_kg: np.ndarray
    prize: np.ndarray
    required: np.ndarray
    reuse: object | None = None
    routes: tuple[np.ndarray, ...] | None = None
    saves_service: np.ndarray | None = None
    overflow_risk: np.ndarray | None = None


def days_to_next_shift(day: int) -> int:
    """Days from working day ``day``'s shift to the next shift (Friday → Monday: 3)."""
    for ahead in range(1, 8):
        if (day + ahead) % 7 in WORKING_DAYS:
            return ahead
    raise AssertionError("WORKING_DAYS is empty")


def forecast_kg(bins: Bins, day: int, days: int, *, quantile: bool) -> np.ndarray:
    """Waste going into each bin over ``days`` days from day ``day``: the mean, or (with
    ``quantile``) the one-sided 95 % bound of independent lognormal days."""
    factors = WEEKDAY_FACTORS[(day + np.arange(days)) % 7]
    mean = bins.daily_kg * factors.sum()
    if not quantile:
        return mean
    sd = bins.daily_kg * FILL_NOISE_CV * math.sqrt(float(np.sum(factors**2)))
    return mean + SAFETY_Z * sd


def urgency_prize(
    required_next_probability: np.ndarray, *, scale_m: float = PRIZE_SCALE_M
) -> np.ndarray:
    """Prize of emptying an optional bin today: ``scale_m`` (default :data:`PRIZE_SCALE_M`) ×
    the probability that, left alone, it will be required at the next shift.

    A bin that will be due next time anyway is worth emptying now where it lies near today's
    route (it saves a visit tomorrow); a bin with days to go is worth nothing today.
    """
    return scale_m * np.clip(required_next_probability, 0.0, 1.0)


def overflow_probability(bins: Bins, fill_kg: np.ndarray, day: int) -> np.ndarray:
    """Chance that each bin, not emptied at working day ``day``'s shift, overflows before the
    next shift: its input until then (independent lognormal days, summed by matching a lognormal
    to their mean and variance, Fenton-Wilkinson) exceeds the room left.

    Why lognormal and not the normal approximation of the forecasts: the bins that overflow are
    the ones left with a chance of a few percent or less, where the normal tail is far too thin
    (a day's input twice its mean: 0.04 % in a normal, 0.6 % in the lognormal it is drawn
    from).
    """
    ahead = days_to_next_shift(day)
    factors = WEEKDAY_FACTORS[(day + np.arange(ahead)) % 7]
    mean = np.maximum(bins.daily_kg * factors.sum(), 1e-12)
    variance = (bins.daily_kg * FILL_NOISE_CV) ** 2 * float(np.sum(factors**2))
    sigma2 = np.maximum(np.log1p(variance / mean**2), 1e-18)
    mu = np.log(mean) - sigma2 / 2
    room = bins.capacity_kg - np.asarray(fill_kg, dtype=float)
    z = (np.log(np.maximum(room, 1e-12)) - mu) / np.sqrt(sigma2)
    return np.where(room <= 0, 1.0, 1.0 - ndtr(z))


def load_share(
    bins: Bins, fill_kg: np.ndarray, day: int, *, horizon_shifts: int = 10
) -> np.ndarray:
    """Share of a due visit's load that emptying each bin at working day ``day``'s shift brings:
    its fill now over its expected fill at the first later shift where it would be required
    (mean forecast, required as in :class:`PlannedPolicy`; a bin not due within
    ``horizon_shifts`` shifts: its expected fill at the last of them, at most its capacity).

    Why: a visit costs its service time (and the drive to the bin) whatever the bin holds, and
    every emptying starts the bin's next cycle. Emptying a bin at fill ``f`` instead of at ``F``
    when due spends one visit on ``f / F`` of the waste, so over the weeks it is worth ``f / F``
    of the due visit it stands for (cost per tonne of a renewal cycle), not the whole visit.
    """
    capacity = bins.capacity_kg
    fill = np.asarray(fill_kg, dtype=float).copy()
    due_fill = np.full(len(fill), np.nan)
    shift = day
    for _ in range(horizon_shifts):
        ahead = days_to_next_shift(shift)
        fill = fill + forecast_kg(bins, shift, ahead, quantile=False)
        shift += ahead
        due = fill + forecast_kg(bins, shift, days_to_next_shift(shift), quantile=True) > capacity
        first = due & np.isnan(due_fill)
        due_fill[first] = fill[first]
    undue = np.isnan(due_fill)
    due_fill[undue] = fill[undue]
    due_fill = np.minimum(due_fill, capacity)
    return np.clip(np.asarray(fill_kg, dtype=float) / np.maximum(due_fill, 1e-12), 0.0, 1.0)


def required_next_probability(
    bins: Bins, fill_kg: np.ndarray, day: int, *, shifts: int = 1
) -> np.ndarray:
    """Probability that each bin, not emptied at working day ``day``'s shift, is required at
    one of the next ``shifts`` shifts (its fill then plus the 95 % forecast to the shift after
    exceeds its capacity); normal approximation of the summed daily inputs until then. Fill only
    grows, so that is the probability of being required at the last of them."""
    ahead = 0
    for _ in range(shifts):
        ahead += days_to_next_shift(day + ahead)
    factors = WEEKDAY_FACTORS[(day + np.arange(ahead)) % 7]
    mean = bins.daily_kg * factors.sum()
    sd = np.maximum(bins.daily_kg * FILL_NOISE_CV * math.sqrt(float(np.sum(factors**2))), 1e-12)
    then = day + ahead
    margin = forecast_kg(bins, then, days_to_next_shift(then), quantile=True)
    z = (fill_kg + mean + margin - bins.capacity_kg) / sd
    return ndtr(z)


class ThresholdPolicy:
    """Empty every bin at or above ``threshold`` full, or forecast to overflow before the next
    shift (fill sensors)."""

    name = "threshold"
    uses_sensors = True

    def __init__(self, bins: Bins, *, threshold: float = THRESHOLD) -> None:
        self.bins = bins
        self.threshold = float(threshold)

    def request(self, day: int, fill_kg: np.ndarray) -> DayRequest:
        ahead = forecast_kg(self.bins, day, days_to_next_shift(day), quantile=True)
        due = (fill_kg >= self.threshold * self.bins.capacity_kg) | (
            fill_kg + ahead > self.bins.capacity_kg
        )
        due &= fill_kg > 0
        chosen = np.flatnonzero(due)
        return DayRequest(
            bins=chosen,
            load_kg=fill_kg[chosen],
            prize=np.zeros(len(chosen)),
            required=np.ones(len(chosen), dtype=bool),
        )


class PlannedPolicy:
    """Prize-collecting days: overflow-bound bins required, the fuller rest optional with urgency
    prizes; the planner (``greedy`` or ``pyvrp``) chooses.

    ``objective`` is what the plans minimise (:data:`~agents.waste.costs.OBJECTIVES`). Under
    ``hours`` and ``euros`` a stop's service time counts: the service time an optional stop
    stands for is its urgency times its :func:`load_share` of a due visit's (emptying a
    half-full bin spends a whole stop on half the waste), and since fuller bins are left
    longer, each optional bin also carries its :func:`overflow_probability`, which the model
    prices at the city's cost of an overflow. Under ``km`` a stop costs only its detour and the
    prize is the urgency alone.
    """

    uses_sensors = True

    def __init__(
        self,
        bins: Bins,
        *,
        name: str = "forecast",
        prize_scale_m: float = PRIZE_SCALE_M,
        lookahead_shifts: int = LOOKAHEAD_SHIFTS,
        objective: str = "km",
    ) -> None:
        self.bins = bins
        self.name = name
        self.prize_scale_m = float(prize_scale_m)
        self.lookahead_shifts = int(lookahead_shifts)
        self.objective = objective

    def request(self, day: int, fill_kg: np.ndarray) -> DayRequest:
        capacity = self.bins.capacity_kg
        ahead = days_to_next_shift(day)
        required = fill_kg + forecast_kg(self.bins, day, ahead, quantile=True) > capacity
        # left today, would the bin be required next time?
        due_soon = required_next_probability(self.bins, fill_kg, day, shifts=self.lookahead_shifts)
        # a bin worth (almost) nothing is not offered: a solver that counts only distance would
        # take it for free where it stands next to a bin it empties anyway
        chosen = np.flatnonzero(required | (due_soon >= MIN_DUE_PROBABILITY))
        chosen = chosen[fill_kg[chosen] > 0]
        urgency = np.clip(due_soon[chosen], 0.0, 1.0)
        service_worth, risk = urgency, None
        if self.objective != "km":
            service_worth = urgency * load_share(self.bins, fill_kg, day)[chosen]
            risk = np.where(
                required[chosen], 0.0, overflow_probability(self.bins, fill_kg, day)[chosen]
            )
        return DayRequest(
            bins=chosen,
            load_kg=fill_kg[chosen],
            prize=urgency_prize(urgency, scale_m=self.prize_scale_m),
            required=required[chosen],
            saves_service=np.where(required[chosen], 0.0, service_worth),
            overflow_risk=risk,
        )


class FixedSchedule:
    """Fixed weekly rounds by district (see the module docstring); knows no fill levels."""

    name = "schedule"
    uses_sensors = False

    def __init__(self, bins: Bins, *, depot_xy: tuple[float, float]) -> None:
        self.bins = bins
        n_districts = len(WORKING_DAYS)
        # equal-waste sectors by bearing from the depot: compact districts, one per working day
        bearing = np.arctan2(bins.y - depot_xy[1], bins.x - depot_xy[0])
        order = np.argsort(bearing, kind="stable")
        cumulative = np.cumsum(bins.daily_kg[order]) / max(bins.daily_kg.sum(), 1e-12)
        district = np.empty(len(bins), dtype=np.int64)
        district[order] = np.minimum((cumulative * n_districts).astype(np.int64), n_districts - 1)
        self.district = district
        self.frequency = np.zeros(n_districts, dtype=np.int64)
        for k in range(n_districts):
            members = district == k
            self.frequency[k] = self._frequency(bins.subset(members)) if members.any() else 1
        # weekday → bins emptied that day, and the days since each was last emptied
        self.days: dict[int, np.ndarray] = {}
        self.gap_days: dict[int, np.ndarray] = {}
        gap_of_district = np.zeros(n_districts, dtype=np.int64)
        for weekday in WORKING_DAYS:
            today = []
            for k in range(n_districts):
                weekdays = self._weekdays(k, int(self.frequency[k]))
                if weekday in weekdays:
                    today.append(k)
                    earlier = [d for d in weekdays if d < weekday]
                    previous = max(earlier) if earlier else max(weekdays) - 7
                    gap_of_district[k] = weekday - previous
            self.days[weekday] = np.flatnonzero(np.isin(district, today))
            self.gap_days[weekday] = gap_of_district[district[self.days[weekday]]]

    @staticmethod
    def _weekdays(district: int, frequency: int) -> set[int]:
        n = len(WORKING_DAYS)
        return {WORKING_DAYS[(d + district) % n] for d in SCHEDULE_DAYS[frequency]}

    @staticmethod
    def _frequency(bins: Bins) -> int:
        """Fewest collections a week after which no bin of the district overflows in a 95 %
        week: the longest gap between its collection days, at the busiest weekdays."""
        for frequency in sorted(SCHEDULE_DAYS):
            days = sorted(SCHEDULE_DAYS[frequency])
            gaps = np.diff([*days, days[0] + 7])
            ok = True
            for start, gap in zip(days, gaps, strict=True):
                need = forecast_kg(bins, start, int(gap), quantile=True)
                ok &= bool(np.all(need <= bins.capacity_kg))
            if ok:
                return frequency
        return max(SCHEDULE_DAYS)

    def request(self, day: int, fill_kg: np.ndarray) -> DayRequest:
        weekday = day % 7
        chosen = self.days.get(weekday, np.zeros(0, dtype=np.int64))
        gaps = self.gap_days.get(weekday, np.zeros(0, dtype=np.int64))
        return fixed_request(self.bins, chosen, gaps, weekday)


def fixed_request(
    bins: Bins,
    chosen: np.ndarray,
    gaps: np.ndarray,
    weekday: int,
    routes: tuple[np.ndarray, ...] | None = None,
) -> DayRequest:
    """A fixed round's day: every ``chosen`` bin required, expected to hold its mean waste since
    its last collection ``gaps`` days before (no sensors), planned once per weekday."""
    return DayRequest(
        bins=chosen,
        load_kg=expected_since_last(bins, chosen, gaps, weekday),
        prize=np.zeros(len(chosen)),
        required=np.ones(len(chosen), dtype=bool),
        reuse=weekday,
        routes=routes,
    )


def expected_since_last(
    bins: Bins, chosen: np.ndarray, gaps: np.ndarray, weekday: int
) -> np.ndarray:
    """Mean waste in each ``chosen`` bin at ``weekday``'s shift, ``gaps`` days after its last
    collection (at most its capacity): what rounds planned without sensors expect to pick up."""
    expected = np.zeros(len(chosen))
    for gap in np.unique(gaps):
        mine = gaps == gap
        since = forecast_kg(bins.subset(chosen[mine]), weekday - int(gap), int(gap), quantile=False)
        expected[mine] = since
    return np.minimum(expected, bins.capacity_kg[chosen])


def _with_unloads(
    sequence: np.ndarray, load_kg: np.ndarray, *, truck_capacity_kg: float
) -> np.ndarray:
    """``sequence`` (bin indices) with an :data:`UNLOAD` wherever the next bin's expected
    ``load_kg`` (by bin index) would overfill the truck, and one at the end."""
    stops: list[int] = []
    carried = 0.0
    for b in sequence.tolist():
        load = min(float(load_kg[b]), truck_capacity_kg)
        if carried > 0 and carried + load > truck_capacity_kg:
            stops.append(UNLOAD)
            carried = 0.0
        stops.append(b)
        carried += load
    if stops:
        stops.append(UNLOAD)
    return np.asarray(stops, dtype=np.int64)


HAND_DRAWN_DRIVE_S = 60.0
"""Drive a person drawing rounds allows between two stops (a few hundred metres of residential
street): with the service times, how many trucks a day's rounds get."""

HAND_DRAWN_SHIFT_SHARE = 0.8
"""Share of the shift a hand-drawn round fills with stops (the rest: out, back, tipping)."""


class HandDrawnRounds(FixedSchedule):
    """Fixed weekly rounds as drawn by hand: ``schedule``'s districts and weekdays, routes by a
    street sweep rather than a solver.

    Each district's bins are grouped by street (the name of the road at the bin's node, or its
    OSM way where unnamed). From the depot the rounds sweep street by street, each time on to
    the street whose nearer end lies closest (as the crow flies), its bins in order along it from
    that end, as a person tracing rounds on a map does (:func:`street_sweep`); on a weekday with
    several districts, one district after the other. The sequence is cut into consecutive
    pieces of equal stop time, one per truck, with as many trucks as the stops need (stop time
    plus :data:`HAND_DRAWN_DRIVE_S` a stop within :data:`HAND_DRAWN_SHIFT_SHARE` of the shift,
    at most the fleet), and an unload wherever a truck's expected load would overfill it.
    Routes are drawn once per weekday and driven every week.

    Parameters
    ----------
    bins
        The bins.
    depot_xy
        Depot position (metres, the bins' CRS).
    street
        Street label of every bin (same length as ``bins``).
    service_s
        Time to empty each bin, seconds.
    n_trucks, truck_capacity_kg, shift_s
        The fleet.
    """

    name = "hand-drawn"

    def __init__(
        self,
        bins: Bins,
        *,
        depot_xy: tuple[float, float],
        street: np.ndarray,
        service_s: np.ndarray,
        n_trucks: int,
        truck_capacity_kg: float,
        shift_s: float,
    ) -> None:
        super().__init__(bins, depot_xy=depot_xy)
        self.rounds: dict[int, tuple[np.ndarray, ...]] = {}
        for weekday, chosen in self.days.items():
            expected = np.zeros(len(bins))
            expected[chosen] = expected_since_last(bins, chosen, self.gap_days[weekday], weekday)
            self.rounds[weekday] = draw_rounds(
                bins, chosen, expected, street=street, depot_xy=depot_xy, service_s=service_s,
                n_trucks=n_trucks, truck_capacity_kg=truck_capacity_kg, shift_s=shift_s,
                district=self.district,
            )  # fmt: skip

    def request(self, day: int, fill_kg: np.ndarray) -> DayRequest:
        return dataclasses.replace(
            super().request(day, fill_kg), routes=self.rounds.get(day % 7, ())
        )


def draw_rounds(
    bins: Bins,
    chosen: np.ndarray,
    expected_kg: np.ndarray,
    *,
    street: np.ndarray,
    depot_xy: tuple[float, float],
    service_s: np.ndarray,
    n_trucks: int,
    truck_capacity_kg: float,
    shift_s: float,
    district: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """One day's rounds through ``chosen`` drawn by hand (see :class:`HandDrawnRounds`):
    per truck, bin indices in driving order with :data:`UNLOAD` where ``expected_kg`` (by bin
    index) would overfill the truck, and at the end. With ``district`` (by bin index), each
    district's bins are swept on their own, one district after the other."""
    if district is None:
        sequence = street_sweep(bins, chosen, street=street, depot_xy=depot_xy)
    else:
        sequence = np.concatenate(
            [np.zeros(0, dtype=np.int64)]
            + [
                street_sweep(bins, chosen[district[chosen] == k], street=street, depot_xy=depot_xy)
                for k in np.unique(district[chosen])
            ]
        )
    if not len(sequence):
        return ()
    stop_s = service_s[sequence] + HAND_DRAWN_DRIVE_S
    trucks = math.ceil(stop_s.sum() / (HAND_DRAWN_SHIFT_SHARE * shift_s))
    trucks = min(max(trucks, 1), n_trucks)
    # cut where the cumulative stop time crosses each truck's equal share
    share = np.cumsum(stop_s) / max(float(stop_s.sum()), 1e-12)
    piece = np.minimum((share * trucks - 1e-9).astype(np.int64), trucks - 1)
    return tuple(
        _with_unloads(sequence[piece == k], expected_kg, truck_capacity_kg=truck_capacity_kg)
        for k in range(trucks)
    )


def street_sweep(
    bins: Bins, chosen: np.ndarray, *, street: np.ndarray, depot_xy: tuple[float, float]
) -> np.ndarray:
    """``chosen`` bins in hand-drawn order (see :class:`HandDrawnRounds`): street by street,
    from the depot each time on to the street whose nearer end is closest (straight line), its
    bins in order along it from that end."""
    if not len(chosen):
        return np.zeros(0, dtype=np.int64)
    x, y = bins.x[chosen] - depot_xy[0], bins.y[chosen] - depot_xy[1]
    _, which = np.unique(street[chosen].astype(str), return_inverse=True)
    ends = []  # per street: its bins in order along it (the main direction of its bins)
    for k in range(which.max() + 1):
        members = np.flatnonzero(which == k)
        points = np.column_stack([x[members], y[members]])
        centred = points - points.mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0] if len(members) > 1 else np.ones(2)
        ends.append(members[np.argsort(centred @ axis, kind="stable")])
    first = np.array([[x[e[0]], y[e[0]]] for e in ends])
    last = np.array([[x[e[-1]], y[e[-1]]] for e in ends])
    todo = np.ones(len(ends), dtype=bool)
    here = np.zeros(2)
    order: list[int] = []
    while todo.any():
        to_first = np.where(todo, np.hypot(*(first - here).T), np.inf)
        to_last = np.where(todo, np.hypot(*(last - here).T), np.inf)
        k = int(np.argmin(np.minimum(to_first, to_last)))
        along = ends[k] if to_first[k] <= to_last[k] else ends[k][::-1]
        order.extend(along.tolist())
        here = np.array([x[along[-1]], y[along[-1]]])
        todo[k] = False
    return chosen[np.asarray(order, dtype=np.int64)]


class GivenRounds:
    """A city's own rounds, driven as given (see :mod:`agents.waste.rounds` for reading them).

    Parameters
    ----------
    bins
        The bins.
    rounds
        Per working weekday, one array per truck of bin indices in driving order, with
        :data:`UNLOAD` for a trip to the disposal site. The loads a truck expects are each bin's
        mean waste since its previous collection day in these rounds.
    """

    name = "current"
    uses_sensors = False

    def __init__(self, bins: Bins, *, rounds: dict[int, tuple[np.ndarray, ...]]) -> None:
        self.bins = bins
        self.rounds = {int(w): tuple(np.asarray(r, dtype=np.int64) for r in rs)
                       for w, rs in rounds.items()}  # fmt: skip
        collected_on: list[list[int]] = [[] for _ in range(len(bins))]
        for weekday, routes in sorted(self.rounds.items()):
            for route in routes:
                for b in route[route >= 0].tolist():
                    collected_on[b].append(weekday)
        self.collected_on = collected_on
        # per weekday: its bins, and the days since each was last collected (fixed all week)
        self.days: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for weekday, routes in self.rounds.items():
            stops = np.concatenate([np.zeros(0, dtype=np.int64), *routes])
            chosen = stops[stops >= 0]
            gaps = [gap_to_previous(weekday, collected_on[b]) for b in chosen.tolist()]
            self.days[weekday] = (chosen, np.array(gaps, dtype=np.int64))

    def never_collected(self) -> np.ndarray:
        """Bins no round empties (they will overflow)."""
        return np.flatnonzero([not days for days in self.collected_on])

    def request(self, day: int, fill_kg: np.ndarray) -> DayRequest:
        weekday = day % 7
        none = np.zeros(0, dtype=np.int64)
        chosen, gaps = self.days.get(weekday, (none, none))
        return fixed_request(self.bins, chosen, gaps, weekday, self.rounds.get(weekday, ()))


def gap_to_previous(weekday: int, weekdays: list[int]) -> int:
    """Days since the previous of ``weekdays`` (a week earlier when it is the only one)."""
    earlier = [d for d in weekdays if d < weekday]
    return weekday - (max(earlier) if earlier else max(weekdays) - 7)


def make_policy(
    name: str,
    bins: Bins,
    *,
    depot_xy: tuple[float, float],
    threshold: float = THRESHOLD,
    prize_scale_m: float = PRIZE_SCALE_M,
    lookahead_shifts: int = LOOKAHEAD_SHIFTS,
    rounds: dict[int, tuple[np.ndarray, ...]] | None = None,
    hand_drawn: dict | None = None,
    objective: str = "km",
):
    """The policy called ``name`` (one of :data:`POLICIES`) for these bins; ``current`` needs
    the city's ``rounds``, ``hand-drawn`` the keywords of :class:`HandDrawnRounds` beyond the
    bins and depot (``hand_drawn``); ``objective`` is what the planned policy's plans minimise
    (see :class:`PlannedPolicy`)."""
    if name == "schedule":
        return FixedSchedule(bins, depot_xy=depot_xy)
    if name == "hand-drawn":
        if hand_drawn is None:
            raise ValueError("policy 'hand-drawn' needs the streets, service times and fleet")
        return HandDrawnRounds(bins, depot_xy=depot_xy, **hand_drawn)
    if name == "current":
        if rounds is None:
            raise ValueError(
                "policy 'current' drives the city's own rounds: give them (a rounds file)"
            )
        return GivenRounds(bins, rounds=rounds)
    if name == "threshold":
        return ThresholdPolicy(bins, threshold=threshold)
    if name == "forecast":
        return PlannedPolicy(
            bins,
            name=name,
            prize_scale_m=prize_scale_m,
            lookahead_shifts=lookahead_shifts,
            objective=objective,
        )
    raise ValueError(f"unknown policy {name!r}: use one of {', '.join(POLICIES)}")

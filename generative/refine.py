"""A learned plan refined by a fast local search: the model's own, before any PyVRP polish.

The model's plans lose most where one move would fix them (BENCHMARKS.md, "Learned planner:
any city", session 28): a truck that ends its day with a trip of one or two bins to a far
disposal site, trips that would fit one load, a bin on the wrong trip, an optional bin whose
detour costs more than its prize. :func:`refine_routes` makes such moves until none pays:

- **relocate** a bin to the cheapest place on any trip of any truck (a new trip, or an idle
  truck, included); an optional bin may also be dropped, and a bin left out inserted, where its
  prize outweighs the detour;
- **move a stretch** of two or three consecutive bins of a trip, in its order, to the
  cheapest place on any other trip or elsewhere on its own (or-opt);
- **merge** two consecutive trips of a truck whose loads fit one truck (one unload less);
- **2-opt** within a trip (a stretch of stops reversed; the travel times are asymmetric, so
  the reversed stretch is costed whole).

Every move keeps the plan valid (capacity between unloads, the shift) and lowers the learned
planner's objective, metres driven plus the prizes of bins left out, so the result is never
worse than the plan given and the same plan in gives the same plan out. A compiled kernel
(numba) over the day's matrices: a few milliseconds at 100 bins.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["load", "refine_routes"]

DEPOT, DISPOSAL, FIRST_BIN = 0, 1, 2
_GAIN_M = 1e-3
"""A move must save at least this many metres: float noise never loops."""


def refine_routes(
    routes: list[np.ndarray],
    *,
    distance_m: np.ndarray,
    duration_s: np.ndarray,
    load_kg: np.ndarray,
    service_s: np.ndarray,
    prize_m: np.ndarray,
    droppable: np.ndarray,
    n_trucks: int,
    capacity_kg: float,
    shift_s: float,
    unload_s: float,
    max_rounds: int = 50,
) -> tuple[list[np.ndarray], int, float]:
    """Routes improved by relocate, or-opt, merge and 2-opt moves until none pays (see the
    module).

    Parameters
    ----------
    routes
        Valid routes as :class:`agents.waste.planning.Plan` holds them: locations after the
        depot (bins from 2, 1 for each unload), each non-empty route ending with an unload.
    distance_m, duration_s
        ``(n_loc, n_loc)`` matrices (depot 0, disposal site 1, bins from 2).
    load_kg, service_s
        Per bin: the load it adds (as capped for the capacity check) and its service time.
    prize_m
        Per bin: what leaving it out costs in metres (an optional bin's prize; a large penalty
        for a required one).
    droppable
        Per bin: whether it may be left out (optional bins).
    n_trucks, capacity_kg, shift_s, unload_s
        The day's fleet and the limits every route keeps.
    max_rounds
        Passes over every move at most.

    Returns
    -------
    routes : list of numpy.ndarray
        The refined routes (unused trucks left out).
    moves : int
        The moves made.
    objective_m : float
        The refined routes' metres driven plus ``prize_m`` of every bin they leave out.
    """
    n_bins = len(load_kg)
    width = 2 * n_bins + 2
    trucks = max(int(n_trucks), len(routes))
    stops = np.zeros((trucks, width), dtype=np.int64)
    lengths = np.zeros(trucks, dtype=np.int64)
    for r, route in enumerate(routes):
        stops[r, : len(route)] = route
        lengths[r] = len(route)
    moves, objective = _refine(
        stops, lengths, np.asarray(distance_m, np.float64), np.asarray(duration_s, np.float64),
        np.asarray(load_kg, np.float64), np.asarray(service_s, np.float64),
        np.asarray(prize_m, np.float64), np.asarray(droppable, np.bool_),
        float(capacity_kg), float(shift_s), float(unload_s), int(max_rounds),
    )  # fmt: skip
    refined = [stops[r, : lengths[r]].copy() for r in range(trucks) if lengths[r]]
    return refined, int(moves), float(objective)


def load() -> None:
    """Load the compiled kernel (from numba's cache; compiled on first use after install) by
    refining a one-bin day, so that the first day planned does not pay for it."""
    matrix = np.ones((3, 3)) - np.eye(3)
    one = np.ones(1)
    refine_routes(
        [np.array([DISPOSAL + 1, DISPOSAL])], distance_m=matrix, duration_s=matrix, load_kg=one,
        service_s=one, prize_m=one, droppable=np.zeros(1, dtype=np.bool_), n_trucks=1,
        capacity_kg=2.0, shift_s=100.0, unload_s=1.0,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def _leg(matrix, a, b):
    """A leg's cost; none between a location and itself (as the plan's checks count it)."""
    return 0.0 if a == b else matrix[a, b]


@njit(cache=True, nogil=True)
def _detour(matrix, before, stop, after):
    """What passing ``stop`` between ``before`` and ``after`` adds to the direct leg."""
    return _leg(matrix, before, stop) + _leg(matrix, stop, after) - _leg(matrix, before, after)


@njit(cache=True, nogil=True)
def _spliced(matrix, before, first, last, after):
    """What a stretch from ``first`` to ``last`` between ``before`` and ``after`` adds to the
    direct leg, its own legs aside."""
    return _leg(matrix, before, first) + _leg(matrix, last, after) - _leg(matrix, before, after)


@njit(cache=True, nogil=True)
def _route_figures(stops, length, distance, duration, service, unload_s):
    """Distance and duration of one route, depot legs included."""
    metres = seconds = 0.0
    previous = DEPOT
    for k in range(length):
        stop = stops[k]
        metres += _leg(distance, previous, stop)
        seconds += _leg(duration, previous, stop)
        seconds += service[stop - FIRST_BIN] if stop >= FIRST_BIN else unload_s
        previous = stop
    if length:
        metres += _leg(distance, previous, DEPOT)
        seconds += _leg(duration, previous, DEPOT)
    return metres, seconds


@njit(cache=True, nogil=True)
def _index(stops, lengths, load, service, distance, duration, unload_s, route_of, place_of,
           trip_load, trip_of, route_s):  # fmt: skip
    """Where each bin is, each position's trip and its load, and each route's duration."""
    route_of[:] = -1
    for r in range(stops.shape[0]):
        length = lengths[r]
        trip, start, carried = 0, 0, 0.0
        for k in range(length):
            stop = stops[r, k]
            if stop >= FIRST_BIN:
                route_of[stop - FIRST_BIN] = r
                place_of[stop - FIRST_BIN] = k
                carried += load[stop - FIRST_BIN]
            else:
                for j in range(start, k + 1):
                    trip_load[r, j] = carried
                    trip_of[r, j] = trip
                trip, start, carried = trip + 1, k + 1, 0.0
        route_s[r] = _route_figures(stops[r], length, distance, duration, service, unload_s)[1]


@njit(cache=True, nogil=True)
def _remove(stops, lengths, r, k, count):
    length = lengths[r]
    stops[r, k : length - count] = stops[r, k + count : length].copy()
    lengths[r] = length - count


@njit(cache=True, nogil=True)
def _insert(stops, lengths, r, k, values):
    length, count = lengths[r], len(values)
    stops[r, k + count : length + count] = stops[r, k:length].copy()
    stops[r, k : k + count] = values
    lengths[r] = length + count


@njit(cache=True, nogil=True)
def _relocate(stops, lengths, b, distance, duration, load, service, prize, droppable, capacity,
              shift_s, unload_s, route_of, place_of, trip_load, trip_of, route_s):  # fmt: skip
    """The best move of bin ``b`` (drop, insert, or move elsewhere); whether one was made."""
    loc = b + FIRST_BIN
    r = route_of[b]
    removed = 1  # stops removed with b: 2 when its trip is b alone (its unload goes too)
    if r >= 0:
        k = place_of[b]
        before = stops[r, k - 1] if k > 0 else DEPOT
        after = stops[r, k + 1]  # a bin or the trip's unload: routes end with one
        if after == DISPOSAL and before <= DISPOSAL:
            removed = 2
            after2 = stops[r, k + 2] if k + 2 < lengths[r] else DEPOT
            # its trip goes whole: before → b → unload → after2 becomes before → after2
            saved_m = _detour(distance, before, loc, DISPOSAL) + _detour(
                distance, before, DISPOSAL, after2
            )
            saved_s = (
                _detour(duration, before, loc, DISPOSAL)
                + _detour(duration, before, DISPOSAL, after2)
                + service[b]
                + unload_s
            )
        else:
            saved_m = _detour(distance, before, loc, after)
            saved_s = _detour(duration, before, loc, after) + service[b]
        best_gain = saved_m - prize[b] if droppable[b] else -np.inf  # dropping it
    else:
        k = -1
        saved_m = saved_s = 0.0
        best_gain = -np.inf
    best_route, best_place, new_trip = -1, -1, False
    credit = saved_m if r >= 0 else prize[b]
    for s in range(stops.shape[0]):
        length = lengths[s]
        spare_s = shift_s - route_s[s] + (saved_s if s == r else 0.0)
        if length == 0:  # an idle truck: a route of b alone
            cost_m = distance[DEPOT, loc] + distance[loc, DISPOSAL] + distance[DISPOSAL, DEPOT]
            cost_s = (duration[DEPOT, loc] + duration[loc, DISPOSAL] + duration[DISPOSAL, DEPOT]
                      + service[b] + unload_s)  # fmt: skip
            if load[b] <= capacity and cost_s <= spare_s and credit - cost_m > best_gain:
                best_gain, best_route, best_place, new_trip = credit - cost_m, s, 0, True
            continue
        # a trip of its own after the route's last unload
        if not (s == r and removed == 2 and k + 2 == length):
            cost_m = distance[DISPOSAL, loc] + distance[loc, DISPOSAL]
            cost_s = duration[DISPOSAL, loc] + duration[loc, DISPOSAL] + service[b] + unload_s
            if load[b] <= capacity and cost_s <= spare_s and credit - cost_m > best_gain:
                best_gain, best_route, best_place, new_trip = credit - cost_m, s, length, True
        for j in range(length):
            if s == r and (j == k or j == k + 1 or (removed == 2 and j == k + 2)):
                continue  # where it is, or next to stops that go with it
            before = stops[s, j - 1] if j > 0 else DEPOT
            after = stops[s, j]
            cost_m = _detour(distance, before, loc, after)
            if credit - cost_m <= best_gain:
                continue
            same_trip = s == r and trip_of[s, j] == trip_of[r, k]
            if not same_trip and trip_load[s, j] + load[b] > capacity:
                continue
            cost_s = _detour(duration, before, loc, after) + service[b]
            if cost_s > spare_s:
                continue
            best_gain, best_route, best_place, new_trip = credit - cost_m, s, j, False
    if best_gain <= _GAIN_M:
        return False
    if r >= 0:
        _remove(stops, lengths, r, k, removed)
        if best_route == r and best_place > k:
            best_place -= removed
    if best_route >= 0:
        if new_trip:
            _insert(stops, lengths, best_route, best_place, np.array([loc, DISPOSAL]))
        else:
            _insert(stops, lengths, best_route, best_place, np.array([loc]))
    return True


@njit(cache=True, nogil=True)
def _move_stretch(stops, lengths, r, k, count, distance, duration, load, service, capacity,
                  shift_s, trip_load, trip_of, route_s):  # fmt: skip
    """Move the ``count`` bins from position ``k`` of route ``r`` (part of one trip) to their
    cheapest place elsewhere, in the same order, if that pays; whether they moved."""
    length = lengths[r]
    if k + count >= length:
        return False
    carried = inside_s = 0.0
    for n in range(count):
        stop = stops[r, k + n]
        if stop < FIRST_BIN:
            return False
        carried += load[stop - FIRST_BIN]
        inside_s += service[stop - FIRST_BIN]
        if n:
            inside_s += _leg(duration, stops[r, k + n - 1], stop)
    first, last = stops[r, k], stops[r, k + count - 1]
    before = stops[r, k - 1] if k > 0 else DEPOT
    after = stops[r, k + count]
    if before <= DISPOSAL and after == DISPOSAL:
        return False  # the whole trip: merging moves it
    saved_m = _spliced(distance, before, first, last, after)
    saved_s = _spliced(duration, before, first, last, after) + inside_s
    best_gain, best_route, best_place = _GAIN_M, -1, -1
    for s in range(stops.shape[0]):
        spare_s = shift_s - route_s[s] + (saved_s if s == r else 0.0)
        for j in range(lengths[s]):
            if s == r and k <= j <= k + count:
                continue  # where the stretch is, or inside it
            at, to = (stops[s, j - 1] if j > 0 else DEPOT), stops[s, j]
            cost_m = _spliced(distance, at, first, last, to)
            if saved_m - cost_m <= best_gain:
                continue
            other_trip = s != r or trip_of[s, j] != trip_of[r, k]
            if other_trip and trip_load[s, j] + carried > capacity:
                continue
            cost_s = _spliced(duration, at, first, last, to) + inside_s
            if cost_s > spare_s:
                continue
            best_gain, best_route, best_place = saved_m - cost_m, s, j
    if best_route < 0:
        return False
    stretch = stops[r, k : k + count].copy()
    _remove(stops, lengths, r, k, count)
    if best_route == r and best_place > k:
        best_place -= count
    _insert(stops, lengths, best_route, best_place, stretch)
    return True


@njit(cache=True, nogil=True)
def _merge(stops, lengths, r, distance, duration, capacity, shift_s, unload_s, trip_load, route_s):
    """One unload fewer on route ``r`` where two consecutive trips fit one load."""
    for k in range(1, lengths[r] - 1):
        if stops[r, k] != DISPOSAL or trip_load[r, k] + trip_load[r, k + 1] > capacity:
            continue
        before, after = stops[r, k - 1], stops[r, k + 1]
        saved_m = _detour(distance, before, DISPOSAL, after)
        saved_s = _detour(duration, before, DISPOSAL, after) + unload_s
        if saved_m > _GAIN_M and route_s[r] - saved_s <= shift_s:
            _remove(stops, lengths, r, k, 1)
            return True
    return False


@njit(cache=True, nogil=True)
def _stretch(stops, i, j, matrix, before, after, reverse):
    """Cost from ``before`` through stops ``i..j`` (reversed or not) to ``after``."""
    total = 0.0
    previous = before
    for n in range(j - i + 1):
        stop = stops[j - n] if reverse else stops[i + n]
        total += _leg(matrix, previous, stop)
        previous = stop
    return total + _leg(matrix, previous, after)


@njit(cache=True, nogil=True)
def _two_opt(stops, lengths, r, distance, duration, shift_s, route_s):
    """The best reversal of a stretch within one trip of route ``r``; whether one was made."""
    length = lengths[r]
    best, best_i, best_j, start = _GAIN_M, -1, -1, 0
    for end in range(length):
        if stops[r, end] != DISPOSAL:
            continue
        for i in range(start, end - 1):
            before = stops[r, i - 1] if i > 0 else DEPOT
            for j in range(i + 1, end):
                after = stops[r, j + 1]
                now = _stretch(stops[r], i, j, distance, before, after, False)
                saved = now - _stretch(stops[r], i, j, distance, before, after, True)
                if saved <= best:
                    continue
                now_s = _stretch(stops[r], i, j, duration, before, after, False)
                later_s = _stretch(stops[r], i, j, duration, before, after, True)
                if route_s[r] - now_s + later_s <= shift_s:
                    best, best_i, best_j = saved, i, j
        start = end + 1
    if best_i < 0:
        return False
    stops[r, best_i : best_j + 1] = stops[r, best_i : best_j + 1][::-1].copy()
    return True


@njit(cache=True, nogil=True)
def _refine(stops, lengths, distance, duration, load, service, prize, droppable, capacity,
            shift_s, unload_s, max_rounds):  # fmt: skip
    n_bins = len(load)
    trucks, width = stops.shape
    route_of = np.full(n_bins, -1, dtype=np.int64)
    place_of = np.zeros(n_bins, dtype=np.int64)
    trip_load = np.zeros((trucks, width), dtype=np.float64)
    trip_of = np.zeros((trucks, width), dtype=np.int64)
    route_s = np.zeros(trucks, dtype=np.float64)
    # the index stays current: built once, rebuilt after every move
    _index(stops, lengths, load, service, distance, duration, unload_s, route_of, place_of,
           trip_load, trip_of, route_s)  # fmt: skip
    moves = 0
    for _ in range(max_rounds):
        moved = False
        for b in range(n_bins):
            if _relocate(stops, lengths, b, distance, duration, load, service, prize, droppable,
                         capacity, shift_s, unload_s, route_of, place_of, trip_load, trip_of,
                         route_s):  # fmt: skip
                moves += 1
                moved = True
                _index(stops, lengths, load, service, distance, duration, unload_s, route_of,
                       place_of, trip_load, trip_of, route_s)  # fmt: skip
        for r in range(trucks):
            for count in (2, 3):
                k = 0
                while k < lengths[r]:
                    moved_stretch = _move_stretch(
                        stops, lengths, r, k, count, distance, duration, load, service,
                        capacity, shift_s, trip_load, trip_of, route_s,
                    )  # fmt: skip
                    if moved_stretch:
                        moves += 1
                        moved = True
                        _index(stops, lengths, load, service, distance, duration, unload_s,
                               route_of, place_of, trip_load, trip_of, route_s)  # fmt: skip
                    else:
                        k += 1
        for r in range(trucks):
            while _merge(stops, lengths, r, distance, duration, capacity, shift_s, unload_s,
                         trip_load, route_s):  # fmt: skip
                moves += 1
                moved = True
                _index(stops, lengths, load, service, distance, duration, unload_s, route_of,
                       place_of, trip_load, trip_of, route_s)  # fmt: skip
            while _two_opt(stops, lengths, r, distance, duration, shift_s, route_s):
                moves += 1
                moved = True
                _index(stops, lengths, load, service, distance, duration, unload_s, route_of,
                       place_of, trip_load, trip_of, route_s)  # fmt: skip
        if not moved:
            break
    objective = 0.0
    for r in range(trucks):
        objective += _route_figures(stops[r], lengths[r], distance, duration, service, unload_s)[0]
    for b in range(n_bins):
        if route_of[b] < 0:
            objective += prize[b]
    return moves, objective

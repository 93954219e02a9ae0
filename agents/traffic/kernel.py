"""Compiled per-step kernel of the link engine: moves vehicles between links and out of origins.

One step of :class:`~agents.traffic.engine.Engine` touches a few thousand vehicles through a
few dozen small operations each; as numpy calls, the call overhead cost as much as the work
(BENCHMARKS.md, "where the time goes"). Here the same rules run as one compiled loop over the
network's nodes, vehicle by vehicle, in the order the rules define. The engine owns all state
as numpy arrays and passes them in named tuples; a step allocates two scratch arrays of a
node's in-degree.

Node model
----------
At each node, the leaders of the incoming links that have reached their link's end (and whose
link may still release a vehicle this step) compete: one is drawn at random with probability
proportional to its link's capacity, moves if its next link receives it, and otherwise blocks
its link for this pass (first in, first out). Capacity-proportional priority is the standard
merge rule of first-order node models (Tampère et al. 2011, "A generic class of first order
node models for dynamic macroscopic simulation of traffic flows", Transp. Res. B 45) and what
UXsim draws with equal link priorities. Nodes are swept repeatedly within a step, so a vehicle
may cross several links shorter than a step's travel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from agents.traffic import layout
from agents.traffic.layout import (
    ARRIVED,
    EPS,
    FINISH,
    I_CHOICE_ROW,
    I_DESTINATION,
    I_LINK,
    I_NEXT,
    I_ROUTE_END,
    I_ROUTE_PTR,
    RUNNING,
    T_CHOICE,
    T_DISTANCE,
    T_ENTRY,
    T_READY,
    Cars,
    LinkState,
    Net,
    Origins,
    Tables,
)


@njit(inline="always")
def _uniform(state):
    """Next number in [0, 1) of a splitmix64 stream, and the stream's new state."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0), state


@njit(cache=True, nogil=True)
def move_vehicles(
    net: Net,
    links: LinkState,
    cars: Cars,
    tables: Tables,
    has_tables: bool,
    origins: Origins,
    rng: np.ndarray,
    t: float,
    dt: float,
    stuck_s: float,
    reconsider_s: float,
    max_sweeps: int,
    out_per_slice: np.ndarray,
    in_per_slice: np.ndarray,
    opens: np.ndarray,
) -> tuple[int, int]:
    """One step, covering ``(t − dt, t]``, in ``len(opens)`` equal slices, earliest first: in each,
    the budgets are refilled, then vehicles move between links, then enter from origins.

    Returns how many vehicles entered the network and how many left it (arrived).

    Budgets (``out_budget``, ``in_budget``) carry fractions of a vehicle from slice to slice
    (so 0.8 vehicles a slice really passes 4 in 5), but an idle link saves up at most one
    vehicle more than a slice's (``out_per_slice``, ``in_per_slice``); ``opens[slice, link]``
    is when a link's signal lets vehicles on through in that slice (``-inf`` unsignalized or
    green throughout, its green's onset, ``inf`` red at the slice's end: no outflow budget).
    ``stuck_s`` is ``inf`` to make storage a hard limit.
    ``rng[0]`` is the state of the engine's random stream (splitmix64), advanced here, so a run
    is reproducible whatever else the process simulates (the engine seeds it from its ``rng``
    at the first step).
    """
    # every array is bound to a local once: reading a named tuple's field inside the loops
    # costs a reference count each time
    (to_node, from_node, length_m, traverse_s, wave_s, closed, merge_weight, in_indptr,
     in_links, out_indptr, slots, slot_base, storage_slots, exit_base) = net  # fmt: skip
    (ring, head, occupancy, entered, exited, out_budget, in_budget, exit_times, last_exit,
     last_flowed, leader_ready, leader_ends, road_budget, ring_ready, exit_cursor, entry_cursor,
     current_exits, current_time, epoch_exits, epoch_time) = links  # fmt: skip
    times, ids, route_buffer, state, arrive, start, depart = cars
    next_edge, cost_to_go, link_cost, cumulative = tables
    n_tables = len(cumulative)
    stream = rng[0]
    n_nodes = len(in_indptr) - 1
    max_in = 0
    for node in range(n_nodes):
        max_in = max(max_in, in_indptr[node + 1] - in_indptr[node])
    started = arrived = 0
    candidate = np.empty(max_in, dtype=np.int64)
    weight = np.empty(max_in)

    step_start = t - dt
    # a long step is served in slices of at most SLICE_S, earliest first: within a pass, nodes
    # are served in index order, not in the order of the vehicles' times, and over a long step
    # a vehicle due late at one node could take the room that one due early at another needed
    # (clusters of metre-long links near gridlock lost capacity at 5 s steps; BENCHMARKS.md,
    # "Traffic fidelity"); budgets stay the step's, spent by the earliest slices first
    n_slices = len(opens)
    for piece in range(n_slices):
        slice_start = step_start + piece * (dt / n_slices)
        now = t if piece == n_slices - 1 else slice_start + dt / n_slices
        for link in range(len(out_budget)):
            if opens[piece, link] == np.inf:
                out_budget[link] = 0.0
            else:
                out_budget[link] = min(
                    out_budget[link] + out_per_slice[link], out_per_slice[link] + 1.0
                )
            in_budget[link] = min(in_budget[link] + in_per_slice[link], in_per_slice[link] + 1.0)
            road_budget[link] = min(
                road_budget[link] + in_per_slice[link], in_per_slice[link] + 1.0
            )
        for _ in range(max_sweeps):
            again = False  # whether a vehicle moved onto a link it may leave within this step
            for node in range(n_nodes):
                first, last = in_indptr[node], in_indptr[node + 1]
                # the incoming links whose leader has reached the end and which may release it
                n_cand = 0
                total = 0.0
                for j in range(first, last):
                    link = in_links[j]
                    if (
                        leader_ready[link] <= now + EPS
                        and road_budget[link] >= 1.0
                        and (out_budget[link] >= 1.0 or leader_ends[link])
                    ):
                        candidate[n_cand] = link
                        weight[n_cand] = merge_weight[link]
                        total += merge_weight[link]
                        n_cand += 1
                while n_cand > 0:
                    draw, stream = _uniform(stream)
                    draw *= total
                    pick = n_cand - 1
                    for c in range(n_cand):
                        draw -= weight[c]
                        if draw < 0.0:
                            pick = c
                            break
                    link = candidate[pick]
                    vehicle = ring[slot_base[link] + head[link]]

                    # where the leader goes next: a link, FINISH, or -1 (no way on)
                    if has_tables and ids[vehicle, I_CHOICE_ROW] >= 0:
                        if to_node[link] == ids[vehicle, I_DESTINATION]:
                            target = FINISH
                        else:
                            # a driver picks on reaching the link's end and keeps the choice while
                            # held, drawing again every `reconsider_s` (a blocked turn makes drivers
                            # look for another way)
                            if (
                                ids[vehicle, I_NEXT] < 0
                                or now - times[vehicle, T_CHOICE] >= reconsider_s - EPS
                            ):
                                u, stream = _uniform(stream)
                                k = 0
                                while k < n_tables - 1 and u >= cumulative[k]:
                                    k += 1
                                row = ids[vehicle, I_CHOICE_ROW]
                                chosen = np.int64(next_edge[k, row, node])
                                came_from = from_node[link]
                                # no U-turn where another way on exists: the best other way
                                # then. A dead end's ways out all turn back (two where a loop
                                # closes it): the U-turn stands, or its drivers wait forever
                                if chosen >= 0 and to_node[chosen] == came_from:
                                    other_way, best_cost = -1, np.inf
                                    for other in range(out_indptr[node], out_indptr[node + 1]):
                                        if to_node[other] == came_from:
                                            continue
                                        cost = (
                                            link_cost[k, other] + cost_to_go[k, row, to_node[other]]
                                        )
                                        if cost < best_cost:
                                            other_way, best_cost = other, cost
                                    if other_way >= 0:
                                        chosen = other_way
                                ids[vehicle, I_NEXT] = chosen
                                times[vehicle, T_CHOICE] = now
                            target = ids[vehicle, I_NEXT]
                    else:
                        pointer = ids[vehicle, I_ROUTE_PTR]
                        target = (
                            FINISH
                            if pointer + 1 >= ids[vehicle, I_ROUTE_END]
                            else route_buffer[pointer + 1]
                        )

                    wave = -np.inf
                    flowed = True  # whether it leaves with room ahead (not by the stuck rule)
                    admitted = target != -1  # no way on (closed roads): wait where it is
                    if admitted and target != FINISH:
                        wave = _wave_time(entered, exited, exit_times, entry_cursor, storage_slots,
                                          exit_base, wave_s, target)  # fmt: skip
                        # room: the backward wave has come, or (deadlock release, MATSim's stuck
                        # time) the leader has been held this long and the ring has a slot; the
                        # link's inflow capacity holds either way. Held since it reached the end
                        # or its link last let a vehicle go with room ahead, whichever is later:
                        # a queue that moves is no deadlock, however long its vehicles have
                        # queued, while a deadlock's release frees those behind at once
                        flowed = wave <= now + EPS
                        held_since = max(times[vehicle, T_READY], last_flowed[link])
                        room = flowed or (
                            now - held_since >= stuck_s and occupancy[target] < slots[target]
                        )
                        admitted = not closed[target] and in_budget[target] >= 1.0 and room
                    if admitted:
                        # a slice covers (slice_start, now]: a vehicle free to go inside it
                        # leaves at its ready time (or when the wave lets it into its next link)
                        when = max(max(times[vehicle, T_READY], slice_start), min(wave, now))
                        when = max(when, last_exit[link])  # first in, first out
                        if target != FINISH:  # through its signal's green (parkers need none)
                            when = max(when, opens[piece, link])
                        storage = storage_slots[link]
                        exit_times[exit_base[link] + exit_cursor[link]] = when
                        exit_cursor[link] = _wrap(exit_cursor[link] + 1, storage)
                        last_exit[link] = when
                        if flowed:
                            last_flowed[link] = when
                        head[link] = _wrap(head[link] + 1, slots[link])
                        occupancy[link] -= 1
                        exited[link] += 1
                        road_budget[link] -= 1.0
                        if target != FINISH:
                            out_budget[link] -= 1.0
                        spent = when - times[vehicle, T_ENTRY]
                        current_exits[link] += 1.0
                        current_time[link] += spent
                        epoch_exits[link] += 1.0
                        epoch_time[link] += spent
                        times[vehicle, T_DISTANCE] += length_m[link]
                        if target == FINISH:
                            state[vehicle] = ARRIVED
                            arrive[vehicle] = when
                            arrived += 1
                            ids[vehicle, I_LINK] = -1
                        else:
                            ids[vehicle, I_ROUTE_PTR] += 1
                            _place(ring, ring_ready, head, occupancy, entered, entry_cursor,
                                   storage_slots, in_budget, leader_ready, leader_ends, slots,
                                   slot_base, traverse_s, times, ids, to_node, has_tables,
                                   vehicle, target, when)  # fmt: skip
                            again = again or times[vehicle, T_READY] <= now + EPS
                        if occupancy[link] > 0:
                            leader_ready[link] = ring_ready[slot_base[link] + head[link]]
                            leader = ring[slot_base[link] + head[link]]
                            leader_ends[link] = _finishes(ids, to_node, has_tables, leader, link)
                            still = (
                                leader_ready[link] <= now + EPS
                                and road_budget[link] >= 1.0
                                and (out_budget[link] >= 1.0 or leader_ends[link])
                            )
                        else:
                            leader_ready[link] = np.inf
                            still = False
                    else:  # blocked, and blocking those behind it (first in, first out)
                        still = False
                    if not still:  # drop the link from this node's candidates
                        total -= weight[pick]
                        n_cand -= 1
                        candidate[pick] = candidate[n_cand]
                        weight[pick] = weight[n_cand]
                        if n_cand == 0 or total <= 0.0:
                            total = 0.0
                            for c in range(n_cand):
                                total += weight[c]
            if not again:
                break

        # vehicles whose departure time has come enter their first link in departure order
        order, origin_start, taken, count = (
            origins.order,
            origins.start,
            origins.taken,
            origins.count,
        )
        for link in range(len(count)):
            while taken[link] < count[link]:
                if closed[link] or in_budget[link] < 1.0:
                    break
                vehicle = order[origin_start[link] + taken[link]]
                if depart[vehicle] > now + EPS:
                    break
                wave = _wave_time(entered, exited, exit_times, entry_cursor, storage_slots,
                                  exit_base, wave_s, link)  # fmt: skip
                if wave > now + EPS:
                    break
                when = max(max(depart[vehicle], slice_start), wave)
                state[vehicle] = RUNNING
                start[vehicle] = when
                _place(ring, ring_ready, head, occupancy, entered, entry_cursor, storage_slots,
                       in_budget, leader_ready, leader_ends, slots, slot_base, traverse_s, times,
                       ids, to_node, has_tables, vehicle, link, when)  # fmt: skip
                taken[link] += 1
                started += 1
    rng[0] = stream
    return started, arrived


@njit(cache=True)
def group_by_link(link: np.ndarray, n_links: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable counting sort: positions of ``link``'s entries grouped by link, and the counts.

    O(n) where a comparison sort of a million vehicles costs a tenth of a second each time the
    origin queues are rebuilt.
    """
    counts = np.zeros(n_links, dtype=np.int64)
    for value in link:
        counts[value] += 1
    cursor = np.zeros(n_links, dtype=np.int64)
    total = 0
    for value in range(n_links):
        cursor[value] = total
        total += counts[value]
    order = np.empty(len(link), dtype=np.int64)
    for position in range(len(link)):
        value = link[position]
        order[cursor[value]] = position
        cursor[value] += 1
    return order, counts


@njit(cache=True)
def queued(
    slot_base: np.ndarray,
    slots: np.ndarray,
    head: np.ndarray,
    occupancy: np.ndarray,
    ring_ready: np.ndarray,
    t: float,
) -> np.ndarray:
    """Vehicles per link whose free-flow time on it is over at ``t`` (queued at its end)."""
    counts = np.zeros(len(head), dtype=np.int64)
    for link in range(len(head)):
        for k in range(occupancy[link]):
            if ring_ready[slot_base[link] + _wrap(head[link] + k, slots[link])] <= t + EPS:
                counts[link] += 1
    return counts


@njit(inline="always")
def _finishes(ids, to_node, has_tables, vehicle, link):
    """Whether ``vehicle``, the leader of ``link``, ends its trip at the link's end.

    A trip ends on its last street, short of the junction: it leaves without the junction's
    capacity (as UXsim ends trips), which would otherwise hold through traffic behind the
    parkers and let every arrival at a busy node queue for a turn it never makes. It still
    takes the road's discharge (every vehicle leaving a link's end uses ``road_budget``, the
    road's saturation flow), as UXsim's parkers move up at the road's headway.
    """
    if has_tables and ids[vehicle, I_CHOICE_ROW] >= 0:
        return to_node[link] == ids[vehicle, I_DESTINATION]
    return ids[vehicle, I_ROUTE_PTR] + 1 >= ids[vehicle, I_ROUTE_END]


@njit(inline="always")
def _wrap(index, size):
    """``index mod size`` for ``0 <= index < 2 size`` (an integer division costs more)."""
    return index - size if index >= size else index


@njit(inline="always")
def _wave_time(entered, exited, exit_times, entry_cursor, storage_slots, exit_base, wave_s, target):
    """Earliest time the backward wave lets the next vehicle into ``target`` (LTM receiving):
    the k-th entrant may enter ``L/w`` after the (k − storage)-th leaver left."""
    storage = storage_slots[target]
    leaver = entered[target] - storage
    if leaver < 0:
        return -np.inf
    if leaver < exited[target]:
        # leaver mod storage = entered mod storage
        return exit_times[exit_base[target] + entry_cursor[target]] + wave_s[target]
    return np.inf


@njit(inline="always")
def _place(
    ring,
    ring_ready,
    head,
    occupancy,
    entered,
    entry_cursor,
    storage_slots,
    in_budget,
    leader_ready,
    leader_ends,
    slots,
    slot_base,
    traverse_s,
    times,
    ids,
    to_node,
    has_tables,
    vehicle,
    target,
    when,
):
    """Append a vehicle, entering at ``when``, at the tail of ``target``."""
    slot = slot_base[target] + _wrap(head[target] + occupancy[target], slots[target])
    ring[slot] = vehicle
    ring_ready[slot] = when + traverse_s[target]
    entry_cursor[target] = _wrap(entry_cursor[target] + 1, storage_slots[target])
    occupancy[target] += 1
    entered[target] += 1
    in_budget[target] -= 1.0
    ids[vehicle, I_LINK] = target
    ids[vehicle, I_NEXT] = -1
    times[vehicle, T_ENTRY] = when
    times[vehicle, T_READY] = when + traverse_s[target]
    if occupancy[target] == 1:
        leader_ready[target] = times[vehicle, T_READY]
        leader_ends[target] = _finishes(ids, to_node, has_tables, vehicle, target)


def load() -> None:
    """Load the JIT-compiled kernel (from numba's cache; compiled on first use after install,
    which ``make`` does once: ``python -m agents.traffic.compiled``).

    Numba's first call in a process costs most of a second (its compiler's set-up even when
    the machine code comes from the cache); callers pay it once, before a simulation's first
    step. The calls move nothing: empty network, no vehicles.
    """
    for name, arguments in layout.sample_arguments().items():
        globals()[name](*arguments)

"""Array-backed mesoscopic traffic engine: the Link Transmission Model, one vehicle at a time.

Link model
----------
Each link follows a triangular fundamental diagram (free-flow speed ``u``, capacity ``q``, jam
density ``κ`` = lanes / 7.5 m, backward wave speed ``w = q / (κ − q/u)``), solved with the Link
Transmission Model (Yperman 2007), which is exact for that diagram:

- *sending*: a vehicle may leave a link once ``L/u`` has passed since it entered, first in first
  out, at most ``q·dt`` vehicles a step (none while the link's signal is red);
- *receiving*: a link accepts vehicles while ``N_out(t − L/w) + storage − N_in(t) ≥ 1`` (its
  storage less the vehicles inside, where space freed at the downstream end reaches the upstream
  end after ``L/w``: that delay is the backward wave) and at most ``q·dt`` a step. In vehicle
  terms: the k-th vehicle to enter may do so ``L/w`` after the (k − storage)-th left, in
  continuous time, so short links keep their capacity however long the step.

A vehicle blocked by a full downstream link blocks those behind it (spillback). Vehicles in
congestion thus travel at the speed the diagram gives for their density, and queues discharge at
capacity. Competing upstream links share a downstream link first come, first served.

Everything per step is numpy over the links and the vehicles that can move, never a Python loop
over vehicles. Vehicles are conserved: each is planned, waiting at its origin, running, or
arrived, and only moves between those states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ARRIVED", "PLANNED", "RUNNING", "Engine", "LinkParams", "Signals"]

PLANNED, RUNNING, ARRIVED = 0, 1, 2
"""Vehicle states. A planned vehicle whose departure time has passed waits at its origin."""

MAX_HOPS_PER_STEP = 8
"""Links a vehicle may cross within one step (links shorter than a step's travel)."""

MIN_SPEED_FRACTION = 0.01
"""Floor of the speed used to price a jammed link for route choice, as a share of free speed."""


@dataclass(frozen=True)
class LinkParams:
    """Physical parameters of every link, one array entry per network edge.

    ``capacity_vps`` of zero closes a link (nothing enters or leaves it). ``from_node`` and
    ``to_node`` are the nodes a link starts and ends at; links must be sorted by ``from_node``
    (as :class:`~twin.network.RoadNetwork` edges are).
    """

    length_m: np.ndarray
    free_speed_mps: np.ndarray
    capacity_vps: np.ndarray
    storage_veh: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray

    @property
    def backward_wave_mps(self) -> np.ndarray:
        """``w`` of the triangular diagram, from capacity, free speed and jam density."""
        jam_density = self.storage_veh / self.length_m
        critical_density = self.capacity_vps / self.free_speed_mps
        # capacities beyond the diagram's reach (κ ≤ q/u) would give no congested branch
        gap = np.maximum(jam_density - critical_density, 0.05 * jam_density)
        return np.maximum(self.capacity_vps, 1e-6) / gap


@dataclass(frozen=True)
class Signals:
    """Fixed-time signal timing per link: green while ``(t − offset) mod cycle ∈ [start, end)``.

    A link with ``cycle_s == 0`` has no signal (always green).
    """

    cycle_s: np.ndarray
    offset_s: np.ndarray
    green_start_s: np.ndarray
    green_end_s: np.ndarray

    @classmethod
    def none(cls, n_links: int) -> Signals:
        zeros = np.zeros(n_links)
        return cls(zeros, zeros.copy(), zeros.copy(), zeros.copy())

    def green(self, t: float) -> np.ndarray:
        """Which links may discharge at time ``t``."""
        cycle = self.cycle_s
        phase = np.mod(t - self.offset_s, np.where(cycle > 0, cycle, 1.0))
        return (cycle <= 0) | ((phase >= self.green_start_s) & (phase < self.green_end_s))


def _group_ranks(keys: np.ndarray) -> np.ndarray:
    """Rank of each item within its run of equal, already grouped, keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def _prefix_true(flags: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """For items grouped by ``keys``: True where the item and all before it in its group are."""
    n = len(flags)
    if n == 0:
        return flags
    bad = np.cumsum(~flags)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    before = bad[starts] - (~flags[starts])
    return (bad - np.repeat(before, np.diff(np.r_[starts, n]))) == 0


class Engine:
    """Moves vehicles along fixed routes through a network of links.

    Parameters
    ----------
    links
        Link parameters (one per network edge).
    dt
        Time step, seconds. Link travel times round up to whole steps.
    signals
        Signal timing per link; default none.
    record_interval_s
        Width of the intervals of the per-link time series (flow, density, speed).
    stuck_time_s
        Deadlock release, as MATSim's stuck time: a vehicle held at the end of a link this long
        enters its next link even if that link is full (overfilling it by a few vehicles at
        most). Without it, a ring of full links whose leaders wait on each other never clears.
        ``None`` makes storage a hard limit.
    reconsider_s
        An adaptive driver held at the end of a link draws its next link again after this long
        (a blocked turn makes drivers look for another way).
    """

    def __init__(
        self,
        links: LinkParams,
        *,
        dt: float = 1.0,
        signals: Signals | None = None,
        record_interval_s: float = 300.0,
        stuck_time_s: float | None = 300.0,
        reconsider_s: float = 5.0,
    ) -> None:
        if not dt > 0:
            raise ValueError(f"time step must be positive, got {dt}")
        self.links = links
        self.dt = float(dt)
        n = len(links.length_m)
        self.n_links = n
        self.signals = signals or Signals.none(n)
        self.capacity_per_step = links.capacity_vps * self.dt
        self.stuck_time_s = stuck_time_s
        self.reconsider_s = float(reconsider_s)
        storage_slots = np.maximum(np.floor(links.storage_veh), 1).astype(np.int64)
        # room for vehicles forced in by the stuck rule
        overfill = 0 if stuck_time_s is None else np.maximum(2, storage_slots // 10)
        self.slots = storage_slots + overfill
        self.slot_base = np.concatenate([[0], np.cumsum(self.slots)[:-1]]).astype(np.int64)
        self.ring = np.full(int(self.slots.sum()), -1, dtype=np.int64)
        self.head = np.zeros(n, dtype=np.int64)
        self.occupancy = np.zeros(n, dtype=np.int64)
        self.entered = np.zeros(n, dtype=np.int64)  # cumulative entries N_in
        self.exited = np.zeros(n, dtype=np.int64)  # cumulative exits N_out
        # links start rested: a full step's capacity plus the one vehicle an idle link saves up
        self.out_budget = self.capacity_per_step + 1.0
        self.in_budget = self.capacity_per_step + 1.0
        self.traverse_s = links.length_m / links.free_speed_mps
        self.wave_speed = links.backward_wave_mps
        # receiving, vehicle by vehicle: the k-th vehicle to enter a link of storage S may enter
        # once the (k - S)-th to leave it left L/w ago; exit times of the last S leavers are kept
        self.wave_s = links.length_m / self.wave_speed
        self.storage_slots = storage_slots
        self.exit_base = np.concatenate([[0], np.cumsum(storage_slots)[:-1]]).astype(np.int64)
        self.exit_times = np.full(int(storage_slots.sum()), -np.inf)
        self.last_exit = np.full(n, -np.inf)
        self.step_index = 0
        # vehicles
        self.depart = np.zeros(0)
        self.route_ptr = np.zeros(0, dtype=np.int64)
        self.route_end = np.zeros(0, dtype=np.int64)
        self.link = np.zeros(0, dtype=np.int64)
        self.ready = np.zeros(0)
        self.link_entry = np.zeros(0)
        self.start = np.zeros(0)
        self.arrive = np.zeros(0)
        self.state = np.zeros(0, dtype=np.int8)
        self.distance = np.zeros(0)
        self.destination = np.zeros(0, dtype=np.int64)
        self.choice_row = np.zeros(0, dtype=np.int64)
        self.next_choice = np.zeros(0, dtype=np.int64)
        self.choice_time = np.zeros(0)
        self.route_buffer = np.zeros(0, dtype=np.int64)
        self.route_used = 0
        self._order_dirty = True
        # adaptive route choice: recent next-link tables, newest first
        self.choice_tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.choice_probability = np.zeros(0)
        self._choice_cumulative = np.zeros(0)
        self._epoch_exits = np.zeros(n)
        self._epoch_time = np.zeros(n)
        self.out_degree = np.bincount(
            links.from_node, minlength=int(max(links.to_node.max(), links.from_node.max())) + 1
        )
        self.out_indptr = np.concatenate([[0], np.cumsum(self.out_degree)]).astype(np.int64)
        self.rng = np.random.default_rng(0)
        # records
        self.record_interval_s = float(record_interval_s)
        self._interval_exits: list[np.ndarray] = []
        self._interval_time_on_link: list[np.ndarray] = []
        self._interval_occupancy: list[np.ndarray] = []
        self._interval_queued: list[np.ndarray] = []
        self._interval_width: list[float] = []
        self._current_exits = np.zeros(n)
        self._current_time = np.zeros(n)
        self._current_occupancy = np.zeros(n)
        self._steps_in_interval = 0

    # ---------------------------------------------------------------- vehicles
    @property
    def time(self) -> float:
        """Simulation clock, seconds (the start of the next step)."""
        return self.step_index * self.dt

    @property
    def n_vehicles(self) -> int:
        return len(self.depart)

    def add_vehicles(
        self,
        depart_s: np.ndarray,
        route_edges: np.ndarray,
        route_offsets: np.ndarray,
        *,
        choice_row: np.ndarray | None = None,
        destination: np.ndarray | None = None,
    ) -> np.ndarray:
        """Add vehicles with departure times and routes; returns their ids.

        Vehicle ``i`` drives ``route_edges[route_offsets[i]:route_offsets[i + 1]]``; each route
        must be non-empty and connected. A departure time in the past is moved to now.

        An *adaptive* vehicle (``choice_row[i] >= 0``) follows its route's first link only, then
        at every link end takes the next link from row ``choice_row[i]`` of the choice tables
        (see :meth:`push_choice_table`) until it reaches ``destination[i]`` (a node).
        """
        depart_s = np.maximum(np.asarray(depart_s, dtype=np.float64), self.time)
        offsets = np.asarray(route_offsets, dtype=np.int64)
        if np.any(np.diff(offsets) < 1):
            raise ValueError("every vehicle needs a route of at least one link")
        count = len(depart_s)
        first_id = self.n_vehicles
        base = self._append_routes(np.asarray(route_edges, dtype=np.int64))
        self.depart = np.concatenate([self.depart, depart_s])
        self.route_ptr = np.concatenate([self.route_ptr, base + offsets[:-1]])
        self.route_end = np.concatenate([self.route_end, base + offsets[1:]])
        self.link = np.concatenate([self.link, np.full(count, -1, dtype=np.int64)])
        for name in ("ready", "link_entry", "start", "arrive"):
            setattr(self, name, np.concatenate([getattr(self, name), np.full(count, np.nan)]))
        self.state = np.concatenate([self.state, np.zeros(count, dtype=np.int8)])
        self.distance = np.concatenate([self.distance, np.zeros(count)])
        rows = np.full(count, -1) if choice_row is None else np.asarray(choice_row, dtype=np.int64)
        ends = (
            np.full(count, -1) if destination is None else np.asarray(destination, dtype=np.int64)
        )
        self.choice_row = np.concatenate([self.choice_row, rows])
        self.next_choice = np.concatenate([self.next_choice, np.full(count, -1, dtype=np.int64)])
        self.choice_time = np.concatenate([self.choice_time, np.zeros(count)])
        self.destination = np.concatenate([self.destination, ends])
        self._order_dirty = True
        return np.arange(first_id, first_id + count)

    def push_choice_table(
        self,
        next_edge: np.ndarray,
        cost_to_go: np.ndarray,
        link_cost: np.ndarray,
        *,
        keep: int = 3,
        departing_before: float | None = None,
    ) -> None:
        """Make a new route-choice table (from :meth:`twin.routing.Router.next_hops`) current.

        ``next_edge[row, node]`` is the best next link from ``node`` towards the destination of
        choice row ``row``; ``cost_to_go`` the remaining cost from each node; ``link_cost`` the
        link costs the table was computed with. Adaptive drivers pick among the ``keep`` newest
        tables, the newest with probability 1/2, the one before with 1/4, and so on: a smoothed
        route preference, like UXsim's DUO with update weight 1/2, that spreads drivers instead
        of switching them all at once.

        Adaptive drivers waiting to depart re-choose their first link from the new tables;
        ``departing_before`` limits that to those departing by then (a caller pushing tables at
        a fixed interval need not re-choose for drivers who will see a later table anyway).
        """
        table = (np.asarray(next_edge, np.int32), np.asarray(cost_to_go, np.float32), link_cost)
        if self.choice_tables and self.choice_tables[0][0].shape != table[0].shape:
            self.choice_tables = []
        self.choice_tables = [table, *self.choice_tables][:keep]
        weights = 0.5 ** np.arange(1, len(self.choice_tables) + 1)
        self.choice_probability = weights / weights.sum()
        self._choice_cumulative = np.cumsum(self.choice_probability)
        # adaptive drivers not yet on the road choose their first link afresh too (those leaving
        # after `departing_before` will choose again at a later table)
        waiting = (self.state == PLANNED) & (self.choice_row >= 0)
        if departing_before is not None:
            waiting &= self.depart <= departing_before
        waiting = np.flatnonzero(waiting)
        if len(waiting):
            slot = self.route_ptr[waiting]
            origin = self.links.from_node[self.route_buffer[slot]]
            first = self._choose_from(waiting, origin, np.full(len(waiting), -1))
            changed = (first >= 0) & (first != self.route_buffer[slot])
            if changed.any():
                self.route_buffer[slot[changed]] = first[changed]
                self._order_dirty = True

    def _choose_next(self, vehicle: np.ndarray, link: np.ndarray) -> np.ndarray:
        """Next link of adaptive vehicles leaving ``link``: their table's choice, never a U-turn
        where another way on exists (then the best other way by that table's costs)."""
        return self._choose_from(vehicle, self.links.to_node[link], link)

    def _choose_from(self, vehicle: np.ndarray, node: np.ndarray, link: np.ndarray) -> np.ndarray:
        """Next links from ``node`` for adaptive vehicles that arrived by ``link`` (-1: none)."""
        pick = np.searchsorted(
            self._choice_cumulative, self.rng.random(len(vehicle)), side="right"
        ).clip(max=len(self.choice_tables) - 1)
        rows = self.choice_row[vehicle]
        came_from = np.where(link >= 0, self.links.from_node[np.maximum(link, 0)], -1)
        chosen = np.full(len(vehicle), -1, dtype=np.int64)
        for k, (next_edge, cost_to_go, link_cost) in enumerate(self.choice_tables):
            mine = np.flatnonzero(pick == k)
            chosen[mine] = next_edge[rows[mine], node[mine]]
            u_turn = mine[
                (chosen[mine] >= 0)
                & (self.links.to_node[np.maximum(chosen[mine], 0)] == came_from[mine])
                & (self.out_degree[node[mine]] > 1)
            ]
            if len(u_turn):
                chosen[u_turn] = self._best_other_way(
                    node[u_turn], came_from[u_turn], rows[u_turn], cost_to_go, link_cost
                )
        return chosen

    def _best_other_way(self, node, came_from, rows, cost_to_go, link_cost) -> np.ndarray:
        start, stop = self.out_indptr[node], self.out_indptr[node + 1]
        fan = stop - start
        owner = np.repeat(np.arange(len(node)), fan)
        onward = np.arange(fan.sum()) - np.repeat(np.cumsum(fan) - fan, fan) + np.repeat(start, fan)
        value = link_cost[onward] + cost_to_go[rows[owner], self.links.to_node[onward]]
        value[self.links.to_node[onward] == came_from[owner]] = np.inf
        order = np.lexsort((value, owner))
        first = np.r_[True, owner[order][1:] != owner[order][:-1]]
        best = np.full(len(node), -1, dtype=np.int64)
        winners = order[first]
        best[owner[winners]] = np.where(np.isfinite(value[winners]), onward[winners], -1)
        return best

    def link_travel_times(self) -> np.ndarray:
        """Current travel time of every link, seconds, for route choice; resets the estimate.

        The larger of the mean time on the link of the vehicles that left it since the last call
        and the instantaneous time at the speed the fundamental diagram gives for the link's
        current density (which grows without bound as the link jams). Closed links: ``inf``.
        """
        links = self.links
        times = self.traverse_s.copy()
        left = self._epoch_exits > 0
        times[left] = np.maximum(times[left], self._epoch_time[left] / self._epoch_exits[left])
        density = self.occupancy / links.length_m
        jam = links.storage_veh / links.length_m
        congested_speed = self.wave_speed * (jam - density) / np.maximum(density, 1e-12)
        speed = np.clip(congested_speed, MIN_SPEED_FRACTION * links.free_speed_mps, None)
        times = np.maximum(times, links.length_m / np.minimum(speed, links.free_speed_mps))
        times[links.capacity_vps <= 0] = np.inf
        self._epoch_exits[:] = 0
        self._epoch_time[:] = 0
        return times

    def _append_routes(self, edges: np.ndarray) -> int:
        needed = self.route_used + len(edges)
        if needed > len(self.route_buffer):
            grown = np.zeros(max(needed, 2 * len(self.route_buffer)), dtype=np.int64)
            grown[: self.route_used] = self.route_buffer[: self.route_used]
            self.route_buffer = grown
        base = self.route_used
        self.route_buffer[base:needed] = edges
        self.route_used = needed
        return base

    def _rebuild_origin_queues(self) -> None:
        """Order planned vehicles by (first link, departure): each link's waiting line is a run."""
        candidates = np.flatnonzero(self.state == PLANNED)
        first = self.route_buffer[self.route_ptr[candidates]]
        order = np.lexsort((candidates, self.depart[candidates], first))
        first, order = first[order], candidates[order]
        self._origin_order = order
        counts = np.bincount(first, minlength=self.n_links)
        self._origin_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._origin_taken = np.zeros(self.n_links, dtype=np.int64)
        self._origin_count = counts.astype(np.int64)
        self._order_dirty = False

    # ---------------------------------------------------------------- one step
    def step(self) -> None:
        """Advance the clock by one time step."""
        if self._order_dirty:
            self._rebuild_origin_queues()
        t = self.time
        green = self.signals.green(t)
        # budgets carry fractions of a vehicle from step to step (so 0.8 veh/step really passes
        # 4 vehicles in 5 steps), but an idle link saves up at most one extra vehicle

        self.out_budget = np.where(
            green,
            np.minimum(self.out_budget + self.capacity_per_step, self.capacity_per_step + 1.0),
            0.0,
        )
        self.in_budget = np.minimum(
            self.in_budget + self.capacity_per_step, self.capacity_per_step + 1.0
        )
        # a vehicle may cross several links shorter than one step within the step
        for _ in range(MAX_HOPS_PER_STEP):
            if not self._move_between_links(t):
                break
        self._enter_from_origins(t)
        self._record()
        self.step_index += 1

    def _wave_time(self, target: np.ndarray, within: np.ndarray) -> np.ndarray:
        """Earliest time the backward wave lets the ``within``-th next entrant into ``target``.

        ``-inf`` while the link has never been full, ``inf`` while the vehicle whose place it
        takes has not left yet.
        """
        k = self.entered[target] + within
        storage = self.storage_slots[target]
        leaver = k - storage
        left = (leaver >= 0) & (leaver < self.exited[target])
        when = np.where(leaver < 0, -np.inf, np.inf)
        index = self.exit_base[target] + np.mod(leaver, storage)
        return np.where(left, self.exit_times[index] + self.wave_s[target], when)

    def _admit(self, target: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """For entrants already grouped by target, in priority order: who may enter now, and
        the earliest entry time the backward wave allows each."""
        within = _group_ranks(target)
        wave = self._wave_time(target, within)
        ok = (within < np.floor(self.in_budget[target])) & (wave <= t + 1e-9)
        closed = self.links.capacity_vps[target] <= 0
        return _prefix_true(ok & ~closed, target), wave

    def _move_between_links(self, t: float) -> bool:
        """Move every vehicle that can leave its link; True if one can move again this step."""
        tries = np.minimum(self.occupancy, np.floor(self.out_budget).astype(np.int64))
        busy = np.flatnonzero(tries > 0)
        # most occupied links hold vehicles still on their way along the link: only links whose
        # leader has reached the end can release anyone (FIFO), so the rest are skipped cheaply
        leader = self.ring[self.slot_base[busy] + self.head[busy]]
        busy = busy[self.ready[leader] <= t + 1e-9]
        if len(busy) == 0:
            return False
        counts = tries[busy]
        link = np.repeat(busy, counts)
        rank = _group_ranks(link)
        vehicle = self.ring[self.slot_base[link] + (self.head[link] + rank) % self.slots[link]]
        # only vehicles at the link's end, and all before them, may go: drop the rest early
        ready = np.flatnonzero(_prefix_true(self.ready[vehicle] <= t + 1e-9, link))
        link, rank, vehicle = link[ready], rank[ready], vehicle[ready]
        able = np.ones(len(link), dtype=bool)
        pointer = self.route_ptr[vehicle]
        finishing = pointer + 1 >= self.route_end[vehicle]
        target = np.where(
            finishing, -1, self.route_buffer[np.minimum(pointer + 1, len(self.route_buffer) - 1)]
        )
        adaptive = np.flatnonzero(self.choice_row[vehicle] >= 0)
        if len(adaptive) and self.choice_tables:
            node = self.links.to_node[link[adaptive]]
            finishing[adaptive] = node == self.destination[vehicle[adaptive]]
            # a driver picks the next link on reaching the end of this one and keeps that choice
            # while waiting, reconsidering every `reconsider_s` (so the time step does not matter)
            due = self.next_choice[vehicle[adaptive]] < 0
            due |= t - self.choice_time[vehicle[adaptive]] >= self.reconsider_s - 1e-9
            undecided = adaptive[~finishing[adaptive] & due]
            if len(undecided):
                self.next_choice[vehicle[undecided]] = self._choose_next(
                    vehicle[undecided], link[undecided]
                )
                self.choice_time[vehicle[undecided]] = t
            target[adaptive] = np.where(
                finishing[adaptive], -1, self.next_choice[vehicle[adaptive]]
            )
        # a driver with no way on (closed roads) waits where it is
        able &= finishing | (target >= 0)

        # receiving: movers into each target, earliest ready first
        movers = np.flatnonzero(able & ~finishing)
        accepted = able & finishing
        wave = np.full(len(link), -np.inf)
        if len(movers):
            # by target, earliest ready first; movers are in (link, queue) order already, so a
            # stable sort leaves ties in queue order and each link keeps its FIFO order. One
            # float key (target, then ready time within a span wider than any wait) sorts faster
            # than a lexsort over both.
            ready_at = self.ready[vehicle[movers]]
            span = t - ready_at.min() + 1.0
            key = target[movers] * span + (ready_at - (t - span))
            order = movers[np.argsort(key, kind="stable")]
            admitted, wave[order] = self._admit(target[order], t)
            accepted[order[admitted]] = True
            if self.stuck_time_s is not None:
                self._force_stuck(t, movers, rank, vehicle, target, accepted)
        moving = _prefix_true(accepted, link)
        if not moving.any():
            return False
        link, vehicle, target = link[moving], vehicle[moving], target[moving]
        finishing, rank, wave = finishing[moving], rank[moving], wave[moving]

        # a step covers (t - dt, t]: a vehicle free to go inside it leaves at its ready time (or
        # when the backward wave lets it into its next link), so link times do not round to whole
        # steps; a vehicle held longer leaves at the step's start. Leavers keep their order.
        leave_time = np.maximum(np.maximum(self.ready[vehicle], t - self.dt), np.minimum(wave, t))
        leave_time = np.maximum(leave_time, self.last_exit[link])  # FIFO across passes too
        for _ in range(int(rank.max())):
            later = rank[1:] > 0
            leave_time[1:][later] = np.maximum(leave_time[1:][later], leave_time[:-1][later])
        exit_index = self.exited[link] + rank
        self.exit_times[self.exit_base[link] + np.mod(exit_index, self.storage_slots[link])] = (
            leave_time
        )

        # leave times grow along each link's group: its last entry is the group's latest
        group_end = np.flatnonzero(np.r_[link[1:] != link[:-1], True])
        self.last_exit[link[group_end]] = leave_time[group_end]
        leaving = np.bincount(link, minlength=self.n_links)
        self.head = (self.head + leaving) % self.slots
        self.occupancy -= leaving
        self.exited += leaving
        self.out_budget -= leaving
        time_on_link = np.bincount(
            link, weights=leave_time - self.link_entry[vehicle], minlength=self.n_links
        )
        self._current_exits += leaving
        self._current_time += time_on_link
        self._epoch_exits += leaving
        self._epoch_time += time_on_link
        self.distance[vehicle] += self.links.length_m[link]

        done = vehicle[finishing]
        self.state[done] = ARRIVED
        self.arrive[done] = leave_time[finishing]
        self.link[done] = -1

        onward = ~finishing
        self._place(vehicle[onward], target[onward], leave_time[onward])
        self.route_ptr[vehicle[onward]] += 1
        return bool(np.any(self.ready[vehicle[onward]] <= t + 1e-9))

    def _force_stuck(self, t, movers, rank, vehicle, target, accepted) -> None:
        """Let link leaders held for the stuck time into full links, while ring slack remains."""
        stuck = movers[
            (rank[movers] == 0)
            & ~accepted[movers]
            & (t - self.ready[vehicle[movers]] >= self.stuck_time_s)
        ]
        if len(stuck) == 0:
            return
        stuck = stuck[np.argsort(target[stuck], kind="stable")]
        room = self.slots - self.occupancy
        admitted = (
            _group_ranks(target[stuck])
            < room[target[stuck]]
            - np.bincount(target[accepted & (target >= 0)], minlength=self.n_links)[target[stuck]]
        )
        accepted[stuck[admitted]] = True

    def _place(self, vehicle: np.ndarray, target: np.ndarray, when: np.ndarray) -> None:
        """Append vehicles, entering at times ``when``, at the tail of their target links."""
        if len(vehicle) == 0:
            return
        order = np.argsort(target, kind="stable")
        vehicle, target, when = vehicle[order], target[order], when[order]
        within = _group_ranks(target)
        slot = (
            self.slot_base[target]
            + (self.head[target] + self.occupancy[target] + within) % self.slots[target]
        )
        self.ring[slot] = vehicle
        arriving = np.bincount(target, minlength=self.n_links)
        self.occupancy += arriving
        self.entered += arriving
        self.in_budget -= arriving
        self.link[vehicle] = target
        self.next_choice[vehicle] = -1
        self.link_entry[vehicle] = when
        self.ready[vehicle] = when + self.traverse_s[target]

    def _enter_from_origins(self, t: float) -> None:
        # vehicles whose departure time has come, per first link, in departure order
        order = self._origin_order
        starts, taken = self._origin_start, self._origin_taken
        room = np.floor(self.in_budget).astype(np.int64)
        waiting_links = np.flatnonzero((self._origin_count > taken) & (room > 0))
        if len(waiting_links) == 0:
            return
        limit = np.minimum(
            room[waiting_links], self._origin_count[waiting_links] - taken[waiting_links]
        )
        link = np.repeat(waiting_links, limit)
        rank = _group_ranks(link)
        vehicle = order[starts[link] + taken[link] + rank]
        admitted, wave = self._admit(link, t)
        due = _prefix_true(admitted & (self.depart[vehicle] <= t + 1e-9), link)
        vehicle, link, wave = vehicle[due], link[due], wave[due]
        if len(vehicle) == 0:
            return
        self._origin_taken += np.bincount(link, minlength=self.n_links)
        self.state[vehicle] = RUNNING
        entry = np.maximum(np.maximum(self.depart[vehicle], t - self.dt), wave)
        self.start[vehicle] = entry
        self._place(vehicle, link, entry)

    # ---------------------------------------------------------------- records
    def _record(self) -> None:
        self._current_occupancy += self.occupancy
        self._steps_in_interval += 1
        if self._steps_in_interval * self.dt >= self.record_interval_s - 1e-9:
            self.flush_interval()

    def flush_interval(self) -> None:
        """Close the current recording interval (called automatically every interval)."""
        if self._steps_in_interval == 0:
            return
        self._interval_exits.append(self._current_exits.copy())
        self._interval_time_on_link.append(self._current_time.copy())
        self._interval_occupancy.append(self._current_occupancy / self._steps_in_interval)
        self._interval_queued.append(self.queued())
        self._interval_width.append(self._steps_in_interval * self.dt)
        self._current_exits[:] = 0
        self._current_time[:] = 0
        self._current_occupancy[:] = 0
        self._steps_in_interval = 0

    def interval_series(self) -> dict[str, np.ndarray]:
        """Per interval × link series of the run.

        ``exits`` (vehicles), ``time_on_link_s`` (summed over the vehicles that left),
        ``occupancy`` (mean vehicles on the link), ``queued`` (at the interval's end), and
        ``width_s``, each interval's length (the last one may be cut short by the run's end).
        """
        stack = lambda rows: np.vstack(rows) if rows else np.zeros((0, self.n_links))  # noqa: E731
        return {
            "exits": stack(self._interval_exits),
            "time_on_link_s": stack(self._interval_time_on_link),
            "occupancy": stack(self._interval_occupancy),
            "queued": stack(self._interval_queued),
            "width_s": np.asarray(self._interval_width, dtype=np.float64),
        }

    def waiting(self) -> np.ndarray:
        """Mask of planned vehicles whose departure time has come by the last step."""
        return (self.state == PLANNED) & (self.depart <= self.time - self.dt + 1e-9)

    def counts(self) -> dict[str, int]:
        """Vehicles by state; ``waiting`` are planned vehicles whose departure time has passed."""
        planned = self.state == PLANNED
        waiting = int(np.count_nonzero(self.waiting()))
        return {
            "planned": int(planned.sum()) - waiting,
            "waiting": waiting,
            "running": int(np.count_nonzero(self.state == RUNNING)),
            "arrived": int(np.count_nonzero(self.state == ARRIVED)),
        }

    def queued(self) -> np.ndarray:
        """Vehicles per link that could leave (their free-flow time is over) but have not."""
        running = np.flatnonzero((self.state == RUNNING) & (self.ready <= self.time + 1e-9))
        return np.bincount(self.link[running], minlength=self.n_links)

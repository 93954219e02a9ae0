"""Array-backed mesoscopic traffic engine: the Link Transmission Model, one vehicle at a time.

Link model
----------
Each link follows a triangular fundamental diagram (free-flow speed ``u``, capacity ``q``, jam
density ``κ`` = lanes / 7.5 m, backward wave speed ``w = q / (κ − q/u)``), solved with the Link
Transmission Model (Yperman 2007), which is exact for that diagram:

- *sending*: a vehicle may leave a link once ``L/u`` has passed since it entered, first in first
  out, at most ``q·dt`` vehicles a step (the road's discharge) and, if it crosses the junction
  at the link's end, at most ``q_out·dt`` (what the junction passes; none while the link's
  signal is red): a vehicle ending its trip at the link's end parks short of the junction;
- *receiving*: a link accepts vehicles while ``N_out(t − L/w) + storage − N_in(t) ≥ 1`` (its
  storage less the vehicles inside, where space freed at the downstream end reaches the upstream
  end after ``L/w``: that delay is the backward wave) and at most ``q·dt`` a step. In vehicle
  terms: the k-th vehicle to enter may do so ``L/w`` after the (k − storage)-th left, in
  continuous time, so short links keep their capacity however long the step.

``q`` and ``w`` belong to the road between junctions (its saturation flow), ``q_out`` to the
junction: a residential street carries 1,900 veh/h a lane but its end passes 600
(ARCHITECTURE.md, "Traffic under congestion").

A vehicle blocked by a full downstream link blocks those behind it (spillback). Vehicles in
congestion thus travel at the speed the diagram gives for their density, and queues discharge at
capacity. At a node, the leaders of the incoming links compete for their next links, drawn at
random in proportion to their links' capacities (see :mod:`agents.traffic.kernel`).

The state is numpy arrays; one step runs as a compiled kernel over them
(:func:`agents.traffic.kernel.move_vehicles`), never a Python loop over vehicles. Vehicles are
conserved: each is planned, waiting at its origin, running, or arrived, and only moves between
those states.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from agents.traffic import layout
from agents.traffic.compiled import load_kernel

__all__ = ["ARRIVED", "PLANNED", "ROUTE_COSTS", "RUNNING", "Engine", "LinkParams", "Signals"]

# loaded at import, once a process: the JIT kernel's set-up costs most of a second
kernel = load_kernel()

PLANNED, RUNNING, ARRIVED = layout.PLANNED, layout.RUNNING, layout.ARRIVED

CHOICE_TABLES_KEPT = 3
"""How many of the newest route-choice tables adaptive drivers pick among
(:meth:`Engine.push_choice_table`)."""

MAX_SWEEPS_PER_STEP = 8
"""Sweeps over the nodes within one step. A sweep serves the nodes in index order, so a vehicle
crosses within one sweep every short link whose end node comes later; another sweep follows
while a vehicle could move again (times stay exact either way)."""

SLICE_S = 1.0
"""Longest slice of a step the kernel serves at once (see
:func:`agents.traffic.kernel.move_vehicles`): moves are ordered in time to within this, whatever
the step."""

MIN_SPEED_FRACTION = 0.01
"""Floor of the speed used to price a jammed link for route choice, as a share of free speed."""

ROUTE_COSTS = ("experienced", "instantaneous")
"""How adaptive drivers price links (see :meth:`Engine.link_travel_times`)."""


@dataclass(frozen=True)
class LinkParams:
    """Physical parameters of every link, one array entry per network edge.

    ``capacity_vps`` is what the link's end (its junction) discharges; of zero, it closes the
    link (nothing enters or leaves it). ``saturation_vps`` is the capacity of the road itself,
    the peak of its fundamental diagram: what may enter it, and with its jam density the speed
    of its backward wave. Junctions pass less than the road between them carries (turns, give
    way, crossing streams), so a link's outflow capacity is often well below its saturation
    flow; using the junction's figure for the road as well makes the backward wave several
    times too slow and merges too tight (ARCHITECTURE.md, "Traffic under congestion").
    ``None`` makes the two equal. ``from_node`` and ``to_node`` are the nodes a link starts
    and ends at; links must be sorted by ``from_node`` (as :class:`~cities.network.RoadNetwork`
    edges are).
    """

    length_m: np.ndarray
    free_speed_mps: np.ndarray
    capacity_vps: np.ndarray
    storage_veh: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray
    saturation_vps: np.ndarray | None = None

    @property
    def road_capacity_vps(self) -> np.ndarray:
        """The fundamental diagram's capacity: the saturation flow, never below the outflow."""
        if self.saturation_vps is None:
            return np.asarray(self.capacity_vps, dtype=np.float64)
        return np.maximum(self.saturation_vps, self.capacity_vps).astype(np.float64)

    @property
    def backward_wave_mps(self) -> np.ndarray:
        """``w`` of the triangular diagram, from its capacity, free speed and jam density."""
        capacity = self.road_capacity_vps
        jam_density = self.storage_veh / self.length_m
        critical_density = capacity / self.free_speed_mps
        # capacities beyond the diagram's reach (κ ≤ q/u) would give no congested branch
        gap = np.maximum(jam_density - critical_density, 0.05 * jam_density)
        return np.maximum(capacity, 1e-6) / gap


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

    @cached_property
    def signalized(self) -> np.ndarray:
        """Links with a signal (the rest are always green)."""
        return np.flatnonzero(self.cycle_s > 0)

    def opening(self, start: float, end: float, out: np.ndarray) -> None:
        """When each link may first discharge within ``(start, end]``, into ``out``: ``start``
        (``-inf`` unsignalized), the green's onset where it began inside, ``inf`` where red at
        ``end`` (the link discharges nothing in the span)."""
        out[:] = -np.inf
        links = self.signalized
        phase = np.mod(end - self.offset_s[links], self.cycle_s[links])
        green = (phase >= self.green_start_s[links]) & (phase < self.green_end_s[links])
        onset = end - (phase - self.green_start_s[links])
        out[links] = np.where(green, np.maximum(onset, start), np.inf)


class Engine:
    """Moves vehicles along fixed routes through a network of links.

    Parameters
    ----------
    links
        Link parameters (one per network edge).
    dt
        Time step, seconds. Link and trip times are not rounded to it: a vehicle free to leave
        within a step leaves at its exact time.
    signals
        Signal timing per link; default none.
    record_interval_s
        Width of the intervals of the per-link time series (flow, density, speed).
    stuck_time_s
        Deadlock release, as MATSim's stuck time: a vehicle held at the end of a link this long
        (since it reached the end, or since its link last let a vehicle go with room ahead,
        whichever is later: a queue that moves is no deadlock)
        enters its next link even if that link is full (overfilling it by a few vehicles at
        most). Without it, a ring of full links whose leaders wait on each other never clears.
        ``None`` makes storage a hard limit.
    reconsider_s
        An adaptive driver held at the end of a link draws its next link again after this long
        (a blocked turn makes drivers look for another way); ``None``: at every slice of a step
        (at most :data:`SLICE_S`).
    """

    def __init__(
        self,
        links: LinkParams,
        *,
        dt: float = 1.0,
        signals: Signals | None = None,
        record_interval_s: float = 300.0,
        stuck_time_s: float | None = 300.0,
        reconsider_s: float | None = None,
    ) -> None:
        if not dt > 0:
            raise ValueError(f"time step must be positive, got {dt}")
        self.links = links
        self.dt = float(dt)
        n = len(links.length_m)
        self.n_links = n
        # what may enter a link a step: the road's own capacity (closed links take nothing)
        self.inflow_per_step = np.where(
            np.asarray(links.capacity_vps) > 0, links.road_capacity_vps * self.dt, 0.0
        )
        self.signals = signals or Signals.none(n)  # sets capacity_per_step too
        # a step is served in slices of at most SLICE_S, earliest first (kernel.move_vehicles)
        self.n_slices = max(1, int(np.ceil(self.dt / SLICE_S - 1e-9)))
        self._slice_ends = np.arange(1, self.n_slices + 1) * (self.dt / self.n_slices)
        self._opens = np.zeros((self.n_slices, n))
        self.stuck_time_s = stuck_time_s
        # None: at every slice of a step (SLICE_S), as UXsim re-chooses at each of its steps
        slice_s = self.dt / self.n_slices
        self.reconsider_s = slice_s if reconsider_s is None else float(reconsider_s)
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
        # budgets are refilled at each slice; links start rested (the one vehicle an idle link
        # saves up: the first refill tops them up to a slice's capacity plus one)
        self.out_budget = np.ones(n)
        self.in_budget = np.ones(n)
        self.traverse_s = links.length_m / links.free_speed_mps
        self.wave_speed = links.backward_wave_mps
        # receiving, vehicle by vehicle: the k-th vehicle to enter a link of storage S may enter
        # once the (k - S)-th to leave it left L/w ago; exit times of the last S leavers are kept
        self.wave_s = links.length_m / self.wave_speed
        self.storage_slots = storage_slots
        self.exit_base = np.concatenate([[0], np.cumsum(storage_slots)[:-1]]).astype(np.int64)
        self.exit_times = np.full(int(storage_slots.sum()), -np.inf)
        self.last_exit = np.full(n, -np.inf)
        self._last_flowed = np.full(n, -np.inf)
        self._leader_ready = np.full(n, np.inf)
        self._leader_ends = np.zeros(n, dtype=np.bool_)
        self._road_budget = np.ones(n)
        self._ring_ready = np.full(len(self.ring), np.inf)
        self._exit_cursor = np.zeros(n, dtype=np.int64)
        self._entry_cursor = np.zeros(n, dtype=np.int64)
        self._n_started = self._n_arrived = 0
        self.step_index = 0
        # vehicles
        self.depart = np.zeros(0)
        self.start = np.zeros(0)
        self.arrive = np.zeros(0)
        self.state = np.zeros(0, dtype=np.int8)
        # what a vehicle's every move reads and writes, one row per vehicle so that a move
        # touches two cache lines rather than ten (columns: layout.T_* and layout.I_*)
        self._times = np.zeros((0, layout.N_TIMES))
        self._ids = np.zeros((0, layout.N_IDS), dtype=np.int64)
        self.route_buffer = np.zeros(0, dtype=np.int64)
        self.route_used = 0
        self._order_dirty = True
        # adaptive route choice: recent next-link tables, newest first
        self.n_tables = 0
        self._max_choice_row = -1
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
        self._interval_entered: list[np.ndarray] = []  # cumulative entries at each interval's end
        self._interval_time_on_link: list[np.ndarray] = []
        self._interval_occupancy: list[np.ndarray] = []
        self._interval_queued: list[np.ndarray] = []
        self._interval_width: list[float] = []
        self._current_exits = np.zeros(n)
        self._current_time = np.zeros(n)
        self._current_occupancy = np.zeros(n)
        self._steps_in_interval = 0
        # the compiled step's view of the network; its random stream is seeded from `rng` at
        # the first step (the model replaces `rng` after construction)
        to_node = np.ascontiguousarray(links.to_node, dtype=np.int64)
        by_end = np.argsort(to_node, kind="stable")
        in_degree = np.bincount(to_node, minlength=len(self.out_degree))
        self._net = layout.Net(
            to_node=to_node,
            from_node=np.ascontiguousarray(links.from_node, dtype=np.int64),
            length_m=np.ascontiguousarray(links.length_m, dtype=np.float64),
            traverse_s=np.ascontiguousarray(self.traverse_s, dtype=np.float64),
            wave_s=np.ascontiguousarray(self.wave_s, dtype=np.float64),
            closed=np.asarray(links.capacity_vps <= 0),
            merge_weight=np.maximum(np.asarray(links.capacity_vps, dtype=np.float64), 1e-9),
            in_indptr=np.concatenate([[0], np.cumsum(in_degree)]).astype(np.int64),
            in_links=by_end.astype(np.int64),
            out_indptr=self.out_indptr,
            slots=self.slots.astype(np.int64),
            slot_base=self.slot_base,
            storage_slots=self.storage_slots,
            exit_base=self.exit_base,
        )
        self._tables = layout.no_tables()
        self._kernel_rng: np.ndarray | None = None

    # ---------------------------------------------------------------- signals
    @property
    def signals(self) -> Signals:
        """Signal timing per link; setting it retimes the links' outflow."""
        return self._signals

    @signals.setter
    def signals(self, signals: Signals) -> None:
        self._signals = signals
        # a signalized approach discharges at its road's saturation flow while green (the
        # HCM's s · g / C): its junction capacity stands for give-way losses that the signal
        # replaces, and counting both would halve it twice
        outflow = np.asarray(self.links.capacity_vps, dtype=np.float64).copy()
        signalized = signals.signalized
        outflow[signalized] = np.where(
            outflow[signalized] > 0, self.links.road_capacity_vps[signalized], 0.0
        )
        self.capacity_per_step = outflow * self.dt

    # ---------------------------------------------------------------- vehicles
    @property
    def time(self) -> float:
        """Simulation clock, seconds: the last instant served (the start of the next step)."""
        return self.step_index * self.dt

    @property
    def n_vehicles(self) -> int:
        return len(self.depart)

    @property
    def ready(self) -> np.ndarray:
        """When each vehicle reaches the end of its current link (free flow), seconds."""
        return self._times[:, layout.T_READY]

    @property
    def link_entry(self) -> np.ndarray:
        """When each vehicle entered its current link, seconds."""
        return self._times[:, layout.T_ENTRY]

    @property
    def distance(self) -> np.ndarray:
        """Metres each vehicle has driven (whole links left)."""
        return self._times[:, layout.T_DISTANCE]

    @property
    def link(self) -> np.ndarray:
        """Each vehicle's current link; -1 when not on the road."""
        return self._ids[:, layout.I_LINK]

    @property
    def route_ptr(self) -> np.ndarray:
        """Position of each vehicle's current link in the route buffer."""
        return self._ids[:, layout.I_ROUTE_PTR]

    @property
    def choice_row(self) -> np.ndarray:
        """Each adaptive vehicle's row of the route-choice tables; -1 for fixed routes."""
        return self._ids[:, layout.I_CHOICE_ROW]

    @property
    def destination(self) -> np.ndarray:
        """Each vehicle's destination node; -1 where none was given."""
        return self._ids[:, layout.I_DESTINATION]

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
        route_edges = np.asarray(route_edges, dtype=np.int64)
        # the compiled step trusts its indices: refuse what would read out of bounds
        if len(offsets) != len(depart_s) + 1 or offsets[0] != 0 or offsets[-1] != len(route_edges):
            raise ValueError(
                "route_offsets must run from 0 to len(route_edges), one per vehicle + 1"
            )
        if np.any(np.diff(offsets) < 1):
            raise ValueError("every vehicle needs a route of at least one link")
        if not np.all(np.isfinite(depart_s)):
            raise ValueError("departure times must be finite numbers of seconds")
        if len(route_edges) and (route_edges.min() < 0 or route_edges.max() >= self.n_links):
            raise ValueError(f"route links must be link indices in 0..{self.n_links - 1}")
        for name, values, size in (
            ("choice_row", choice_row, None),
            ("destination", destination, len(self.out_degree)),
        ):
            if (
                values is not None
                and len(values)
                and (np.min(values) < -1 or (size is not None and np.max(values) >= size))
            ):
                raise ValueError(f"{name} must be -1 or a valid index")
        count = len(depart_s)
        first_id = self.n_vehicles
        base = self._append_routes(route_edges)
        self.depart = np.concatenate([self.depart, depart_s])
        for name in ("start", "arrive"):
            setattr(self, name, np.concatenate([getattr(self, name), np.full(count, np.nan)]))
        self.state = np.concatenate([self.state, np.zeros(count, dtype=np.int8)])
        times = np.zeros((count, layout.N_TIMES))
        times[:, [layout.T_READY, layout.T_ENTRY]] = np.nan
        ids = np.full((count, layout.N_IDS), -1, dtype=np.int64)
        ids[:, layout.I_ROUTE_PTR] = base + offsets[:-1]
        ids[:, layout.I_ROUTE_END] = base + offsets[1:]
        if choice_row is not None:
            ids[:, layout.I_CHOICE_ROW] = choice_row
            if count:
                self._max_choice_row = max(self._max_choice_row, int(np.max(choice_row)))
        if destination is not None:
            ids[:, layout.I_DESTINATION] = destination
        self._times = np.concatenate([self._times, times])
        self._ids = np.concatenate([self._ids, ids])
        self._order_dirty = True
        return np.arange(first_id, first_id + count)

    def push_choice_table(
        self,
        next_edge: np.ndarray,
        cost_to_go: np.ndarray,
        link_cost: np.ndarray,
        *,
        keep: int = CHOICE_TABLES_KEPT,
        departing_before: float | None = None,
    ) -> None:
        """Make a new route-choice table (from :meth:`cities.routing.Router.next_hops`) current.

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
        next_edge = np.asarray(next_edge, np.int32)[None]
        cost_to_go = np.asarray(cost_to_go, np.float32)[None]
        link_cost = np.asarray(link_cost, np.float64)[None]
        older = self._tables
        if self.n_tables and older.next_edge.shape[1:] == next_edge.shape[1:]:
            # the stacked tables are the only copy, newest first (they can be large: rows ×
            # nodes each)
            kept = min(self.n_tables, keep - 1)
            next_edge = np.concatenate([next_edge, older.next_edge[:kept]])
            cost_to_go = np.concatenate([cost_to_go, older.cost_to_go[:kept]])
            link_cost = np.concatenate([link_cost, older.link_cost[:kept]])
        weights = 0.5 ** np.arange(1, len(next_edge) + 1)
        self._tables = layout.Tables(
            next_edge, cost_to_go, link_cost, np.cumsum(weights / weights.sum())
        )
        self.n_tables = len(next_edge)
        # adaptive drivers not yet on the road choose their first link afresh too (those leaving
        # after `departing_before` will choose again at a later table)
        waiting = (self.state == PLANNED) & (self.choice_row >= 0)
        if departing_before is not None:
            waiting &= self.depart <= departing_before
        waiting = np.flatnonzero(waiting)
        if len(waiting):
            slot = self.route_ptr[waiting]
            origin = self.links.from_node[self.route_buffer[slot]]
            first = self._choose_first(waiting, origin)
            changed = (first >= 0) & (first != self.route_buffer[slot])
            if changed.any():
                self.route_buffer[slot[changed]] = first[changed]
                self._order_dirty = True

    def _choose_first(self, vehicle: np.ndarray, node: np.ndarray) -> np.ndarray:
        """First links from ``node`` of adaptive vehicles not yet on the road (-1: none)."""
        pick = np.searchsorted(
            self._tables.cumulative, self.rng.random(len(vehicle)), side="right"
        ).clip(max=self.n_tables - 1)
        return self._tables.next_edge[pick, self.choice_row[vehicle], node].astype(np.int64)

    def link_travel_times(self, *, method: str = "instantaneous") -> np.ndarray:
        """Current travel time of every link, seconds, for route choice; resets the estimate.

        ``method`` is one of :data:`ROUTE_COSTS`:

        ``"experienced"``
            The larger of the mean time on the link of the vehicles that left it since the last
            call and the time at the speed the fundamental diagram gives for the link's current
            density (which grows without bound as the link jams).
        ``"instantaneous"``
            The link's length over the mean speed of the vehicles on it now, as UXsim's dynamic
            user optimum prices links: a vehicle moves at free speed until it reaches the back
            of the queue of those ahead of it (at jam spacing from the link's end), where it
            stands; a link whose vehicles all stand costs 100 × its free-flow time.

        Closed links: ``inf``.
        """
        if method not in ROUTE_COSTS:
            raise ValueError(f"route cost must be one of {ROUTE_COSTS}, got {method!r}")
        if method == "instantaneous":
            times = self._instantaneous_travel_times()
        else:
            times = self._experienced_travel_times()
        times[self.links.capacity_vps <= 0] = np.inf
        self._epoch_exits[:] = 0
        self._epoch_time[:] = 0
        return times

    def _experienced_travel_times(self) -> np.ndarray:
        links = self.links
        times = self.traverse_s.copy()
        left = self._epoch_exits > 0
        times[left] = np.maximum(times[left], self._epoch_time[left] / self._epoch_exits[left])
        density = self.occupancy / links.length_m
        jam = links.storage_veh / links.length_m
        congested_speed = self.wave_speed * (jam - density) / np.maximum(density, 1e-12)
        speed = np.clip(congested_speed, MIN_SPEED_FRACTION * links.free_speed_mps, None)
        return np.maximum(times, links.length_m / np.minimum(speed, links.free_speed_mps))

    def _instantaneous_travel_times(self) -> np.ndarray:
        links = self.links
        free = np.asarray(links.free_speed_mps, dtype=np.float64)
        # every vehicle on the road, link by link from the leader back (ring order)
        link = np.repeat(np.arange(self.n_links), self.occupancy)
        first = np.concatenate([[0], np.cumsum(self.occupancy)[:-1]])
        rank = np.arange(len(link)) - np.repeat(first, self.occupancy)
        vehicle = self.ring[self.slot_base[link] + (self.head[link] + rank) % self.slots[link]]
        # positions at the last served instant, the clock
        served = self.time
        spacing = links.length_m / np.maximum(links.storage_veh, 1e-9)
        reached = (served - self.link_entry[vehicle]) * free[link]
        # the engine keeps only when each vehicle may leave its link; where it stands is
        # rebuilt: at free speed until it reaches the back of the queue ahead of it
        standing = reached >= links.length_m[link] - rank * spacing[link] - 1e-9
        speed = np.where(standing, 0.0, free[link])
        total = np.bincount(link, weights=speed, minlength=self.n_links)
        mean = np.where(self.occupancy > 0, total / np.maximum(self.occupancy, 1), free)
        return links.length_m / np.maximum(mean, MIN_SPEED_FRACTION * free)

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
        depart = self.depart[candidates]
        # models add vehicles in departure order, so the sort by departure is rarely needed
        if np.any(depart[1:] < depart[:-1]):
            by_departure = np.argsort(depart, kind="stable")
            candidates, depart = candidates[by_departure], depart[by_departure]
        first = self.route_buffer[self.route_ptr[candidates]]
        order, counts = kernel.group_by_link(first, self.n_links)
        self._origin_order = candidates[order]
        self._planned_departures = depart
        self._origin_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._origin_count = counts
        self._origin_taken = np.zeros(self.n_links, dtype=np.int64)
        self._order_dirty = False

    # ---------------------------------------------------------------- one step
    def step(self) -> None:
        """Advance the clock by one time step, serving ``(time, time + dt]``."""
        if self._order_dirty:
            self._rebuild_origin_queues()
        if self._kernel_rng is None:
            self._kernel_rng = np.array([self.rng.integers(2**63)], dtype=np.uint64)
        t = self.time + self.dt
        # the kernel refills the budgets at each slice of the step; red is judged at each
        # slice's end, and a green that began inside a slice releases no one before its onset
        opens = self._opens
        slice_s = self.dt / self.n_slices
        for piece, end in enumerate(t - self.dt + self._slice_ends):
            self.signals.opening(end - slice_s, end, opens[piece])
        # (the largest row is kept as vehicles are added: a max over a million vehicles at
        # every step cost a quarter of a large run)
        if self.n_tables and self._max_choice_row >= self._tables.next_edge.shape[1]:
            raise ValueError("an adaptive vehicle's choice row is beyond the route-choice tables")
        started, arrived = kernel.move_vehicles(
            self._net,
            self._link_state(),
            self._cars(),
            self._tables,
            self.n_tables > 0,
            layout.Origins(
                self._origin_order, self._origin_start, self._origin_taken, self._origin_count
            ),
            self._kernel_rng,
            t,
            self.dt,
            np.inf if self.stuck_time_s is None else float(self.stuck_time_s),
            self.reconsider_s,
            MAX_SWEEPS_PER_STEP,
            self.capacity_per_step / self.n_slices,
            self.inflow_per_step / self.n_slices,
            opens,
        )
        self._n_started += started
        self._n_arrived += arrived
        # the clock first: an interval this step closes counts its queues at the step's end
        self.step_index += 1
        self._record()

    def _link_state(self) -> layout.LinkState:
        return layout.LinkState(
            self.ring, self.head, self.occupancy, self.entered, self.exited, self.out_budget,
            self.in_budget, self.exit_times, self.last_exit, self._last_flowed, self._leader_ready,
            self._leader_ends,
            self._road_budget,
            self._ring_ready,
            self._exit_cursor, self._entry_cursor, self._current_exits, self._current_time,
            self._epoch_exits, self._epoch_time,
        )  # fmt: skip

    def _cars(self) -> layout.Cars:
        return layout.Cars(
            self._times, self._ids, self.route_buffer, self.state, self.arrive, self.start,
            self.depart,
        )  # fmt: skip

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
        self._interval_entered.append(self.entered.copy())
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

        ``exits`` and ``entries`` (vehicles), ``time_on_link_s`` (summed over the vehicles that
        left), ``occupancy`` (mean vehicles on the link), ``queued`` (at the interval's end), and
        ``width_s``, each interval's length (the last one may be cut short by the run's end).
        """
        stack = lambda rows: np.vstack(rows) if rows else np.zeros((0, self.n_links))  # noqa: E731
        return {
            "exits": stack(self._interval_exits),
            "entries": np.diff(stack(self._interval_entered), axis=0, prepend=0),
            "time_on_link_s": stack(self._interval_time_on_link),
            "occupancy": stack(self._interval_occupancy),
            "queued": stack(self._interval_queued),
            "width_s": np.asarray(self._interval_width, dtype=np.float64),
        }

    def waiting(self) -> np.ndarray:
        """Mask of planned vehicles whose departure time has come by the clock and that have
        not entered (none before the first step: nothing has been served yet)."""
        return (self.state == PLANNED) & (self.depart <= self._served_until() + 1e-9)

    def _served_until(self) -> float:
        """The last instant served; before the first step, none (``-inf``)."""
        return self.time if self.step_index > 0 else -np.inf

    def counts(self) -> dict[str, int]:
        """Vehicles by state; ``waiting`` are planned vehicles whose departure time has passed."""
        if self._order_dirty:
            self._rebuild_origin_queues()
        # planned vehicles due by the clock, less those that entered since the queues were
        # built (counted without a pass over every vehicle: models call this often)
        due = np.searchsorted(self._planned_departures, self._served_until() + 1e-9, side="right")
        waiting = int(due - self._origin_taken.sum())
        return {
            "planned": self.n_vehicles - self._n_started - waiting,
            "waiting": waiting,
            "running": self._n_started - self._n_arrived,
            "arrived": self._n_arrived,
        }

    def queued(self) -> np.ndarray:
        """Vehicles per link that could leave (their free-flow time is over) but have not."""
        return kernel.queued(
            self.slot_base, self.slots, self.head, self.occupancy, self._ring_ready, self.time
        )

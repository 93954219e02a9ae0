"""The traffic engine's state as the step kernel reads and writes it: arrays in named tuples.

The engine (:mod:`agents.traffic.engine`) builds these; the kernel (:mod:`agents.traffic.kernel`)
moves vehicles through them. They live apart from the kernel so that a process can load the
kernel compiled ahead of time (:mod:`agents.traffic.compiled`) without importing numba.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

EPS = 1e-9
"""Tolerance of time comparisons, seconds (times are sums of floats)."""

FINISH = -2
"""Target of a vehicle that leaves the network at the end of its link."""

PLANNED, RUNNING, ARRIVED = 0, 1, 2
"""Vehicle states. A planned vehicle whose departure time has passed waits at its origin."""


class Net(NamedTuple):
    """Fixed arrays of the network, one entry per link unless named per node."""

    to_node: np.ndarray
    from_node: np.ndarray
    length_m: np.ndarray
    traverse_s: np.ndarray
    wave_s: np.ndarray
    closed: np.ndarray
    merge_weight: np.ndarray
    in_indptr: np.ndarray  # per node: its incoming links are in_links[in_indptr[n]:…[n + 1]]
    in_links: np.ndarray
    out_indptr: np.ndarray  # per node: links are sorted by from_node
    slots: np.ndarray
    slot_base: np.ndarray
    storage_slots: np.ndarray
    exit_base: np.ndarray


class LinkState(NamedTuple):
    """Per-link state: each link's vehicles as a ring buffer, counts, budgets, records."""

    ring: np.ndarray
    head: np.ndarray
    occupancy: np.ndarray
    entered: np.ndarray
    exited: np.ndarray
    out_budget: np.ndarray
    in_budget: np.ndarray
    exit_times: np.ndarray  # when the last `storage` leavers left (the backward wave's clock)
    last_exit: np.ndarray
    last_flowed: np.ndarray  # when a vehicle last left with room ahead (not by the stuck rule)
    leader_ready: np.ndarray  # when each link's first vehicle reaches its end; inf if empty
    leader_ends: np.ndarray  # whether that vehicle ends its trip at the link's end
    road_budget: np.ndarray  # what the road's end may still discharge (saturation flow)
    ring_ready: np.ndarray  # beside `ring`: when each vehicle there reaches its link's end
    exit_cursor: np.ndarray  # exited mod storage: where the next leaver's time goes
    entry_cursor: np.ndarray  # entered mod storage: where the leaver the next entrant waits on is
    current_exits: np.ndarray
    current_time: np.ndarray
    epoch_exits: np.ndarray
    epoch_time: np.ndarray


T_READY, T_ENTRY, T_CHOICE, T_DISTANCE = range(4)
"""Columns of a vehicle's times: reaches its link's end (free flow), entered the link, last drew
its next link, metres driven."""
N_TIMES = 4

I_LINK, I_ROUTE_PTR, I_ROUTE_END, I_CHOICE_ROW, I_DESTINATION, I_NEXT = range(6)
"""Columns of a vehicle's indices: current link (-1 off the road), route buffer position and
end, route-choice row and destination node (-1 for a fixed route), next link drawn (-1 none)."""
N_IDS = 6


class Cars(NamedTuple):
    """Per-vehicle state; what every move touches is packed in one row per vehicle."""

    times: np.ndarray  # (vehicle, N_TIMES)
    ids: np.ndarray  # (vehicle, N_IDS)
    route_buffer: np.ndarray
    state: np.ndarray
    arrive: np.ndarray
    start: np.ndarray
    depart: np.ndarray


class Tables(NamedTuple):
    """Recent route-choice tables stacked newest first, and the cumulative weights to draw one."""

    next_edge: np.ndarray  # (table, row, node)
    cost_to_go: np.ndarray  # (table, row, node)
    link_cost: np.ndarray  # (table, link)
    cumulative: np.ndarray  # (table,)


class Origins(NamedTuple):
    """Planned vehicles ordered by (first link, departure): each link's waiting line is a run."""

    order: np.ndarray
    start: np.ndarray
    taken: np.ndarray
    count: np.ndarray


def no_tables() -> Tables:
    """Placeholder route-choice tables of the right types, for a run without adaptive drivers."""
    return Tables(
        np.full((1, 1, 1), -1, np.int32),
        np.zeros((1, 1, 1), np.float32),
        np.zeros((1, 1)),
        np.ones(1),
    )


def sample_arguments() -> dict[str, tuple]:
    """Arguments of the right types for each kernel function, on an empty network.

    They fix the kernel's signatures: numba's cache is warmed with them, and the ahead-of-time
    build exports exactly these types, so the engine must pass C-contiguous arrays of these
    dtypes (and Python or numpy scalars of these kinds).
    """
    int_ = np.zeros(0, dtype=np.int64)
    float_ = np.zeros(0)
    bool_ = np.zeros(0, dtype=np.bool_)
    one = np.zeros(1, dtype=np.int64)
    net = Net(int_, int_, float_, float_, float_, bool_, float_, one, int_, one, int_, int_, int_,
              int_)  # fmt: skip
    links = LinkState(int_, int_, int_, int_, int_, float_, float_, float_, float_, float_,
                      float_, bool_, float_, float_, int_, int_, float_, float_, float_,
                      float_)  # fmt: skip
    cars = Cars(np.zeros((0, N_TIMES)), np.zeros((0, N_IDS), dtype=np.int64), int_,
                np.zeros(0, dtype=np.int8), float_, float_, float_)  # fmt: skip
    origins = Origins(int_, int_, int_, int_)
    rng = np.zeros(1, dtype=np.uint64)
    opens = np.zeros((1, 0))
    return {
        "move_vehicles": (
            net,
            links,
            cars,
            no_tables(),
            False,
            origins,
            rng,
            0.0,
            1.0,
            np.inf,
            5.0,
            1,
            float_,
            float_,
            opens,
        ),
        "group_by_link": (int_, 0),
        "queued": (int_, int_, int_, int_, float_, 0.0),
    }

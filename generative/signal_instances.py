"""Signal-timing instances from the twin: scenarios of many places, demands and closures.

:func:`junction_instance` turns a network, its current plans and the flows a run carried into a
:class:`~generative.signal_data.SignalInstance` (what the learned planner reads, at training
and when it proposes). :func:`scenario_instance` makes one training scenario: a place, its
peak-hour demand scaled, a few streets closed, simulated under the default plans.
:func:`build_signal_corpus` draws many in a process pool, one file each, resumable.

Places: the bundled city, the shared extracts and square windows cut from the large ones
(``cities.areas.city_window``), and synthetic towns (``cities.areas.synthetic_city``) whose
arterial crossings are given signals (OSM-free variety in grid, size and demand).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from agents.traffic.demand import generate_trips
from agents.traffic.model import TrafficConfig
from agents.traffic.retiming import measured_flows_vph, saturation_flows_vph, simulate
from agents.traffic.signals import SignalPlan, default_plans
from agents.traffic.timing import DEFAULT_LIMITS, TimingLimits
from cities.city import City
from cities.errors import TwinError
from cities.network import RoadNetwork
from cities.routing import Router
from generative.processes import end_with_parent, stop_workers
from generative.signal_data import (
    MAX_PHASES,
    PEDESTRIAN,
    VEHICLE,
    SignalInstance,
    write_signal_file,
)

__all__ = [
    "DrawnScenario",
    "SignalDraw",
    "build_signal_corpus",
    "drawn_scenario",
    "junction_instance",
    "plan_signal_corpus",
    "scenario_instance",
    "signal_places",
]

SIMULATED_S = 7200.0
WINDOW_S = 3600.0
TRAVEL_CAP_S = 1800.0
"""Travel times between junctions are capped here (beyond, junctions do not interact)."""


def junction_instance(
    network: RoadNetwork,
    plans: Mapping[int, SignalPlan],
    flow_vph: np.ndarray,
    *,
    limits: TimingLimits = DEFAULT_LIMITS,
    meta: dict | None = None,
) -> SignalInstance:
    """The instance the learned planner reads for ``plans``' junctions, given each link's
    arrival flow (veh/h, from a run of the current plans)."""
    nodes = np.array(sorted(plans), dtype=np.int64)
    size = len(nodes)
    saturation = saturation_flows_vph(network)
    kind = np.zeros((size, MAX_PHASES), np.int8)
    flow = np.zeros((size, MAX_PHASES), np.float32)
    sat = np.ones((size, MAX_PHASES), np.float32)
    least = np.zeros((size, MAX_PHASES), np.float32)
    for j, node in enumerate(nodes):
        plan = plans[int(node)]
        if len(plan.phases) > MAX_PHASES:
            raise ValueError(f"junction {node}: {len(plan.phases)} phases, at most {MAX_PHASES}")
        minimum = limits.minimum_greens(plan, network.edge_lanes)
        for p, phase in enumerate(plan.phases):
            least[j, p] = minimum[p]
            if not phase.approaches:
                kind[j, p] = PEDESTRIAN
                continue
            kind[j, p] = VEHICLE
            approaches = np.asarray(phase.approaches)
            ratio = flow_vph[approaches] / saturation[approaches]
            critical = approaches[int(np.argmax(ratio))]
            flow[j, p] = flow_vph[critical] / 3600.0
            sat[j, p] = saturation[critical] / 3600.0
    travel = Router(network).costs(nodes, nodes) if size else np.zeros((0, 0))
    travel = np.minimum(np.minimum(travel, travel.T), TRAVEL_CAP_S).astype(np.float32)
    return SignalInstance(
        kind=kind, flow_vps=flow, saturation_vps=sat, min_green_s=least,
        intergreen_s=np.full(size, limits.intergreen_s, np.float32),
        max_cycle_s=np.full(size, limits.max_cycle_s, np.float32),
        node=nodes, travel_s=travel, meta=dict(meta or {}),
    )  # fmt: skip


@dataclass(frozen=True)
class SignalDraw:
    """One training scenario: a place, a demand factor, streets closed, a seed.

    ``place`` is a city name or path, ``path@x,y+size_m`` for a window of it, or
    ``synthetic:SEED`` for a synthetic town.
    """

    place: str
    demand_scale: float
    closures: int
    seed: int

    @property
    def file_name(self) -> str:
        safe = "".join(c if c.isalnum() else "-" for c in Path(self.place).name)[:60]
        return f"{safe}-d{self.demand_scale:.2f}-c{self.closures}-s{self.seed}.npz"


def _place(name: str) -> City:
    from cities.areas import city_window, synthetic_city
    from cities.city import load_city

    if name.startswith("synthetic:"):
        return _with_signals(synthetic_city(int(name.split(":", 1)[1])))
    if "@" in name:
        path, window = name.rsplit("@", 1)
        centre, size = window.split("+")
        x, y = (float(v) for v in centre.split(","))
        return city_window(load_city(path), centre_xy=(x, y), size_m=float(size))
    return load_city(name)


def _with_signals(city: City) -> City:
    """A synthetic town with signals where arterials (50 km/h) cross."""
    network = city.network
    fast = network.edge_speed_kph >= 50
    arterial_in = np.bincount(network.edge_v[fast], minlength=network.n_nodes)
    degree = np.bincount(network.edge_v, minlength=network.n_nodes)
    network.node_signalized[:] = (arterial_in >= 2) & (degree >= 3)
    return city


@dataclass
class DrawnScenario:
    """A draw's scenario, ready to simulate: the place, its network, the closed links, the
    trips, the engine's settings and the default plans."""

    city: City
    network: RoadNetwork
    closed: np.ndarray
    demand: object
    config: TrafficConfig
    plans: dict[int, SignalPlan]

    def simulate(self, plans: dict[int, SignalPlan] | None = None, *, seed: int):
        """The scenario under ``plans`` (default: its default plans)."""
        return simulate(self.network, self.demand, self.plans if plans is None else plans,
                        config=self.config, closed=self.closed, seed=seed)  # fmt: skip


def drawn_scenario(draw: SignalDraw) -> DrawnScenario:
    """The scenario of ``draw``: its place, ``closures`` streets closed at random (never a
    signal's approach), the place's peak hour of trips times ``demand_scale``."""
    from cities.peak_demand import peak_hour_demand

    city = _place(draw.place)
    rng = np.random.default_rng(draw.seed)
    network = city.network
    closed = np.zeros(network.n_edges, dtype=bool)
    if draw.closures:
        # streets closed at random, never a signal's approach (its junction keeps its phases)
        approach = network.node_signalized[network.edge_v]
        candidates = np.flatnonzero(~approach)
        pick = rng.choice(candidates, size=min(draw.closures, len(candidates)), replace=False)
        closed[pick] = True
    plans = default_plans(network)
    if not plans:
        raise ValueError(f"{draw.place} has no signalized junctions")
    trips = round(peak_hour_demand(city.context, network).trips(WINDOW_S) * draw.demand_scale)
    demand = generate_trips(city.context, n_trips=trips, window_s=WINDOW_S, rng=rng)
    config = TrafficConfig(duration_s=SIMULATED_S, dt_s=2.0, reroute_share=0.2)
    return DrawnScenario(city, network, closed, demand, config, plans)


def scenario_instance(draw: SignalDraw, *, limits: TimingLimits = DEFAULT_LIMITS) -> SignalInstance:
    """Simulate ``draw``'s scenario under the default plans and make its instance."""
    scenario = drawn_scenario(draw)
    model = scenario.simulate(seed=draw.seed)
    city = scenario.city
    meta = {**asdict(draw), "city": city.name, "sha256": city.source.sha256,
            "trips": len(scenario.demand)}  # fmt: skip
    return junction_instance(
        scenario.network, scenario.plans, measured_flows_vph(model), limits=limits, meta=meta
    )


def signal_places(
    cities: Sequence[str],
    *,
    windows: int = 40,
    synthetic: int = 40,
    window_m: tuple[float, float] = (1000.0, 2500.0),
    seed: int = 0,
) -> list[str]:
    """Places for a corpus: each city whole; ``windows`` squares of ``window_m`` cut around
    signalized junctions of the cities with at least 50 of them and more junctions than a
    window needs (shared in turn; a city smaller than that is a window of itself); and
    ``synthetic`` towns. Windows with too few streets are skipped when drawn."""
    from cities.areas import MIN_WINDOW_NODES
    from cities.city import load_city

    for option, count in (("--windows", windows), ("--synthetic", synthetic)):
        if count < 0:
            raise TwinError(f"{option} {count}: a count of places, 0 or more.")
    rng = np.random.default_rng(seed)
    places = list(cities)
    large = []
    for name in cities:
        network = load_city(name).network
        signals = np.flatnonzero(network.node_signalized)
        # a window of a network smaller than a window's least cannot be drawn: every try of
        # it would fail (the bundled Helsinki centre: 141 junctions, 69 signals)
        if len(signals) >= 50 and network.n_nodes > MIN_WINDOW_NODES:
            large.append((name, network, signals))
    for i in range(windows if large else 0):
        name, network, signals = large[i % len(large)]
        node = signals[rng.integers(len(signals))]
        size = rng.uniform(*window_m)
        places.append(f"{name}@{network.node_x[node]:.0f},{network.node_y[node]:.0f}+{size:.0f}")
    places += [f"synthetic:{seed * 1000 + i}" for i in range(synthetic)]
    return places


def plan_signal_corpus(
    places: Sequence[str],
    *,
    draws: int,
    seed: int = 0,
    demand: tuple[float, float] = (0.6, 1.6),
    closures: tuple[int, int] = (0, 4),
) -> list[SignalDraw]:
    """``draws`` scenarios over ``places`` in turn, demand factors log-uniform in ``demand``."""
    if draws < 1:
        raise TwinError(f"--draws {draws}: draw at least one scenario.")
    if not places:
        raise TwinError("no places to draw scenarios from: give --city, --windows or --synthetic.")
    if not (math.isfinite(demand[1]) and 0 < demand[0] <= demand[1]):
        raise TwinError(
            f"--demand {demand[0]:g}-{demand[1]:g}: factors of today's demand, 0 < LOW ≤ HIGH."
        )
    if not 0 <= closures[0] <= closures[1]:
        raise TwinError(f"--closures {closures[0]}-{closures[1]}: streets closed, 0 ≤ LOW ≤ HIGH.")
    rng = np.random.default_rng(seed)
    low, high = np.log(demand[0]), np.log(demand[1])
    return [
        SignalDraw(
            place=places[i % len(places)],
            demand_scale=float(np.round(np.exp(rng.uniform(low, high)), 3)),
            closures=int(rng.integers(closures[0], closures[1] + 1)),
            seed=seed * 100_000 + i,
        )
        for i in range(draws)
    ]


def _build_one(draw: SignalDraw, folder: str) -> str:
    path = Path(folder) / draw.file_name
    if not path.exists():
        write_signal_file(path, [scenario_instance(draw)])
    return str(path)


def build_signal_corpus(
    plan: Sequence[SignalDraw],
    out: str | os.PathLike[str],
    *,
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Draw every scenario of ``plan`` into ``out`` (one ``.npz`` each, written atomically);
    a build started again draws only the missing ones. Scenarios that fail (a window without
    signals) are skipped and listed in ``out/failed.json``."""
    if workers < 1:  # before the folder is made: a refused call writes nothing
        raise TwinError(f"--workers {workers}: processes simulating at once, 1 or more.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TwinError(f"{out} is a file: name a folder for the scenarios.")
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps([asdict(d) for d in plan], indent=1))
    files, failed = [], {}
    context = multiprocessing.get_context("spawn")  # torch and numba hold threads: never fork
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context,
        initializer=end_with_parent, initargs=(os.getpid(),),
    ) as pool:  # fmt: skip
        futures = {pool.submit(_build_one, draw, str(out)): draw for draw in plan}
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                try:
                    files.append(Path(future.result()))
                except (ValueError, TwinError) as err:
                    failed[futures[future].file_name] = str(err)[:300]
                if on_progress:
                    on_progress(done, len(plan))
        except BaseException:  # Ctrl-C, a terminate: end now, not after every queued draw
            stop_workers(pool)
            raise
    (out / "failed.json").write_text(json.dumps(failed, indent=1))
    return sorted(files)

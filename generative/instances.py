"""Daily collection problems of a city, sampled from the waste twin, for training and evaluation.

A city's waste model runs day by day (bins fill by their land use, weekday and noise; greedy
planned rounds empty them), and every working day yields one instance: the ``n_bins`` bins the
planned policy would consider first (required bins, then the optional ones by urgency prize, then
the fullest), with the city's asymmetric travel-time and distance matrices between depot,
disposal site and those bins. Runs with successive seeds continue until enough instances exist.

The result is an :class:`~generative.data.InstanceBatch`, written with :func:`write_instances`
to a numpy file that training reads with :func:`generative.data.read_instances` (torch and numpy
only). This module needs the GIS stack; training does not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from agents.waste.bins import place_bins
from agents.waste.model import WasteConfig, WasteModel
from agents.waste.planning import Plan, PyVRPPlanner, RoutingProblem, route_stats
from agents.waste.policies import WORKING_DAYS, PlannedPolicy
from agents.waste.sites import Sites, locate_sites
from cities.city import City
from cities.errors import TwinError
from generative.atomic import write_atomic
from generative.data import ARRAYS, FORMAT_VERSION, InstanceBatch
from generative.env import action_limit, actions_from_plan
from generative.model import UNSERVED_REQUIRED_PENALTY_M

__all__ = [
    "plan_cost",
    "sample_instances",
    "to_problem",
    "with_references",
    "write_instances",
]


def _pick(request, fill_kg: np.ndarray, n_bins: int, rng: np.random.Generator) -> np.ndarray:
    """Positions (into the day's request, or beyond it for extra bins) of the ``n_bins`` bins an
    instance holds: required first, then optional by prize, then others by fill."""
    required = request.bins[request.required]
    optional = request.bins[~request.required][np.argsort(-request.prize[~request.required])]
    chosen = np.concatenate([rng.permutation(required), optional])[:n_bins]
    if len(chosen) < n_bins:
        others = np.setdiff1d(np.arange(len(fill_kg)), chosen)
        others = others[np.argsort(-fill_kg[others], kind="stable")]
        chosen = np.concatenate([chosen, others[: n_bins - len(chosen)]])
    return chosen


def sample_instances(
    city: City,
    *,
    n_bins: int,
    n_instances: int,
    seed: int = 0,
    n_trucks: int = 3,
    population: float | None = None,
    truck_capacity_kg: float = 10_000.0,
    shift_s: float = 8 * 3600.0,
    unload_s: float = 900.0,
    sites: Sites | None = None,
    use_osm_bins: bool = True,
    draw: dict | None = None,
) -> InstanceBatch:
    """Sample ``n_instances`` working days of ``n_bins`` bins each from a city's waste twin.

    ``sites`` places the depot and disposal site (default: where the city's OSM file puts
    them, :func:`~agents.waste.sites.locate_sites`); ``use_osm_bins`` as
    :func:`~agents.waste.bins.place_bins`'s ``use_osm``; ``draw`` is recorded in the file's
    meta (what a corpus asked for: place, sizes, fleet).

    Raises
    ------
    twin.errors.TwinError
        ``n_bins`` larger than the city's bins, or non-positive counts.
    """
    if n_instances < 1 or n_bins < 1:
        raise TwinError(f"need n_instances ≥ 1 and n_bins ≥ 1, got {n_instances}, {n_bins}.")
    network = city.network
    rng = np.random.default_rng(seed)
    bins = place_bins(network, city.context, rng=rng, population=population, use_osm=use_osm_bins)
    if n_bins > len(bins):
        raise TwinError(
            f"{city.name} has {len(bins)} bins; a day of {n_bins} cannot be drawn: ask for at "
            f"most {len(bins)} (--bins), or place more bins for more residents (--population)."
        )
    sites = sites or locate_sites(network, city.context, city=city.name)
    policy = PlannedPolicy(bins, name="greedy")
    rows: dict[str, list[np.ndarray]] = {name: [] for name in (*ARRAYS, "locations")}
    nodes: list[np.ndarray] = []
    run = 0
    while len(rows["load_kg"]) < n_instances:
        config = WasteConfig(
            days=28, planner="greedy", n_trucks=n_trucks, truck_capacity_kg=truck_capacity_kg,
            shift_s=shift_s, unload_s=unload_s,
        )  # fmt: skip
        model = WasteModel(network, bins, sites, config=config, seed=seed * 1000 + run)
        duration, distance = model.matrices(config.shift_start_s)
        xy = np.column_stack(
            [network.node_x[model.location_nodes], network.node_y[model.location_nodes]]
        )
        xy = xy - xy[0]
        for day in range(config.days):
            if day % 7 in WORKING_DAYS and len(rows["load_kg"]) < n_instances:
                request = policy.request(day, model.fill_kg.copy())
                chosen = _pick(request, model.fill_kg, n_bins, rng)
                in_request = {int(b): i for i, b in enumerate(request.bins)}
                at = [in_request.get(int(b)) for b in chosen]
                prize = np.array([0.0 if i is None else request.prize[i] for i in at])
                required = np.array([False if i is None else bool(request.required[i]) for i in at])
                locations = np.concatenate([[0, 1], chosen + 2])
                grid = np.ix_(locations, locations)
                rows["locations"].append(locations)
                nodes.append(model.location_nodes[locations])
                rows["duration_s"].append(duration[grid])
                rows["distance_m"].append(distance[grid])
                rows["xy_m"].append(xy[locations])
                rows["load_kg"].append(np.minimum(model.fill_kg[chosen], truck_capacity_kg))
                rows["prize"].append(prize)
                rows["required"].append(required)
                rows["service_s"].append(model.service_s[chosen])
                rows["capacity_kg"].append(np.float32(truck_capacity_kg))
                rows["shift_s"].append(np.float32(shift_s))
                rows["unload_s"].append(np.float32(config.unload_s))
                rows["n_trucks"].append(np.int32(n_trucks))
            model.step()
        run += 1
    kinds = {"required": bool, "n_trucks": np.int32, "locations": np.int32}
    arrays = {k: np.stack(v).astype(kinds.get(k, np.float32)) for k, v in rows.items()}
    meta = {
        "format_version": FORMAT_VERSION,
        "city": city.name,
        "city_sha256": city.source.sha256,
        "n_bins": n_bins,
        "seed": seed,
        "population": population,
        "sites": sites.summary(),
        **({"draw": draw} if draw is not None else {}),
    }
    return InstanceBatch(**arrays, meta=meta, nodes=np.stack(nodes).astype(np.int64))


def to_problem(batch: InstanceBatch, index: int) -> RoutingProblem:
    """Instance ``index`` as the waste twin's :class:`~agents.waste.planning.RoutingProblem`
    (to solve it with PyVRP or greedy, or check a learned plan)."""
    return RoutingProblem(
        duration_s=batch.duration_s[index].astype(np.float64),
        distance_m=batch.distance_m[index].astype(np.float64),
        load_kg=batch.load_kg[index].astype(np.float64),
        prize=batch.prize[index].astype(np.float64),
        required=batch.required[index].astype(bool),
        service_s=batch.service_s[index].astype(np.float64),
        n_trucks=int(batch.n_trucks[index]),
        truck_capacity_kg=float(batch.capacity_kg[index]),
        shift_s=float(batch.shift_s[index]),
        unload_s=float(batch.unload_s[index]),
        xy_m=batch.xy_m[index].astype(np.float64),
    )


def plan_cost(problem: RoutingProblem, plan: Plan) -> float:
    """A plan's cost as the learned planner counts it: metres driven, plus the prizes of the
    optional bins left out, plus :data:`~generative.model.UNSERVED_REQUIRED_PENALTY_M` per
    required bin left out. PyVRP minimises the same sum (distance + prizes forgone)."""
    served = np.zeros(problem.n_bins, dtype=bool)
    served[plan.visited_bins] = True
    driven = sum(route_stats(problem, route).distance_m for route in plan.routes)
    return float(
        driven
        + problem.prize[~served & ~problem.required].sum()
        + UNSERVED_REQUIRED_PENALTY_M * (problem.required & ~served).sum()
    )


def with_references(
    batch: InstanceBatch, *, time_s: float = 1.0, seed: int = 0, progress=None
) -> InstanceBatch:
    """``batch`` with PyVRP's plan for every instance (each solved for ``time_s``) attached: its
    cost (:func:`plan_cost`), the yardstick of the validation gap, and the plan as decoder
    actions, to imitate. ``progress(done, total)`` is called after each instance."""
    planner = PyVRPPlanner(max_runtime_s=time_s)
    costs = np.empty(len(batch), dtype=np.float32)
    length = action_limit(batch.n_bins, int(batch.n_trucks.max()))
    actions = np.zeros((len(batch), length), dtype=np.int16)
    for i in range(len(batch)):
        problem = to_problem(batch, i)
        plan = planner.plan(problem, seed=seed)
        costs[i] = plan_cost(problem, plan)
        routes = [route.tolist() for route in plan.routes]
        actions[i] = actions_from_plan(routes, problem.n_trucks, length)
        if progress is not None:
            progress(i + 1, len(batch))
    return batch.with_reference(costs, actions)


def write_instances(batch: InstanceBatch, path: str | os.PathLike[str]) -> Path:
    """Write a batch to ``path`` (``.npz``) atomically: a reader sees the old file or the new."""
    meta = np.array(json.dumps(batch.meta, default=str))

    def write(staging: str) -> None:
        with open(staging, "wb") as sink:  # a file object: numpy adds no .npz to the name
            np.savez_compressed(sink, **batch.saved_arrays(), meta=meta)

    return write_atomic(path, write)

"""A day's collection routes proposed by the learned planner, checked before anyone sees them.

:func:`propose_routes` draws one working day of a city's waste twin, plans it with the learned
planner (and its PyVRP polish), with PyVRP alone at the same wall time and with greedy, and
checks the proposal on the day's own travel times and loads: every truck within capacity and
shift (:func:`agents.waste.planning.check_plan`), every bin that must be emptied today emptied
(else it overflows), and its cost (km driven plus the prizes of bins left) against the plan
the twin makes without a model, PyVRP at equal time, the *current plan* here. It is
*recommended* only where every check passes and it costs no more than that plan.

:meth:`RouteProposal.write` writes the proposal folder (``proposal.json``, ``routes.json``:
each truck's stops in driving order with their positions) that :mod:`twin.proposals` reads and
a planner decides on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.waste.planning import DEPOT, DISPOSAL, Plan, PyVRPPlanner, RoutingProblem, check_plan
from cities.city import City, load_city
from twin.errors import TwinError
from twin.proposals import proposal_record
from twin.provenance import Provenance, content_sha256
from twin.results_io import atomic_output_dir
from twin.specs import ScenarioError, check_seed, short_repr

__all__ = ["RouteProposal", "check_routes", "propose_routes", "road_paths", "route_stops"]

INSTANCE_FIELDS = (
    "duration_s", "distance_m", "load_kg", "prize", "required", "service_s", "n_trucks",
    "truck_capacity_kg", "shift_s", "unload_s",
)  # fmt: skip
"""What a day's instance hash covers: everything a planner reads of the day."""

REFERENCE = "pyvrp"
"""The plan a proposal is judged against: what the twin plans for the day without a model."""

COST_TOLERANCE = 0.001
"""A proposal costing at most this much more than the current plan (a tenth of a per cent:
metres on a day's tens of km) counts as no worse: solvers' rounding, not a worse plan."""


@dataclass
class RouteProposal:
    """A proposed day of collection routes, the plans it was compared with and its checks.

    Attributes
    ----------
    proposed
        The name of the plan proposed (``learned+pyvrp`` with a polish, else ``learned``).
    plans
        Every plan of the day by name: the proposal, ``pyvrp`` (the reference) and ``greedy``.
    checks
        One row per check: ``check``, ``passed``, ``detail``.
    nodes
        Each location's node in the city's road network (depot, disposal site, bins).
    """

    city: City
    problem: RoutingProblem
    nodes: np.ndarray
    plans: dict[str, Plan]
    proposed: str
    provenance: Provenance
    inputs: dict[str, Any]
    checks: list[dict[str, Any]]
    recommended: bool
    reasons: list[str]
    report: dict[str, Any] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """Figures of the day beyond the model's training range (flagged, not refused)."""
        outside = self.report.get("planner", {}).get("outside_range")
        return [f"the day is {outside}"] if outside else []

    def stops(self) -> list[dict[str, Any]]:
        """The proposed plan's stops (:func:`route_stops`)."""
        return route_stops(self.city, self.problem, self.nodes, self.plans[self.proposed])

    def paths(self) -> dict[str, list[list[float]]]:
        """Each truck's road path through its stops (:func:`road_paths`)."""
        return road_paths(self.city, self.stops())

    def summary(self) -> dict[str, Any]:
        """What ``twin propose --json`` prints: the comparison, the checks, the provenance."""
        return {
            **self.report,
            "proposed": self.proposed,
            "recommended": self.recommended,
            "reasons": self.reasons,
            "notes": self.notes(),
            "checks": self.checks,
            "label": self.provenance.label(),
            "provenance": self.provenance.to_dict(),
        }

    def write(self, out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the proposal folder into ``out``, atomically: ``routes.json`` (the proposed
        plan's stops in driving order, and each truck's road path, by truck number) and
        ``proposal.json`` (:mod:`twin.proposals`)."""

        def fill(folder: Path) -> None:
            routes = {"label": self.provenance.label(), "provenance": self.provenance.to_dict(),
                      "stops": self.stops(), "paths": self.paths()}  # fmt: skip
            (folder / "routes.json").write_text(json.dumps(routes, indent=1))
            record = proposal_record(
                kind="collection-routes", provenance=self.provenance, inputs=self.inputs,
                folder=folder, plan_files=["routes.json"], checks=self.checks,
                recommended=self.recommended, reasons=self.reasons,
                notes=self.notes(),
                details={"city": self.city.name, "proposed": self.proposed,
                         "plans": self.report.get("plans", {})},
            )  # fmt: skip
            (folder / "proposal.json").write_text(json.dumps(record, indent=2))

        return atomic_output_dir(Path(out), fill, overwrite=overwrite, manifest="proposal.json")


def route_stops(
    city: City, problem: RoutingProblem, nodes: np.ndarray, plan: Plan
) -> list[dict[str, Any]]:
    """Every stop of ``plan`` in driving order, one dict each: ``truck`` (from 1), ``order``
    (from 0, the depot), ``kind`` (depot, bin, disposal), ``bin`` (the day's bin number, from 1),
    ``node`` (OSM id), ``lon``, ``lat``, ``arrive_s`` (seconds after the shift starts),
    ``load_kg`` (on board after the stop), ``km`` (driven so far)."""
    network = city.network
    capacity = problem.truck_capacity_kg
    load = np.minimum(problem.load_kg, capacity)
    rows: list[dict[str, Any]] = []
    for truck, route in enumerate(plan.routes, start=1):
        if len(route) == 0:
            continue
        clock = km = carried = 0.0
        here = DEPOT
        for order, location in enumerate([DEPOT, *map(int, route), DEPOT]):
            if order:
                clock += float(problem.duration_s[here, location])
                km += float(problem.distance_m[here, location]) / 1000.0
            kind = "depot" if location == DEPOT else "disposal" if location == DISPOSAL else "bin"
            if kind == "bin":
                carried += float(load[location - 2])
            elif kind == "disposal":
                carried = 0.0
            node = int(nodes[location])
            rows.append(
                {
                    "truck": truck, "order": order, "kind": kind,
                    "bin": location - 1 if kind == "bin" else None,
                    "node": int(network.node_osmid[node]),
                    "lon": round(float(network.node_lon[node]), 7),
                    "lat": round(float(network.node_lat[node]), 7),
                    "arrive_s": round(clock, 1), "load_kg": round(carried, 1),
                    "km": round(km, 3),
                }
            )  # fmt: skip
            if kind == "bin":
                clock += float(problem.service_s[location - 2])
            elif kind == "disposal":
                clock += problem.unload_s
            here = location
    return rows


def road_paths(city: City, stops: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    """Each truck's road path through its ``stops`` in driving order (:func:`route_stops`),
    fastest at free flow: ``{"1": [[lon, lat], …], …}`` (keys as JSON keeps them)."""
    from cities.routing import Router

    network = city.network
    order = np.argsort(network.node_osmid)
    router = Router(network)
    paths = {}
    for truck in sorted({stop["truck"] for stop in stops}):
        mine = sorted((s for s in stops if s["truck"] == truck), key=lambda s: s["order"])
        ids = np.array([s["node"] for s in mine], dtype=np.int64)
        nodes = order[np.searchsorted(network.node_osmid, ids, sorter=order)]
        legs = router.routes(nodes[:-1], nodes[1:])
        points = [[mine[0]["lon"], mine[0]["lat"]]]
        for leg in range(len(legs)):
            ends = network.edge_v[legs.path(leg)]
            points += [[round(float(network.node_lon[v]), 7), round(float(network.node_lat[v]), 7)]
                       for v in ends]  # fmt: skip
        paths[str(truck)] = points
    return paths


def check_routes(problem: RoutingProblem, plan: Plan, reference: Plan) -> list[dict[str, Any]]:
    """A plan's checks on the day's travel times and loads, and against the ``reference``
    plan: one row per check (``check``, ``passed``, ``detail``), failures spelled out."""
    from generative.instances import plan_cost

    violations = check_plan(problem, plan)
    capacity = [v for v in violations if "capacity" in v or "load" in v]
    shift = [v for v in violations if "shift" in v]
    other = [v for v in violations if v not in capacity and v not in shift]
    unserved = plan.unserved_required(problem)
    cost, reference_cost = plan_cost(problem, plan) / 1000.0, plan_cost(problem, reference) / 1000.0
    rows = [
        ("capacity", not capacity, "; ".join(capacity) or "every truck within its capacity"),
        ("shift", not shift, "; ".join(shift) or "every route within the shift"),
        ("routes", not other, "; ".join(other) or "every route valid"),
        (
            "required bins (overflow)",
            len(unserved) == 0,
            f"{len(unserved)} bins that must be emptied today left full"
            if len(unserved)
            else f"all {int(problem.required.sum())} bins that must be emptied today emptied",
        ),
        (
            "km and missed prizes",
            cost <= reference_cost * (1 + COST_TOLERANCE),
            f"{cost:.3f} km against {reference_cost:.3f} km for the current plan ({REFERENCE})",
        ),
    ]
    return [{"check": name, "passed": bool(ok), "detail": detail} for name, ok, detail in rows]


def propose_routes(
    city: str | os.PathLike[str] | City | None = None,
    *,
    bins: int = 100,
    seed: int = 0,
    trucks: int = 3,
    samples: int | None = None,
    temperature: float | None = None,
    refine: int | None = None,
    polish_s: float = 1.0,
    checkpoint: str | os.PathLike[str] | None = None,
    outside_range: str = "refuse",
    population: float | None = None,
) -> RouteProposal:
    """Propose one working day's collection routes and check them (see the module's docstring).

    The day is the tenth working day of the city's waste twin (bins start the run nearly
    empty), seeded by ``seed``; ``population`` (residents; default the city's estimate) sets
    how many bins the city has to draw the day's ``bins`` from. The learned planner samples
    ``samples`` plans at ``temperature``, refines the cheapest ``refine`` by its own local
    search (``None``: its defaults) and PyVRP polishes the best for ``polish_s`` seconds;
    PyVRP alone gets the same total wall time.
    """
    for value, name, allowed in (
        (bins, "bins", bins >= 1),
        (trucks, "trucks", trucks >= 1),
        (samples, "samples", samples is None or samples >= 1),
        (temperature, "temperature", temperature is None or temperature > 0),
        (refine, "refine", refine is None or refine >= 0),
        (polish_s, "polish_s", polish_s >= 0),
    ):
        if not allowed:
            bound = {"temperature": "> 0", "polish_s": "≥ 0", "refine": "≥ 0"}.get(name, "≥ 1")
            raise ScenarioError(f"{name}: must be {bound} (got {short_repr(value)})")
    seed = check_seed(seed)
    from agents.waste.planning import GreedyPlanner
    from generative.instances import plan_cost, sample_instances, to_problem
    from generative.propose import PlannerRangeError
    from twin.api import learned_planner, planner_card_version

    loaded = city if isinstance(city, City) else load_city(city)
    days = sample_instances(
        loaded, n_bins=bins, n_instances=10, seed=seed, n_trucks=trucks, population=population
    )
    day = 9
    problem = to_problem(days, day)
    sampling = {"samples": samples, "temperature": temperature, "refine": refine}
    sampling = {name: value for name, value in sampling.items() if value is not None}
    planner = learned_planner(loaded, checkpoint, outside_range=outside_range, **sampling)
    try:
        plans = {"learned": planner.plan(problem, seed=seed)}
        if polish_s > 0:
            plans["learned+pyvrp"] = planner.with_polish(polish_s).plan(problem, seed=seed)
    except PlannerRangeError as err:  # a day outside the model's range, refused as asked
        raise TwinError(str(err)) from None
    proposed = "learned+pyvrp" if polish_s > 0 else "learned"
    budget = max(plans[proposed].solve_s, 0.01)
    plans[REFERENCE] = PyVRPPlanner(max_runtime_s=budget).plan(problem, seed=seed)
    plans["greedy"] = GreedyPlanner().plan(problem, seed=seed)
    rows = {
        name: {
            "km": plan.info["distance_m"] / 1000.0,
            "truck_hours": plan.info["duration_s"] / 3600.0,
            "objective_km": plan.info["objective"] / 1000.0,
            "cost_km": plan_cost(problem, plan) / 1000.0,
            "unserved_required": plan.info["n_unserved_required"],
            "valid": not plan.info["violations"],
            "solve_s": plan.solve_s,
            "fallback": plan.info.get("fallback"),
            "outside_range": plan.info.get("outside_range"),
            "by_model": name.startswith("learned") and not plan.info.get("fallback"),
        }
        for name, plan in plans.items()
    }
    chosen = plans[proposed]
    # a day outside the model's range that went to the fallback is the fallback's plan
    fallback = chosen.info.get("fallback")
    # PyVRP's own plan is not held against another PyVRP run of the same budget: two runs of
    # a time-limited search differ by chance, and the verdict would too
    checks = check_routes(problem, chosen, chosen if fallback else plans[REFERENCE])
    reasons = [f"{c['check']}: {c['detail']}" for c in checks if not c["passed"]]
    checkpoint_path = Path(planner.checkpoint)
    provenance = Provenance.make(
        kind="collection-routes",
        planner=f"{chosen.planner} (fallback: the day is {fallback})"
        if fallback
        else (
            f"{proposed} ({planner.samples} samples at temperature {planner.temperature:g}, "
            + (f"the cheapest {planner.refine} refined" if planner.refine else "as drawn")
            + (f", {polish_s:g} s of polish)" if polish_s > 0 else ")")
        ),
        by_model=not fallback,
        instance_sha256=content_sha256({name: getattr(problem, name) for name in INSTANCE_FIELDS}),
        seed=seed,
        checkpoint=checkpoint_path,
        model_card_version=planner_card_version(checkpoint_path),
    )
    inputs = {
        "city": loaded.name, "city_sha256": loaded.source.sha256,
        "day": {"bins": bins, "seed": seed, "trucks": trucks, "population": population,
                "working_day": day + 1},
        "planner": {"checkpoint": str(checkpoint_path),
                    "checkpoint_sha256": provenance.checkpoint_sha256, "samples": planner.samples,
                    "temperature": planner.temperature, "refine": planner.refine,
                    "polish_s": polish_s,
                    "outside_range": outside_range},
    }  # fmt: skip
    report = {
        "city": loaded.name,
        "bins": bins,
        "required": int(problem.required.sum()),
        "seed": seed,
        "planner": {
            "checkpoint": str(planner.checkpoint),
            "training_range": planner.training_range.describe(),
            "outside_range": planner.outside(problem),
        },
        "sampling": {
            "samples": planner.samples,
            "temperature": planner.temperature,
            "refine": planner.refine,
        },
        "pyvrp_budget_s": budget,
        "plans": rows,
    }
    return RouteProposal(
        city=loaded, problem=problem, nodes=days.nodes[day], plans=plans, proposed=proposed,
        provenance=provenance, inputs=inputs, checks=checks, recommended=not reasons,
        reasons=reasons, report=report,
    )  # fmt: skip

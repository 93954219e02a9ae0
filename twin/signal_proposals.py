"""Proposed signal plans for a scenario, checked in the twin before anyone sees them.

:func:`propose_signals` times every signalized junction of a scenario's network by one of
:data:`METHODS`, then simulates the proposal against the current plans on the same trips at the
scenario's demand and at −20 % and +20 % (:func:`agents.traffic.demand.scaled_trips`), and
reports total delay, unfinished trips, the longest queue and spillback to the network's edge
for both (:mod:`agents.traffic.retiming`). A proposal is *accepted* only where it has less
total delay at the scenario's demand, no more unfinished trips and no more delay at any demand
checked; otherwise the report says which check it failed, and a planner keeps the current plans.

- ``webster``: Webster's cycle and splits from the flows the current plans carry, recomputed
  from the flows the new plans carry (``webster_rounds`` in all), the best round kept;
- ``search``: CMA-ES over every junction's cycle, splits and offset, started from Webster's
  plans, with a budget of ``simulations``;
- ``learned``: the learned signal planner (:mod:`generative.signal_propose`) from the flows of
  one run of the current plans, in one pass; with ``polish`` simulations, a short search from
  its plans.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.traffic.demand import scaled_trips
from agents.traffic.retiming import (
    PlanScore,
    edge_delays_veh_h,
    iterated_webster,
    measured_flows_vph,
    score,
    search_plans,
    simulate,
)
from agents.traffic.signals import SignalPlan, default_plans
from agents.traffic.timing import DEFAULT_LIMITS, TimingLimits, check_plans
from cities.city import City, load_city
from twin.api import planner_card_version, traffic_setup
from twin.errors import TwinError
from twin.limits import Budget, check, traffic_estimate
from twin.proposals import proposal_record, traffic_inputs
from twin.provenance import Provenance, content_sha256
from twin.results_io import atomic_output_dir
from twin.signal_files import as_written, plan_table, write_plan_csv
from twin.specs import TrafficSpec, check_seed, short_repr, traffic_spec

__all__ = [
    "CHECK_SCALES",
    "MAX_SIMULATIONS",
    "METHODS",
    "SIGNAL_METHODS",
    "SignalProposal",
    "propose_signals",
]

SIGNAL_METHODS = {
    "webster": "Webster's method (a few simulations)",
    "search": "search from Webster's plans (one simulation a step)",
    "learned": "the learned signal planner (one simulation, one pass)",
}
"""How :func:`propose_signals` times the junctions (see the module's docstring), described."""
METHODS = tuple(SIGNAL_METHODS)

CHECK_SCALES = (0.8, 1.0, 1.2)
"""Demand factors every proposal is checked at (the scenario's demand and ±20 %)."""

MAX_SIMULATIONS = 10_000
"""The largest budget of simulations a search (or a polish) takes."""


@dataclass
class SignalProposal:
    """Plans proposed for a scenario and how they did against the current ones.

    Attributes
    ----------
    plans, current
        Node position → :class:`~agents.traffic.signals.SignalPlan`.
    checks
        One row per demand factor: ``demand_scale``, then ``current_<measure>`` and
        ``proposed_<measure>`` of every :class:`~agents.traffic.retiming.PlanScore` field.
    edge_delays
        At the scenario's demand, one row per link: ``u``, ``v`` (OSM node ids),
        ``current_delay_veh_h`` and ``proposed_delay_veh_h`` (for a map of where delay fell).
    accepted
        Whether the proposal passed every check; ``reasons`` says why not.
    notes
        Figures of the scenario beyond the learned planner's training range (``learned``).
    """

    city: City
    method: str
    seed: int
    plans: dict[int, SignalPlan]
    current: dict[int, SignalPlan]
    checks: pd.DataFrame
    accepted: bool
    reasons: list[str]
    simulations: int
    wall_s: float
    spec: TrafficSpec
    edge_delays: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provenance: Provenance | None = None
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def recommended(self) -> bool:
        """Whether the proposal may be shown as a recommendation: it passed every check."""
        return self.accepted

    def table(self) -> pd.DataFrame:
        """The proposal's timing, one row per phase (the plan file's columns)."""
        return plan_table(self.city.network, self.plans)

    def timings(self) -> list[dict[str, Any]]:
        """The proposal as a scenario's ``traffic.signals`` retimings (OSM node, greens, offset):
        what applying it to a scenario sets."""
        ids = self.city.network.node_osmid
        return [
            {
                "node": int(ids[node]),
                "greens_s": [round(p.green_s, 2) for p in plan.phases],
                "offset_s": round(plan.offset_s, 2),
            }
            for node, plan in sorted(self.plans.items(), key=lambda item: int(ids[item[0]]))
        ]

    def delay_change(self, demand_scale: float = 1.0) -> float:
        """Relative change of total delay at ``demand_scale`` (−0.2: a fifth less)."""
        row = self.checks.set_index("demand_scale").loc[demand_scale]
        before = row["current_total_delay_veh_h"]
        return float(row["proposed_total_delay_veh_h"] / before - 1) if before > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """Everything but the plans, as JSON-ready values."""
        return {
            "city": self.city.name,
            "method": self.method,
            "seed": self.seed,
            "junctions": len(self.plans),
            "accepted": self.accepted,
            "reasons": self.reasons,
            "notes": self.notes,
            "delay_change_at_demand": self.delay_change(1.0),
            "simulations": self.simulations,
            "wall_s": self.wall_s,
            "checks": self.checks.to_dict(orient="records"),
            "spec": self.spec.model_dump(mode="json"),
            "recommended": self.recommended,
            **(
                {"label": self.provenance.label(), "provenance": self.provenance.to_dict()}
                if self.provenance is not None
                else {}
            ),
        }

    def write_record(
        self, folder: Path, *, extra_files: Sequence[str] = (), **details: Any
    ) -> dict[str, Any]:
        """Write ``plans.csv`` and ``proposal.json`` (the record a planner decides on,
        :mod:`twin.proposals`; ``details`` added to it) into the existing ``folder``;
        ``extra_files`` (names in ``folder``, written already: tables a view shows) are
        covered by the record's hash too."""
        import json

        if self.provenance is None:
            raise ValueError("a proposal without provenance cannot be recorded")
        write_plan_csv(folder / "plans.csv", self.city.network, self.plans,
                       provenance=self.provenance.to_dict())  # fmt: skip
        summary = self.summary()
        record = proposal_record(
            kind="signal-plans", provenance=self.provenance, inputs=self.inputs, folder=folder,
            plan_files=["plans.csv", *extra_files], checks=summary.pop("checks"),
            recommended=self.recommended, reasons=self.reasons, notes=self.notes,
            details={k: v for k, v in {**summary, **details}.items()
                     if k not in ("reasons", "notes", "recommended", "label", "provenance")},
        )  # fmt: skip
        (folder / "proposal.json").write_text(json.dumps(record, indent=2, default=float))
        return record

    def write(
        self,
        out: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        sumo_net: str | os.PathLike[str] | None = None,
    ) -> Path:
        """Write the proposal into ``out``, atomically: ``plans.csv`` (read back by a
        scenario's ``signal_plan``), ``checks.csv``, ``proposal.json`` and the plans for SUMO
        (:mod:`twin.sumo`): ``plans.sumo.xml`` for the SUMO network ``sumo_net`` if given,
        else for the twin's own network written as ``sumo/`` (built into
        ``sumo/network.net.xml`` where netconvert is installed: ``sumo -n
        sumo/network.net.xml -a plans.sumo.xml``)."""
        from twin.sumo import write_sumo_network, write_sumo_programs

        network = self.city.network

        def files(folder: Path) -> None:
            target = sumo_net
            if target is None:
                (folder / "sumo").mkdir()
                target = write_sumo_network(folder / "sumo", network, self.plans)
            # a network the user names must time some of the junctions
            write_sumo_programs(
                folder / "plans.sumo.xml", network, self.plans, sumo_net=target,
                require_lights=sumo_net is not None,
            )  # fmt: skip
            self.checks.to_csv(folder / "checks.csv", index=False)
            # the record last, over every file a controller or a reader takes from the folder:
            # an edited SUMO program or checks table is refused like an edited plans.csv
            self.write_record(folder, extra_files=["plans.sumo.xml", "checks.csv"])

        return atomic_output_dir(Path(out), files, overwrite=overwrite, manifest="proposal.json")


def propose_signals(
    city: str | os.PathLike[str] | City | None = None,
    spec: TrafficSpec | Mapping[str, Any] | None = None,
    *,
    method: str = "webster",
    seed: int = 0,
    simulations: int = 60,
    webster_rounds: int = 3,
    checkpoint: str | os.PathLike[str] | None = None,
    polish: int = 0,
    check_scales: Sequence[float] = CHECK_SCALES,
    limits: TimingLimits = DEFAULT_LIMITS,
    budget: Budget | None = None,
    on_progress: Callable[[float], None] | None = None,
    **fields: Any,
) -> SignalProposal:
    """Propose signal plans for a traffic scenario and check them in the twin.

    Parameters
    ----------
    city
        A name, a path or a loaded :class:`~cities.city.City`.
    spec
        The scenario's traffic (:class:`~twin.specs.TrafficSpec` or its fields; ``fields`` on
        top): demand, closures, edits; its ``signals`` retime the current plans.
    method
        One of :data:`METHODS`.
    seed
        Seed of the trips and of the search.
    simulations
        The search's budget of simulations (``method="search"``).
    webster_rounds
        Rounds of Webster's method, each from the flows the previous round's plans carried.
    checkpoint
        The learned planner's checkpoint (``method="learned"``; default: the shipped one).
    polish
        Simulations of a search from the learned planner's plans (``method="learned"``).
    check_scales
        Demand factors of the checks; 1.0 is always among them.
    limits
        What every proposed plan respects (:class:`~agents.traffic.timing.TimingLimits`).
    budget
        The most memory and time the whole proposal may take.
    on_progress
        Called with the completed fraction, 0–1.

    Raises
    ------
    twin.specs.ScenarioError
        A bad field of the spec or seed.
    twin.errors.TwinError
        An unknown method, a bad budget of simulations, a city without signals.
    twin.limits.ResourceLimitError
        The simulations would exceed the budget.
    """
    spec = traffic_spec(spec, **fields)
    seed = check_seed(seed)
    if method not in METHODS:
        raise TwinError(f"method: {short_repr(method)} is not one of {', '.join(METHODS)}.")
    if not (isinstance(simulations, int) and 1 <= simulations <= MAX_SIMULATIONS):
        raise TwinError(
            f"simulations: must be a whole number 1–{MAX_SIMULATIONS:,} "
            f"(got {short_repr(simulations)})."
        )
    if not (isinstance(polish, int) and 0 <= polish <= MAX_SIMULATIONS):
        raise TwinError(
            f"polish: must be a whole number 0–{MAX_SIMULATIONS:,} (got {short_repr(polish)})."
        )
    if not (isinstance(webster_rounds, int) and 1 <= webster_rounds <= 10):
        raise TwinError(f"webster_rounds: must be 1–10 (got {short_repr(webster_rounds)}).")
    scales = sorted({1.0, *(float(s) for s in check_scales)})
    if any(not (0 < s <= 5) for s in scales):
        raise TwinError(f"check_scales: each must be above 0 and at most 5 (got {scales}).")
    started = time.perf_counter()
    loaded = city if isinstance(city, City) else load_city(city)
    setup = traffic_setup(loaded, spec, seed=seed, budget=budget)
    network, config, closed = setup.network, setup.config, setup.closed
    current = setup.plans if setup.plans is not None else default_plans(network)
    if not current:
        raise TwinError(
            f"{loaded.name} has no signalized junctions (no node tagged "
            "highway=traffic_signals): there is nothing to time."
        )
    planner = None
    if method == "learned":
        from generative.checkpoint import CheckpointError
        from generative.signal_propose import LearnedSignalPlanner

        try:  # a bad checkpoint is refused before anything runs
            planner = LearnedSignalPlanner(checkpoint)
        except CheckpointError as err:
            raise TwinError(str(err)) from None
    # the run of the current plans that Webster and the learned planner read their flows from
    # is also the current plans' check at this demand: simulated once
    proposing = {"webster": webster_rounds, "search": webster_rounds + simulations,
                 "learned": polish}[method]  # fmt: skip
    runs = proposing + 2 * len(scales)
    _check_runs(runs, len(setup.demand), config, network, budget)
    done = 0

    def advance(count: int = 1) -> None:
        nonlocal done
        done += count
        if on_progress:
            on_progress(min(done / runs, 1.0))

    def run(plans: Mapping[int, SignalPlan], demand=setup.demand):
        # the current plans on the scenario's own trips: simulated once, first, below
        if plans is current and demand is setup.demand:
            return baseline
        model = simulate(network, demand, plans, config=config, closed=closed, seed=seed)
        advance()
        return model

    baseline = simulate(network, setup.demand, current, config=config, closed=closed, seed=seed)
    advance()
    notes: list[str] = []
    if planner is not None:
        instance = planner.instance(network, current, measured_flows_vph(baseline), limits)
        best_plans = planner.plans_for(instance, current, limits)
        notes = planner.outside_range(instance)
    else:
        best_plans, _ = iterated_webster(
            network, setup.demand, current, config=config, closed=closed, seed=seed,
            rounds=webster_rounds, limits=limits, on_simulation=advance, baseline=baseline,
        )  # fmt: skip
    history: list[dict[str, float]] = []
    budget_left = {"search": simulations, "learned": polish}.get(method, 0)
    if budget_left:
        found = search_plans(
            network, setup.demand, best_plans, config=config, closed=closed, seed=seed,
            simulations=budget_left, limits=limits,
            on_progress=lambda *_: advance(),
        )  # fmt: skip
        best_plans, history = found.plans, found.history
    best_plans = as_written(best_plans)  # the plans checked are the plans the file holds
    check_plans(best_plans, network, limits)
    checks, accepted, reasons, delays = _checked(
        network, setup.demand, current, best_plans, scales, run, seed=seed
    )
    inputs = {
        "city": loaded.name, "city_sha256": loaded.source.sha256,
        "traffic": traffic_inputs(spec), "seed": seed,
    }  # fmt: skip
    provenance = Provenance.make(
        kind="signal-plans",
        planner=f"{method}+search" if method == "learned" and polish else method,
        instance_sha256=content_sha256(
            {**inputs, "current": plan_table(network, current).to_dict(orient="list")}
        ),
        seed=seed,
        checkpoint=None if planner is None else planner.checkpoint,
        model_card_version=None if planner is None else planner_card_version(planner.checkpoint),
    )
    return SignalProposal(
        city=loaded, method=method, seed=seed, plans=dict(best_plans), current=dict(current),
        checks=checks, accepted=accepted, reasons=reasons, simulations=done,
        wall_s=time.perf_counter() - started, spec=spec, edge_delays=delays, history=history,
        notes=notes, provenance=provenance, inputs=inputs,
    )  # fmt: skip


def _check_runs(runs: int, trips: int, config, network, budget: Budget | None) -> None:
    one = traffic_estimate(
        trips=int(trips * 1.2), duration_s=config.duration_s, dt_s=config.dt_s,
        n_edges=network.n_edges, n_nodes=network.n_nodes, reroute_share=config.reroute_share,
        reroute_interval_s=config.reroute_interval_s, record_interval_s=config.record_interval_s,
    )  # fmt: skip
    check(
        replace(one, what=f"{runs} simulations of the scenario", time_s=one.time_s * runs), budget
    )


def _checked(network, demand, current, proposed, scales, run, *, seed: int):
    """Both plans on the same trips at every demand factor, and the verdict."""
    rows = []
    for scale in scales:
        trips = demand if scale == 1.0 else scaled_trips(
            demand, scale, rng=np.random.default_rng([seed, round(scale * 1000)])
        )  # fmt: skip
        current_model, proposed_model = run(current, trips), run(proposed, trips)
        before: PlanScore = score(current_model)
        after: PlanScore = score(proposed_model)
        if scale == 1.0:
            ids = network.node_osmid
            delays = pd.DataFrame(
                {
                    "u": ids[network.edge_u], "v": ids[network.edge_v],
                    "current_delay_veh_h": edge_delays_veh_h(current_model),
                    "proposed_delay_veh_h": edge_delays_veh_h(proposed_model),
                }
            )  # fmt: skip
        rows.append(
            {
                "demand_scale": scale,
                **{f"current_{k}": v for k, v in before.as_dict().items()},
                **{f"proposed_{k}": v for k, v in after.as_dict().items()},
            }
        )
    checks = pd.DataFrame(rows)
    reasons = []
    for row in checks.itertuples():
        label = f"at {row.demand_scale:.0%} demand"
        if row.proposed_trips_unfinished > row.current_trips_unfinished:
            reasons.append(
                f"{label}: {row.proposed_trips_unfinished} "
                f"trip{'' if row.proposed_trips_unfinished == 1 else 's'} unfinished, against "
                f"{row.current_trips_unfinished} with the current plans"
            )
        before, after = row.current_total_delay_veh_h, row.proposed_total_delay_veh_h
        # at the scenario's own demand a proposal must gain, elsewhere it must not lose
        if after > before or (row.demand_scale == 1.0 and after >= before):
            reasons.append(
                f"{label}: {row.proposed_total_delay_veh_h:,.1f} vehicle-hours of delay, "
                f"against {row.current_total_delay_veh_h:,.1f} with the current plans"
            )
    return checks, not reasons, reasons, delays

"""Proposing collection plans with a trained planner, checked like any other planner's.

:class:`LearnedPlanner` follows the waste twin's :class:`~agents.waste.planning.Planner`
protocol: it samples many plans for a day at once, refines the cheapest by its own local
search (:mod:`generative.refine`), keeps the best, optionally polishes it with PyVRP for a set
time, and returns a :class:`~agents.waste.planning.Plan` that
:func:`~agents.waste.planning.check_plan` accepts, so the twin's *planned* policy can use it day
by day and the simulation reports what the plan actually does.

A checkpoint carries the range of days its model was trained on
(:class:`generative.coverage.TrainingRange`: bins, trucks, shift, truck capacity, travel-time
scale). A day outside it is outside what the model learned: ``outside_range="refuse"`` (the
default) raises :class:`PlannerRangeError` saying which figures are outside; ``"fallback"``
plans that day with PyVRP instead and says so in ``plan.info["fallback"]``; ``"attempt"`` lets
the model plan it anyway (attention has no fixed number of bins, but nothing says it plans such
days well) and says so in ``plan.info["outside_range"]``.

Checkpoints shipped with the package live in ``generative/checkpoints/``: ``general.pt``, the
planner for any city, and ``<city>.pt``, one fine-tuned for a bundled city
(:func:`shipped_checkpoint` picks).
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from agents.waste.planning import (
    Plan,
    Planner,
    PyVRPPlanner,
    RoutingProblem,
    finish_plan,
    spread_trips,
)
from generative import decoding
from generative.checkpoint import CheckpointError, checkpoint_range, load_checkpoint, load_model
from generative.coverage import day_figures
from generative.env import plans_from_actions
from generative.model import UNSERVED_REQUIRED_PENALTY_M, rollout
from generative.refine import load as load_refine_kernel
from generative.refine import refine_routes

__all__ = [
    "GENERAL_CHECKPOINT",
    "OUTSIDE_RANGE",
    "SHIPPED_CHECKPOINTS",
    "TOO_LARGE",
    "LearnedPlanner",
    "PlannerRangeError",
    "PlannerSizeError",
    "problem_tensors",
    "shipped_checkpoint",
]

SHIPPED_CHECKPOINTS = Path(__file__).parent / "checkpoints"
"""Folder of the checkpoints shipped with the package."""

GENERAL_CHECKPOINT = SHIPPED_CHECKPOINTS / "general.pt"
"""The shipped planner for any city (trained on many places; its range in the file)."""

OUTSIDE_RANGE = ("refuse", "fallback", "attempt")
"""What :class:`LearnedPlanner` may do with a day outside its model's training range."""

TOO_LARGE = OUTSIDE_RANGE
"""The former name of :data:`OUTSIDE_RANGE` (``--too-large``)."""


class PlannerRangeError(ValueError):
    """A day outside the model's training range, and ``outside_range="refuse"``."""


PlannerSizeError = PlannerRangeError
"""The former name of :class:`PlannerRangeError`."""


def shipped_checkpoint(city: str | None = None, *, sha256: str | None = None) -> Path | None:
    """The shipped checkpoint for a city: the one fine-tuned for it where one ships (named
    after it, and trained on the file of content hash ``sha256`` when given), else the general
    one; ``None`` when neither ships."""
    own = SHIPPED_CHECKPOINTS / f"{city}.pt" if city else None
    if own is not None and own.is_file():
        if sha256 is None:
            return own
        try:
            places = checkpoint_range(load_checkpoint(own)).places
        except (CheckpointError, ValueError):
            places = ()
        if any(p.get("sha256") == sha256 for p in places):
            return own
    return GENERAL_CHECKPOINT if GENERAL_CHECKPOINT.is_file() else None


def problem_tensors(problem: RoutingProblem, *, device: torch.device | str = "cpu") -> dict:
    """One day's problem as a batch of one, in the tensors of :mod:`generative.data`."""
    n = problem.n_bins
    xy = np.zeros((n + 2, 2)) if problem.xy_m is None else problem.xy_m - problem.xy_m[0]
    finite = np.isfinite(problem.duration_s)
    # unreachable pairs: far beyond any shift, so the masks never allow them
    duration = np.where(finite, problem.duration_s, 1e3 * max(problem.shift_s, 1.0))
    distance = np.where(np.isfinite(problem.distance_m), problem.distance_m, 1e9)
    arrays = {
        "duration_s": duration,
        "distance_m": distance,
        "xy_m": xy,
        "load_kg": problem.effective_load_kg,
        "prize": problem.prize,
        "required": problem.required.astype(bool),
        "service_s": problem.service_s,
        "capacity_kg": np.array(problem.truck_capacity_kg),
        "shift_s": np.array(problem.shift_s),
        "unload_s": np.array(problem.unload_s),
        "n_trucks": np.array(problem.n_trucks),
    }
    tensors = {}
    for name, array in arrays.items():
        dtype = torch.bool if name == "required" else None
        if name == "n_trucks":
            dtype = torch.int64
        value = torch.as_tensor(np.asarray(array), dtype=dtype or torch.float32)
        tensors[name] = value[None].to(device)
    return tensors


class LearnedPlanner:
    """A trained planner behind the :class:`~agents.waste.planning.Planner` protocol.

    Parameters
    ----------
    checkpoint
        A checkpoint written by :mod:`generative.train`.
    samples
        Plans per day (the greedy one and ``samples − 1`` sampled); the cheapest is kept. On
        the CPU they are drawn by the compiled decoder (:mod:`generative.decoding`), elsewhere
        by the model's batched one; 512 plans of a 100-bin day take about 0.1 s of one CPU core
        (BENCHMARKS.md, "Learned planner", session 12).
    temperature
        Sampling temperature: below 1 the sampled plans stay nearer the policy's likeliest
        choices. The default was among the best of 0.6–1.0 for the best of 256 and 1,024 plans
        on Helsinki's validation days (BENCHMARKS.md, "Learned planner", session 9).
    refine
        The cheapest this many distinct sampled plans are refined by the planner's own local
        search (:mod:`generative.refine`: a bin or a stretch moved, trips merged, one reversed,
        while it pays; about a millisecond a plan at 100 bins), and the cheapest refined plan
        is kept (0: the cheapest plan as the model drew it). On the held-out cities' 100-bin
        days (fresh ones, none looked at in choosing) it took the general model's best of 512
        plans from +14.3 % (Kotka) and +22.1 % (Andorra) above PyVRP 5 s to +2.6 % and +2.8
        %, for 0.02 s (BENCHMARKS.md, "Learned planner: any city", session 28).
    polish_s
        Seconds of PyVRP search started from the (refined) learned plan, its trips spread
        over idle trucks (:func:`~agents.waste.planning.spread_trips`) and settled by PyVRP's
        local search (0: no polish).
    polish_iterations
        With ``polish_s``: the polish also stops after this many PyVRP iterations (``None``:
        the time alone). An iteration limit makes polished plans repeat bit for bit, as the
        waste twin's runs must; the time is then a cap.
    outside_range
        What to do with a day outside the model's training range: ``"refuse"`` (raise
        :class:`PlannerRangeError`), ``"fallback"`` (plan it with PyVRP for ``fallback_s``
        seconds) or ``"attempt"`` (plan it with the model all the same).
    fallback_s
        PyVRP's time on a day the model does not take.
    fallback
        The planner of such days instead of PyVRP for ``fallback_s`` (the waste twin passes
        its own PyVRP planner, so that a fallback day is planned as the ``pyvrp`` policy
        plans it, iteration limit included).
    place_sha256
        The content hash of the city the plans are for: a checkpoint trained for one city only
        (format 1) counts days of other places as outside its range.
    device
        Where the network runs (``"cpu"`` or ``"cuda"``).
    too_large
        The former name of ``outside_range``.

    Raises
    ------
    generative.checkpoint.CheckpointError
        Missing, corrupt, foreign or other-version checkpoint, or weights that do not fit the
        model the file describes.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str],
        *,
        samples: int = 512,
        temperature: float = 0.8,
        refine: int = 16,
        polish_s: float = 0.0,
        polish_iterations: int | None = None,
        outside_range: Literal["refuse", "fallback", "attempt"] = "refuse",
        fallback_s: float = 1.0,
        fallback: Planner | None = None,
        place_sha256: str | None = None,
        device: str | torch.device = "cpu",
        too_large: Literal["refuse", "fallback", "attempt"] | None = None,
    ) -> None:
        outside_range = too_large if too_large is not None else outside_range
        if samples < 1:
            raise ValueError(f"samples: expected ≥ 1, got {samples}")
        if refine < 0:
            raise ValueError(f"refine: expected ≥ 0, got {refine}")
        if not temperature > 0:
            raise ValueError(f"temperature: expected > 0, got {temperature}")
        if polish_s < 0 or fallback_s <= 0:
            raise ValueError(f"need polish_s ≥ 0 and fallback_s > 0, got {polish_s}, {fallback_s}")
        if polish_iterations is not None and polish_iterations < 1:
            raise ValueError(f"polish_iterations: expected ≥ 1 or None, got {polish_iterations}")
        if outside_range not in OUTSIDE_RANGE:
            raise ValueError(
                f"outside_range: one of {', '.join(OUTSIDE_RANGE)}, got {outside_range!r}"
            )
        model, payload = load_model(checkpoint)
        self.checkpoint = Path(checkpoint)
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.training_range = checkpoint_range(payload)
        self.place_sha256 = place_sha256
        self.samples, self.polish_s = int(samples), float(polish_s)
        # a day has at most ``samples`` plans to refine: what the provenance says is done
        self.refine = min(int(refine), self.samples)
        self.polish_iterations = polish_iterations
        self.temperature = float(temperature)
        self.outside_range, self.fallback_s = outside_range, float(fallback_s)
        self.fallback = fallback or PyVRPPlanner(max_runtime_s=self.fallback_s)
        self.name = "learned+pyvrp" if polish_s > 0 else "learned"
        if self.device.type == "cpu":
            decoding.load()  # once per process, not inside the first day's plan
        if self.refine:
            load_refine_kernel()

    @property
    def too_large(self) -> str:
        """The former name of :attr:`outside_range`."""
        return self.outside_range

    def with_polish(self, polish_s: float) -> LearnedPlanner:
        """This planner (the same loaded model) polishing with PyVRP for ``polish_s`` seconds."""
        if polish_s < 0:
            raise ValueError(f"polish_s: expected ≥ 0, got {polish_s}")
        polishing = copy.copy(self)
        polishing.polish_s = float(polish_s)
        polishing.name = "learned+pyvrp" if polish_s > 0 else "learned"
        return polishing

    def outside(self, problem: RoutingProblem) -> str | None:
        """Why a day lies outside the model's training range, or ``None`` if it lies inside."""
        figures = day_figures(
            n_bins=problem.n_bins, n_trucks=problem.n_trucks, shift_s=problem.shift_s,
            capacity_kg=problem.truck_capacity_kg, duration_s=problem.duration_s,
        )  # fmt: skip
        reasons = self.training_range.outside(figures, place_sha256=self.place_sha256)
        if not reasons:
            return None
        return f"outside the training range of {self.checkpoint.name}: " + "; ".join(reasons)

    def plan(self, problem: RoutingProblem, *, seed: int = 0) -> Plan:
        """The cheapest of ``samples`` sampled plans (polished if asked); see the class."""
        started = time.perf_counter()
        problem.validate()
        outside = self.outside(problem) if problem.n_bins else None
        if outside is not None:
            if self.outside_range == "refuse":
                raise PlannerRangeError(
                    f"this day is {outside}: plan it with PyVRP (--outside-range fallback, or "
                    "outside_range='fallback'), let the model try (attempt), or fine-tune the "
                    "model on such days (`twin finetune`)."
                )
            if self.outside_range == "fallback":
                plan = self.fallback.plan(problem, seed=seed)
                # a fallback that passed the day on in turn says why after this one's reason
                further = plan.info.get("fallback")
                plan.info["fallback"] = outside if not further else f"{outside}; then {further}"
                return plan
        learned = self.sample(problem, seed=seed, started=started)
        if outside is not None:
            learned.info["outside_range"] = outside
        if self.polish_s == 0:
            return learned
        polisher = PyVRPPlanner(max_runtime_s=self.polish_s, max_iterations=self.polish_iterations)
        # from the refined plan, which PyVRP's own local search settles first: at 1 s on
        # Andorra's 200- and 490-bin days it ended 0.7 and 3.0 % ahead of PyVRP alone where
        # the plan as drawn ended 0.3 % behind and 0.7 % ahead; its trips spread over idle
        # trucks, from which PyVRP's search strays further than from one truck's several
        # trips (BENCHMARKS.md, "Learned planner: any city")
        start = replace(learned, routes=spread_trips(learned.routes, problem.n_trucks))
        polished = polisher.plan(problem, seed=seed, initial=start)
        # PyVRP keeps the best solution it saw, the learned one included, but it counts in
        # rounded integers: keep whichever plan is better in exact terms
        rank = [
            (not p.info["feasible"], p.info["n_unserved_required"], p.info["objective"])
            for p in (polished, learned)
        ]
        better = polished if rank[0] <= rank[1] else learned
        info = {
            "learned_objective": learned.info["objective"],
            "polish_s": self.polish_s,
            "polish_iterations": self.polish_iterations,
        }
        if outside is not None:
            info["outside_range"] = outside
        return finish_plan(problem, better.routes, self.name, started, info)

    @torch.no_grad()
    def sample(self, problem: RoutingProblem, *, seed: int = 0, started: float | None = None):
        """The cheapest of ``samples`` sampled plans after refining (:attr:`refine`),
        unpolished."""
        started = time.perf_counter() if started is None else started
        if problem.n_bins == 0 or problem.n_trucks == 0:
            return finish_plan(problem, [], "learned", started, {"samples": 0})
        tensors = problem_tensors(problem, device=self.device)
        if self.device.type == "cpu":
            plans = decoding.sample_plans(
                self.model, tensors, samples=self.samples, seed=seed, greedy_first=True,
                temperature=self.temperature,
            )  # fmt: skip
            cost, actions = torch.from_numpy(plans.cost_m), torch.from_numpy(plans.actions)
        else:
            # on an accelerator, the batched decoder: every plan's step in one set of kernels
            generator = torch.Generator(device=self.device).manual_seed(seed)
            _, cost, actions, _ = rollout(
                self.model, tensors, samples=self.samples, generator=generator,
                greedy_first=True, temperature=self.temperature,
            )  # fmt: skip
        cost = cost.cpu().numpy()
        best = int(np.argmin(cost))
        info = {
            "samples": self.samples,
            "temperature": self.temperature,
            "cost_m": float(cost[best]),
            "sampled_cost_m": float(cost[best]),
            "decoder": "compiled" if self.device.type == "cpu" else "batched",
        }
        if self.refine == 0:
            routes = [np.array(r) for r in plans_from_actions(actions[best : best + 1].cpu())[0]]
            return finish_plan(problem, routes, "learned", started, info)
        routes, moves, refined_m = self._refined(problem, cost, actions)
        info.update(cost_m=refined_m, refined=self.refine, refine_moves=moves)
        return finish_plan(problem, routes, "learned", started, info)

    def _refined(self, problem: RoutingProblem, cost: np.ndarray, actions: torch.Tensor):
        """The cheapest of the :attr:`refine` cheapest distinct plans after refining each."""
        # equal costs are (almost always) the same plan drawn twice: refine each once
        _, first = np.unique(cost, return_index=True)
        chosen = first[np.argsort(cost[first], kind="stable")][: self.refine]
        drawn = plans_from_actions(actions[torch.from_numpy(chosen)].cpu())
        leaving_out = np.where(problem.required, UNSERVED_REQUIRED_PENALTY_M, problem.prize)
        distance_m = np.asarray(problem.distance_m, dtype=np.float64)
        duration_s = np.asarray(problem.duration_s, dtype=np.float64)
        best = None
        for routes in drawn:
            refined = refine_routes(
                [np.array(r, dtype=np.int64) for r in routes],
                distance_m=distance_m, duration_s=duration_s,
                load_kg=problem.effective_load_kg, service_s=problem.service_s,
                prize_m=leaving_out, droppable=~problem.required, n_trucks=problem.n_trucks,
                capacity_kg=problem.truck_capacity_kg, shift_s=problem.shift_s,
                unload_s=problem.unload_s,
            )  # fmt: skip
            if best is None or refined[2] < best[2]:
                best = refined
        return best

"""Proposing collection plans with a trained planner, checked like any other planner's.

:class:`LearnedPlanner` follows the waste twin's :class:`~agents.waste.planning.Planner`
protocol: it samples many plans for a day at once, keeps the cheapest, optionally polishes it
with PyVRP for a set time, and returns a :class:`~agents.waste.planning.Plan` that
:func:`~agents.waste.planning.check_plan` accepts, so the twin's *planned* policy can use it day
by day and the simulation reports what the plan actually does.

A checkpoint knows how many bins its model was trained on. A day with more bins is outside what
it learned: ``too_large="refuse"`` (the default) raises :class:`PlannerSizeError` saying so;
``"fallback"`` plans that day with PyVRP instead and notes it in ``plan.info``; ``"attempt"``
lets the model plan it anyway (attention has no fixed number of bins, but nothing says it plans
such days well) and notes that in ``plan.info["beyond_training"]``.

Checkpoints shipped with the package live in ``generative/checkpoints/<city>.pt``
(:func:`shipped_checkpoint`).
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from agents.waste.planning import Plan, PyVRPPlanner, RoutingProblem, finish_plan
from generative import decoding
from generative.checkpoint import load_model
from generative.env import plans_from_actions
from generative.model import rollout

__all__ = [
    "SHIPPED_CHECKPOINTS",
    "TOO_LARGE",
    "LearnedPlanner",
    "PlannerSizeError",
    "problem_tensors",
    "shipped_checkpoint",
]

SHIPPED_CHECKPOINTS = Path(__file__).parent / "checkpoints"
"""Folder of the checkpoints shipped with the package, one per bundled city."""


TOO_LARGE = ("refuse", "fallback", "attempt")
"""What :class:`LearnedPlanner` may do with a day larger than its model's training days."""


class PlannerSizeError(ValueError):
    """A day with more bins than the model was trained on, and ``too_large="refuse"``."""


def shipped_checkpoint(city: str) -> Path | None:
    """The shipped checkpoint for the city named ``city``, or ``None``."""
    path = SHIPPED_CHECKPOINTS / f"{city}.pt"
    return path if path.is_file() else None


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
    polish_s
        Seconds of PyVRP search started from the learned plan, once PyVRP's local search has
        settled it (0: no polish).
    too_large
        What to do with a day of more bins than the model was trained on: ``"refuse"``
        (raise :class:`PlannerSizeError`), ``"fallback"`` (plan it with PyVRP for
        ``fallback_s`` seconds) or ``"attempt"`` (plan it with the model all the same).
    fallback_s
        PyVRP's time on a day the model does not take.
    city_sha256
        The content hash of the city the plans are for; a checkpoint trained for another city
        is refused (:class:`~generative.checkpoint.CheckpointError`).
    device
        Where the network runs (``"cpu"`` or ``"cuda"``).

    Raises
    ------
    generative.checkpoint.CheckpointError
        Missing, corrupt, foreign, other-version or other-city checkpoint, or weights that do
        not fit the model the file describes.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str],
        *,
        samples: int = 512,
        temperature: float = 0.8,
        polish_s: float = 0.0,
        too_large: Literal["refuse", "fallback", "attempt"] = "refuse",
        fallback_s: float = 1.0,
        city_sha256: str | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if samples < 1:
            raise ValueError(f"samples: expected ≥ 1, got {samples}")
        if not temperature > 0:
            raise ValueError(f"temperature: expected > 0, got {temperature}")
        if polish_s < 0 or fallback_s <= 0:
            raise ValueError(f"need polish_s ≥ 0 and fallback_s > 0, got {polish_s}, {fallback_s}")
        if too_large not in TOO_LARGE:
            raise ValueError(f"too_large: one of {', '.join(TOO_LARGE)}, got {too_large!r}")
        model, payload = load_model(checkpoint, city_sha256=city_sha256)
        self.checkpoint = Path(checkpoint)
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.trained_bins = int(payload["n_bins"])
        self.city = payload.get("city")
        self.samples, self.polish_s = int(samples), float(polish_s)
        self.temperature = float(temperature)
        self.too_large, self.fallback_s = too_large, float(fallback_s)
        self.name = "learned+pyvrp" if polish_s > 0 else "learned"
        if self.device.type == "cpu":
            decoding.load()  # once per process, not inside the first day's plan

    def with_polish(self, polish_s: float) -> LearnedPlanner:
        """This planner (the same loaded model) polishing with PyVRP for ``polish_s`` seconds."""
        if polish_s < 0:
            raise ValueError(f"polish_s: expected ≥ 0, got {polish_s}")
        polishing = copy.copy(self)
        polishing.polish_s = float(polish_s)
        polishing.name = "learned+pyvrp" if polish_s > 0 else "learned"
        return polishing

    def plan(self, problem: RoutingProblem, *, seed: int = 0) -> Plan:
        """The cheapest of ``samples`` sampled plans (polished if asked); see the class."""
        started = time.perf_counter()
        problem.validate()
        beyond = None
        if problem.n_bins > self.trained_bins:
            beyond = (
                f"{problem.n_bins} bins, but the model in {self.checkpoint.name} was trained on "
                f"{self.trained_bins}"
            )
            if self.too_large == "refuse":
                raise PlannerSizeError(
                    f"{beyond}: plan fewer bins, train a model on larger days, or pass "
                    "too_large='fallback' (--too-large fallback) to plan such days with PyVRP, "
                    "or 'attempt' to let the model try."
                )
            if self.too_large == "fallback":
                plan = PyVRPPlanner(max_runtime_s=self.fallback_s).plan(problem, seed=seed)
                plan.info["fallback"] = beyond
                return plan
        learned = self.sample(problem, seed=seed, started=started)
        if beyond is not None:
            learned.info["beyond_training"] = beyond
        if self.polish_s == 0:
            return learned
        polished = PyVRPPlanner(max_runtime_s=self.polish_s).plan(
            problem, seed=seed, initial=learned
        )
        # PyVRP keeps the best solution it saw, the learned one included, but it counts in
        # rounded integers: keep whichever plan is better in exact terms
        rank = [
            (not p.info["feasible"], p.info["n_unserved_required"], p.info["objective"])
            for p in (polished, learned)
        ]
        better = polished if rank[0] <= rank[1] else learned
        info = {"learned_objective": learned.info["objective"], "polish_s": self.polish_s}
        if beyond is not None:
            info["beyond_training"] = beyond
        return finish_plan(problem, better.routes, self.name, started, info)

    @torch.no_grad()
    def sample(self, problem: RoutingProblem, *, seed: int = 0, started: float | None = None):
        """The cheapest of ``samples`` sampled plans, unpolished."""
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
        best = int(torch.argmin(cost))
        routes = [np.array(r) for r in plans_from_actions(actions[best : best + 1].cpu())[0]]
        info = {
            "samples": self.samples,
            "temperature": self.temperature,
            "cost_m": float(cost[best]),
            "decoder": "compiled" if self.device.type == "cpu" else "batched",
        }
        return finish_plan(problem, routes, "learned", started, info)

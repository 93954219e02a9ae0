"""Fine-tuning on the days a city's waste twin plans, recorded from its runs, checked there.

`twin finetune` draws a city's days with the corpus's sampler (a waste run under the greedy
planner, each day cut or padded to a drawn number of bins, fleets drawn). This study records
instead every day's routing problem of the twin's own runs (the fleet sized as the twin sizes
it, seeds 100 and up, never the check's 0–2), planned by PyVRP (``--record-with pyvrp``: the
states a good planner leaves) or by a checkpoint's learned policy (``--record-with FILE``: the
states the learned policy itself leaves, as in DAgger), trims each day to a multiple of 25 bins
by dropping its lowest-prize optional bins, fine-tunes ``--base`` on them with `twin
finetune`'s settings (1,000 steps at 2e-4) and checks the result in the twin
(:func:`twin.learned_check.check_in_twin`, seeds 0–2), and on the days of those runs alone (the
gap of the day's objective to PyVRP's plan, base and tuned). Asked in session 27: would a model
trained on the twin's own days stop letting bins overflow there? ::

    .venv/bin/python benchmarks/studies/finetune_on_twin_runs.py ../shared/cities/andorra.osm.pbf \\
        --out runs/twin-runs-andorra --record-with generative/checkpoints/general.pt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agents.waste.planning import PyVRPPlanner, RoutingProblem
from cities.city import load_city
from generative.checkpoint import checkpoint_range, load_model
from generative.data import FORMAT_VERSION, InstanceBatch, read_days
from generative.instances import plan_cost, write_instances
from generative.propose import GENERAL_CHECKPOINT, LearnedPlanner
from generative.train import TrainConfig, lineage_of, train
from twin.api import run_waste
from twin.learned_check import check_in_twin

BUCKET = 25
"""Days are trimmed to a multiple of this many bins, so that days of one size share a file."""


class Recording:
    """A planner that keeps every non-empty day it is asked to plan."""

    name = "pyvrp"

    def __init__(self, inner) -> None:
        self.inner, self.problems = inner, []

    def plan(self, problem: RoutingProblem, *, seed: int = 0):
        if problem.n_bins:
            self.problems.append(problem)
        return self.inner.plan(problem, seed=seed)


def trimmed(problem: RoutingProblem) -> dict[str, np.ndarray | float | int]:
    """The day with its lowest-prize optional bins dropped, down to a multiple of BUCKET bins
    (never a required bin; days under 50 bins kept whole), as instance-file arrays."""
    n = problem.n_bins
    keep_n = max(int(problem.required.sum()), (n // BUCKET) * BUCKET, min(n, 50))
    optional = np.flatnonzero(~problem.required)
    by_prize = optional[np.argsort(-problem.prize[optional], kind="stable")]
    order = np.concatenate([np.flatnonzero(problem.required), by_prize])
    keep = np.sort(order[:keep_n])
    locations = np.concatenate([[0, 1], keep + 2])
    grid = np.ix_(locations, locations)
    return {
        "duration_s": problem.duration_s[grid], "distance_m": problem.distance_m[grid],
        "xy_m": problem.xy_m[locations] - problem.xy_m[0],
        "load_kg": np.minimum(problem.load_kg[keep], problem.truck_capacity_kg),
        "prize": problem.prize[keep], "required": problem.required[keep],
        "service_s": problem.service_s[keep], "capacity_kg": problem.truck_capacity_kg,
        "shift_s": problem.shift_s, "unload_s": problem.unload_s, "n_trucks": problem.n_trucks,
    }  # fmt: skip


def record_days(city, folder: Path, *, runs: int, record_with: str) -> dict[int, int]:
    """Record ``runs`` 28-day twin runs' days into files by size; returns days by size."""
    fallback = PyVRPPlanner(max_runtime_s=60.0, max_iterations=100)
    by_size: dict[int, list[dict]] = defaultdict(list)
    for run in range(runs):
        inner = fallback if record_with == "pyvrp" else LearnedPlanner(
            record_with, outside_range="fallback", fallback=fallback
        )  # fmt: skip
        recording = Recording(inner)
        run_waste(city, days=28, seed=100 + run, planner="pyvrp", custom_planner=recording)
        for problem in recording.problems:
            if np.isfinite(problem.duration_s).all():
                day = trimmed(problem)
                by_size[len(day["load_kg"])].append(day)
    kinds = {"required": bool, "n_trucks": np.int32}
    folder.mkdir(parents=True, exist_ok=True)
    for size, days in by_size.items():
        arrays = {
            name: np.stack([np.asarray(d[name]) for d in days]).astype(kinds.get(name, np.float32))
            for name in days[0]
        }
        meta = {"format_version": FORMAT_VERSION, "city": city.name,
                "city_sha256": city.source.sha256, "n_bins": size, "seed": 100,
                "population": None, "draw": {"name": f"twin-runs-{size}"}}  # fmt: skip
        write_instances(InstanceBatch(**arrays, meta=meta), folder / f"twin-runs-{size}.npz")
    return {size: len(days) for size, days in sorted(by_size.items())}


def day_objectives(city, checkpoints: list[Path | str]) -> dict[str, dict[str, float]]:
    """Each checkpoint's best of 512 plans on the days of the PyVRP policy's twin runs of
    seeds 0–2 (the check's): the gap (%) of the day's objective to PyVRP's own plan."""
    pyvrp = PyVRPPlanner(max_runtime_s=60.0, max_iterations=1000)
    problems = []
    for seed in (0, 1, 2):
        recording = Recording(pyvrp)
        run_waste(city, days=28, seed=seed, planner="pyvrp", custom_planner=recording)
        problems += recording.problems
    reference = np.array([plan_cost(p, pyvrp.plan(p, seed=0)) for p in problems])
    gaps = {}
    for path in checkpoints:
        planner = LearnedPlanner(path, outside_range="attempt")
        cost = np.array([plan_cost(p, planner.plan(p, seed=0)) for p in problems])
        gap = 100.0 * (cost / reference - 1.0)
        gaps[str(path)] = {
            "mean": float(gap.mean()),
            "se": float(gap.std(ddof=1) / np.sqrt(len(gap))),
            "days": len(gap),
        }
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("city")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base", default=str(GENERAL_CHECKPOINT))
    parser.add_argument("--record-with", default="pyvrp", help="pyvrp, or a checkpoint")
    parser.add_argument("--runs", type=int, default=48, help="28-day twin runs recorded")
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    city = load_city(args.city)
    started = time.perf_counter()
    sizes = record_days(city, args.out / "days", runs=args.runs, record_with=args.record_with)
    recorded_s = time.perf_counter() - started
    model, payload = load_model(args.base)
    sets = [read_days(path) for path in sorted((args.out / "days").glob("*.npz"))]
    config = TrainConfig(steps=args.steps, batch_size=32, samples=16, lr=2e-4, seed=0,
                         validate_every=args.steps, checkpoint_every=50)  # fmt: skip
    run = args.out / "run"
    train(sets, config, model=model, run_dir=run, resume=(run / "checkpoint.pt").is_file(),
          init_range=checkpoint_range(payload), lineage=lineage_of(payload))  # fmt: skip
    trained_s = time.perf_counter() - started - recorded_s
    check = check_in_twin(city, run / "checkpoint.pt", reference=args.base)
    day_gaps = day_objectives(city, [args.base, run / "checkpoint.pt"])
    summary = {**check.summary(), "days_by_size": sizes, "record_with": args.record_with,
               "recorded_s": recorded_s, "trained_s": trained_s,
               "day_gap_to_pyvrp_pct": day_gaps}  # fmt: skip
    (args.out / "study.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

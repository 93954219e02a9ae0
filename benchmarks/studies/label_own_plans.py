"""Label instance files with a model's own best plans, to imitate (expert iteration).

For every day of ``INSTANCES`` the model draws ``--samples`` plans with the compiled decoder
(:mod:`generative.decoding`) and the cheapest becomes the day's label: ``label_actions`` for
``--imitation-steps`` training, its cost as ``reference_m``. Imitating its own best of many
plans sharpens a policy towards what its sampling finds (Anthony et al. 2017, "Thinking fast
and slow with deep learning and tree search"); unlike PyVRP's plans, the labels order trucks
and trips the way the model does, so the imitation loss has no ambiguity to fight. One round,
as measured in BENCHMARKS-HISTORY.md ("Learned planner", session 12)::

    .venv/bin/twin instances helsinki --bins 100 --count 1000 --seed 200 --out /tmp/ei/train-200.npz
    .venv/bin/python benchmarks/studies/label_own_plans.py /tmp/ei/train-200.npz \\
        /tmp/ei/lab-200.npz --checkpoint generative/checkpoints/helsinki.pt --samples 1024
    OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m generative.train \\
        /tmp/ei/lab-20*.npz --val VAL --out RUN --init generative/checkpoints/helsinki.pt \\
        --steps 1500 --imitation-steps 1500 --batch-size 32 --samples 1 --lr 5e-5 --device cpu

With ``--refine N`` each day's label is instead the planner's refined plan (its cheapest N
sampled plans improved by :mod:`generative.refine`, the best kept), replayed through the
decoder's masks first. One round of that on the general corpus made the general model's own
plans worse (session 29, BENCHMARKS-HISTORY.md, "Learned planner: any city").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from generative.checkpoint import load_model
from generative.data import read_instances
from generative.decoding import load, sample_plans
from generative.env import action_limit, actions_from_plan
from generative.instances import to_problem, write_instances
from generative.model import rollout
from generative.propose import LearnedPlanner
from generative.train import as_tensors

_DAYS_AT_ONCE = 16  # the kernel's uniforms: days × samples × steps doubles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", type=Path, help="instance file (.npz) to label")
    parser.add_argument("out", type=Path, help="labelled instance file (.npz) to write")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=1024, help="plans drawn per day")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--refine", type=int, default=0,
        help="label with the planner's refined plan (its cheapest N sampled plans refined by "
        "generative.refine) instead of the best plan as drawn; 0: as drawn",
    )  # fmt: skip
    args = parser.parse_args()
    if args.refine:
        label_refined(args)
        return
    torch.set_num_threads(1)
    model, _ = load_model(args.checkpoint)
    model.eval()
    load()
    days = read_instances(args.instances)
    length = action_limit(days.n_bins, int(days.n_trucks.max()))
    labels = np.zeros((len(days), length), dtype=np.int16)
    costs = np.zeros(len(days), dtype=np.float32)
    started = time.perf_counter()
    for first in range(0, len(days), _DAYS_AT_ONCE):
        part = slice(first, min(first + _DAYS_AT_ONCE, len(days)))
        plans = sample_plans(
            model, as_tensors(days, part), samples=args.samples, seed=args.seed + first,
            temperature=args.temperature,
        )  # fmt: skip
        cost = plans.cost_m.reshape(-1, args.samples)
        best = cost.argmin(axis=1)
        chosen = plans.actions[np.arange(len(cost)) * args.samples + best]
        labels[part, : chosen.shape[1]] = chosen  # a part with fewer trucks takes fewer steps
        costs[part] = cost[np.arange(len(cost)), best]
    write_instances(days.with_reference(costs, labels), args.out)
    print(
        f"{len(days)} days labelled with the best of {args.samples} plans "
        f"(mean {costs.mean() / 1000:.2f} km) in {time.perf_counter() - started:.0f} s: {args.out}"
    )


def label_refined(args: argparse.Namespace) -> None:
    """Each day labelled with :class:`LearnedPlanner`'s refined plan, day by day; a day whose
    refined plan the decoder's masks would not allow keeps its best plan as drawn (counted)."""
    torch.set_num_threads(1)
    planner = LearnedPlanner(
        args.checkpoint, samples=args.samples, temperature=args.temperature, refine=args.refine,
        outside_range="attempt",
    )  # fmt: skip
    days = read_instances(args.instances)
    length = action_limit(days.n_bins, int(days.n_trucks.max()))
    labels = np.zeros((len(days), length), dtype=np.int16)
    costs = np.zeros(len(days), dtype=np.float32)
    drawn_m = np.zeros(len(days))
    started = time.perf_counter()
    for day in range(len(days)):
        problem = to_problem(days, day)
        plan = planner.sample(problem, seed=args.seed + day)
        labels[day] = actions_from_plan([list(r) for r in plan.routes], problem.n_trucks, length)
        costs[day] = plan.info["cost_m"]
        drawn_m[day] = plan.info["sampled_cost_m"]
    # the decoder's masks (float32 tensors) must allow every labelled action: replay them
    kept = 0
    with torch.no_grad():
        for first in range(0, len(days), _DAYS_AT_ONCE):
            part = slice(first, min(first + _DAYS_AT_ONCE, len(days)))
            actions = torch.from_numpy(labels[part].astype(np.int64))
            log_prob, cost, _, _ = rollout(
                planner.model, as_tensors(days, part), samples=1, actions=actions
            )
            bad = ~torch.isfinite(log_prob.reshape(-1)).numpy()
            bad |= np.abs(cost.reshape(-1).numpy() - costs[part]) > 1.0 + 1e-4 * costs[part]
            for day in np.flatnonzero(bad) + first:
                problem = to_problem(days, day)
                planner.refine = 0
                plan = planner.sample(problem, seed=args.seed + day)
                planner.refine = args.refine
                labels[day] = actions_from_plan(
                    [list(r) for r in plan.routes], problem.n_trucks, length
                )
                costs[day] = plan.info["cost_m"]
                kept += 1
    write_instances(days.with_reference(costs, labels), args.out)
    print(
        f"{len(days)} days of {days.n_bins} bins labelled with refined plans (mean "
        f"{costs.mean() / 1000:.2f} km, drawn {drawn_m.mean() / 1000:.2f} km; {kept} days "
        f"kept as drawn) in {time.perf_counter() - started:.0f} s: {args.out}"
    )


if __name__ == "__main__":
    main()

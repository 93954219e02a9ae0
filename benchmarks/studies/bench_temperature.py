"""Best-of-k plans of the learned planner at several sampling temperatures.

On an instance file with PyVRP references (``twin instances … --reference-s 1``), each day is
planned on its own as :class:`generative.propose.LearnedPlanner` plans it (the greedy plan and
``k − 1`` sampled ones, one torch thread), and the mean gap of the best plan to the reference is
printed for every temperature and ``k``::

    .venv/bin/python benchmarks/studies/bench_temperature.py /tmp/gen/val.npz \\
        --temperatures 0.4 0.5 0.6 0.7 0.85 1 1.2 --samples 8 32
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from generative.checkpoint import load_model
from generative.data import read_instances
from generative.model import rollout
from generative.propose import SHIPPED_CHECKPOINTS
from generative.train import as_tensors


def reference_days_and_model(parser: argparse.ArgumentParser, instances: Path, checkpoint: Path):
    """The days of ``instances`` (which must hold PyVRP references) and the checkpoint's model,
    for evaluation on one torch thread."""
    torch.set_num_threads(1)
    days = read_instances(instances)
    if days.reference_m is None:
        parser.error(f"{instances} has no reference costs: write it with --reference-s")
    model, _ = load_model(checkpoint)
    return days, model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", type=Path, help="instance file with reference costs")
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINTS / "helsinki.pt")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.6, 1.0])
    parser.add_argument("--samples", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args()
    days, model = reference_days_and_model(parser, args.instances, args.checkpoint)
    header = " | ".join(f"best of {k}: gap (%)" for k in args.samples)
    print(f"| T | {header} |\n|---:|" + "---:|" * len(args.samples))
    for temperature in args.temperatures:
        gaps = []
        for k in args.samples:
            best = []
            with torch.no_grad():
                for i in range(len(days)):
                    _, cost, _, _ = rollout(
                        model, as_tensors(days, np.array([i])), samples=k,
                        generator=torch.Generator().manual_seed(i), greedy_first=True,
                        temperature=temperature,
                    )  # fmt: skip
                    best.append(float(cost.min()))
            gaps.append(float(np.mean(np.array(best) / days.reference_m - 1.0) * 100.0))
        print(f"| {temperature:g} | " + " | ".join(f"{g:.2f}" for g in gaps) + " |")


if __name__ == "__main__":
    main()

"""Ways of drawing a learned planner's plans, at the same number of plans per day.

Each variant draws ``--samples`` plans for every day of an instance file with PyVRP references
(``twin instances … --reference-s 1``), keeps the cheapest, and reports the mean gap to the
reference, the number of distinct plans and the CPU seconds per day (one torch thread):

- ``plain``: the greedy plan and sampled ones at ``--temperature`` (what
  :class:`generative.propose.LearnedPlanner` does);
- ``flip2`` / ``flip8``: the day also with its coordinates mirrored or swapped (POMO's instance
  augmentation, Kwon et al. 2020), the plans shared out among the copies; travel times are
  untouched;
- ``multistart``: every plan starts at one of the likeliest first stops, in turn (POMO);
- ``nucleusP``: sampling at T = 1 from the smallest set of actions whose probability reaches P
  (top-p, Holtzman et al. 2020);
- ``resampleE``: half the plans drawn as ``plain``, the other half keeping a random prefix of
  one of the ``E`` cheapest plans so far and drawing the rest anew.

::

    .venv/bin/python benchmarks/studies/bench_sampling_variants.py /tmp/s11/val.npz --samples 512
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from bench_temperature import reference_days_and_model

import generative.model as planner_model
from generative.env import RouteState, action_limit
from generative.model import _sample, plan_costs, rollout
from generative.propose import SHIPPED_CHECKPOINTS
from generative.train import as_tensors

# (x sign, y sign, swap x and y): the eight symmetries of the square
_SYMMETRIES = [(sx, sy, swap) for swap in (False, True) for sx in (1, -1) for sy in (1, -1)]


def _flipped(batch: dict[str, torch.Tensor], copies: int) -> dict[str, torch.Tensor]:
    repeated = {name: value.repeat_interleave(copies, dim=0) for name, value in batch.items()}
    xy = repeated["xy_m"].clone()
    for index, (sx, sy, swap) in enumerate(_SYMMETRIES[:copies]):
        points = xy[index].flip(-1) if swap else xy[index]
        xy[index] = points * torch.tensor([sx, sy], dtype=points.dtype)
    repeated["xy_m"] = xy
    return repeated


def _nucleus(p: float):
    def draw(logp: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        probs, order = logp.exp().sort(dim=1, descending=True)
        beyond = (probs.cumsum(dim=1) - probs) > p  # outside the smallest set reaching p
        drop = torch.zeros_like(beyond).scatter(1, order, beyond)
        return _sample(logp.masked_fill(drop, float("-inf")), generator)

    return draw


@torch.no_grad()
def _resampled(model, batch, parents, keep, generator, temperature):
    """Plans that replay ``parents[r, :keep[r]]`` and then sample; returns (cost, actions)."""
    unit = model.travel_unit(batch)
    nodes = model.encode(batch, unit)
    keys, graph = model.keys(nodes), nodes.mean(dim=1)
    state = RouteState.start(batch, samples=len(parents))
    taken = []
    for t in range(action_limit(state.load.shape[1], int(batch["n_trucks"].max()))):
        allowed = state.mask()
        scores = model.logits(nodes, keys, state, unit, graph).float() / temperature
        action = _sample(torch.log_softmax(scores.masked_fill(~allowed, -torch.inf), 1), generator)
        if t < parents.shape[1]:
            action = torch.where(t < keep, parents[:, t], action)
        state.step(action)
        taken.append(action)
        if bool(state.done.all()):
            break
    return plan_costs(batch, state), torch.stack(taken, dim=1)


def _draw(variant: str, model, batch, samples: int, temperature: float, seed: int):
    """(costs, actions) of the plans ``variant`` draws for one day."""
    generator = torch.Generator().manual_seed(seed)
    options = {"generator": generator, "temperature": temperature}
    if variant.startswith("flip"):
        copies = int(variant.removeprefix("flip"))
        flipped = _flipped(batch, copies)
        _, cost, actions, _ = rollout(
            model, flipped, samples=samples // copies, greedy_first=True, **options
        )
    elif variant == "multistart":
        _, cost, actions, _ = rollout(model, batch, samples=samples, multi_start=True, **options)
    elif variant.startswith("nucleus"):
        # the decoder draws through the module's _sample: swapped for top-p for this day
        plain_sample = planner_model._sample
        planner_model._sample = _nucleus(float(variant.removeprefix("nucleus")))
        try:
            options["temperature"] = 1.0
            _, cost, actions, _ = rollout(
                model, batch, samples=samples, greedy_first=True, **options
            )
        finally:
            planner_model._sample = plain_sample
    elif variant.startswith("resample"):
        elite = int(variant.removeprefix("resample"))
        half = samples // 2
        _, cost, actions, _ = rollout(model, batch, samples=half, greedy_first=True, **options)
        parents = actions[torch.argsort(cost)[:elite]].repeat_interleave(half // elite, dim=0)
        length = (parents != 0).sum(dim=1).clamp(min=2)  # before the plan's all-END tail
        keep = (torch.rand(len(parents), generator=generator) * length).long()
        more_cost, more = _resampled(model, batch, parents, keep, generator, temperature)
        width = max(actions.shape[1], more.shape[1])
        pad = [torch.nn.functional.pad(a, (0, width - a.shape[1])) for a in (actions, more)]
        cost, actions = torch.cat([cost, more_cost]), torch.cat(pad)
    else:
        _, cost, actions, _ = rollout(model, batch, samples=samples, greedy_first=True, **options)
    return cost, actions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", type=Path, help="instance file with reference costs")
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINTS / "helsinki.pt")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["plain", "flip2", "flip8", "multistart", "nucleus0.95", "nucleus0.9",
                 "resample1", "resample8"],
    )  # fmt: skip
    args = parser.parse_args()
    days, model = reference_days_and_model(parser, args.instances, args.checkpoint)
    print(f"{len(days)} days, {args.samples} plans per day, T = {args.temperature:g}")
    print("| variant | gap to the reference (%) | distinct plans | CPU s per day |")
    print("|---|---:|---:|---:|")
    for variant in args.variants:
        best, distinct, started = [], [], time.process_time()
        with torch.no_grad():
            for i in range(len(days)):
                batch = as_tensors(days, np.array([i]))
                cost, actions = _draw(variant, model, batch, args.samples, args.temperature, i)
                best.append(float(cost.min()))
                distinct.append(len(torch.unique(actions, dim=0)))
        cpu = (time.process_time() - started) / len(days)
        gap = float(np.mean(np.array(best) / days.reference_m - 1.0) * 100.0)
        print(f"| {variant} | {gap:.2f} | {np.mean(distinct):.1f} | {cpu:.3f} |", flush=True)


if __name__ == "__main__":
    main()
